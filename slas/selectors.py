"""Reads of SLA state shaped for people: what the request page shows about each clock."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .models import Metric, SlaClock
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
        views.append(
            ClockView(
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
