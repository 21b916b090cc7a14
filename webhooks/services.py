"""Every write to webhooks and their deliveries, and the delivery itself.

Events become deliveries in the transaction of the event (`webhook_deliveries_enqueue`, called from
requests_app/services.py and slas/escalation.py); the worker POSTs them after commit
(`webhook_delivery_deliver`, the `webhooks.deliver` task) and the minute sweep picks up retries whose
back-off has ended and deliveries whose task was lost (`webhook_deliveries_sweep`).
"""

import dataclasses
import json
import logging
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from requests_app import permissions

from .models import TEST_EVENT, DeliveryStatus, EventType, Webhook, WebhookDelivery, webhook_secret_generate
from .signing import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

USER_AGENT = "ProcurementServiceDesk-Webhooks/1"
EXCERPT_CHARS = 500  # of the receiver's answer, kept in the delivery log


# --- events become deliveries ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WebhookEvent:
    """Something that happened to a request, as webhooks tell it.

    `key` names the occurrence (a timeline event's id, a clock's cycle): one delivery per webhook and key.
    """

    type: str
    procurement_request: object
    key: str
    occurred_at: datetime
    previous_status: str = ""
    data: dict = dataclasses.field(default_factory=dict)


def webhook_deliveries_enqueue(*, events) -> list[WebhookDelivery]:
    """Write one delivery per subscribed active webhook and event, to be sent once the transaction commits.

    Called in the event's own transaction, so a rolled-back event sends nothing. Costs one query when
    no active webhook subscribes to these events; an event already written for a webhook (its key) is
    not written again.
    """
    events = list(events)
    if not events:
        return []
    wanted = {event.type for event in events}
    webhooks = [webhook for webhook in Webhook.objects.active() if wanted.intersection(webhook.events)]
    if not webhooks:
        return []
    snapshots = _request_snapshots({event.procurement_request.pk for event in events})
    now = timezone.now()
    deliveries = []
    for event in events:
        for webhook in webhooks:
            if not webhook.subscribes_to(event.type):
                continue
            delivery_id = uuid.uuid4()
            request_part = {**snapshots[event.procurement_request.pk], "previous_status": event.previous_status or None}
            deliveries.append(
                WebhookDelivery(
                    id=delivery_id,
                    webhook=webhook,
                    event_type=event.type,
                    event_key=event.key,
                    procurement_request_id=event.procurement_request.pk,
                    payload=_envelope(event.type, delivery_id, event.occurred_at, request_part, event.data),
                    next_attempt_at=now,
                    queued_at=now,
                    created_at=now,
                )
            )
    # A key written before (a repeated call for the same event) is skipped by the unique constraint.
    WebhookDelivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    _enqueue(ids=[delivery.pk for delivery in deliveries])
    return deliveries


def _envelope(event_type, delivery_id, occurred_at, request_part, data):
    return {
        "event": event_type,
        "delivery_id": str(delivery_id),
        "occurred_at": occurred_at.isoformat(),
        "request": request_part,
        "data": data,
    }


def _person(user):
    if user is None:
        return None
    return {"username": user.username, "name": user.get_full_name() or user.username}


def _request_snapshots(request_ids):
    """{request id: the request as webhooks describe it}, in two queries whatever the number of requests."""
    from requests_app.models import ProcurementRequest
    from slas.models import SlaClock

    requests = ProcurementRequest.objects.select_related("department", "category", "assignee", "team").in_bulk(
        request_ids
    )
    clocks = {}
    for clock in SlaClock.objects.filter(procurement_request_id__in=request_ids, is_current=True):
        clocks.setdefault(clock.procurement_request_id, {})[clock.metric] = {
            "due_at": clock.due_at.isoformat() if clock.due_at else None,
            "paused": clock.paused_since is not None,
            "breached": clock.breached,
            "met": clock.met,
        }
    site = settings.SITE_URL.rstrip("/")
    return {
        pk: {
            "reference": pr.reference,
            "title": pr.title,
            "status": pr.status,
            "department": {"code": pr.department.code, "name": pr.department.name},
            "category": pr.category.name,
            "priority": pr.priority,
            "confidential": pr.is_confidential,
            "assignee": _person(pr.assignee),
            "team": pr.team.name if pr.team_id else None,
            "sla": {
                "first_response": clocks.get(pk, {}).get("first_response"),
                "resolution": clocks.get(pk, {}).get("resolution"),
            },
            "url": site + reverse("requests_app:detail", kwargs={"reference": pr.reference}),
        }
        for pk, pr in requests.items()
    }


def _enqueue(*, ids):
    """Enqueue the deliveries once the transaction commits: the web request that caused the event never
    waits for a receiver, and a broker that is down only delays them until the sweep."""
    from servicedesk.celery import publish_on_commit

    from .tasks import deliver_webhook

    publish_on_commit(deliver_webhook, [str(pk) for pk in ids], what="webhook deliveries")


# --- delivery ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Attempt:
    delivered: bool
    response_code: int | None
    detail: str  # the receiver's answer (its start) or the error


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would become a GET elsewhere: a 3xx counts as a failed attempt instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _post(url, *, body, headers) -> Attempt:
    """POST the body; 2xx is delivered, anything else (or no answer within the timeout) is a failed attempt."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            excerpt = response.read(EXCERPT_CHARS).decode("utf-8", "replace")
            return Attempt(200 <= response.status < 300, response.status, excerpt)
    except urllib.error.HTTPError as error:
        excerpt = error.read(EXCERPT_CHARS).decode("utf-8", "replace") if error.fp else ""
        return Attempt(False, error.code, excerpt or error.reason)
    except Exception as error:  # refused, timed out, DNS, TLS: the receiver did not answer
        reason = getattr(error, "reason", None) or error
        return Attempt(False, None, f"{type(error).__name__}: {reason}"[:EXCERPT_CHARS])


def body_of(delivery) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted, the same on every attempt."""
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()


def retry_delay(attempts) -> timedelta:
    """The back-off after the n-th failed attempt: 1 min, 5 min, 30 min, 2 h, 12 h (WEBHOOK_RETRY_DELAYS)."""
    delays = settings.WEBHOOK_RETRY_DELAYS
    return timedelta(seconds=delays[min(max(attempts, 1), len(delays)) - 1])


def webhook_delivery_deliver(*, delivery_id, now=None) -> str:
    """POST one delivery, at most once per claim; returns what happened.

    1. Claim: lock the row (skipping it when another worker holds it), check it is still outstanding,
       due and not leased, mark it `sending` with a lease, count the attempt, commit.
    2. POST outside any transaction (a slow receiver holds no lock), signed at sending time.
    3. Record: delivered on 2xx; otherwise a back-off, or `failed` after WEBHOOK_MAX_ATTEMPTS.

    A second task for the same delivery finds it claimed or delivered and sends nothing. The one way a
    receiver can get a delivery twice: a worker killed after the POST but before step 3 committed; when
    its lease runs out the sweep sends it again, with the same delivery id for the receiver to spot.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "skipped: missing or being claimed"
        if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED):
            return f"skipped: {delivery.status}"
        if delivery.status == DeliveryStatus.SENDING and delivery.lease_until and delivery.lease_until > now:
            return "skipped: claimed by another attempt"
        if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at and delivery.next_attempt_at > now:
            return "skipped: not due yet"
        if not delivery.webhook.is_active:
            delivery.status, delivery.lease_until = DeliveryStatus.FAILED, None
            delivery.last_error = "Not sent: the webhook is disabled."
            delivery.save(update_fields=["status", "lease_until", "last_error"])
            return f"failed: {delivery.last_error}"
        delivery.status = DeliveryStatus.SENDING
        delivery.lease_until = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.save(update_fields=["status", "lease_until", "attempts", "last_attempt_at"])
        claim = delivery.attempts

    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-ServiceDesk-Event": delivery.event_type,
        "X-ServiceDesk-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature_header(secret=delivery.webhook.secret, body=body),
    }
    attempt = _post(delivery.webhook.target_url, body=body, headers=headers)
    return _attempt_record(delivery.pk, claim=claim, attempt=attempt)


@transaction.atomic
def _attempt_record(delivery_id, *, claim, attempt) -> str:
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status != DeliveryStatus.SENDING or delivery.attempts != claim:
        return "skipped: the claim was taken over"
    now = timezone.now()
    delivery.lease_until = None
    delivery.last_response_code = attempt.response_code
    delivery.last_error = attempt.detail[:EXCERPT_CHARS]
    if attempt.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
        logger.error("Webhook delivery %s failed after %s attempts: %s", delivery.pk, claim, delivery.last_error)
    else:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now + retry_delay(delivery.attempts)
    delivery.save(
        update_fields=["status", "lease_until", "last_response_code", "last_error", "delivered_at", "next_attempt_at"]
    )
    return delivery.status


def webhook_deliveries_sweep(*, now=None, batch_size=200) -> list:
    """Enqueue the deliveries that are due again; returns their ids.

    Run by beat every minute: a retry whose back-off ended, a delivery whose task was lost (the broker
    was down, the message went with a worker) or whose worker died holding it (an expired lease). Only
    rows not enqueued within WEBHOOK_REQUEUE_AFTER_SECONDS; bounded batches; rows another sweep holds
    are skipped, so two sweeps at once enqueue each delivery once.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    enqueued = []
    while True:
        with transaction.atomic():
            ids = list(
                WebhookDelivery.objects.select_for_update(skip_locked=True)
                .due(now)
                .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=cutoff))
                .order_by("next_attempt_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                WebhookDelivery.objects.filter(pk__in=ids).update(queued_at=now)
                _enqueue(ids=ids)
        enqueued += ids
        if len(ids) < batch_size:
            return enqueued


# --- managing webhooks (procurement managers) ------------------------------------------------------------

WEBHOOK_FIELDS = frozenset({"name", "target_url", "events", "is_active"})


def _manager_required(actor):
    if not permissions.is_manager(actor):
        raise PermissionDenied("Only procurement managers manage webhooks.")


def _webhook_save(webhook, fields):
    unknown = set(fields) - WEBHOOK_FIELDS
    if unknown:
        raise TypeError(f"Not a webhook field: {', '.join(sorted(unknown))}")
    for field, value in fields.items():
        setattr(webhook, field, value)
    unknown_events = set(webhook.events) - set(EventType.values)
    if unknown_events:
        raise ValidationError({"events": f"Unknown event: {', '.join(sorted(unknown_events))}."})
    if not webhook.events:
        raise ValidationError({"events": "Choose at least one event."})
    webhook.events = [event for event in EventType.values if event in webhook.events]  # one order
    webhook.full_clean()
    webhook.save()
    return webhook


@transaction.atomic
def webhook_create(*, actor, **fields) -> Webhook:
    """Add a webhook; its signing secret is generated here, never chosen by hand."""
    _manager_required(actor)
    return _webhook_save(Webhook(created_by=actor), fields)


@transaction.atomic
def webhook_update(*, webhook, actor, **fields) -> Webhook:
    """Change a webhook's name, address, events or active flag (disabling it stops its outstanding deliveries)."""
    _manager_required(actor)
    return _webhook_save(Webhook.objects.select_for_update().get(pk=webhook.pk), fields)


@transaction.atomic
def webhook_secret_rotate(*, webhook, actor) -> Webhook:
    """Replace the secret: every delivery from now on, retries included, is signed with the new one."""
    _manager_required(actor)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    webhook.secret, webhook.secret_rotated_at = webhook_secret_generate(), timezone.now()
    webhook.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    return webhook


@transaction.atomic
def webhook_test_send(*, webhook, actor) -> WebhookDelivery:
    """Send a `webhook.test` event now (whatever the webhook subscribes to), through the same delivery log."""
    _manager_required(actor)
    if not webhook.is_active:
        raise ValidationError("Enable the webhook before sending it a test event.")
    now = timezone.now()
    delivery_id = uuid.uuid4()
    data = {"message": f"A test event sent by {actor.get_full_name() or actor.username} from the service desk."}
    delivery = WebhookDelivery.objects.create(
        id=delivery_id,
        webhook=webhook,
        event_type=TEST_EVENT,
        event_key=f"test-{delivery_id}",
        payload=_envelope(TEST_EVENT, delivery_id, now, None, data),
        next_attempt_at=now,
        queued_at=now,
        created_at=now,
    )
    _enqueue(ids=[delivery.pk])
    return delivery


@transaction.atomic
def webhook_delivery_retry(*, delivery, actor) -> WebhookDelivery:
    """Try a failed delivery again now, with a fresh set of attempts (the body is the one first written)."""
    _manager_required(actor)
    delivery = WebhookDelivery.objects.select_for_update().select_related("webhook").get(pk=delivery.pk)
    if delivery.status != DeliveryStatus.FAILED:
        raise ValidationError(
            f"Only failed deliveries are retried; this one is {delivery.get_status_display().lower()}."
        )
    if not delivery.webhook.is_active:
        raise ValidationError("Enable the webhook before retrying its deliveries.")
    now = timezone.now()
    delivery.status, delivery.attempts, delivery.next_attempt_at, delivery.queued_at = (
        DeliveryStatus.PENDING,
        0,
        now,
        now,
    )
    delivery.save(update_fields=["status", "attempts", "next_attempt_at", "queued_at"])
    _enqueue(ids=[delivery.pk])
    return delivery
