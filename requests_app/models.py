import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Status(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_FOR_REQUESTER = "waiting_for_requester", "Waiting for requester"
    WAITING_FOR_SUPPLIER = "waiting_for_supplier", "Waiting for supplier"
    ORDERED = "ordered", "Ordered"
    COMPLETED = "completed", "Completed"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# The lifecycle, declared once: every allowed move from each status. Nothing else moves a request.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SUBMITTED: frozenset({Status.PENDING_APPROVAL, Status.ASSIGNED, Status.CANCELLED}),
    Status.PENDING_APPROVAL: frozenset({Status.APPROVED, Status.REJECTED, Status.CANCELLED}),
    Status.APPROVED: frozenset({Status.ASSIGNED, Status.CANCELLED}),
    Status.REJECTED: frozenset(),
    Status.ASSIGNED: frozenset(
        {Status.IN_PROGRESS, Status.WAITING_FOR_REQUESTER, Status.WAITING_FOR_SUPPLIER, Status.CANCELLED}
    ),
    Status.IN_PROGRESS: frozenset(
        {Status.WAITING_FOR_REQUESTER, Status.WAITING_FOR_SUPPLIER, Status.ORDERED, Status.COMPLETED, Status.CANCELLED}
    ),
    Status.WAITING_FOR_REQUESTER: frozenset({Status.IN_PROGRESS, Status.CANCELLED}),
    Status.WAITING_FOR_SUPPLIER: frozenset({Status.IN_PROGRESS, Status.ORDERED, Status.CANCELLED}),
    Status.ORDERED: frozenset({Status.COMPLETED, Status.IN_PROGRESS, Status.CANCELLED}),
    Status.COMPLETED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),  # → in progress is "reopen"
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}

OPEN_STATUSES = frozenset(
    {
        Status.SUBMITTED,
        Status.PENDING_APPROVAL,
        Status.APPROVED,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
        Status.WAITING_FOR_REQUESTER,
        Status.WAITING_FOR_SUPPLIER,
        Status.ORDERED,
    }
)
# Procurement has not taken the request yet: a buyer may claim it.
CLAIMABLE_STATUSES = frozenset({Status.SUBMITTED, Status.APPROVED})


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Currency(models.Model):
    """A currency requests may be valued in, with its rate to the base currency (managed in admin)."""

    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=50)
    rate_to_base = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="Value of one unit in the base currency (EUR).",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "currencies"
        constraints = [models.CheckConstraint(condition=Q(rate_to_base__gt=0), name="currency_rate_positive")]

    def __str__(self):
        return self.code


class CategoryQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Category(models.Model):
    """What is being asked for; it sets whether department-head approval is needed."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    approval_threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Requests valued above this amount (in EUR) need the department head's approval. Empty: never.",
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    objects = CategoryQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class ReferenceCounter(models.Model):
    """The last reference number handed out per year, incremented under a row lock."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class ProcurementRequestQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def with_list_relations(self):
        """What every list row shows, fetched in the same query (without the long description)."""
        return self.select_related("category", "department", "requester", "assignee").defer("description")

    def awaiting_approval_by(self, user):
        """Pending requests this user decides: their department's (not their own), and, for a
        procurement manager, those whose head cannot decide (none, inactive, or the requester)."""
        from .permissions import headed_department_ids, is_manager

        rule = Q(department_id__in=headed_department_ids(user)) & ~Q(requester=user)
        if is_manager(user):
            rule |= (
                Q(department__head__isnull=True)
                | Q(department__head__is_active=False)
                | Q(department__head=F("requester"))
            ) & ~Q(requester=user)
        return self.filter(rule, status=Status.PENDING_APPROVAL)

    def visible_to(self, user):
        """Requests the user may see; everything else is a 404, exactly like a missing row."""
        from .permissions import visible_requests_filter

        return self.filter(visible_requests_filter(user))

    def search(self, text):
        text = (text or "").strip()
        if not text:
            return self
        return self.filter(Q(reference__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text))


class ProcurementRequest(models.Model):
    reference = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField()
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="requests")
    department = models.ForeignKey("stakeholders.Department", on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="procurement_requests"
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    estimated_value = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    # The value in EUR at submission, so that approval, routing and reports compare like with like.
    estimated_value_base = models.DecimalField(max_digits=16, decimal_places=2, editable=False)
    cost_centre = models.CharField(max_length=30, blank=True)
    needed_by = models.DateField(null=True, blank=True)
    suggested_supplier = models.CharField(max_length=200, blank=True)
    is_confidential = models.BooleanField(
        default=False, help_text="Only you, your department head and Procurement can see it."
    )
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_procurement_requests",
    )
    po_number = models.CharField("PO number", max_length=40, blank=True)
    expected_on = models.DateField(
        null=True, blank=True, editable=False, help_text="When the buyer expects to deliver; the requester is told."
    )
    requires_approval = models.BooleanField(default=False, editable=False)
    # One per form rendering: a resubmitted or double-clicked form returns the first request.
    submission_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The SLA state of the request's running clocks, copied here by slas.services whenever a clock
    # changes (events and the minute sweep), so that queues sort and filter on one table.
    sla_due_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The earliest due time of the running, unpaused clocks."
    )
    sla_threshold = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Percent: the highest threshold a running clock has reached."
    )
    sla_breached = models.BooleanField(default=False, editable=False, help_text="A running clock is past its goal.")

    objects = ProcurementRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("submit_request", "Can file procurement requests"),
            ("approve_request", "Can approve the department's requests"),
            ("work_request", "Can work requests as a buyer"),
            ("view_all_requests", "Can see every department's requests"),
            ("view_internal_notes", "Can read and write internal notes"),
            ("assign_request", "Can assign requests to any buyer"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(estimated_value__gte=0), name="request_value_not_negative"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="request_status_valid"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="request_newest_first"),
            models.Index(fields=["department", "status"]),
            models.Index(fields=["requester", "-created_at"]),
            models.Index(fields=["assignee", "status"]),
            # Queues: open requests in SLA due order (PostgreSQL's ascending order puts the paused and
            # not-yet-started requests, with no due time, last).
            models.Index(
                fields=["sla_due_at", "id"], condition=Q(status__in=sorted(OPEN_STATUSES)), name="request_open_by_due"
            ),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    def can_move_to(self, status):
        return status in TRANSITIONS[self.status]


class EventKind(models.TextChoices):
    CREATED = "created", "Submitted"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    COMMENTED = "commented", "Replied"
    NOTE_ADDED = "note_added", "Internal note"
    ATTACHMENT_ADDED = "attachment_added", "Attachment added"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    PO_RECORDED = "po_recorded", "PO recorded"
    SLA = "sla", "SLA clock"
    REPRIORITISED = "reprioritised", "Priority or category changed"
    ESCALATION = "escalation", "Escalation"
    EXPECTED_DATE = "expected_date", "Expected date set"


class RequestEventQuerySet(models.QuerySet):
    def for_timeline(self, *, include_internal):
        # Files sent with a reply are shown under the reply, not again as their own line.
        events = (
            self.exclude(kind=EventKind.ATTACHMENT_ADDED, attachment__comment__isnull=False)
            .select_related("actor", "comment", "attachment", "assignee")
            .prefetch_related("comment__attachments")
        )
        return events if include_internal else events.filter(is_internal=False)


class RequestEvent(models.Model):
    """One line of a request's timeline: who did what, when. Append-only."""

    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=30, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=30, choices=Status.choices, blank=True)
    note = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.ForeignKey("Comment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    attachment = models.ForeignKey("Attachment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    is_internal = models.BooleanField(default=False, help_text="Shown to Procurement only.")
    # Structured facts the note only tells in words, e.g. {"priority": [old, new]}; replay reads them.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = RequestEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["procurement_request", "created_at"])]

    def __str__(self):
        return f"{self.procurement_request_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"


class Comment(models.Model):
    """A public reply (the requester sees it) or an internal note (Procurement only)."""

    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment {self.pk} on {self.procurement_request_id}"


def attachment_upload_to(instance, filename):
    # Random stored names: the original name is kept in a field, never trusted as a path.
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=attachment_upload_to)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.original_name
