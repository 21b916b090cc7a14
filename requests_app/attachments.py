"""Which files may be attached: size, extension allow-list, and content that matches the name."""

import os
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

_ZIP = (b"PK\x03\x04",)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
_TEXT = None  # checked by _looks_like_plain_text

# extension -> (content type served, accepted leading bytes)
ALLOWED_TYPES = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", _ZIP),
    "odt": ("application/vnd.oasis.opendocument.text", _ZIP),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", _ZIP),
    "zip": ("application/zip", _ZIP),
    "doc": ("application/msword", _OLE),
    "xls": ("application/vnd.ms-excel", _OLE),
    "msg": ("application/vnd.ms-outlook", _OLE),
    "txt": ("text/plain", _TEXT),
    "csv": ("text/csv", _TEXT),
    "eml": ("message/rfc822", _TEXT),
}

_MARKUP_STARTS = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<head", b"<iframe")


def _looks_like_plain_text(head):
    if b"\x00" in head:
        return False
    # A UTF-8 byte-order mark must not hide markup behind it.
    if head.removeprefix(b"\xef\xbb\xbf").lstrip().lower().startswith(_MARKUP_STARTS):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        if error.start < len(head) - 4:
            return False
    return True


def clean_filename(name):
    """The name shown to people: no path, no control characters, not empty, at most 255 chars."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return (base or "attachment")[-255:]


def attachment_validate(uploaded_file):
    """Return the content type to serve the file with, or raise ValidationError saying what is wrong."""
    name = clean_filename(uploaded_file.name)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if uploaded_file.size == 0:
        raise ValidationError(f"“{name}” is empty.", code="empty")
    if uploaded_file.size > settings.ATTACHMENT_MAX_BYTES:
        raise ValidationError(
            f"“{name}” is {filesizeformat(uploaded_file.size)}; the limit is "
            f"{filesizeformat(settings.ATTACHMENT_MAX_BYTES)}.",
            code="too_large",
        )
    if extension not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        raise ValidationError(f"“{name}”: .{extension or '?'} files are not accepted. Allowed: {allowed}.", code="type")
    content_type, signatures = ALLOWED_TYPES[extension]
    uploaded_file.seek(0)
    head = uploaded_file.read(8192)
    uploaded_file.seek(0)
    matches = _looks_like_plain_text(head) if signatures is None else head.startswith(signatures)
    if not matches:
        raise ValidationError(
            f"“{name}” does not contain what a .{extension} file contains; it was not accepted.",
            code="content_mismatch",
        )
    return content_type
