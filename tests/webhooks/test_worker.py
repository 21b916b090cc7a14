"""Webhooks with real concurrency and the real Celery worker: one POST per delivery, whoever races for it.

Transactional tests on PostgreSQL (threads see each other's commits; SQLite serialises writers).
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from requests_app.routing import routing_defaults_ensure
from servicedesk.celery import app as celery_app
from slas.demo import sla_defaults_ensure
from stakeholders.roles import Role
from tests.conftest import require_service
from tests.factories import DepartmentFactory, file_request, person
from tests.requests_app.test_routing import _in_threads as in_threads
from tests.slas.workers import wait_until
from tests.webhooks.receiver import Receiver, receiver_verifies
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.services import webhook_create, webhook_deliveries_sweep, webhook_delivery_deliver

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _in_threads(count, work):
    """Run work(index) in `count` threads released at the same instant; returns (results, errors)."""
    results = [None] * count

    def keep(index):
        results[index] = work(index)

    return results, in_threads(count, keep)


@pytest.fixture
def maria():
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    return person(Role.PROCUREMENT_MANAGER, procurement, username="maria", first_name="Maria", last_name="Meyer")


def _outbox_rows(webhook, count, *, due_at):
    """Deliveries written straight to the table (no task enqueued): only the code under test sends them."""
    return WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            webhook=webhook,
            event_type="webhook.test",
            event_key=f"race-{number}",
            payload={"event": "webhook.test", "number": number},
            next_attempt_at=due_at,
            queued_at=due_at,
        )
        for number in range(count)
    )


def test_four_tasks_racing_for_one_delivery_send_it_once(maria):
    require_service("PostgreSQL", connection.vendor == "postgresql", "row locks only race on PostgreSQL")
    with Receiver(delay=0.5) as receiver:  # slow: the others arrive while the first is sending
        webhook = webhook_create(actor=maria, name="ERP", target_url=receiver.url, events=["request.created"])
        (delivery,) = _outbox_rows(webhook, 1, due_at=timezone.now())

        results, errors = _in_threads(4, lambda index: webhook_delivery_deliver(delivery_id=delivery.pk))

        assert errors == []
        assert sorted(results)[0] == "delivered" and results.count("delivered") == 1
        assert all(result.startswith("skipped") for result in results if result != "delivered")
        assert len(receiver.received) == 1
        delivered = WebhookDelivery.objects.get(pk=delivery.pk)
        assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 1)


def test_four_sweeps_at_once_enqueue_each_due_delivery_once_and_the_worker_posts_each_once(
    celery_worker_process, maria
):
    require_service("PostgreSQL", connection.vendor == "postgresql", "row locks only race on PostgreSQL")
    require_service("Redis", bool(django_settings.REDIS_URL), "REDIS_URL is not set")
    assert not celery_app.conf.task_always_eager
    with Receiver() as receiver:
        # given 40 deliveries whose back-off ended a while ago (their earlier tasks long gone)
        webhook = webhook_create(actor=maria, name="ERP", target_url=receiver.url, events=["request.created"])
        rows = _outbox_rows(webhook, 40, due_at=timezone.now() - timedelta(minutes=5))

        # when four sweeps run at the same instant, in batches of 7
        results, errors = _in_threads(4, lambda index: webhook_deliveries_sweep(batch_size=7))

        # then each delivery was enqueued by exactly one of them
        assert errors == []
        enqueued = [delivery_id for ids in results for delivery_id in ids]
        assert sorted(enqueued) == sorted(row.pk for row in rows)

        # and the real worker POSTed each exactly once, even with a second task for each racing it
        _in_threads(4, lambda index: [webhook_delivery_deliver(delivery_id=row.pk) for row in rows[index::4]])
        outstanding = WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED)
        wait_until(lambda: not outstanding.exists(), timeout=60, what="every delivery delivered")
        delivery_ids = [item.headers["X-ServiceDesk-Delivery"] for item in receiver.received]
        assert sorted(delivery_ids) == sorted(str(row.pk) for row in rows)
        assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}


def test_the_worker_delivers_a_filed_request_end_to_end(celery_worker_process, maria):
    require_service("Redis", bool(django_settings.REDIS_URL), "REDIS_URL is not set")
    sla_defaults_ensure()
    routing_defaults_ensure()
    sales = DepartmentFactory(name="Sales", code="SALES")
    alice = person(Role.REQUESTER, sales, username="alice")
    with Receiver(script=[500, 200]) as receiver:
        # given a webhook for every event
        webhook = webhook_create(
            actor=maria,
            name="ERP",
            target_url=receiver.url,
            events=["request.created", "request.status_changed", "request.breached"],
        )

        # when Alice files a request: the transaction commits, the worker POSTs (the receiver answers 500)
        procurement_request = file_request(alice)
        (first,) = receiver.wait_for(1)
        delivery = WebhookDelivery.objects.get()
        wait_until(lambda: WebhookDelivery.objects.get().attempts == 1, timeout=10, what="the failed attempt recorded")
        wait_until(
            lambda: WebhookDelivery.objects.get().status == DeliveryStatus.PENDING, timeout=10, what="the back-off"
        )

        # then, once the back-off has passed (moved back here: the worker keeps real time), beat's sweep
        # enqueues it again and the worker delivers it (200)
        back_off = WebhookDelivery.objects.get().next_attempt_at - timezone.now()
        assert timedelta(seconds=50) < back_off <= timedelta(minutes=1)
        minute_ago = timezone.now() - timedelta(seconds=61)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=minute_ago, queued_at=minute_ago)
        assert webhook_deliveries_sweep() == [delivery.pk]
        _, second = receiver.wait_for(2)
        wait_until(
            lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED, timeout=30, what="delivered"
        )

        assert first.body == second.body
        assert first.json["event"] == "request.created"
        assert first.json["request"]["reference"] == procurement_request.reference
        assert receiver_verifies(webhook.secret, second.headers["X-ServiceDesk-Signature"], second.body)
        delivered = WebhookDelivery.objects.get()
        assert (delivered.attempts, delivered.last_response_code) == (2, 200)
