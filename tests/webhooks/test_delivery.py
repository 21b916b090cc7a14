"""Webhooks: events become one delivery per webhook in the event's transaction; the delivery is signed,
retried with back-off, failed after the last attempt, and never sent twice. A real HTTP receiver, no mocks."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from requests_app import services as request_services
from requests_app.models import ProcurementRequest, Status
from tests.factories import file_request
from tests.webhooks.receiver import Receiver, receiver_verifies
from webhooks import tasks
from webhooks.models import DeliveryStatus, EventType, Webhook, WebhookDelivery
from webhooks.services import (
    WebhookEvent,
    webhook_create,
    webhook_deliveries_enqueue,
    webhook_deliveries_sweep,
    webhook_delivery_deliver,
    webhook_delivery_retry,
    webhook_update,
)
from webhooks.signing import signature_verify

pytestmark = pytest.mark.django_db

ALL_EVENTS = list(EventType.values)


def hook(manager, url, events=ALL_EVENTS, name="ERP"):
    return webhook_create(actor=manager, name=name, target_url=url, events=events, is_active=True)


def deliver(delivery, now=None):
    return webhook_delivery_deliver(delivery_id=delivery.pk, now=now)


def fresh(delivery):
    return WebhookDelivery.objects.get(pk=delivery.pk)


# --- events become deliveries ------------------------------------------------------------------------


def test_filing_a_request_writes_one_created_delivery_with_the_documented_payload(requester, manager):
    # given a webhook subscribed to everything
    webhook = hook(manager, "https://erp.example.com/hooks")

    # when a request is filed (the default routing leaves it in the team queue)
    procurement_request = file_request(requester)

    # then one request.created delivery waits, pending, carrying the request as filed
    delivery = WebhookDelivery.objects.get()
    assert (delivery.webhook, delivery.event_type, delivery.status) == (webhook, "request.created", "pending")
    payload = delivery.payload
    assert payload["event"] == "request.created"
    assert payload["delivery_id"] == str(delivery.pk)
    request = payload["request"]
    assert request["reference"] == procurement_request.reference
    assert request["status"] == Status.SUBMITTED
    assert request["previous_status"] is None
    assert request["department"] == {"code": "SALES", "name": "Sales"}
    assert request["assignee"] is None
    assert set(request["sla"]) == {"first_response", "resolution"}
    assert request["url"].endswith(f"/requests/{procurement_request.reference}/")


def test_a_status_change_is_one_delivery_per_webhook_with_the_previous_status(requester, buyer, manager):
    # given two webhooks, one for status changes only, and a filed request
    everything = hook(manager, "https://erp.example.com/hooks")
    statuses = hook(manager, "https://bi.example.com/in", events=["request.status_changed"], name="BI")
    procurement_request = file_request(requester)

    # when Bob claims it
    request_services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)

    # then each webhook has one status_changed delivery: submitted → assigned, Bob named
    changed = WebhookDelivery.objects.filter(event_type="request.status_changed")
    assert sorted(changed.values_list("webhook__name", flat=True)) == ["BI", "ERP"]
    request = changed.first().payload["request"]
    assert (request["previous_status"], request["status"]) == ("submitted", "assigned")
    assert request["assignee"]["username"] == "bob"
    assert WebhookDelivery.objects.filter(webhook=statuses, event_type="request.created").count() == 0
    assert WebhookDelivery.objects.filter(webhook=everything).count() == 2


def test_the_same_event_written_twice_is_one_delivery(requester, manager):
    # given a webhook and a filed request with its created delivery
    hook(manager, "https://erp.example.com/hooks")
    procurement_request = file_request(requester)
    event = WebhookEvent(
        "request.created", procurement_request, f"request-{procurement_request.pk}-created", timezone.now()
    )

    # when the same event (same key) is enqueued again
    webhook_deliveries_enqueue(events=[event])

    # then the unique key keeps one delivery
    assert WebhookDelivery.objects.count() == 1


def test_inactive_or_unsubscribed_webhooks_get_nothing(requester, manager):
    disabled = hook(manager, "https://erp.example.com/hooks")
    webhook_update(webhook=disabled, actor=manager, is_active=False)
    hook(manager, "https://bi.example.com/in", events=["request.breached"], name="BI")

    file_request(requester)

    assert not WebhookDelivery.objects.exists()


def test_with_no_webhook_an_event_costs_one_query(requester, django_assert_num_queries):
    procurement_request = file_request(requester)
    event = WebhookEvent("request.created", procurement_request, "request-x-created", timezone.now())
    with django_assert_num_queries(1):
        assert webhook_deliveries_enqueue(events=[event]) == []


def test_with_webhooks_an_event_costs_four_queries_however_many_subscribe(
    requester, manager, django_assert_num_queries
):
    # the webhooks; the request with its department, category, buyer and team; its clocks; one insert
    for number in range(3):
        hook(manager, f"https://erp{number}.example.com/hooks", name=f"ERP {number}")
    procurement_request = file_request(requester)
    event = WebhookEvent("request.created", procurement_request, "request-x-created", timezone.now())
    with django_assert_num_queries(4):
        assert len(webhook_deliveries_enqueue(events=[event])) == 3


def test_a_breach_is_one_delivery_per_clock_cycle(requester, manager):
    from slas.services import sla_clocks_sweep
    from tests.slas.test_clock_services import at, berlin, submit

    # given a request filed Monday 09:00 whose first response is due 14:00, and a breach webhook
    hook(manager, "https://erp.example.com/hooks", events=["request.breached"])
    procurement_request = submit(requester)

    # when the sweep finds it past 14:00, and runs again later
    with at(berlin(10, 14, 0, 1)):
        sla_clocks_sweep()
    with at(berlin(10, 15)):
        sla_clocks_sweep()

    # then one request.breached went out for the first-response clock, with its theoretical breach instant
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event_type == "request.breached"
    assert delivery.procurement_request_id == procurement_request.pk
    assert delivery.payload["data"]["metric"] == "first_response"
    assert datetime.fromisoformat(delivery.payload["data"]["breached_at"]) == berlin(10, 14)
    assert delivery.payload["request"]["sla"]["first_response"]["breached"] is True


# --- nothing inside the web request --------------------------------------------------------------------


def test_a_request_filed_in_the_portal_sends_nothing_until_the_worker_runs(
    client, requester, manager, form_data, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        # given a webhook pointing at a live receiver
        hook(manager, receiver.url)
        client.force_login(requester)

        # when Alice files a request in the portal
        with django_capture_on_commit_callbacks(execute=False) as after_commit:
            response = client.post(reverse("requests_app:create"), form_data())

        # then the page answered, the delivery is written, its task is left for after the commit, and the
        # receiver has got nothing
        assert response.status_code == 302
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.PENDING
        assert len(after_commit) >= 1
        assert receiver.received == []

        # when the worker runs the task
        assert tasks.deliver_webhook(str(delivery.pk)) == "delivered"

        # then the receiver got the event
        assert receiver.events() == ["request.created"]


# --- signing and sending ---------------------------------------------------------------------------------


def test_the_receiver_verifies_the_signature_with_the_secret(requester, manager):
    with Receiver() as receiver:
        webhook = hook(manager, receiver.url)
        procurement_request = file_request(requester)
        delivery = WebhookDelivery.objects.get()

        assert deliver(delivery) == "delivered"

        (received,) = receiver.received
        signature = received.headers["X-ServiceDesk-Signature"]
        assert receiver_verifies(webhook.secret, signature, received.body)
        assert signature_verify(secret=webhook.secret, header=signature, body=received.body)
        # a different secret, or a body changed on the way, does not verify
        assert not receiver_verifies("whsec_wrong", signature, received.body)
        assert not receiver_verifies(webhook.secret, signature, received.body.replace(b"Laptops", b"Lapdogs"))
        assert received.headers["X-ServiceDesk-Event"] == "request.created"
        assert received.headers["X-ServiceDesk-Delivery"] == str(delivery.pk)
        assert received.headers["Content-Type"] == "application/json"
        assert received.json == delivery.payload
        assert received.json["request"]["reference"] == procurement_request.reference
        delivered = fresh(delivery)
        assert (delivered.status, delivered.attempts, delivered.last_response_code) == ("delivered", 1, 200)
        assert delivered.delivered_at is not None


def test_after_a_rotation_the_old_secret_no_longer_verifies(requester, manager):
    from webhooks.services import webhook_secret_rotate

    with Receiver() as receiver:
        webhook = hook(manager, receiver.url)
        old_secret = webhook.secret
        file_request(requester)
        rotated = webhook_secret_rotate(webhook=webhook, actor=manager)

        deliver(WebhookDelivery.objects.get())

        signature = receiver.received[0].headers["X-ServiceDesk-Signature"]
        assert rotated.secret != old_secret and rotated.secret.startswith("whsec_")
        assert receiver_verifies(rotated.secret, signature, receiver.received[0].body)
        assert not receiver_verifies(old_secret, signature, receiver.received[0].body)


def test_a_500_then_200_receiver_is_retried_after_the_back_off_and_delivered(requester, manager):
    with Receiver(script=[500, 200]) as receiver:
        hook(manager, receiver.url)
        file_request(requester)
        delivery = WebhookDelivery.objects.get()

        # when the first attempt gets a 500
        assert deliver(delivery) == "pending"
        failed_once = fresh(delivery)
        assert (failed_once.attempts, failed_once.last_response_code) == (1, 500)
        assert "boom" in failed_once.last_error
        # then it waits a minute: an attempt before then sends nothing
        back_off = failed_once.next_attempt_at - failed_once.last_attempt_at
        assert timedelta(minutes=1) <= back_off < timedelta(minutes=1, seconds=5)  # from the failed attempt's end
        assert deliver(delivery) == "skipped: not due yet"
        assert len(receiver.received) == 1

        # when the sweep runs after the back-off, it enqueues it; the next attempt gets 200
        later = failed_once.next_attempt_at + timedelta(seconds=1)
        assert webhook_deliveries_sweep(now=later) == [delivery.pk]
        assert deliver(delivery, now=later) == "delivered"

        delivered = fresh(delivery)
        assert (delivered.status, delivered.attempts, delivered.last_response_code) == ("delivered", 2, 200)
        # the same delivery id and body both times
        first, second = receiver.received
        assert first.body == second.body
        assert first.headers["X-ServiceDesk-Delivery"] == second.headers["X-ServiceDesk-Delivery"]


def test_a_receiver_failing_forever_is_failed_after_the_last_attempt_and_retry_now_starts_over(
    requester, manager, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    with Receiver(script=[503]) as receiver:
        hook(manager, receiver.url)
        file_request(requester)
        delivery = WebhookDelivery.objects.get()

        # when every attempt fails, each after its back-off (1 min, then 5 min)
        moment = timezone.now()
        outcomes = []
        for _ in range(5):
            outcomes.append(deliver(delivery, now=moment))
            moment += timedelta(hours=1)

        # then three attempts were made and the delivery is failed, visibly, and not tried again
        assert outcomes == ["pending", "pending", "failed", "skipped: failed", "skipped: failed"]
        assert len(receiver.received) == 3
        failed = fresh(delivery)
        assert (failed.status, failed.attempts, failed.last_response_code) == ("failed", 3, 503)
        assert webhook_deliveries_sweep(now=moment) == []

        # when a manager retries it now, it is sent again with a fresh set of attempts
        webhook_delivery_retry(delivery=failed, actor=manager)
        assert deliver(delivery) == "pending"
        assert len(receiver.received) == 4
        assert fresh(delivery).attempts == 1


def test_a_receiver_that_is_not_there_is_a_failed_attempt_with_the_error(requester, manager):
    with Receiver() as receiver:
        url = receiver.url
    hook(manager, url)  # the port is closed now
    file_request(requester)
    delivery = WebhookDelivery.objects.get()

    assert deliver(delivery) == "pending"

    attempt = fresh(delivery)
    assert attempt.last_response_code is None
    assert "Connection refused" in attempt.last_error or "URLError" in attempt.last_error


def test_a_redirect_is_not_followed_but_counts_as_a_failed_attempt(requester, manager):
    with Receiver(script=[302]) as receiver:
        hook(manager, receiver.url)
        file_request(requester)
        delivery = WebhookDelivery.objects.get()

        assert deliver(delivery) == "pending"

        assert fresh(delivery).last_response_code == 302
        assert len(receiver.received) == 1


def test_the_task_run_twice_sends_once(requester, manager):
    with Receiver() as receiver:
        hook(manager, receiver.url)
        file_request(requester)
        delivery = WebhookDelivery.objects.get()

        first = tasks.deliver_webhook.apply(args=(str(delivery.pk),)).get()
        second = tasks.deliver_webhook.apply(args=(str(delivery.pk),)).get()

        assert (first, second) == ("delivered", "skipped: delivered")
        assert len(receiver.received) == 1


def test_a_disabled_webhook_sends_nothing_and_says_why(requester, manager):
    with Receiver() as receiver:
        webhook = hook(manager, receiver.url)
        file_request(requester)
        webhook_update(webhook=webhook, actor=manager, is_active=False)

        assert deliver(WebhookDelivery.objects.get()) == "failed: Not sent: the webhook is disabled."
        assert receiver.received == []


def test_the_sweep_enqueues_only_what_is_due_and_not_just_enqueued(requester, manager):
    # given a fresh delivery (just enqueued), and the minute after it
    hook(manager, "https://erp.example.com/hooks")
    file_request(requester)
    delivery = WebhookDelivery.objects.get()

    # then a sweep now leaves it to its task; a minute later (its task lost) it is enqueued again, once
    assert webhook_deliveries_sweep() == []
    later = timezone.now() + timedelta(seconds=61)
    assert webhook_deliveries_sweep(now=later) == [delivery.pk]
    assert webhook_deliveries_sweep(now=later) == []


def test_an_idle_sweep_is_one_select(django_assert_num_queries):
    with django_assert_num_queries(3):  # the batch's savepoint (in the test's transaction), the select, its release
        assert webhook_deliveries_sweep() == []


def test_beat_runs_the_sweep_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-webhook-deliveries"]
    assert (entry["task"], entry["schedule"]) == ("webhooks.sweep_deliveries", 60.0)
    assert tasks.sweep_deliveries.name == "webhooks.sweep_deliveries"


def test_only_managers_create_webhooks(requester, buyer):
    from django.core.exceptions import PermissionDenied

    for person in (requester, buyer):
        with pytest.raises(PermissionDenied):
            hook(person, "https://erp.example.com/hooks")
    assert not Webhook.objects.exists()


def test_procurement_request_status_is_unchanged_by_a_failing_receiver(requester, buyer, manager):
    # a receiver that is down does not make the event fail: the claim stands, the delivery waits
    hook(manager, "http://127.0.0.1:9/unreachable")
    procurement_request = file_request(requester)
    request_services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    assert ProcurementRequest.objects.get().status == Status.ASSIGNED
    assert WebhookDelivery.objects.filter(status="pending").count() == 2
