"""Outgoing webhooks: where a procurement manager wants the desk's events POSTed, and the delivery log.

A `WebhookDelivery` is the outbox row of one event for one webhook, written in the transaction of the
event itself (webhooks/services.py) and delivered by a Celery worker after commit, never inside the
web request. The unique (webhook, event_key) makes an event produce at most one delivery per webhook.
"""

import secrets
import uuid

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

SECRET_PREFIX = "whsec_"
TARGET_URL_INVALID = "Enter an http:// or https:// address, e.g. https://erp.example.com/hooks."


def webhook_secret_generate() -> str:
    """A fresh signing secret: 32 random bytes, hex, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_hex(32)


class EventType(models.TextChoices):
    REQUEST_CREATED = "request.created", "Request created"
    REQUEST_STATUS_CHANGED = "request.status_changed", "Request status changed"
    REQUEST_BREACHED = "request.breached", "SLA breached"


# Sent only by "Send a test event", whatever the webhook subscribes to.
TEST_EVENT = "webhook.test"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


OUTSTANDING_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class WebhookQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Webhook(models.Model):
    """A receiver the desk POSTs signed JSON to when a subscribed event happens."""

    name = models.CharField(max_length=100)
    target_url = models.URLField(
        "Target URL",
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"], message=TARGET_URL_INVALID)],
        help_text="Where the desk POSTs the events: an http:// or https:// address.",
    )
    secret = models.CharField(max_length=80, default=webhook_secret_generate, editable=False)
    events = models.JSONField(default=list, help_text="The event types this webhook receives.")
    is_active = models.BooleanField("Active", default=True, help_text="A disabled webhook is sent nothing.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self):
        return self.name

    def subscribes_to(self, event_type) -> bool:
        return event_type in self.events

    def event_labels(self):
        return [EventType(event).label for event in self.events if event in EventType.values]


class WebhookDeliveryQuerySet(models.QuerySet):
    def due(self, moment):
        """Outstanding deliveries whose attempt is due: pending and past their back-off, or claimed by a
        worker whose lease ran out (it died)."""
        return self.filter(
            Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=moment)
            | Q(status=DeliveryStatus.SENDING, lease_until__lte=moment)
        )


class WebhookDelivery(models.Model):
    """One event for one webhook: the JSON body as it will be sent, and what happened to it."""

    # The delivery id: in the body, in X-ServiceDesk-Delivery, the task's argument. Known before the
    # row is inserted, so the body can carry it.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    event_key = models.CharField(max_length=120, help_text="What happened, once: e.g. request-event-123.")
    procurement_request = models.ForeignKey(
        "requests_app.ProcurementRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(help_text="The body, as written when the event happened.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Back-off: not attempted before.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending it until then.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When a delivery task was last enqueued.")
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="The error, or the start of the receiver's answer.")
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_key"], name="webhook_delivery_once_per_event"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"),
        ]
        indexes = [
            # The sweep's question: its cost follows what is outstanding, not the history.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=[status.value for status in OUTSTANDING_STATUSES]),
                name="webhook_delivery_outbox",
            ),
            models.Index(fields=["webhook", "-created_at"], name="webhook_delivery_log"),
        ]

    def __str__(self):
        return f"{self.event_type} to {self.webhook} ({self.status})"
