"""One-click approval: the approval-waiting notice carries signed Approve and Reject links for the approver;
a link opens a confirmation page (GET changes nothing) and its POST decides through the usual service. A
tampered, expired, someone else's, stale or already-decided link says why and changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db.models import F
from django.utils import timezone

from requests_app import services
from requests_app.approval_links import approval_link_path
from requests_app.models import EventKind, ProcurementRequest, Status
from stakeholders.models import Channel, Notification, NotificationKind
from tests.factories import CategoryFactory, file_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(requester, head):
    return file_request(
        requester,
        title="Trade fair booth",
        description="The old booth is worn out; the fair is in May.",
        estimated_value=Decimal("6000"),
        category=CategoryFactory(name="Goods"),
    )


def links(user, procurement_request):
    """{label: path} of the one-click links in the user's approval notice about the request."""
    notice = Notification.objects.get(
        recipient=user, kind=NotificationKind.APPROVAL, channel=Channel.IN_APP, procurement_request=procurement_request
    )
    return {action["label"]: action["path"] for action in notice.payload["actions"]}


def state(procurement_request):
    row = ProcurementRequest.objects.get(pk=procurement_request.pk)
    return row.status, row.version, row.events.count()


def test_the_approver_is_sent_approve_and_reject_links_in_the_app_and_by_email(pending, head):
    in_app = links(head, pending)
    assert set(in_app) == {"Approve", "Reject"}
    email = Notification.objects.get(recipient=head, kind=NotificationKind.APPROVAL, channel=Channel.EMAIL)
    assert f"Approve: http://127.0.0.1:8000{in_app['Approve']}" in email.payload["body"]
    assert f"Reject: http://127.0.0.1:8000{in_app['Reject']}" in email.payload["body"]


def test_approve_by_link_shows_the_request_then_approves_it_on_post(client, pending, head, requester):
    client.force_login(head)
    path = links(head, pending)["Approve"]
    before = state(pending)

    # when Hannah opens the link: the summary and one button, and nothing changes
    page = client.get(path)
    assert page.status_code == 200
    text = page.content.decode()
    for expected in ("Trade fair booth", "6,000.00 EUR", requester.get_full_name(), "Goods", "worn out"):
        assert expected in text
    assert ">Approve</button>" in text and 'name="note"' not in text
    assert state(pending) == before

    # when she presses Approve
    response = client.post(path)

    # then the request is approved through the service: timeline event, the requester told
    assert response.status_code == 302 and response.url == f"/requests/{pending.reference}/"
    pending.refresh_from_db()
    assert pending.status in {Status.APPROVED, Status.ASSIGNED}
    event = pending.events.get(kind=EventKind.APPROVED)
    assert event.actor == head
    assert Notification.objects.filter(recipient=requester, kind=NotificationKind.APPROVED).exists()


def test_reject_by_link_needs_a_reason_beside_the_field(client, pending, head, requester):
    client.force_login(head)
    path = links(head, pending)["Reject"]
    before = state(pending)

    page = client.get(path)
    assert page.status_code == 200 and 'name="note"' in page.content.decode()

    # without a reason: the error beside the field, nothing changed
    response = client.post(path, {"note": "  "})
    assert response.status_code == 400
    text = response.content.decode()
    assert 'id="id_reject_note"' in text and "is-invalid" in text and "This field is required." in text
    assert state(pending) == before

    # with one: rejected, the requester sees the reason
    response = client.post(path, {"note": "Reuse last year's booth."})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == Status.REJECTED
    rejected = Notification.objects.get(recipient=requester, kind=NotificationKind.REJECTED, channel=Channel.IN_APP)
    assert "Reuse last year's booth." in rejected.payload["summary"]


def refused(client, path, status, words):
    """GET and POST of the link both refuse with the reason and change nothing."""
    get = client.get(path)
    assert get.status_code == status
    assert words in get.content.decode()
    post = client.post(path, {"note": "Because"})
    assert post.status_code == status
    return get.content.decode()


def test_a_tampered_link_is_refused(client, pending, head):
    client.force_login(head)
    path = links(head, pending)["Approve"]
    before = state(pending)
    token = path.rstrip("/").rsplit("/", 1)[1]
    tampered = path.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))

    refused(client, tampered, 400, "not valid")
    # a link for another request, signed by someone else's hand, is no better
    refused(client, "/requests/decide/not-a-token/", 400, "not valid")
    assert state(pending) == before


def test_an_expired_link_is_refused_with_a_way_to_the_request(client, pending, head, settings):
    settings.APPROVAL_LINK_MAX_AGE = 7 * 24 * 3600
    client.force_login(head)
    path = links(head, pending)["Approve"]
    before = state(pending)

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        text = refused(client, path, 410, "expired")

    assert "valid for 7 days" in text
    assert state(pending) == before


def test_a_link_opened_by_someone_else_is_refused(client, pending, head, manager):
    # Maria may approve too (a manager), but the link was Hannah's
    client.force_login(manager)
    path = links(head, pending)["Approve"]
    before = state(pending)

    refused(client, path, 403, "sent to someone else")

    assert state(pending) == before


def test_a_link_for_a_request_already_decided_says_so_and_links_to_it(client, pending, head):
    client.force_login(head)
    path = links(head, pending)["Reject"]
    services.procurement_request_approve(procurement_request=pending, actor=head)
    before = state(pending)

    text = refused(client, path, 409, "already decided")

    assert f'href="/requests/{pending.reference}/"' in text
    assert state(pending) == before


def test_a_link_for_a_request_changed_since_the_notice_is_refused(client, pending, head):
    client.force_login(head)
    path = links(head, pending)["Approve"]
    # any change the version tracks (status, buyer, priority, category, PO number) makes the link stale
    ProcurementRequest.objects.filter(pk=pending.pk).update(version=F("version") + 1)
    before = state(pending)

    refused(client, path, 409, "changed since this link was sent")

    assert state(pending) == before


def test_a_link_written_for_an_older_version_is_refused_even_when_signed(client, pending, head):
    client.force_login(head)
    stale = ProcurementRequest(pk=pending.pk, version=pending.version - 1 if pending.version > 1 else 99)
    path = approval_link_path(procurement_request=stale, approver=head, decision="approve")

    refused(client, path, 409, "changed since this link was sent")


def test_signing_in_is_needed_and_comes_back_to_the_link(client, pending, head):
    path = links(head, pending)["Approve"]

    response = client.get(path)

    assert response.status_code == 302 and response.url.startswith("/login/?next=/requests/decide/")


def test_a_german_approver_gets_the_confirmation_and_the_refusal_in_german(client, pending, head):
    # given Hannah reads the pages in German (kept in her session, as after her login)
    client.force_login(head)
    session = client.session
    session["language"] = "de"
    session.save()
    paths = links(head, pending)

    page = client.get(paths["Reject"]).content.decode()
    assert f"{pending.reference} ablehnen?" in page and "Begründung des Bedarfs" in page
    assert "Entschieden wird erst, wenn Sie unten auf die Schaltfläche klicken." in page
    # and a missing reason comes back beside its (German) label
    error = client.post(paths["Reject"], {"note": ""}).content.decode()
    assert "Begründung<span" in error and "Dieses Feld ist zwingend erforderlich." in error

    services.procurement_request_approve(procurement_request=pending, actor=head)
    refusal = client.get(paths["Reject"])
    assert refusal.status_code == 409
    assert f"Über {pending.reference} ist bereits entschieden: Status jetzt „genehmigt“" in refusal.content.decode()


def test_with_approval_emails_turned_off_the_links_are_in_the_app_only(requester, head):
    from stakeholders.models import NotificationPreference

    NotificationPreference.objects.create(user=head, kind=NotificationKind.APPROVAL, by_email=False)

    procurement_request = file_request(requester, estimated_value=Decimal("6000"), category=CategoryFactory())

    assert set(links(head, procurement_request)) == {"Approve", "Reject"}
    assert not Notification.objects.filter(recipient=head, channel=Channel.EMAIL).exists()


def test_only_someone_who_may_decide_gets_the_links(requester, head, manager):
    # a manager told of a waiting approval that the head decides gets no links
    from slas.escalation import Crossing, _Audience, _payload
    from slas.models import EscalationSubject

    procurement_request = file_request(requester, estimated_value=Decimal("6000"), category=CategoryFactory())
    crossing = Crossing(procurement_request.pk, EscalationSubject.APPROVAL, 1, (960,))

    for_manager = _payload(
        crossing, procurement_request, (960,), _Audience(manager, ["procurement manager"]), timezone.now()
    )
    for_head = _payload(crossing, procurement_request, (960,), _Audience(head, ["approver"]), timezone.now())

    assert for_manager["actions"] == []
    assert [action["label"] for action in for_head["actions"]] == ["Approve", "Reject"]
