"""The outbox: e-mail notices are delivered once, retried with back-off, survive a broker that is down."""

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from stakeholders import services, tasks
from stakeholders.models import Channel, DeliveryStatus, Notification, NotificationKind
from tests.factories import file_request
from tests.slas.test_clock_services import MONDAY_0900, at

pytestmark = pytest.mark.django_db


def email_to(user, *, now=None, **fields):
    """One e-mail notice, stored through the service (nothing enqueued: tests run inside a transaction)."""
    notification = Notification(
        recipient=user,
        kind=fields.pop("kind", NotificationKind.SLA_WARNING),
        channel=Channel.EMAIL,
        payload={"subject": "[PR-2026-000001] 50 % of the resolution time used — 2 h left", "body": "Text"},
        **fields,
    )
    (created,) = services.notifications_create(notifications=[notification], now=now or timezone.now())
    return Notification.objects.get(pk=created.pk)


def reload(notification):
    return Notification.objects.get(pk=notification.pk)


class FailingBackend:
    """An e-mail backend whose server refuses everything."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused the connection")


@pytest.fixture
def failing_smtp(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"


# --- delivery ----------------------------------------------------------------------------------------


def test_a_delivery_sends_one_email_and_a_second_run_sends_nothing(buyer):
    # given a pending e-mail notice
    notification = email_to(buyer)
    assert notification.status == DeliveryStatus.PENDING

    # when the task runs twice (a duplicated or redelivered message)
    first = tasks.deliver_notification.apply(args=[notification.pk]).get()
    second = tasks.deliver_notification.apply(args=[notification.pk]).get()

    # then one e-mail, with a Message-ID that stays the same on any attempt
    assert (first, second) == ("sent", "skipped: sent")
    (message,) = mail.outbox
    assert message.to == [buyer.email]
    assert message.subject == "[PR-2026-000001] 50 % of the resolution time used — 2 h left"
    assert message.extra_headers["Message-ID"] == f"<notification-{notification.pk}@127.0.0.1>"
    notification = reload(notification)
    assert (notification.status, notification.attempts, notification.lease_until) == (DeliveryStatus.SENT, 1, None)
    assert notification.sent_at is not None


def test_a_held_email_waits_for_its_moment(buyer):
    now = timezone.now()
    notification = email_to(buyer, not_before=now + timedelta(hours=9), now=now)

    assert notification.status == DeliveryStatus.HELD
    assert services.notification_deliver(notification_id=notification.pk, now=now) == "held"
    assert mail.outbox == []
    assert services.notification_deliver(notification_id=notification.pk, now=now + timedelta(hours=9)) == "sent"
    assert len(mail.outbox) == 1


def test_a_claimed_email_is_left_to_its_worker_until_the_lease_expires(buyer, settings):
    # given a notice a worker claimed and then died with (status sending, lease running)
    now = timezone.now()
    notification = email_to(buyer, now=now)
    Notification.objects.filter(pk=notification.pk).update(
        status=DeliveryStatus.SENDING, attempts=1, lease_until=now + timedelta(seconds=300)
    )

    # when another attempt comes before the lease expires, it leaves the row alone
    assert services.notification_deliver(notification_id=notification.pk, now=now) == (
        "skipped: claimed by another attempt"
    )
    # and after it, it claims and sends
    assert services.notification_deliver(notification_id=notification.pk, now=now + timedelta(seconds=301)) == "sent"
    assert len(mail.outbox) == 1
    assert reload(notification).attempts == 2


def test_a_failed_send_backs_off_exponentially_then_fails_and_the_admin_can_retry(buyer, failing_smtp, admin_client):
    notification = email_to(buyer)
    now = timezone.now()

    # when the SMTP server refuses every attempt
    delays = []
    for attempt in range(1, 6):
        outcome = services.notification_deliver(notification_id=notification.pk, now=now)
        row = reload(notification)
        assert row.attempts == attempt
        if attempt < 5:
            assert outcome.startswith("pending: ConnectionRefusedError")
            delays.append(round((row.not_before - timezone.now()).total_seconds() / 60))
            now = row.not_before
    # then it waited 1, 2, 4, 8 minutes between attempts, and the fifth failure is final
    assert delays == [1, 2, 4, 8]
    assert outcome.startswith("failed: ConnectionRefusedError")
    row = reload(notification)
    assert (row.status, row.last_error) == (
        DeliveryStatus.FAILED,
        "ConnectionRefusedError: SMTP server refused the connection",
    )

    # when an administrator finds it in the admin and retries it
    response = admin_client.get(reverse("admin:stakeholders_notification_changelist") + "?status__exact=failed")
    assert notification.subject in response.content.decode()
    response = admin_client.post(
        reverse("admin:stakeholders_notification_changelist"),
        {"action": "retry_action", "_selected_action": [notification.pk]},
    )
    assert response.status_code == 302
    # then it starts over
    row = reload(notification)
    assert (row.status, row.attempts, row.last_error, row.not_before) == (DeliveryStatus.PENDING, 0, "", None)


def test_a_title_with_a_line_break_does_not_break_the_subject(buyer):
    notification = email_to(buyer)
    Notification.objects.filter(pk=notification.pk).update(payload={"subject": "[PR-1] Two\nlines", "body": "x"})

    assert services.notification_deliver(notification_id=notification.pk) == "sent"
    assert mail.outbox[0].subject == "[PR-1] Two lines"


# --- enqueueing and the broker -----------------------------------------------------------------------


def test_the_delivery_is_enqueued_when_the_transaction_commits(buyer, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.deliver_notification, "apply_async", lambda args, **options: sent.extend(args))

    with django_capture_on_commit_callbacks(execute=True):
        notification = email_to(buyer)
        assert sent == []  # not before the commit: a worker would not find the row

    assert sent == [notification.pk]


def test_with_the_broker_down_a_submission_still_succeeds_and_the_sweep_enqueues_later(
    requester, head, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    # given a broker that refuses connections
    def broker_down(args, **options):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    monkeypatch.setattr(tasks.deliver_notification, "apply_async", broker_down)

    # when a request needing approval is submitted in working hours (its head is e-mailed at once)
    with at(MONDAY_0900), caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        procurement_request = file_request(requester, estimated_value=Decimal("6000"))

    # then it is saved, the notice waits in the outbox, and the log says why
    email = procurement_request.notifications.get(channel=Channel.EMAIL, kind=NotificationKind.APPROVAL)
    assert email.status == DeliveryStatus.PENDING
    assert "Could not enqueue 1 of 1 e-mail deliveries; the sweep retries them." in caplog.text

    # when the broker is back and the sweep runs a minute later, the e-mail is enqueued again
    enqueued = []
    monkeypatch.setattr(tasks.deliver_notification, "apply_async", lambda args, **options: enqueued.extend(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.notifications_requeue(now=MONDAY_0900 + timedelta(seconds=30)) == 0  # too recent
        assert services.notifications_requeue(now=MONDAY_0900 + timedelta(seconds=61)) == 1
    assert enqueued == [email.pk]


def test_the_sweep_requeues_only_what_may_be_lost(buyer, django_capture_on_commit_callbacks, django_assert_num_queries):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    now = timezone.now()
    lost = email_to(buyer, now=an_hour_ago)
    dead_worker = email_to(buyer, now=an_hour_ago)
    Notification.objects.filter(pk=dead_worker.pk).update(status=DeliveryStatus.SENDING, lease_until=an_hour_ago)
    busy_worker = email_to(buyer, now=an_hour_ago)
    Notification.objects.filter(pk=busy_worker.pk).update(
        status=DeliveryStatus.SENDING, lease_until=now + timedelta(minutes=4)
    )
    backing_off = email_to(buyer, now=an_hour_ago, not_before=now + timedelta(minutes=2))
    sent = email_to(buyer, now=an_hour_ago)
    Notification.objects.filter(pk=sent.pk).update(status=DeliveryStatus.SENT)
    just_queued = email_to(buyer, now=now)
    assert backing_off.status == DeliveryStatus.HELD and just_queued.status == DeliveryStatus.PENDING

    # a savepoint, the locked select, the update, the release, and a second empty batch of three
    with django_capture_on_commit_callbacks() as callbacks, django_assert_num_queries(4 + 3):
        assert services.notifications_requeue(now=now, batch_size=2) == 2

    assert len(callbacks) == 1
    assert {reload(lost).queued_at, reload(dead_worker).queued_at} == {now}
