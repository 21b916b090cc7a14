from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DepartmentQuerySet(models.QuerySet):
    def active(self):
        """Departments that can file requests today."""
        return self.filter(is_active=True)

    def headed_by(self, user):
        return self.filter(head=user)

    def visible_to(self, user):
        """Departments whose directory page the user may read; any other is a 404, like a missing one."""
        from .permissions import visible_departments_filter

        return self.filter(visible_departments_filter(user))


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
    directory_is_public = models.BooleanField(
        "directory page public",
        default=False,
        help_text="Everyone signed in may read this department's directory page, agreement and meetings "
        "(otherwise only its own staff and Procurement).",
    )

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
    # Internal customer relations (stakeholders/relations.py, surveys.py).
    AGREEMENT_REVIEW = "agreement_review", _("Service agreement reviews due")
    ACTION_ITEM = "action_item", _("Overdue action items")
    MEETING_OUTCOMES = "meeting_outcomes", _("Stakeholder meeting outcomes")
    SURVEY = "survey", _("Satisfaction surveys")
    SURVEY_FOLLOW_UP = "survey_follow_up", _("Follow-ups of low scores")
    RELATIONSHIP_SURVEY = "relationship_survey", _("Relationship surveys")
    # Scheduled digests (stakeholders/digests.py): the in-app line always, the e-mail unless turned off.
    WEEKLY_DIGEST = "weekly_digest", _("Weekly digest of your requests")
    DEPARTMENT_SCORECARD = "department_scorecard", _("Monthly department scorecard")
    MANAGER_SUMMARY = "manager_summary", _("Weekly summary for procurement managers")


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


# --- Internal customer relations: agreements, meetings, action items ---------------------------------


class ServiceAgreementQuerySet(models.QuerySet):
    def current(self):
        """Each department's newest version only."""
        newer = ServiceAgreement.objects.filter(
            department=models.OuterRef("department"), version__gt=models.OuterRef("version")
        )
        return self.filter(~models.Exists(newer))

    def review_passed(self, on):
        return self.current().filter(review_on__lt=on)


class ServiceAgreement(models.Model):
    """One version of what a department and Procurement agreed. A change is a new row, never an edit,
    so the page can show the history; only the sign-off is recorded on the version it signs."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="agreements")
    version = models.PositiveIntegerField()
    policies = models.ManyToManyField(
        "slas.SlaPolicy", blank=True, related_name="+", help_text="The SLA policies this department is promised."
    )
    deviations = models.TextField(blank=True, help_text="Agreed deviations from those policies, in plain words.")
    notes = models.TextField(blank=True)
    review_on = models.DateField("review date", help_text="When both sides look at it again.")
    change_note = models.CharField(max_length=200, blank=True, help_text="What changed in this version, and why.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)

    objects = ServiceAgreementQuerySet.as_manager()

    class Meta:
        ordering = ["department", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["department", "version"], name="service_agreement_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="service_agreement_version_positive"),
            models.CheckConstraint(
                condition=Q(signed_off_by__isnull=True) | Q(signed_off_at__isnull=False),
                name="service_agreement_sign_off_dated",
            ),
        ]

    def __str__(self):
        return f"{self.department} agreement v{self.version}"


class MeetingSchedule(models.Model):
    """How often Procurement reviews the relationship with a department (e.g. every 3 months)."""

    department = models.OneToOneField(Department, on_delete=models.CASCADE, related_name="meeting_schedule")
    every_months = models.PositiveSmallIntegerField(
        choices=[(1, "Monthly"), (3, "Quarterly"), (6, "Twice a year"), (12, "Yearly")], default=3
    )
    title = models.CharField(max_length=100, default="Service review")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(every_months__in=[1, 3, 6, 12]), name="meeting_schedule_interval_valid")
        ]

    def __str__(self):
        return f"{self.department}: {self.get_every_months_display()}"


class MeetingQuerySet(models.QuerySet):
    def upcoming(self, now):
        return self.filter(starts_at__gte=now).order_by("starts_at", "pk")

    def past(self, now):
        return self.filter(starts_at__lt=now).order_by("-starts_at", "-pk")

    def published(self):
        return self.filter(published_at__isnull=False)


class Meeting(models.Model):
    """A stakeholder meeting with a department: planned with an agenda, then minuted and published."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="meetings")
    title = models.CharField(max_length=150)
    starts_at = models.DateTimeField()
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="stakeholder_meetings")
    agenda = models.TextField(blank=True)
    minutes = models.TextField(blank=True)
    decisions = models.TextField(blank=True)
    summary = models.TextField(blank=True, help_text="The outcome in a few lines, as the department's staff read it.")
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-pk"]
        indexes = [models.Index(fields=["department", "starts_at"], name="meeting_department_start")]
        constraints = [
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | ~Q(summary=""), name="meeting_published_has_summary"
            )
        ]

    def __str__(self):
        return f"{self.title} ({self.department}, {self.starts_at:%Y-%m-%d})"

    @property
    def is_published(self):
        return self.published_at is not None


class ActionItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DROPPED = "dropped", "Dropped"


class ActionItemQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=ActionItemStatus.OPEN)

    def overdue(self, today):
        """Open and due before `today` (the desk's calendar date)."""
        return self.open().filter(due_on__lt=today)


class ActionItem(models.Model):
    """Something a meeting decided somebody does by a date."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="action_items")
    due_on = models.DateField()
    status = models.CharField(max_length=10, choices=ActionItemStatus.choices, default=ActionItemStatus.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ActionItemQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ActionItemStatus.values), name="action_item_status_valid"),
        ]
        indexes = [
            # The reminder sweep's question: its cost follows the open items, not the history.
            models.Index(fields=["due_on"], condition=Q(status="open"), name="action_item_open_due"),
        ]

    def __str__(self):
        return self.title


class RelationReminderSubject(models.TextChoices):
    AGREEMENT_REVIEW = "agreement_review", "Agreement review date passed"
    ACTION_ITEM_OVERDUE = "action_item_overdue", "Action item overdue"
    SURVEY_UNANSWERED = "survey_unanswered", "Satisfaction survey unanswered"
    FOLLOW_UP_OVERDUE = "follow_up_overdue", "Follow-up of a low score overdue"


class RelationReminder(models.Model):
    """A reminder that fired: its unique key makes a second sweep, or two at once, a no-op.

    An agreement's review date reminds once per (department, review date), whatever versions keep
    that date; an action item reminds once per (item, due date), so moving the date re-arms it. An
    unanswered satisfaction survey reminds its requester once; an overdue follow-up its owner once.
    """

    subject = models.CharField(max_length=30, choices=RelationReminderSubject.choices)
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    action_item = models.ForeignKey(
        ActionItem, null=True, blank=True, on_delete=models.CASCADE, related_name="reminders"
    )
    survey = models.ForeignKey(
        "SatisfactionSurvey", null=True, blank=True, on_delete=models.CASCADE, related_name="reminders"
    )
    follow_up = models.ForeignKey(
        "SurveyFollowUp", null=True, blank=True, on_delete=models.CASCADE, related_name="reminders"
    )
    due_on = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # An unanswered survey reminds once, ever; so does an overdue follow-up (its due time is fixed).
            models.UniqueConstraint(
                fields=["survey"], condition=Q(subject="survey_unanswered"), name="relation_reminder_once_per_survey"
            ),
            models.UniqueConstraint(
                fields=["follow_up"],
                condition=Q(subject="follow_up_overdue"),
                name="relation_reminder_once_per_follow_up",
            ),
            models.UniqueConstraint(
                fields=["department", "due_on"],
                condition=Q(subject="agreement_review"),
                name="relation_reminder_once_per_review_date",
            ),
            models.UniqueConstraint(
                fields=["action_item", "due_on"],
                condition=Q(subject="action_item_overdue"),
                name="relation_reminder_once_per_due_date",
            ),
            models.CheckConstraint(
                condition=Q(
                    subject="agreement_review",
                    department__isnull=False,
                    action_item__isnull=True,
                    survey__isnull=True,
                    follow_up__isnull=True,
                )
                | Q(
                    subject="action_item_overdue",
                    action_item__isnull=False,
                    department__isnull=True,
                    survey__isnull=True,
                    follow_up__isnull=True,
                )
                | Q(
                    subject="survey_unanswered",
                    survey__isnull=False,
                    department__isnull=True,
                    action_item__isnull=True,
                    follow_up__isnull=True,
                )
                | Q(
                    subject="follow_up_overdue",
                    follow_up__isnull=False,
                    department__isnull=True,
                    action_item__isnull=True,
                    survey__isnull=True,
                ),
                name="relation_reminder_target_matches_subject",
            ),
        ]

    def __str__(self):
        return f"{self.get_subject_display()} ({self.due_on})"


# --- Satisfaction ---------------------------------------------------------------------------------


# How long after the first answer a requester may still change it.
SURVEY_CHANGE_DAYS = 7


class SatisfactionSurveyQuerySet(models.QuerySet):
    def answered(self):
        return self.filter(rating__isnull=False)

    def unanswered(self):
        return self.filter(rating__isnull=True)

    def for_requester(self, user):
        """The surveys this person answers: their own requests', nobody else's (others are a 404)."""
        return self.filter(requester_id=user.pk) if user.is_authenticated else self.none()


class SatisfactionSurvey(models.Model):
    """The requester's rating of a completed request: one per request (the first completion asks).

    The buyer and department are copied at sending, so CSAT figures group by them in one aggregate
    and do not move when the request is reassigned later. The answer may change for
    `SURVEY_CHANGE_DAYS` after the first one, then it is read-only.
    """

    procurement_request = models.OneToOneField(
        "requests_app.ProcurementRequest", on_delete=models.CASCADE, related_name="satisfaction_survey"
    )
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="rated_surveys"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="satisfaction_surveys")
    sent_at = models.DateTimeField(default=timezone.now)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True, help_text="The first answer: the 7 days run from it.")
    changed_at = models.DateTimeField(null=True, blank=True)

    objects = SatisfactionSurveyQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True, answered_at__isnull=True)
                | Q(rating__gte=1, rating__lte=5, answered_at__isnull=False),
                name="satisfaction_rating_1_to_5_with_answer_time",
            ),
        ]
        indexes = [
            models.Index(fields=["buyer", "sent_at"], name="survey_buyer_sent"),
            models.Index(fields=["department", "sent_at"], name="survey_department_sent"),
            # The reminder sweep's question: unanswered surveys by age.
            models.Index(fields=["sent_at"], condition=Q(rating__isnull=True), name="survey_unanswered"),
        ]

    def __str__(self):
        return f"Survey for request {self.procurement_request_id}: {self.rating or 'unanswered'}"

    def change_until(self):
        """Until when the answer may change (None before the first answer)."""
        return self.answered_at + timedelta(days=SURVEY_CHANGE_DAYS) if self.answered_at else None

    def is_changeable(self, now=None):
        until = self.change_until()
        return until is None or (now or timezone.now()) <= until


class FollowUpQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Follow-ups the user may open; any other is a 404, like a missing one."""
        from .permissions import visible_follow_ups_filter

        return self.filter(visible_follow_ups_filter(user))

    def open(self):
        return self.filter(closed_at__isnull=True)

    def owned_by(self, user):
        return self.filter(owner_id=user.pk)

    def overdue(self, now):
        return self.open().filter(due_at__lte=now)


class SurveyFollowUp(models.Model):
    """A low score's closed loop: the team lead (or a procurement manager) talks to the requester and
    writes down what was done. Opened by the answer, due in business days on the team's calendar."""

    survey = models.OneToOneField(SatisfactionSurvey, on_delete=models.CASCADE, related_name="follow_up")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="survey_follow_ups")
    opened_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True, help_text="What was done; the requester sees it.")

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | ~Q(note=""),
                name="follow_up_closed_with_note",
            ),
        ]
        indexes = [
            # The queue's "Follow-ups" count and the overdue sweep read open ones only.
            models.Index(fields=["owner", "due_at"], condition=Q(closed_at__isnull=True), name="follow_up_open"),
        ]

    def __str__(self):
        return f"Follow-up of survey {self.survey_id}"

    @property
    def is_closed(self):
        return self.closed_at is not None


# --- The periodic relationship survey -------------------------------------------------------------

# The fixed questions a department's staff answer about Procurement as a partner (1 disagree – 5 agree).
RELATIONSHIP_QUESTIONS = (
    ("responsive", "Procurement responds quickly to our requests."),
    ("understands", "Procurement understands what we need."),
    ("informs", "Procurement keeps us informed."),
    ("adds_value", "Working with Procurement gets us better results."),
)
RELATIONSHIP_INTERVALS = [(3, "Quarterly"), (6, "Twice a year"), (12, "Yearly")]


class RelationshipSurveySchedule(models.Model):
    """How often a department's staff are asked the relationship questions, and when next."""

    department = models.OneToOneField(Department, on_delete=models.CASCADE, related_name="relationship_survey_schedule")
    every_months = models.PositiveSmallIntegerField(choices=RELATIONSHIP_INTERVALS, default=6)
    next_on = models.DateField(help_text="The next round opens on this day.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(every_months__in=[3, 6, 12]), name="relationship_schedule_interval_valid"
            )
        ]

    def __str__(self):
        return f"{self.department}: every {self.every_months} months, next {self.next_on}"


class RelationshipSurvey(models.Model):
    """One round of the relationship survey for a department: open from `opened_on` to `closes_on`."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="relationship_surveys")
    opened_on = models.DateField()
    closes_on = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opened_on", "-id"]
        constraints = [
            # A second sweep, or two at once, open nothing twice.
            models.UniqueConstraint(fields=["department", "opened_on"], name="relationship_survey_once_per_day"),
            models.CheckConstraint(condition=Q(closes_on__gte=F("opened_on")), name="relationship_survey_dates"),
        ]

    def __str__(self):
        return f"{self.department} relationship survey of {self.opened_on}"

    def is_open(self, today):
        return self.opened_on <= today <= self.closes_on


def _rating_field():
    return models.PositiveSmallIntegerField()


class RelationshipAnswer(models.Model):
    """One person's answers to one round: once per person (changeable while the round is open)."""

    survey = models.ForeignKey(RelationshipSurvey, on_delete=models.CASCADE, related_name="answers")
    respondent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    responsive = _rating_field()
    understands = _rating_field()
    informs = _rating_field()
    adds_value = _rating_field()
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["survey", "respondent"], name="relationship_answer_once_per_person"),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{name}__gte": 1, f"{name}__lte": 5}), name=f"relationship_{name}_1_to_5"
                )
                for name, _ in RELATIONSHIP_QUESTIONS
            ],
        ]

    def __str__(self):
        return f"{self.respondent} on {self.survey}"


# --- Scheduled digests ------------------------------------------------------------------------------


class ScheduledSendKind(models.TextChoices):
    """The scheduled digests; each value is also the kind of the notices it writes."""

    WEEKLY_DIGEST = "weekly_digest", "Weekly digest to a requester"
    DEPARTMENT_SCORECARD = "department_scorecard", "Monthly scorecard to a department head"
    MANAGER_SUMMARY = "manager_summary", "Weekly summary to a procurement manager"


class ScheduledSend(models.Model):
    """A digest that went to one person for one period (the week's Monday, the month's first day).

    Written in the transaction of its notices: its unique key makes a second run for the same
    period, or two at once, send nothing twice.
    """

    kind = models.CharField(max_length=30, choices=ScheduledSendKind.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    period_start = models.DateField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "recipient", "period_start"], name="scheduled_send_once_per_period"
            ),
            models.CheckConstraint(condition=Q(kind__in=ScheduledSendKind.values), name="scheduled_send_kind_valid"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.period_start}"
