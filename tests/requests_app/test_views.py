"""The portal's pages and forms: filing, replying, actions, downloads and lists, through the test client."""

import html
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import Attachment, Comment, EventKind, ProcurementRequest, RequestEvent, Status
from tests.factories import CategoryFactory, euro, file_request

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SCRIPT_TITLE = "<script>alert('title')</script> Laptops"
SCRIPT_DESCRIPTION = '<img src=x onerror="alert(1)"><script>alert("description")</script>'


def pdf(name="quote.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def field_error(page, field_id):
    """The text of the error block crispy renders right under the field with this id, or None."""
    match = re.search(rf'<div id="{field_id}_error" class="invalid-feedback">(.*?)</div>', page, re.DOTALL)
    if match is None:
        return None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def page_of(response):
    return response.content.decode()


@pytest.fixture
def goods(db):
    return CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))


@pytest.fixture
def services_category(db):
    return CategoryFactory(name="Services", approval_threshold=Decimal("10000"))


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media_root):
    return [path for path in media_root.rglob("*") if path.is_file()] if media_root.exists() else []


@pytest.fixture
def form_data(goods):
    def build(**overrides):
        data = {
            "title": "Laptops for new starters",
            "description": "Three laptops, standard spec.",
            "category": goods.pk,
            "priority": "normal",
            "estimated_value": "1200.00",
            "currency": euro().pk,
            "cost_centre": "CC-1001",
            "needed_by": (timezone.localdate() + timedelta(days=14)).isoformat(),
            "suggested_supplier": "",
            "submission_token": str(uuid.uuid4()),
        }
        data.update(overrides)
        return {key: value for key, value in data.items() if value is not None}

    return build


# --- Filing a request ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_new_request_form_carries_a_fresh_submission_token(client, requester):
    # given a logged-in requester
    client.force_login(requester)
    # when the form is opened twice
    first, second = (client.get(reverse("requests_app:create")) for _ in range(2))
    # then each rendering has its own token
    tokens = [re.search(r'name="submission_token" value="([0-9a-f-]+)"', page_of(r)).group(1) for r in (first, second)]
    assert first.status_code == 200
    assert tokens[0] != tokens[1]


@pytest.mark.django_db
def test_a_valid_form_files_the_request_and_shows_its_reference(client, requester, form_data, media_root):
    # given a logged-in requester and a complete form with a PDF
    client.force_login(requester)
    # when it is posted
    response = client.post(reverse("requests_app:create"), {**form_data(), "attachments": [pdf()]})
    # then the request is filed and the browser is sent to its confirmation page
    procurement_request = ProcurementRequest.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("requests_app:confirmation", args=[procurement_request.reference])
    confirmation = client.get(response.url)
    assert confirmation.status_code == 200
    assert f'id="reference">{procurement_request.reference}</p>' in page_of(confirmation)
    assert procurement_request.requester == requester
    assert procurement_request.status == Status.SUBMITTED
    assert procurement_request.attachments.get().original_name == "quote.pdf"
    assert len(stored_files(media_root)) == 1


@pytest.mark.django_db
def test_a_value_above_the_threshold_waits_for_the_head_and_says_so(client, requester, head, form_data):
    # given a form valued above the Goods threshold
    client.force_login(requester)
    # when it is posted and the confirmation followed
    response = client.post(reverse("requests_app:create"), form_data(estimated_value="6000"), follow=True)
    # then the confirmation names the head who approves it
    procurement_request = ProcurementRequest.objects.get()
    assert procurement_request.status == Status.PENDING_APPROVAL
    assert "Pending approval" in page_of(response)
    assert head.get_full_name() in page_of(response)


@pytest.mark.django_db
def test_posting_the_same_form_twice_files_one_request(client, requester, form_data):
    # given a form (one submission token) posted once
    client.force_login(requester)
    data = form_data()
    first = client.post(reverse("requests_app:create"), data)
    # when the very same form is posted again (double click, back button, retry)
    second = client.post(reverse("requests_app:create"), data)
    # then there is one request, and both answers lead to its confirmation
    procurement_request = ProcurementRequest.objects.get()
    confirmation_url = reverse("requests_app:confirmation", args=[procurement_request.reference])
    assert first.status_code == second.status_code == 302
    assert first.url == second.url == confirmation_url
    events = RequestEvent.objects.filter(procurement_request=procurement_request).order_by("pk")
    # one start of the clocks, one routing
    assert list(events.values_list("kind", flat=True)) == [EventKind.CREATED, EventKind.SLA, EventKind.ROUTED]
    followed = client.get(second.url)
    assert f"This form was already sent: {procurement_request.reference}." in page_of(followed)


BAD_INPUT = [
    pytest.param({"estimated_value": "-5"}, {"id_estimated_value": "greater than or equal to 0"}, id="negative-value"),
    pytest.param(
        {"needed_by": "2000-01-01"}, {"id_needed_by": "The needed-by date cannot be in the past."}, id="needed-by-past"
    ),
    pytest.param(
        {"title": None, "description": None, "category": None, "estimated_value": None, "currency": None},
        {
            "id_title": "This field is required.",
            "id_description": "This field is required.",
            "id_category": "This field is required.",
            "id_estimated_value": "This field is required.",
            "id_currency": "This field is required.",
        },
        id="missing-required",
    ),
    pytest.param({"title": "   "}, {"id_title": "This field is required."}, id="blank-title"),
    pytest.param({"estimated_value": "a lot"}, {"id_estimated_value": "Enter a number."}, id="value-not-a-number"),
    pytest.param({"category": "999999"}, {"id_category": "Select a valid choice."}, id="unknown-category"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "errors"), BAD_INPUT)
def test_bad_input_is_refused_beside_the_field_and_nothing_is_written(
    client, requester, form_data, media_root, overrides, errors
):
    # given a form with one kind of bad input (and a good attachment, which must not be kept)
    client.force_login(requester)
    # when it is posted
    response = client.post(reverse("requests_app:create"), {**form_data(**overrides), "attachments": [pdf()]})
    # then the form comes back with each message under its field, and nothing was written
    page = page_of(response)
    assert response.status_code == 400
    for field_id, message in errors.items():
        assert message in (field_error(page, field_id) or ""), f"{field_id}: {field_error(page, field_id)!r}"
    assert "Please correct the fields marked below; nothing was sent yet." in page
    assert not ProcurementRequest.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


BAD_FILES = [
    pytest.param(pdf("big.pdf", PDF + b"0" * 200), "“big.pdf” is ", id="oversized"),
    pytest.param(
        SimpleUploadedFile("setup.exe", b"MZ\x90\x00binary", content_type="application/octet-stream"),
        "“setup.exe”: .exe files are not accepted.",
        id="exe",
    ),
    pytest.param(
        SimpleUploadedFile("page.html", b"<html><script>alert(1)</script></html>", content_type="text/html"),
        "“page.html”: .html files are not accepted.",
        id="html",
    ),
    pytest.param(
        pdf("quote.pdf", b"This is plain text, not a PDF.\n"),
        "“quote.pdf” does not contain what a .pdf file contains; it was not accepted.",
        id="pdf-that-is-text",
    ),
    pytest.param(
        SimpleUploadedFile("notes.txt", b"<!DOCTYPE html><script>alert(1)</script>", content_type="text/plain"),
        "“notes.txt” does not contain what a .txt file contains",
        id="txt-that-is-html",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("upload", "message"), BAD_FILES)
def test_a_refused_attachment_is_named_beside_the_field_and_nothing_is_written(
    client, requester, form_data, media_root, settings, upload, message
):
    # given a small size limit and a form with one unacceptable file next to an acceptable one
    settings.ATTACHMENT_MAX_BYTES = len(PDF) + 100
    client.force_login(requester)
    # when it is posted
    response = client.post(reverse("requests_app:create"), {**form_data(), "attachments": [pdf("ok.pdf"), upload]})
    # then the form says which file and why, under the attachments field, and nothing was written
    page = page_of(response)
    assert response.status_code == 400
    assert message in (field_error(page, "id_attachments") or ""), field_error(page, "id_attachments")
    assert not ProcurementRequest.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


@pytest.mark.django_db
def test_the_size_limit_message_gives_both_sizes(client, requester, form_data, settings):
    # given a limit of 100 bytes
    settings.ATTACHMENT_MAX_BYTES = 100
    client.force_login(requester)
    # when a 200-byte PDF is attached
    response = client.post(
        reverse("requests_app:create"), {**form_data(), "attachments": [pdf("big.pdf", PDF + b"0" * (200 - len(PDF)))]}
    )
    # then the message says how big it is and what the limit is
    assert response.status_code == 400
    assert field_error(page_of(response), "id_attachments") == "“big.pdf” is 200 bytes; the limit is 100 bytes."


# --- Escaping -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("viewer", "page_name"),
    [
        ("requester", "detail"),
        ("requester", "confirmation"),
        ("requester", "mine"),
        ("colleague", "department"),
        ("head", "department"),
        ("buyer", "all"),
    ],
)
def test_markup_in_title_and_description_is_shown_as_text(client, request, requester, viewer, page_name):
    # given a request whose title and description contain markup and script
    procurement_request = file_request(requester, title=SCRIPT_TITLE, description=SCRIPT_DESCRIPTION)
    client.force_login(request.getfixturevalue(viewer))
    # when a page showing it is opened
    args = [procurement_request.reference] if page_name in {"detail", "confirmation"} else []
    response = client.get(reverse(f"requests_app:{page_name}", args=args))
    # then the markup is escaped text, never live markup
    page = page_of(response)
    assert response.status_code == 200
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt; Laptops" in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    if page_name == "detail":
        assert "&lt;script&gt;alert(&quot;description&quot;)&lt;/script&gt;" in page


@pytest.mark.django_db
def test_markup_in_a_reply_is_shown_as_text(client, requester, buyer):
    # given a reply containing script
    procurement_request = file_request(requester)
    client.force_login(requester)
    client.post(
        reverse("requests_app:comment", args=[procurement_request.reference]), {"body": "<script>alert(2)</script>"}
    )
    # when a buyer opens the request
    client.force_login(buyer)
    page = page_of(client.get(reverse("requests_app:detail", args=[procurement_request.reference])))
    # then the reply is text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "<script>alert" not in page


# --- Replies ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_plain_reply_redirects_back_to_the_request(client, requester):
    # given the requester's request
    procurement_request = file_request(requester)
    client.force_login(requester)
    # when a reply is posted without htmx
    response = client.post(reverse("requests_app:comment", args=[procurement_request.reference]), {"body": "Any news?"})
    # then the browser goes back to the request page, which shows the reply and a confirmation
    assert response.status_code == 302
    assert response.url == reverse("requests_app:detail", args=[procurement_request.reference])
    page = page_of(client.get(response.url))
    assert "Any news?" in page
    assert "Your message was added." in page
    assert Comment.objects.get().author == requester


@pytest.mark.django_db
def test_an_htmx_reply_returns_the_conversation_with_the_new_comment(client, requester, media_root):
    # given the requester's request
    procurement_request = file_request(requester)
    client.force_login(requester)
    # when a reply with a file is posted through htmx
    response = client.post(
        reverse("requests_app:comment", args=[procurement_request.reference]),
        {"body": "Here is the quote.", "attachments": [pdf()]},
        headers={"HX-Request": "true"},
    )
    # then the answer is the conversation fragment (not a page) with the reply and its file
    page = page_of(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert 'id="timeline"' in page
    assert "Here is the quote." in page
    attachment = Attachment.objects.get()
    assert attachment.comment == Comment.objects.get()
    assert reverse("requests_app:attachment", args=[procurement_request.reference, attachment.pk]) in page
    # and the reply form is back, empty, for the next message
    assert 'name="body"' in page
    assert "Here is the quote.</textarea>" not in page


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("body", ["", "   \n  "], ids=["empty", "blank"])
def test_an_empty_reply_is_refused_with_a_message_beside_the_field(client, requester, htmx, body):
    # given the requester's request
    procurement_request = file_request(requester)
    client.force_login(requester)
    # when an empty reply is posted
    response = client.post(
        reverse("requests_app:comment", args=[procurement_request.reference]),
        {"body": body},
        headers={"HX-Request": "true"} if htmx else {},
    )
    # then it is refused, the message is under the message field, and nothing was written
    page = page_of(response)
    assert response.status_code == 400
    assert field_error(page, "id_body") == "This field is required."
    assert ("<html" in page) is not htmx
    assert not Comment.objects.exists()


@pytest.mark.django_db
def test_internal_notes_and_their_files_are_hidden_from_the_requester(client, requester, buyer, media_root):
    # given a buyer's internal note with a file, and a public reply
    procurement_request = file_request(requester)
    services.comment_add(
        procurement_request=procurement_request,
        author=buyer,
        body="Supplier X is overpriced.",
        is_internal=True,
        files=[pdf("internal-price-list.pdf")],
    )
    services.comment_add(procurement_request=procurement_request, author=buyer, body="We are on it.")
    internal_file = Attachment.objects.get(is_internal=True)
    detail_url = reverse("requests_app:detail", args=[procurement_request.reference])
    file_url = reverse("requests_app:attachment", args=[procurement_request.reference, internal_file.pk])
    # when the requester and the buyer open the request and the file
    client.force_login(requester)
    requester_page, requester_file = page_of(client.get(detail_url)), client.get(file_url)
    client.force_login(buyer)
    buyer_page, buyer_file = page_of(client.get(detail_url)), client.get(file_url)
    # then the requester sees the public reply only, and the internal file is a 404 for them
    assert "We are on it." in requester_page
    assert "Supplier X is overpriced." not in requester_page
    assert "internal-price-list.pdf" not in requester_page
    assert requester_file.status_code == 404
    # and Procurement sees both
    assert "Supplier X is overpriced." in buyer_page
    assert "internal-price-list.pdf" in buyer_page
    assert buyer_file.status_code == 200


@pytest.mark.django_db
def test_the_requester_cannot_write_an_internal_note(client, requester):
    # given the requester's request
    procurement_request = file_request(requester)
    client.force_login(requester)
    # when the requester forges the internal flag
    response = client.post(
        reverse("requests_app:comment", args=[procurement_request.reference]), {"body": "Psst", "is_internal": "on"}
    )
    # then the flag is ignored: the reply is public
    assert response.status_code == 302
    assert Comment.objects.get().is_internal is False


@pytest.mark.django_db
def test_the_requesters_reply_hands_a_waiting_request_back_to_procurement(client, requester, buyer):
    # given a request the buyer is waiting on the requester for
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_wait_for_requester(
        procurement_request=procurement_request, actor=buyer, note="Which colour?"
    )
    client.force_login(requester)
    detail_url = reverse("requests_app:detail", args=[procurement_request.reference])
    assert "Procurement is waiting for your answer" in page_of(client.get(detail_url))
    # when the requester answers
    response = client.post(reverse("requests_app:comment", args=[procurement_request.reference]), {"body": "Black."})
    # then the request is back in progress and the page no longer asks
    procurement_request.refresh_from_db()
    assert response.status_code == 302
    assert procurement_request.status == Status.IN_PROGRESS
    assert "Procurement is waiting for your answer" not in page_of(client.get(detail_url))


@pytest.mark.django_db
def test_an_htmx_reply_that_hands_the_request_back_reloads_the_whole_page(client, requester, buyer):
    # given a request waiting for the requester's answer
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_wait_for_requester(
        procurement_request=procurement_request, actor=buyer, note="Which colour?"
    )
    client.force_login(requester)
    # when the requester answers through htmx
    response = client.post(
        reverse("requests_app:comment", args=[procurement_request.reference]),
        {"body": "Black."},
        headers={"HX-Request": "true"},
    )
    # then htmx is told to reload the page, whose badge and banner now show the new status
    procurement_request.refresh_from_db()
    detail_url = reverse("requests_app:detail", args=[procurement_request.reference])
    assert response.status_code == 204
    assert response["HX-Redirect"] == detail_url
    assert procurement_request.status == Status.IN_PROGRESS
    assert "back with Procurement" in page_of(client.get(detail_url))


@pytest.mark.django_db
def test_a_form_without_its_submission_token_still_files_the_request(client, requester, form_data):
    # given a client that does not send the hidden token
    client.force_login(requester)
    # when it posts the form
    response = client.post(reverse("requests_app:create"), form_data(submission_token=None))
    # then the request is filed once, with a token of its own
    assert response.status_code == 302
    assert ProcurementRequest.objects.count() == 1
    assert ProcurementRequest.objects.get().submission_token is not None


# --- Actions ------------------------------------------------------------------------------------


def pending(requester):
    return file_request(requester, estimated_value=Decimal("6000"), category=CategoryFactory(name="Goods"))


@pytest.mark.django_db
def test_the_head_approves_with_one_click(client, requester, head):
    # given a request waiting for the head's approval
    procurement_request = pending(requester)
    assert procurement_request.status == Status.PENDING_APPROVAL
    client.force_login(head)
    detail_url = reverse("requests_app:detail", args=[procurement_request.reference])
    assert reverse("requests_app:approve", args=[procurement_request.reference]) in page_of(client.get(detail_url))
    # when the head approves
    response = client.post(reverse("requests_app:approve", args=[procurement_request.reference]), {"note": ""})
    # then it is approved, and the page says so
    procurement_request.refresh_from_db()
    assert response.status_code == 302
    assert response.url == detail_url
    assert procurement_request.status == Status.APPROVED
    page = page_of(client.get(detail_url))
    assert f"{procurement_request.reference} is approved; Procurement will pick it up." in page
    assert 'id="request-status"><span class="badge text-bg-info">Approved</span>' in page


@pytest.mark.django_db
@pytest.mark.parametrize("note", ["", "   "], ids=["empty", "blank"])
def test_rejecting_without_a_reason_is_refused_beside_the_field(client, requester, head, note):
    # given a request waiting for the head's approval
    procurement_request = pending(requester)
    events_before = procurement_request.events.count()
    client.force_login(head)
    # when the head rejects it without a reason
    response = client.post(reverse("requests_app:reject", args=[procurement_request.reference]), {"note": note})
    # then the page comes back with the reject form open and the message under the reason field
    page = page_of(response)
    assert response.status_code == 400
    assert field_error(page, "id_reject_note") == "This field is required."
    assert 'class="collapse show" id="action-reject"' in page
    # and nothing changed
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.PENDING_APPROVAL
    assert procurement_request.events.count() == events_before


@pytest.mark.django_db
def test_a_buyer_who_is_not_the_assignee_cannot_complete(client, requester, buyer, other_buyer):
    # given a request another buyer is working on, and one nobody has taken
    taken = file_request(requester)
    taken = services.procurement_request_claim(procurement_request=taken, actor=other_buyer)
    taken = services.procurement_request_start(procurement_request=taken, actor=other_buyer)
    untaken = file_request(requester)
    client.force_login(buyer)
    # when bob tries to complete each
    responses = [client.post(reverse("requests_app:complete", args=[pr.reference])) for pr in (taken, untaken)]
    # then both are refused and nothing changed
    assert [response.status_code for response in responses] == [403, 403]
    taken.refresh_from_db()
    untaken.refresh_from_db()
    assert (taken.status, untaken.status) == (Status.IN_PROGRESS, Status.SUBMITTED)


@pytest.mark.django_db
def test_the_assignee_cannot_complete_from_the_wrong_status(client, requester, buyer):
    # given a request bob has claimed but not started
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    events_before = procurement_request.events.count()
    client.force_login(buyer)
    # when bob completes it
    response = client.post(reverse("requests_app:complete", args=[procurement_request.reference]), follow=True)
    # then he is told why not, and nothing changed
    assert response.status_code == 200
    assert f"You cannot complete {procurement_request.reference} while it is assigned." in page_of(response)
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.ASSIGNED
    assert procurement_request.events.count() == events_before


@pytest.mark.django_db
def test_recording_an_order_needs_a_po_number(client, requester, buyer):
    # given a request bob is working on
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
    client.force_login(buyer)
    url = reverse("requests_app:mark_ordered", args=[procurement_request.reference])
    # when the order is recorded without a PO number, then with one
    without = client.post(url, {"po_number": "  ", "note": ""})
    procurement_request.refresh_from_db()
    status_after_refusal = procurement_request.status
    with_po = client.post(url, {"po_number": "PO-4500012345", "note": ""})
    # then the first is refused under the PO field, the second records it
    assert without.status_code == 400
    assert field_error(page_of(without), "id_mark_ordered_po_number") == "This field is required."
    assert status_after_refusal == Status.IN_PROGRESS
    assert with_po.status_code == 302
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.po_number) == (Status.ORDERED, "PO-4500012345")


@pytest.mark.django_db
def test_action_forms_on_one_page_have_distinct_field_ids(client, requester, manager):
    # given a request the manager can assign, question, order, cancel (several forms with a note)
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=manager)
    procurement_request = services.procurement_request_start(procurement_request=procurement_request, actor=manager)
    client.force_login(manager)
    # when the manager opens it
    page = page_of(client.get(reverse("requests_app:detail", args=[procurement_request.reference])))
    # then no two elements share an id, so each label points at its own field
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert [duplicate for duplicate in set(ids) if ids.count(duplicate) > 1] == []


# --- Downloads ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_attachment_downloads_as_a_file_with_its_own_bytes(client, requester, media_root):
    # given a request with a PDF
    procurement_request = file_request(requester, files=[pdf("Quote 2025.pdf")])
    attachment = procurement_request.attachments.get()
    client.force_login(requester)
    # when it is downloaded
    response = client.get(reverse("requests_app:attachment", args=[procurement_request.reference, attachment.pk]))
    # then it comes as a download, typed by the server, never sniffed, with the bytes uploaded
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="Quote 2025.pdf"' in response["Content-Disposition"]
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PDF


@pytest.mark.django_db
def test_an_attachment_whose_file_is_gone_is_a_404(client, requester, media_root):
    # given an attachment whose stored file was removed
    procurement_request = file_request(requester, files=[pdf()])
    attachment = procurement_request.attachments.get()
    attachment.file.storage.delete(attachment.file.name)
    client.force_login(requester)
    # when it is downloaded
    response = client.get(reverse("requests_app:attachment", args=[procurement_request.reference, attachment.pk]))
    # then it is a 404, not a 500
    assert response.status_code == 404


# --- Lists --------------------------------------------------------------------------------------


@pytest.fixture
def list_rows(requester, buyer, goods, services_category):
    """Four requests of alice's that differ in status, category, priority and title."""
    laptops = file_request(requester, title="Laptops", priority="high", category=goods)
    chairs = file_request(requester, title="Office chairs", priority="low", category=goods)
    cleaning = file_request(requester, title="Cleaning contract", priority="normal", category=services_category)
    cancelled = file_request(requester, title="Old printer toner", priority="urgent", category=goods)
    services.procurement_request_cancel(procurement_request=cancelled, actor=requester, note="Found some.")
    return {"laptops": laptops, "chairs": chairs, "cleaning": cleaning, "cancelled": cancelled}


def shown(response, rows):
    page = page_of(response)
    return {name for name, row in rows.items() if row.reference in page}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"laptops", "chairs", "cleaning", "cancelled"}),
        ({"status": "open"}, {"laptops", "chairs", "cleaning"}),
        ({"status": "cancelled"}, {"cancelled"}),
        ({"q": "chair"}, {"chairs"}),
        ({"q": "CLEANING"}, {"cleaning"}),
        ({"priority": "urgent"}, {"cancelled"}),
        ({"status": "open", "priority": "high"}, {"laptops"}),
    ],
)
def test_list_filters_narrow_the_list(client, requester, list_rows, query, expected):
    # given alice's four requests
    client.force_login(requester)
    # when her list is filtered
    response = client.get(reverse("requests_app:mine"), query)
    # then exactly the matching requests are shown
    assert response.status_code == 200
    assert shown(response, list_rows) == expected


@pytest.mark.django_db
def test_list_filters_by_category_and_by_reference(client, requester, list_rows, services_category):
    client.force_login(requester)
    # when filtered by category, and searched by a reference
    by_category = client.get(reverse("requests_app:mine"), {"category": services_category.pk})
    by_reference = client.get(reverse("requests_app:mine"), {"q": list_rows["chairs"].reference})
    # then each shows the one match
    assert shown(by_category, list_rows) == {"cleaning"}
    assert shown(by_reference, list_rows) == {"chairs"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"status": "bogus"},
        {"category": "not-a-number"},
        {"category": "999999"},
        {"priority": "whenever"},
        {"q": "x" * 500},
        {"q": "%_'\";--"},
    ],
    ids=["status", "category-text", "category-missing", "priority", "long-q", "sql-chars"],
)
def test_invalid_filters_are_ignored_not_a_server_error(client, requester, list_rows, query):
    client.force_login(requester)
    # when a list is asked for with a nonsensical filter
    response = client.get(reverse("requests_app:mine"), query)
    # then it still answers
    assert response.status_code == 200
    # SQL wildcards are searched for literally (and match nothing); everything else is ignored
    assert shown(response, list_rows) == (set() if "q" in query and "%" in query["q"] else set(list_rows))


@pytest.mark.django_db
def test_lists_are_paginated_and_keep_the_filters(client, requester, goods):
    # given 30 open requests and one cancelled
    for number in range(30):
        file_request(requester, title=f"Item {number:02d}")
    cancelled = file_request(requester, title="Cancelled item")
    services.procurement_request_cancel(procurement_request=cancelled, actor=requester, note="No.")
    client.force_login(requester)
    # when the open requests are listed, page 1 then page 2
    first = client.get(reverse("requests_app:mine"), {"status": "open"})
    second = client.get(reverse("requests_app:mine"), {"status": "open", "page": 2})
    # then page 1 has 25 rows and links to page 2 with the filter kept; page 2 has the other 5
    rows_on = [len(re.findall(r'<td class="text-nowrap"><a href="/requests/PR-', page_of(r))) for r in (first, second)]
    assert rows_on == [25, 5]
    assert 'href="?status=open&amp;page=2"' in page_of(first)
    assert "Page 2 of 2" in page_of(second)
    assert "30 requests" in page_of(first)
    assert cancelled.reference not in page_of(first) + page_of(second)


@pytest.mark.django_db
# Not named `page`: that is Playwright's fixture, and sharing the name regroups the test run.
@pytest.mark.parametrize(("page_number", "shown"), [("abc", 1), ("99", 2), ("0", 2), ("2", 2)])
def test_a_page_number_that_is_not_a_page_shows_the_nearest_page(client, requester, page_number, shown):
    # given two pages of requests
    for _ in range(26):
        file_request(requester)
    client.force_login(requester)
    # when a page number that is not a number, or past the end, is asked for
    response = client.get(reverse("requests_app:mine"), {"page": page_number})
    # then the nearest real page is shown, not an error
    assert response.status_code == 200
    assert f"Page {shown} of 2" in page_of(response)
