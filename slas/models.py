"""Business calendars, SLA policies and goals, and the clocks that measure requests against them.

The calendar maths lives in `slas/clock.py` (pure functions over aware datetimes); these models store
what it needs. Writes go through `slas/calendars.py` (calendars) and `slas/services.py` (clocks);
goal matching is `slas.policies.sla_goal_for`.
"""

import json
import threading
from collections import OrderedDict

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from requests_app.models import Priority

from .clock import Calendar, VersionedCalendar

DEFAULT_WARNING_THRESHOLDS = (50, 75, 90)


class BusinessCalendarQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def with_versions(self):
        """Each calendar with its versions prefetched, so that `to_clock()` needs no further query."""
        return self.prefetch_related("versions")


class BusinessCalendar(models.Model):
    """Working hours in one time zone, changed only by adding versions (see BusinessCalendarVersion)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Only active calendars can be chosen for goals.")

    objects = BusinessCalendarQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def _versions(self):
        # .all() so that a prefetch_related("versions") is used; sorted here rather than in SQL for the same reason.
        return sorted(self.versions.all(), key=lambda version: version.effective_from)

    def version_at(self, moment):
        """The version in force at `moment` (the first one if `moment` precedes them all), or None if there is none."""
        versions = self._versions()
        if not versions:
            return None
        in_force = [version for version in versions if version.effective_from <= moment]
        return in_force[-1] if in_force else versions[0]

    @property
    def current_version(self):
        """The version in force now (None for a calendar without versions)."""
        return self.version_at(timezone.now())

    @property
    def current_spec(self):
        """The spec in force now, as stored ({} for a calendar without versions)."""
        version = self.current_version
        return version.spec if version is not None else {}

    def to_clock(self, *, until=None):
        """The pure calendar (`slas.clock`): a VersionedCalendar of every version, or the Calendar when only one.

        `until`: only the versions in force by then (a stopped clock is measured with the calendar as
        it stood up to its stop, so a version added later never moves a finished cycle).
        Prefetch "versions" (`with_versions()`) to make this query-free; the result is memoised by
        content, so clocks on the same calendar share one warm instance.
        """
        versions = self._versions()
        if not versions:
            raise ImproperlyConfigured(f"The business calendar “{self.name}” has no version: add one in the admin.")
        if until is not None:
            versions = [version for version in versions if version.effective_from <= until] or versions[:1]
        return _pure_calendar(versions)


# Memo of pure calendars by content (every version's start and spec): a Calendar caches its UTC weeks,
# so reusing one instance makes a sweep over many clocks cheap. The key is the content, so a new
# version simply misses. Per thread, because a Calendar's own cache is not guarded by a lock.
_pure_calendars = threading.local()
PURE_CALENDAR_MEMO_SIZE = 32


def _pure_calendar(versions):
    key = tuple((version.effective_from, json.dumps(version.spec, sort_keys=True)) for version in versions)
    memo = getattr(_pure_calendars, "memo", None)
    if memo is None:
        memo = _pure_calendars.memo = OrderedDict()
    pure = memo.get(key)
    if pure is not None:
        memo.move_to_end(key)
        return pure
    if len(versions) == 1:
        pure = versions[0].to_calendar()
    else:
        pure = VersionedCalendar([(version.effective_from, version.to_calendar()) for version in versions])
    memo[key] = pure
    if len(memo) > PURE_CALENDAR_MEMO_SIZE:
        memo.popitem(last=False)
    return pure


def validate_calendar_spec(spec):
    """A spec `slas.clock.Calendar.from_spec` accepts; its message names the bad field."""
    try:
        Calendar.from_spec(spec)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        # from_spec raises ValueError by contract; the others only for shapes it did not foresee.
        raise ValidationError(str(error) or f"Invalid calendar: {error!r}", code="invalid_spec") from error


class BusinessCalendarVersion(models.Model):
    """One state of a calendar, in force from `effective_from` until the next version's.

    Versions are history: clocks that ran under a version keep the time it counted, so an existing
    version is never edited; a change is a new version (`slas.calendars.business_calendar_version_add`).
    """

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="versions")
    effective_from = models.DateTimeField()
    spec = models.JSONField(help_text="Time zone, weekly hours, holidays and exceptions (see slas/clock.py).")
    note = models.CharField(max_length=255, blank=True, help_text="Why this version was added.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["calendar_id", "effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "effective_from"],
                name="sla_calendar_version_unique_start",
                violation_error_message="This calendar already has a version starting at that moment.",
            )
        ]

    def __str__(self):
        return f"{self.calendar} from {timezone.localtime(self.effective_from):%Y-%m-%d %H:%M}"

    def clean(self):
        super().clean()
        try:
            validate_calendar_spec(self.spec)
        except ValidationError as error:
            raise ValidationError({"spec": error.messages}) from error

    def to_calendar(self):
        """This version's pure `slas.clock.Calendar`."""
        return Calendar.from_spec(self.spec)


def pure_calendars(calendar_ids):
    """{calendar id: pure calendar} of these calendars, in one query (their versions) without reading the
    calendars themselves: for pages that only measure time, such as a queue page's SLA badges."""
    versions = {}
    for version in BusinessCalendarVersion.objects.filter(calendar_id__in=calendar_ids).only(
        "calendar_id", "effective_from", "spec"
    ):
        versions.setdefault(version.calendar_id, []).append(version)
    missing = set(calendar_ids) - set(versions)
    if missing:
        raise ImproperlyConfigured(f"Business calendars without a version: {sorted(missing)}; add one in the admin.")
    return {
        pk: _pure_calendar(sorted(each, key=lambda version: version.effective_from)) for pk, each in versions.items()
    }


def default_warning_thresholds():
    return list(DEFAULT_WARNING_THRESHOLDS)


def validate_warning_thresholds(value):
    """Whole percentages in 1..99, strictly ascending; the breach at 100 % is implicit."""
    if not isinstance(value, list):
        raise ValidationError("Give a list of percentages, e.g. [50, 75, 90].", code="invalid_thresholds")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 99:
            raise ValidationError(
                "Each threshold is a whole percentage from 1 to 99 (the breach at 100 %% is implicit); got %(item)r.",
                code="invalid_thresholds",
                params={"item": item},
            )
    if any(later <= earlier for earlier, later in zip(value, value[1:], strict=False)):
        raise ValidationError(
            "Thresholds must be in ascending order without repeats, e.g. [50, 75, 90].", code="invalid_thresholds"
        )


class SlaPolicyQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class SlaPolicy(models.Model):
    """A documented promise: an ordered list of goals. The first matching goal of the first policy wins;
    the default policy is consulted last and ends with a catch-all goal."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(help_text="The promise in plain language, as requesters will read it.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Policies are tried in this order.")
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False, help_text="Consulted after every other policy; must end with a goal without conditions."
    )

    objects = SlaPolicyQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="sla_policy_one_default",
                violation_error_message="Another policy is already the default: untick it there first.",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True) | Q(is_default=False),
                name="sla_policy_default_is_active",
                violation_error_message="The default policy cannot be inactive.",
            ),
        ]

    def __str__(self):
        return self.name


class SlaGoal(models.Model):
    """Targets for requests that match every condition given (an empty condition matches anything)."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="goals")
    position = models.PositiveSmallIntegerField(default=0)
    category = models.ForeignKey(
        "requests_app.Category", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, null=True, blank=True)
    department = models.ForeignKey(
        "stakeholders.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The requesting department.",
    )
    first_response_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Business minutes (480 = one 8-hour day)."
    )
    resolution_minutes = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text="Business minutes (480 = one 8-hour day)."
    )
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="goals")
    warning_thresholds = models.JSONField(
        default=default_warning_thresholds,
        blank=True,  # [] is valid: no warnings before the breach
        validators=[validate_warning_thresholds],
        help_text="Percentages of the goal at which to warn, ascending, e.g. [50, 75, 90]; breach at 100 is implicit.",
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "SLA goal"
        constraints = [
            models.CheckConstraint(condition=Q(first_response_minutes__gt=0), name="sla_goal_first_response_positive"),
            models.CheckConstraint(condition=Q(resolution_minutes__gt=0), name="sla_goal_resolution_positive"),
            models.CheckConstraint(
                condition=Q(priority__isnull=True) | Q(priority__in=Priority.values), name="sla_goal_priority_valid"
            ),
        ]

    def __str__(self):
        return f"{self.conditions_label}: {self.first_response_minutes} / {self.resolution_minutes} min"

    @property
    def is_catch_all(self):
        return self.category_id is None and not self.priority and self.department_id is None

    @property
    def conditions_label(self):
        parts = []
        if self.category_id is not None:
            parts.append(str(self.category))
        if self.priority:
            parts.append(self.get_priority_display())
        if self.department_id is not None:
            parts.append(str(self.department))
        return " · ".join(parts) or "Any request"

    def matches(self, *, category_id, priority, department_id):
        return (
            (self.category_id is None or self.category_id == category_id)
            and (not self.priority or self.priority == priority)
            and (self.department_id is None or self.department_id == department_id)
        )

    def goal_seconds(self, metric):
        """The target for `metric` (a Metric value) in business seconds."""
        minutes = self.first_response_minutes if metric == Metric.FIRST_RESPONSE else self.resolution_minutes
        return minutes * 60


class Metric(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    RESOLUTION = "resolution", "Resolution"


class StepKind(models.TextChoices):
    PERCENT = "percent", "Percent of the goal used"
    BEFORE_DUE = "before_due", "Business minutes before due"
    UNCLAIMED = "unclaimed", "Unclaimed for business minutes"
    APPROVAL = "approval", "Awaiting approval for business minutes"


# What an escalation step is about: one of the two SLA clocks, or one of the two waits a reminder watches.
class EscalationSubject(models.TextChoices):
    FIRST_RESPONSE = Metric.FIRST_RESPONSE.value, Metric.FIRST_RESPONSE.label
    RESOLUTION = Metric.RESOLUTION.value, Metric.RESOLUTION.label
    UNCLAIMED = "unclaimed", "Unclaimed"
    APPROVAL = "approval", "Awaiting approval"


RECIPIENT_FIELDS = (
    ("notify_assignee", "assignee"),
    ("notify_buyers", "buyers"),
    ("notify_team_lead", "team lead"),
    ("notify_managers", "procurement managers"),
    ("notify_department_head", "department head"),
    ("notify_requester", "requester"),
)


class EscalationStep(models.Model):
    """One rung of a policy's escalation ladder: when, who is told, and how.

    A policy without steps of its own uses `slas.escalation.DEFAULT_LADDER`. Percent and
    before-due steps are thresholds of the SLA clocks (besides the goal's warning thresholds);
    unclaimed and approval steps count business minutes since the request started waiting.
    """

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="escalation_steps")
    kind = models.CharField(max_length=20, choices=StepKind.choices, default=StepKind.PERCENT)
    value = models.PositiveIntegerField(
        help_text="Percent of the goal (100 = breach, 150 = half the goal past it), or business minutes."
    )
    metric = models.CharField(
        max_length=20,
        choices=Metric.choices,
        blank=True,
        help_text="Percent and before-due steps: empty = both clocks.",
    )
    notify_assignee = models.BooleanField("assignee", default=False)
    notify_buyers = models.BooleanField("buyers", default=False, help_text="The request's team, or every buyer.")
    notify_team_lead = models.BooleanField("team lead", default=False)
    notify_managers = models.BooleanField("procurement managers", default=False)
    notify_department_head = models.BooleanField(
        "department head", default=False, help_text="For approval steps: whoever approves (head, else managers)."
    )
    notify_requester = models.BooleanField("requester", default=False)
    in_app = models.BooleanField("in the app", default=True)
    by_email = models.BooleanField("by e-mail", default=True)

    class Meta:
        ordering = ["policy_id", "kind", "value", "metric"]
        verbose_name = "escalation step"
        constraints = [
            models.UniqueConstraint(fields=["policy", "kind", "value", "metric"], name="escalation_step_unique"),
            models.CheckConstraint(condition=Q(kind__in=StepKind.values), name="escalation_step_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind=StepKind.PERCENT) | Q(value__gte=1, value__lte=1000),
                name="escalation_step_percent_range",
                violation_error_message="A percent step is from 1 to 1000 %.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[StepKind.PERCENT, StepKind.BEFORE_DUE]) | Q(metric=""),
                name="escalation_step_metric_for_clocks",
                violation_error_message="Only percent and before-due steps concern one clock.",
            ),
        ]

    def __str__(self):
        return f"{self.when_text}: {self.recipients_text or 'nobody'}"

    @property
    def when_text(self):
        clock = f" of {Metric(self.metric).label.lower()}" if self.metric else ""
        if self.kind == StepKind.PERCENT:
            return f"{self.value} %{clock}" + (" (breach)" if self.value == 100 else "")
        if self.kind == StepKind.BEFORE_DUE:
            return f"{self.value} min before due{clock}"
        if self.kind == StepKind.UNCLAIMED:
            return f"unclaimed after {self.value} min"
        return f"awaiting approval after {self.value} min" if self.value else "approval requested"

    @property
    def recipients_text(self):
        return ", ".join(label for field, label in RECIPIENT_FIELDS if getattr(self, field))

    @property
    def threshold(self):
        """The key of the threshold this step fires at: percent (> 0), minus minutes before due, or minutes waited."""
        return -self.value if self.kind == StepKind.BEFORE_DUE else self.value

    def applies_to(self, subject):
        if self.kind in (StepKind.PERCENT, StepKind.BEFORE_DUE):
            return subject in Metric.values and self.metric in ("", subject)
        return self.kind == subject


class PauseReason(models.TextChoices):
    WAITING_FOR_REQUESTER = "waiting_for_requester", "Waiting for requester"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    COMPLETED = "completed", "Completed"


class SlaClockQuerySet(models.QuerySet):
    def running(self):
        """Not stopped (paused clocks included)."""
        return self.filter(stopped_at__isnull=True)

    def stopped(self):
        return self.filter(stopped_at__isnull=False)

    def paused(self):
        return self.filter(stopped_at__isnull=True, paused_since__isnull=False)

    def current(self):
        """The latest cycle of each (request, metric)."""
        return self.filter(is_current=True)

    def for_metric(self, metric):
        return self.filter(metric=metric)

    def due_before(self, moment):
        """Running, unpaused clocks whose goal runs out before `moment` (they may breach at the next opening)."""
        return self.filter(stopped_at__isnull=True, due_at__lt=moment)

    def breached_now(self):
        """Running clocks already past their goal."""
        return self.filter(stopped_at__isnull=True, breached=True)

    def threshold_reached_by(self, moment):
        """Running clocks whose next warning threshold falls at or before `moment` (for the warning job)."""
        return self.filter(stopped_at__isnull=True, next_threshold_at__lte=moment)

    def needing_refresh(self, moment):
        """Running clocks whose stored state is stale at `moment`: a threshold was reached, or the goal ran
        out (breached one second after `due_at`) and the clock is not yet marked breached."""
        return self.filter(
            Q(stopped_at__isnull=True, next_threshold_at__lte=moment)
            | Q(stopped_at__isnull=True, paused_since__isnull=True, breached=False, due_at__lt=moment)
        )

    def with_relations(self):
        return self.select_related("procurement_request", "goal", "calendar")


# What the dashboards read of a completed cycle, carried by its covering indexes (SlaClock.Meta.indexes).
COMPLETED_CYCLE_COLUMNS = [
    "metric",
    "met",
    "elapsed_business",
    "cycle",
    "procurement_request",
    "department",
    "team",
    "category",
    "priority",
    "assignee",
]


class SlaClock(models.Model):
    """One cycle of one metric of one request. The derived values are stored as of `computed_at` so that
    queues and dashboards filter and sort in SQL; `slas/services.py` keeps them current."""

    procurement_request = models.ForeignKey(
        "requests_app.ProcurementRequest", on_delete=models.CASCADE, related_name="sla_clocks"
    )
    metric = models.CharField(max_length=20, choices=Metric.choices)
    cycle = models.PositiveSmallIntegerField(default=1)
    is_current = models.BooleanField(default=True, help_text="The latest cycle of this metric.")
    goal = models.ForeignKey(SlaGoal, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    goal_seconds = models.PositiveIntegerField(help_text="Business seconds, copied from the goal when it applied.")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    paused_since = models.DateTimeField(null=True, blank=True)
    elapsed_business = models.PositiveIntegerField(default=0, help_text="Seconds, as of computed_at.")
    computed_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True, help_text="Empty while paused.")
    next_threshold = models.SmallIntegerField(
        null=True, blank=True, help_text="Percent of the goal, or minus N for an escalation step N minutes before due."
    )
    next_threshold_at = models.DateTimeField(null=True, blank=True)
    last_threshold = models.PositiveSmallIntegerField(
        default=0, help_text="Percent: the highest threshold reached so far (100 = the goal is used up), 0 = none."
    )
    breached = models.BooleanField(default=False)
    ever_breached = models.BooleanField(default=False)
    breached_at = models.DateTimeField(null=True, blank=True, help_text="The theoretical breach instant.")
    met = models.BooleanField(null=True, blank=True, help_text="Empty while running.")
    # The request's dimensions the dashboards group by, copied onto its clocks so that a period's completed
    # cycles are read from one index without joining every request (slas/dashboard.py). They are always the
    # request's *current* values, as the queue filters that a dashboard figure links to read them: written
    # when the clock is created and by sla_clocks_dimensions_sync() whenever a service changes one of them
    # (assignment, routing, re-prioritisation, re-categorisation), in the same transaction.
    department = models.ForeignKey(
        "stakeholders.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    team = models.ForeignKey(
        "requests_app.BuyerTeam",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    category = models.ForeignKey(
        "requests_app.Category",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    # A database default too: bulk loaders (bench/seed.py COPY) write the clock first and fill it after.
    priority = models.CharField(max_length=10, blank=True, editable=False, db_default="")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SlaClockQuerySet.as_manager()

    class Meta:
        ordering = ["procurement_request_id", "metric", "cycle"]
        verbose_name = "SLA clock"
        constraints = [
            models.UniqueConstraint(fields=["procurement_request", "metric", "cycle"], name="sla_clock_unique_cycle"),
            models.UniqueConstraint(
                fields=["procurement_request", "metric"],
                condition=Q(is_current=True),
                name="sla_clock_one_current_cycle",
            ),
            models.CheckConstraint(condition=Q(metric__in=Metric.values), name="sla_clock_metric_valid"),
            models.CheckConstraint(condition=Q(cycle__gte=1), name="sla_clock_cycle_from_one"),
            models.CheckConstraint(
                condition=Q(stopped_at__isnull=True) | Q(stopped_at__gte=F("started_at")),
                name="sla_clock_stops_after_start",
            ),
            models.CheckConstraint(
                condition=Q(next_threshold__isnull=True)
                | Q(next_threshold__gte=1, next_threshold__lte=1000)
                | Q(next_threshold__lte=-1),
                name="sla_clock_threshold_key",
            ),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(stopped_at__isnull=True), name="sla_clock_running_due"),
            # The sweep's second question: running clocks past their due time not yet marked breached.
            models.Index(
                fields=["due_at"],
                condition=Q(stopped_at__isnull=True, paused_since__isnull=True, breached=False),
                name="sla_clock_unmarked_breach",
            ),
            models.Index(
                fields=["next_threshold_at"],
                condition=Q(next_threshold_at__isnull=False),
                name="sla_clock_next_threshold",
            ),
            models.Index(fields=["procurement_request", "metric"], name="sla_clock_request_metric"),
            # The dashboards' completed cycles in a period (slas/dashboard.py), read from the index alone
            # on PostgreSQL (INCLUDE is ignored elsewhere).
            models.Index(
                fields=["stopped_at"],
                include=COMPLETED_CYCLE_COLUMNS,
                condition=Q(is_current=True, met__isnull=False),
                name="sla_clock_completed_dimensions",
            ),
            # The same for one department (its scorecard's last four quarters, the dashboard narrowed to
            # it): its own cycles only, not every department's of the period filtered (at 1,000,000
            # requests a department's year of quarters took 309 ms through the index above, 42 ms here).
            models.Index(
                fields=["department", "stopped_at"],
                include=[column for column in COMPLETED_CYCLE_COLUMNS if column != "department"],
                condition=Q(is_current=True, met__isnull=False),
                name="sla_clock_completed_department",
            ),
        ]

    def __str__(self):
        return f"{self.get_metric_display()} #{self.cycle} of request {self.procurement_request_id}"

    @property
    def is_running(self):
        return self.stopped_at is None

    @property
    def is_paused(self):
        return self.stopped_at is None and self.paused_since is not None


class SlaPause(models.Model):
    """An interval during which a clock did not count (see SLA-SEMANTICS: pause and resume, reopen)."""

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="pauses")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=30, choices=PauseReason.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["started_at", "id"]
        verbose_name = "SLA pause"
        constraints = [
            models.UniqueConstraint(fields=["clock"], condition=Q(ended_at__isnull=True), name="sla_pause_one_open"),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="sla_pause_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"{self.get_reason_display()} from {self.started_at:%Y-%m-%d %H:%M}"


class EscalationEvent(models.Model):
    """One threshold of one clock cycle (or one step of a reminder) that fired: exactly once.

    Keyed by (request, subject, cycle, threshold) rather than by clock row, so that rebuilding the
    clocks from the history (`sla_recompute`) can never fire a threshold a second time. When a
    crossing passes several thresholds at once, every one gets its row and the lower ones point at
    the highest (`collapsed_into`), which alone carries the notifications.
    """

    procurement_request = models.ForeignKey(
        "requests_app.ProcurementRequest", on_delete=models.CASCADE, related_name="escalations"
    )
    subject = models.CharField(max_length=20, choices=EscalationSubject.choices)
    cycle = models.PositiveSmallIntegerField(default=1)
    threshold = models.IntegerField(
        help_text="Percent of the goal; minus N for N minutes before due; business minutes waited for reminders."
    )
    collapsed_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="collapsed"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["procurement_request", "subject", "cycle", "threshold"], name="escalation_event_once"
            ),
            models.CheckConstraint(condition=Q(subject__in=EscalationSubject.values), name="escalation_subject_valid"),
        ]

    def __str__(self):
        return f"{self.procurement_request_id} {self.subject} #{self.cycle} at {self.threshold}"


class ReminderQuerySet(models.QuerySet):
    def due(self, moment):
        return self.filter(stopped_at__isnull=True, next_at__lte=moment)


class Reminder(models.Model):
    """A request waiting for someone — a buyer to claim it, its approver to decide — counted in business time.

    The same machinery as the clocks: the instant of the next step is stored (`next_at`), the minute
    sweep fires what is due and advances it, and each step fires once (EscalationEvent). A reminder
    whose wait is over (claimed, decided, cancelled) is stopped by the sweep when its next step comes.
    """

    procurement_request = models.ForeignKey(
        "requests_app.ProcurementRequest", on_delete=models.CASCADE, related_name="reminders"
    )
    subject = models.CharField(
        max_length=20, choices=[(EscalationSubject.UNCLAIMED, "Unclaimed"), (EscalationSubject.APPROVAL, "Approval")]
    )
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField()
    last_step = models.IntegerField(default=-1, help_text="Business minutes of the last step fired; -1 = none.")
    next_step = models.PositiveIntegerField(null=True, blank=True, help_text="Business minutes.")
    next_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = ReminderQuerySet.as_manager()

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["procurement_request", "subject"], name="reminder_one_per_wait"),
        ]
        indexes = [
            models.Index(
                fields=["next_at"], condition=Q(stopped_at__isnull=True, next_at__isnull=False), name="reminder_next"
            ),
        ]

    def __str__(self):
        return f"{self.get_subject_display()} reminder of request {self.procurement_request_id}"


class DashboardSnapshot(models.Model):
    """The period figures of a preset dashboard view (the manager's dashboard unfiltered for the last 7, 30
    or 90 days, a department's scorecard), computed by the beat task slas.refresh_dashboard_snapshots so
    that the page need not sort a period's cycles on every view (slas/snapshots.py). One row per view,
    replaced on each refresh; the page says when it was computed."""

    key = models.CharField(max_length=255, unique=True, help_text="The view and scope (snapshots.snapshot_key).")
    computed_at = models.DateTimeField()
    # A pickle of the dashboard's own dataclasses, as Django's cache backends store values: written only by
    # the refresh service from its own computation, read only by the dashboard views.
    figures = models.BinaryField()

    def __str__(self):
        return f"{self.key} at {self.computed_at:%Y-%m-%d %H:%M}"
