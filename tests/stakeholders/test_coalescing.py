"""A request's news by e-mail: bursts become one e-mail, threaded per request, written from the kind's template."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from requests_app import services as request_services
from slas.models import EscalationEvent, SlaClock
from stakeholders import services
from stakeholders.models import Channel, DeliveryStatus, Notification, NotificationKind, Profile
from tests.factories import file_request

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) + timedelta(days=1)


def at(moment):
    return time_machine.travel(moment, tick=False)


def reply_emails(recipient):
    return Notification.objects.filter(recipient=recipient, kind=NotificationKind.REPLY, channel=Channel.EMAIL)


def deliver_all(moment):
    """What the minute sweep and the workers do at `moment`: every e-mail's task runs (in id order)."""
    with at(moment):
        return [
            services.notification_deliver(notification_id=pk)
            for pk in Notification.objects.filter(channel=Channel.EMAIL).order_by("pk").values_list("pk", flat=True)
        ]


@pytest.fixture
def claimed(requester, buyer, settings):
    settings.NOTIFICATION_COALESCE_SECONDS = 120
    with at(T0 - timedelta(minutes=30)):
        procurement_request = file_request(requester)
        procurement_request = request_services.procurement_request_claim(
            procurement_request=procurement_request, actor=buyer
        )
    deliver_all(T0 - timedelta(minutes=20))  # the receipt and the "assigned" news are out of the way
    mail.outbox.clear()
    return procurement_request


def test_three_quick_replies_make_one_email_and_a_reply_after_the_window_a_second(claimed, requester, buyer):
    # given three replies by Bob within twenty seconds
    for seconds, text in ((0, "First"), (10, "Second"), (20, "Third")):
        with at(T0 + timedelta(seconds=seconds)):
            request_services.comment_add(procurement_request=claimed, author=buyer, body=f"{text} answer")

    # when the tasks run before the window has passed, nothing goes out
    assert set(deliver_all(T0 + timedelta(seconds=60))) == {"held", "skipped: sent"}
    assert mail.outbox == []

    # when they run after it (the second's task first), one e-mail carries all three
    second = reply_emails(requester).order_by("pk")[1]
    with at(T0 + timedelta(seconds=135)):
        assert services.notification_deliver(notification_id=second.pk).startswith("deferred: goes with")
    deliver_all(T0 + timedelta(seconds=130))
    (message,) = mail.outbox
    assert message.subject == f"[{claimed.reference}] 3 updates: {claimed.title}"
    text = message.body
    assert text.index("First answer") < text.index("Second answer") < text.index("Third answer")
    assert text.count(f"{buyer.get_full_name()} replied") == 3
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "3 updates" in html and "Third answer" in html
    first, *others = reply_emails(requester).order_by("pk")
    assert {(other.status, other.sent_with_id) for other in others} == {(DeliveryStatus.SENT, first.pk)}

    # when Bob replies again after the window, that is a second e-mail, alone, on the same thread
    with at(T0 + timedelta(seconds=200)):
        request_services.comment_add(procurement_request=claimed, author=buyer, body="Fourth answer")
    deliver_all(T0 + timedelta(seconds=330))
    assert len(mail.outbox) == 2
    later = mail.outbox[1]
    assert later.subject == f"[{claimed.reference}] {buyer.get_full_name()} replied"
    assert "Fourth answer" in later.body and "First answer" not in later.body
    thread = f"<{claimed.reference}@127.0.0.1>"
    for sent in mail.outbox:
        assert (sent.extra_headers["In-Reply-To"], sent.extra_headers["References"]) == (thread, thread)
    assert message.extra_headers["Message-ID"] != later.extra_headers["Message-ID"]
    assert f"http://127.0.0.1:8000/requests/{claimed.reference}/" in later.body


def test_news_of_two_requests_or_for_two_people_is_not_mixed(claimed, requester, buyer, head):
    other = file_request(requester, title="Chairs")
    request_services.procurement_request_claim(procurement_request=other, actor=buyer)
    with at(T0):
        request_services.comment_add(procurement_request=claimed, author=buyer, body="About laptops")
        request_services.comment_add(procurement_request=other, author=buyer, body="About chairs")
        request_services.comment_add(procurement_request=claimed, author=requester, body="Thanks")

    deliver_all(T0 + timedelta(minutes=3))

    sent = sorted((message.to[0], message.subject) for message in mail.outbox if "replied" in message.subject)
    assert sent == sorted(
        [
            (buyer.email, f"[{claimed.reference}] {requester.get_full_name()} replied"),
            (requester.email, f"[{claimed.reference}] {buyer.get_full_name()} replied"),
            (requester.email, f"[{other.reference}] {buyer.get_full_name()} replied"),
        ]
    )


def test_times_in_an_email_are_in_the_recipients_time_zone(requester, settings):
    settings.NOTIFICATION_COALESCE_SECONDS = 0
    Profile.objects.update_or_create(user=requester, defaults={"time_zone": "America/New_York"})

    procurement_request = file_request(requester)
    receipt = Notification.objects.get(kind=NotificationKind.RECEIVED, channel=Channel.EMAIL)
    services.notification_deliver(notification_id=receipt.pk)

    (message,) = mail.outbox
    due = SlaClock.objects.get(procurement_request=procurement_request, metric="first_response").due_at
    in_new_york = due.astimezone(ZoneInfo("America/New_York")).strftime("%a %d %b %Y, %H:%M %Z")
    assert f"First response: within 4 h of business time, by {in_new_york}." in message.body
    assert in_new_york in message.alternatives[0][0]


def test_an_email_to_someone_inactive_or_without_an_address_is_failed_with_the_reason(claimed, requester, buyer):
    with at(T0):
        request_services.comment_add(procurement_request=claimed, author=buyer, body="Hello")
    get_user_model().objects.filter(pk=requester.pk).update(is_active=False)

    outcomes = deliver_all(T0 + timedelta(minutes=3))

    assert "failed: Not sent: the recipient is inactive or has no e-mail address." in outcomes
    assert mail.outbox == []
    assert reply_emails(requester).get().status == DeliveryStatus.FAILED


def test_an_escalation_goes_alone_and_a_notice_written_through_notify_joins_the_burst(claimed, requester, buyer):
    with at(T0):
        request_services.comment_add(procurement_request=claimed, author=buyer, body="Hello")
        escalation = EscalationEvent.objects.create(procurement_request=claimed, subject="resolution", threshold=50)
        (escalated,) = services.notifications_create(
            notifications=[
                Notification(
                    recipient=requester,
                    kind=NotificationKind.SLA_WARNING,
                    channel=Channel.EMAIL,
                    procurement_request=claimed,
                    escalation=escalation,
                    payload={"subject": f"[{claimed.reference}] 50 % used", "body": "Plain", "reference": "x"},
                )
            ]
        )
        services.notify(
            recipient=requester,
            kind=NotificationKind.EXPECTED_DATE,
            procurement_request=claimed,
            template="survey_followed_up",
            context={"actor_name": "Bob", "note": "Written through notify()."},
        )

    # the escalation is sent at once, as written, alone
    assert services.notification_deliver(notification_id=escalated.pk) == "sent"
    assert (mail.outbox[0].subject, mail.outbox[0].body, mail.outbox[0].alternatives) == (
        f"[{claimed.reference}] 50 % used",
        "Plain",
        [],
    )
    # the reply and the notice written through notify() go together when the window has passed
    deliver_all(T0 + timedelta(minutes=3))
    assert len(mail.outbox) == 2
    digest = mail.outbox[1]
    assert digest.subject == f"[{claimed.reference}] 2 updates: {claimed.title}"
    assert "Hello" in digest.body and "Bob: Written through notify()." in digest.body


def test_a_notice_about_no_request_is_mailed_alone_with_its_own_link(buyer, manager, settings, procurement_department):
    from requests_app.models import BuyerTeam
    from slas.demo import sla_defaults_ensure
    from stakeholders.roles import Role
    from tests.factories import person

    settings.NOTIFICATION_COALESCE_SECONDS = 0
    sla_defaults_ensure()
    lead = person(Role.BUYER, procurement_department, username="lena")
    team = BuyerTeam.objects.create(name="Indirect", lead=lead, calendar_id=_office_calendar_id())
    team.memberships.create(user=buyer)
    request_services.procurement_request_claim(procurement_request=file_request(buyer), actor=buyer)
    Notification.objects.update(status=DeliveryStatus.SENT)

    request_services.buyer_availability_set(
        buyer=buyer, actor=manager, away_until=timezone.localdate() + timedelta(days=3)
    )
    (away,) = Notification.objects.filter(kind=NotificationKind.BUYER_AWAY, channel=Channel.EMAIL)
    assert services.notification_deliver(notification_id=away.pk) == "sent"

    (message,) = mail.outbox
    assert message.to == [lead.email]
    assert message.subject.startswith(f"{buyer.get_full_name()} is out of office until")
    assert "None" not in message.body and "None" not in message.alternatives[0][0]
    assert "Open: http://127.0.0.1:8000/requests/queue/team/?assignee=" in message.body
    assert "In-Reply-To" not in message.extra_headers


def _office_calendar_id():
    from slas.demo import OFFICE_CALENDAR
    from slas.models import BusinessCalendar

    return BusinessCalendar.objects.get(name=OFFICE_CALENDAR).pk
