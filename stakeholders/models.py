from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DepartmentQuerySet(models.QuerySet):
    def active(self):
        """Departments that can file requests today."""
        return self.filter(is_active=True)

    def headed_by(self, user):
        return self.filter(head=user)


class Department(models.Model):
    """An internal customer of Procurement (Procurement itself is one too)."""

    name = models.CharField(max_length=100, unique=True)
    code = models.SlugField(max_length=20, unique=True, help_text="Short code, e.g. SALES.")
    head = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="headed_departments",
        help_text="Approves the department's requests above the category threshold.",
    )
    contacts = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="stakeholder_for",
        help_text="Named stakeholder contacts Procurement talks to.",
    )
    is_procurement = models.BooleanField(default=False, help_text="The department whose staff work the requests.")
    is_active = models.BooleanField(default=True)

    objects = DepartmentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="department_code_ci_unique"),
        ]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """The one department a user belongs to."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="members")
    job_title = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["department__name", "user__username"]

    def __str__(self):
        return f"{self.user} – {self.department}"


def validate_time_zone(value):
    """An IANA time zone name that this machine's zone database knows (blank is allowed by the field)."""
    if not value:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            "“%(value)s” is not a known time zone; use an IANA name such as Europe/Berlin.",
            code="invalid_time_zone",
            params={"value": value},
        ) from error


class Profile(models.Model):
    """A person's own settings: their language, where they work from and when they are out of office."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="IANA time zone, e.g. Europe/Berlin. Blank: the desk's time zone.",
    )
    language = models.CharField(
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text="The language of the pages and of every notice they receive. Blank: the desk's language.",
    )
    away_until = models.DateField(
        "out of office until",
        null=True,
        blank=True,
        help_text="Out of office up to and including this date; routing gives them nothing new until the day after.",
    )

    class Meta:
        ordering = ["user__username"]

    def __str__(self):
        return f"Profile of {self.user}"

    def is_away(self, on=None):
        """Out of office on `on` (the desk's today by default): dates are the desk's calendar dates."""
        return self.away_until is not None and self.away_until >= (on or timezone.localdate())

    @property
    def zone(self):
        return ZoneInfo(self.time_zone or settings.TIME_ZONE)

    @property
    def language_code(self):
        """The language their notices are written in: their own, else the desk's."""
        return self.language or settings.LANGUAGE_CODE


def profile_for(user) -> Profile:
    """The user's profile, or an unsaved one with the defaults: reading never writes."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return Profile(user=user)


class NotificationKind(models.TextChoices):
    SLA_WARNING = "sla_warning", _("SLA warnings")
    SLA_BREACH = "sla_breach", _("SLA breaches")
    UNCLAIMED = "unclaimed", _("Unclaimed requests")
    APPROVAL = "approval", _("Approvals waiting")
    EXPECTED_DATE = "expected_date", _("New expected dates")
    # What happens to a request (requests_app/notifications.py decides who hears each one).
    RECEIVED = "received", _("Your request was received")
    APPROVED = "approved", _("Your request was approved")
    REJECTED = "rejected", _("Your request was rejected")
    ASSIGNED = "assigned", _("A buyer took your request")
    REPLY = "reply", _("Replies and attachments")
    WAITING_FOR_YOU = "waiting_for_you", _("Questions for you")
    ORDERED = "ordered", _("Orders placed")
    COMPLETED = "completed", _("Requests completed")
    REOPENED = "reopened", _("Requests reopened")
    CANCELLED = "cancelled", _("Requests cancelled")
    CONFIDENTIAL_FILED = "confidential_filed", _("Confidential requests filed")
    ASSIGNED_TO_YOU = "assigned_to_you", _("Requests assigned to you")
    REASSIGNED = "reassigned", _("Your work reassigned")
    TEAM_QUEUE = "team_queue", _("Unassigned in your team's queue")
    BUYER_AWAY = "buyer_away", _("Team buyers out of office")


class Channel(models.TextChoices):
    IN_APP = "in_app", "In the app"
    EMAIL = "email", "E-mail"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    HELD = "held", "Held (quiet hours)"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


# Rows the outbox still has to deliver.
OUTSTANDING_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.HELD, DeliveryStatus.SENDING)


class NotificationQuerySet(models.QuerySet):
    def in_app_for(self, user):
        return self.filter(recipient=user, channel=Channel.IN_APP)

    def unread(self):
        return self.filter(read_at__isnull=True)

    def outstanding(self):
        return self.filter(status__in=OUTSTANDING_STATUSES)


class Notification(models.Model):
    """What one person is told, on one channel: the outbox row for e-mail, the bell's item in the app.

    Written in the transaction of the event that caused it; e-mail rows are delivered by the
    `stakeholders.deliver_notification` task (enqueued on commit) and, should that message be lost,
    picked up again by the minute sweep. In-app rows are `sent` as soon as they exist.
    """

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    procurement_request = models.ForeignKey(
        "requests_app.ProcurementRequest",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    escalation = models.ForeignKey(
        "slas.EscalationEvent", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    payload = models.JSONField(default=dict, blank=True, help_text="Subject, text and link, as written when created.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Held until then: quiet hours, or the back-off after a failure."
    )
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker is sending it until then.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When a delivery task was last enqueued.")
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_with = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="coalesced",
        help_text="The e-mail that carried this notice together with others about the same request.",
    )

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation", "recipient", "channel"],
                condition=Q(escalation__isnull=False),
                name="notification_once_per_escalation",
            ),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="notification_status_valid"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="notification_channel_valid"),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], condition=Q(channel="in_app"), name="notification_inbox"),
            # The bell: one user's unread count.
            models.Index(
                fields=["recipient"], condition=Q(channel="in_app", read_at__isnull=True), name="notification_unread"
            ),
            # The sweep's outbox question: its cost follows what is outstanding, not the history.
            models.Index(
                fields=["queued_at"],
                condition=Q(status__in=[status.value for status in OUTSTANDING_STATUSES]),
                name="notification_outbox",
            ),
            # Coalescing: the other outstanding e-mails of one person about one request.
            models.Index(
                fields=["recipient", "procurement_request", "created_at"],
                condition=Q(channel="email", status__in=[status.value for status in OUTSTANDING_STATUSES]),
                name="notification_coalesce",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} to {self.recipient} ({self.get_channel_display()}, {self.status})"

    @property
    def subject(self):
        return self.payload.get("subject", "")

    @property
    def url(self):
        return self.payload.get("path", "")


class NotificationPreference(models.Model):
    """Whether a person wants one kind of notice by e-mail too (in the app it always appears)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    by_email = models.BooleanField(default=True)

    class Meta:
        ordering = ["user_id", "kind"]
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique")]

    def __str__(self):
        return f"{self.user}: {self.get_kind_display()} by e-mail {'on' if self.by_email else 'off'}"
