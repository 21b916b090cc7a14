"""Reads of SLA state shaped for people: what the request page shows about each clock, and the badge
each queue row shows."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from requests_app.models import Status

from .models import Metric, SlaClock, pure_calendars
from .services import business_duration

PAUSE_REASONS = {
    "waiting_for_requester": "waiting for the requester",
    "pending_approval": "pending approval",
    "completed": "completed before it was reopened",
}


@dataclass(frozen=True)
class ClockView:
    metric_label: str
    state: str  # running, paused, breached, met, missed, stopped
    goal_text: str
    due_at: datetime | None
    remaining_text: str
    percent: int
    explanation: str
    cycle: int
    ever_breached: bool
    policy_name: str
    breach: "BreachExplanation | None" = None

    @property
    def badge_class(self):
        return {
            "met": "text-bg-success",
            "missed": "text-bg-danger",
            "breached": "text-bg-danger",
            "paused": "text-bg-secondary",
            "stopped": "text-bg-light border",
        }.get(self.state, "text-bg-warning" if self.percent >= 75 else "text-bg-primary")

    @property
    def bar_class(self):
        if self.state in ("breached", "missed") or self.percent > 100:
            return "bg-danger"
        if self.state == "met":
            return "bg-success"
        return "bg-warning" if self.percent >= 75 else "bg-primary"


def _state(clock, elapsed, now):
    if clock.stopped_at is not None:
        if clock.met is None:
            return "stopped"
        return "met" if clock.met else "missed"
    if elapsed > clock.goal_seconds:
        return "breached"
    return "paused" if clock.paused_since is not None else "running"


def request_clock_views(procurement_request, *, now=None):
    """The current cycle of each clock, measured now, with where its time went."""
    now = now or timezone.now()
    clocks = (
        SlaClock.objects.filter(procurement_request=procurement_request, is_current=True)
        .select_related("goal__policy", "calendar")
        .prefetch_related("pauses", "calendar__versions")
        .order_by("metric")
    )
    views = []
    history = None  # the request's status and assignment history, read once if a clock needs explaining
    for clock in sorted(clocks, key=lambda c: [Metric.FIRST_RESPONSE, Metric.RESOLUTION].index(c.metric)):
        calendar = clock.calendar.to_clock(until=clock.stopped_at)
        pauses = [(pause.started_at, pause.ended_at) for pause in clock.pauses.all()]
        end = clock.stopped_at or max(now, clock.started_at)
        spent = calendar.breakdown(clock.started_at, end, pauses)
        remaining = clock.goal_seconds - spent.business
        percent = round(100 * spent.business / clock.goal_seconds) if clock.goal_seconds else 100
        reasons = []
        if spent.paused:
            why = ", ".join(sorted({PAUSE_REASONS.get(p.reason, p.reason) for p in clock.pauses.all()}))
            reasons.append(f"{business_duration(spent.paused)} paused ({why}) excluded")
        if spent.closed:
            reasons.append(f"{business_duration(spent.closed)} outside working hours")
        explanation = f"{business_duration(spent.business)} of business time used"
        if reasons:
            explanation += "; " + "; ".join(reasons)
        state = _state(clock, spent.business, now)
        if state in ("met", "missed", "stopped"):
            remaining_text = ""
        elif remaining >= 0:
            remaining_text = f"{business_duration(remaining)} left"
        else:
            remaining_text = f"overdue by {business_duration(-remaining)}"
        breach = None
        if state in ("breached", "missed"):
            if history is None:
                history = _history(procurement_request)
            breach = breach_explanation(clock, calendar, pauses, end, history)
        views.append(
            ClockView(
                breach=breach,
                metric_label=Metric(clock.metric).label,
                state=state,
                goal_text=business_duration(clock.goal_seconds),
                due_at=clock.due_at if state != "paused" else None,
                remaining_text=remaining_text,
                percent=percent,
                explanation=explanation + ".",
                cycle=clock.cycle,
                ever_breached=clock.ever_breached,
                policy_name=clock.goal.policy.name if clock.goal else "",
            )
        )
    return views


@dataclass(frozen=True)
class BreachSegment:
    label: str
    seconds: int
    css: str

    @property
    def text(self):
        return business_duration(self.seconds)


@dataclass(frozen=True)
class BreachExplanation:
    """Where a breached clock's time went, from its start to its stop (or now): business time in each
    status, time paused, time outside working hours; and the business time lost waiting for a buyer
    to take the request or to pick it up after a reassignment (part of the status times)."""

    segments: tuple  # BreachSegment, in order: statuses by first appearance, paused, outside hours
    total: int  # real seconds
    unassigned: int  # business seconds with nobody assigned (after approval)
    handovers: int  # business seconds from each reassignment to the new buyer's first action
    reassignments: int

    @property
    def unassigned_text(self):
        return business_duration(self.unassigned)

    @property
    def handovers_text(self):
        return business_duration(self.handovers)

    def widths(self):
        """[(segment, percent of the bar)]."""
        return [
            (segment, round(100 * segment.seconds / self.total, 2) if self.total else 0) for segment in self.segments
        ]


STATUS_BAR_CSS = {
    Status.SUBMITTED: "bg-secondary",
    Status.APPROVED: "bg-secondary",
    Status.PENDING_APPROVAL: "bg-info",
    Status.ASSIGNED: "bg-primary-subtle text-primary-emphasis",
    Status.IN_PROGRESS: "bg-primary",
    Status.WAITING_FOR_REQUESTER: "bg-warning",
    Status.WAITING_FOR_SUPPLIER: "bg-warning-subtle text-warning-emphasis",
    Status.ORDERED: "bg-success",
}


def _history(procurement_request):
    """[(instant, new status or "", new assignee id or None, actor id)] of the request, oldest first (one query)."""
    from requests_app.models import EventKind, RequestEvent

    rows = (
        RequestEvent.objects.filter(procurement_request=procurement_request)
        .order_by("created_at", "id")
        .values_list("created_at", "kind", "to_status", "assignee_id", "actor_id")
    )
    assigning = {EventKind.ASSIGNED, EventKind.ROUTED}
    return [
        (moment, to_status or "", assignee_id if kind in assigning else None, actor_id)
        for moment, kind, to_status, assignee_id, actor_id in rows
    ]


def breach_explanation(clock, calendar, pauses, end, history):
    """Split [clock start, end] by the request's status and assignee at each moment (see BreachExplanation)."""
    start = clock.started_at
    status, assignee = Status.SUBMITTED, None
    changes = []
    for moment, to_status, assignee_id, _actor in history:
        if moment <= start:
            status = to_status or status
            assignee = assignee_id or assignee
        elif moment < end:
            changes.append((moment, to_status, assignee_id))
    per_status, paused, closed, unassigned = {}, 0, 0, 0
    cursor = start
    for moment, to_status, assignee_id in [*changes, (end, "", None)]:
        if moment > cursor:
            spent = calendar.breakdown(cursor, moment, pauses)
            per_status[status] = per_status.get(status, 0) + spent.business
            paused += spent.paused
            closed += spent.closed
            if assignee is None and status not in (Status.PENDING_APPROVAL,):
                unassigned += spent.business
            cursor = moment
        status = to_status or status
        assignee = assignee_id or assignee
    handovers, reassignments, previous = 0, 0, None
    for index, (moment, _to_status, assignee_id, _actor) in enumerate(history):
        if assignee_id is None:
            continue
        if previous is not None and assignee_id != previous and start <= moment < end:
            reassignments += 1
            acted = next(
                (later for later, _s, _a, actor in history[index + 1 :] if actor == assignee_id and later > moment),
                end,
            )
            handovers += calendar.breakdown(moment, min(acted, end), pauses).business
        previous = assignee_id
    segments = [
        BreachSegment(
            Status(name).label if name in Status.values else name, seconds, STATUS_BAR_CSS.get(name, "bg-dark")
        )
        for name, seconds in per_status.items()
        if seconds
    ]
    if paused:
        segments.append(BreachSegment("Paused", paused, "bg-body-secondary text-body border"))
    if closed:
        segments.append(BreachSegment("Outside working hours", closed, "sla-closed"))
    return BreachExplanation(
        segments=tuple(segments),
        total=sum(segment.seconds for segment in segments),
        unassigned=unassigned,
        handovers=handovers,
        reassignments=reassignments,
    )


@dataclass(frozen=True)
class SlaBadge:
    """A queue row's SLA at a glance: the most urgent running clock, measured now."""

    state: str  # running, paused, breached, met, missed, not_started, none
    text: str
    css: str
    title: str = ""
    percent: int | None = None


# Colour by the share of the goal used: the default warning thresholds (50/75/90 %), then the breach.
BADGE_BANDS = ((90, "sla-90"), (75, "text-bg-warning"), (50, "sla-50"), (0, "text-bg-success"))
BADGE_CSS = {
    "breached": "text-bg-danger",
    "paused": "text-bg-secondary",
    "met": "text-bg-light border text-success-emphasis",
    "missed": "text-bg-light border text-danger-emphasis",
    "not_started": "text-bg-light border",
    "none": "text-bg-light border text-body-secondary",
}


def _short_duration(seconds):
    """'45 min', '3 h 20 min', '37 h': business time for a badge."""
    minutes = int(seconds) // 60
    if minutes < 1:
        return "< 1 min"
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if hours < 10 and minutes else f"{hours} h"


def _measured(clock, now, calendars):
    """(clock, business seconds used by now, remaining seconds); a paused clock's time stands still.
    `calendars`: {calendar id: pure calendar} of the clocks' calendars."""
    used = clock.elapsed_business
    if clock.paused_since is None and now > clock.computed_at:
        # Stored as of computed_at, and nothing paused it since: add the business time from then to now.
        used += calendars[clock.calendar_id].business_seconds(clock.computed_at, now)
    return clock, used, clock.goal_seconds - used


def _badge(procurement_request, clocks, now, calendars):
    running = [clock for clock in clocks if clock.stopped_at is None]
    if not running:
        if procurement_request.status == Status.PENDING_APPROVAL:
            return SlaBadge("not_started", "Not started", BADGE_CSS["not_started"], "Starts when approved.")
        if clocks and all(clock.met is not None for clock in clocks):
            state = "met" if all(clock.met for clock in clocks) else "missed"
            return SlaBadge(state, state.capitalize(), BADGE_CSS[state])
        return SlaBadge("none", "—", BADGE_CSS["none"])
    measured = [_measured(clock, now, calendars) for clock in running]
    overdue = [item for item in measured if item[2] < 0]
    if overdue:
        clock, used, remaining = min(overdue, key=lambda item: item[2])
        text = f"Overdue {_short_duration(-remaining)}" + (" · paused" if clock.paused_since else "")
        title = f"{Metric(clock.metric).label}: {business_duration(clock.goal_seconds)} goal exceeded"
        return SlaBadge("breached", text, BADGE_CSS["breached"], title, round(100 * used / clock.goal_seconds))
    counting = [item for item in measured if item[0].paused_since is None]
    if not counting:
        return SlaBadge(
            "paused", "Paused", BADGE_CSS["paused"], "Waiting for the requester: the clock does not run meanwhile."
        )
    clock, used, remaining = min(counting, key=lambda item: item[2])
    percent = round(100 * used / clock.goal_seconds) if clock.goal_seconds else 100
    css = next(css for floor, css in BADGE_BANDS if percent >= floor)
    due = f", due {timezone.localtime(clock.due_at):%a %d %b %H:%M}" if clock.due_at else ""
    title = f"{Metric(clock.metric).label}: {percent} % of {business_duration(clock.goal_seconds)} used{due}"
    return SlaBadge("running", f"{_short_duration(remaining)} left", css, title, percent)


# What a badge reads of a clock (a page's clocks are read as light instances: they are only looked at).
BADGE_CLOCK_FIELDS = (
    "procurement_request_id",
    "metric",
    "calendar_id",
    "goal_seconds",
    "elapsed_business",
    "computed_at",
    "stopped_at",
    "paused_since",
    "due_at",
    "met",
)


def sla_badges(procurement_requests, *, now=None):
    """{request id: SlaBadge} for a page of requests, in two queries whatever its size: the current
    clocks, then their few calendars' versions, each calendar once (pure calendars are memoised, so the
    business-time maths per row is cheap)."""
    now = now or timezone.now()
    ids = [procurement_request.pk for procurement_request in procurement_requests]
    clocks = defaultdict(list)
    for clock in SlaClock.objects.current().filter(procurement_request_id__in=ids).only(*BADGE_CLOCK_FIELDS):
        clocks[clock.procurement_request_id].append(clock)
    calendars = pure_calendars({clock.calendar_id for each in clocks.values() for clock in each})
    return {
        procurement_request.pk: _badge(procurement_request, clocks[procurement_request.pk], now, calendars)
        for procurement_request in procurement_requests
    }
