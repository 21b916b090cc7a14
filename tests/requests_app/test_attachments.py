"""Which files are accepted: size, extension allow-list, content that matches the name, clean names."""

import io
import uuid
import zipfile
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from requests_app import services
from requests_app.attachments import attachment_validate, clean_filename
from requests_app.models import Attachment, EventKind, ProcurementRequest, ReferenceCounter, RequestEvent
from tests.factories import CategoryFactory, euro

PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def _docx():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def _upload(name, content):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("quote.pdf", PDF, "application/pdf"),
        ("photo.png", PNG, "image/png"),
        ("photo.JPG", JPEG, "image/jpeg"),
        ("spec.docx", _docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("prices.csv", b"item,price\nlaptop,1200\n", "text/csv"),
        ("notes.txt", "Grüße aus Köln – 3 × Laptop\n".encode(), "text/plain"),
        ("maths.txt", b"2 < 3 and <b> is a tag name\n", "text/plain"),
        ("excel-export.csv", b"\xef\xbb\xbfitem;price\nlaptop;1200\n", "text/csv"),
    ],
)
def test_a_file_whose_content_matches_its_name_is_accepted(name, content, content_type):
    # when a well-formed file is validated, then the content type to serve it with comes back
    assert attachment_validate(_upload(name, content)) == content_type


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("page.html", b"<html><body>hi</body></html>"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
        ("invoice.pdf.exe", b"MZ\x90\x00"),
        ("script.js", b"alert(1)"),
        ("README", b"plain words"),
    ],
)
def test_an_extension_outside_the_allow_list_is_refused(name, content):
    # when a file of a type we do not take is validated, then it is refused as a type error
    with pytest.raises(ValidationError) as error:
        attachment_validate(_upload(name, content))
    assert error.value.code == "type"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("quote.pdf", b"just some text, not a pdf"),
        ("photo.png", b"<html><script>alert(1)</script></html>"),
        ("photo.jpg", PNG),
        ("spec.docx", b"plain text pretending to be a document"),
        ("notes.txt", b"<script>alert(1)</script>"),
        ("notes.txt", b"<!DOCTYPE html><html><body>hi</body></html>"),
        ("notes.txt", b"  \n\t<!doctype html><p>indented</p>"),
        ("notes.txt", b"\xef\xbb\xbf<script>alert(1)</script>"),  # a UTF-8 byte-order mark first
        ("notes.txt", b"<svg onload=alert(1)>"),
        ("prices.csv", b"item,price\x00\x01\x02binary"),
        ("prices.csv", b"\xff\xfe\xfa\xfb not utf-8 at all, and long enough to tell"),
    ],
)
def test_content_that_does_not_match_the_name_is_refused(name, content):
    # when a file's bytes are not what its extension promises, then it is refused as a mismatch
    with pytest.raises(ValidationError) as error:
        attachment_validate(_upload(name, content))
    assert error.value.code == "content_mismatch"


def test_an_empty_file_is_refused():
    # when an empty file is validated, then it is refused as empty
    with pytest.raises(ValidationError) as error:
        attachment_validate(_upload("quote.pdf", b""))
    assert error.value.code == "empty"


def test_a_file_over_the_size_limit_is_refused(settings):
    # given a limit of 16 bytes
    settings.ATTACHMENT_MAX_BYTES = 16

    # when a 17-byte pdf is validated, then it is refused as too large
    with pytest.raises(ValidationError) as error:
        attachment_validate(_upload("quote.pdf", PDF[:17]))
    assert error.value.code == "too_large"


def test_a_file_exactly_at_the_size_limit_is_accepted(settings):
    # given a limit of 16 bytes
    settings.ATTACHMENT_MAX_BYTES = 16

    # when a 16-byte pdf is validated, then it is accepted
    assert attachment_validate(_upload("quote.pdf", PDF[:16])) == "application/pdf"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\boot.ini.txt", "boot.ini.txt"),
        ("/var/www/quote.pdf", "quote.pdf"),
        ("re\x00port\n.pdf", "report.pdf"),
        ("  .hidden.txt  ", "hidden.txt"),
        ("../..", "attachment"),
        ("", "attachment"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_path_like_and_odd_names_are_cleaned(raw, clean):
    # when a name is cleaned, then no path or control characters remain, and it is never empty
    assert clean_filename(raw) == clean


def test_a_path_like_name_is_judged_by_its_clean_name():
    # when a text file sent as ../../etc/passwd.txt is validated, then it is judged as passwd.txt
    assert attachment_validate(_upload("../../etc/passwd.txt", b"root:x:0:0\n")) == "text/plain"


def test_validation_leaves_the_file_ready_to_be_read_from_the_start():
    # given a file that has been validated
    upload = _upload("quote.pdf", PDF)
    attachment_validate(upload)

    # when it is read, then the whole content comes back
    assert upload.read() == PDF


# --- through the services -------------------------------------------------------------------------


def _submit(requester, files):
    return services.procurement_request_submit(
        requester=requester,
        title="Monitors",
        description="Two monitors.",
        category=CategoryFactory(),
        priority="normal",
        estimated_value=Decimal("400"),
        currency=euro(),
        submission_token=uuid.uuid4(),
        files=files,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content"),
    [("setup.exe", b"MZ\x90\x00"), ("quote.pdf", b"not a pdf"), ("empty.pdf", b"")],
)
def test_a_submission_with_a_bad_attachment_is_refused_whole(requester, name, content):
    # when a request is submitted with one good file and one bad one
    with pytest.raises(ValidationError):
        _submit(requester, [_upload("good.pdf", PDF), _upload(name, content)])

    # then no request, event, attachment or reference number is used up
    assert ProcurementRequest.objects.count() == 0
    assert RequestEvent.objects.count() == 0
    assert Attachment.objects.count() == 0
    assert ReferenceCounter.objects.filter(last_number__gt=0).count() == 0


@pytest.mark.django_db
def test_an_oversized_attachment_refuses_the_submission(requester, settings):
    # given a limit of 16 bytes
    settings.ATTACHMENT_MAX_BYTES = 16

    # when a request is submitted with a larger file, then nothing is written
    with pytest.raises(ValidationError):
        _submit(requester, [_upload("quote.pdf", PDF)])
    assert ProcurementRequest.objects.count() == 0


@pytest.mark.django_db
def test_an_accepted_attachment_is_stored_under_a_random_name_with_its_clean_name_kept(requester):
    # when a request is submitted with a file sent under a path-like name
    procurement_request, _ = _submit(requester, [_upload("../../secret/quote.pdf", PDF)])

    # then the clean name, type and size are kept, the stored path is ours, and the timeline shows it
    attachment = Attachment.objects.get()
    assert attachment.procurement_request == procurement_request
    assert (attachment.original_name, attachment.content_type, attachment.size) == (
        "quote.pdf",
        "application/pdf",
        len(PDF),
    )
    assert attachment.file.name.startswith("attachments/")
    assert "quote" not in attachment.file.name and ".." not in attachment.file.name
    with attachment.file.open("rb") as stored:
        assert stored.read() == PDF
    assert list(procurement_request.events.order_by("pk").values_list("kind", flat=True)) == [
        EventKind.CREATED,
        EventKind.ATTACHMENT_ADDED,
        EventKind.SLA,  # the clocks start once the submission, files included, is recorded
        EventKind.ROUTED,  # then routing sends it to a team (the default rule: its queue)
    ]
