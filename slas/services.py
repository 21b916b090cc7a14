"""SLA clocks follow the request: every lifecycle event updates them here, in the event's transaction.

The rules are SLA-SEMANTICS (see README, "SLA clocks"): first response runs from submission (or
approval) until the first reply from Procurement the requester can see, paused by nothing but
closed hours; resolution runs from the same start until completion, paused while the request waits
for its requester (or for approval). A reopened request continues its resolution clock from the
original start, the completed time counting as a pause, and starts a new first-response cycle.

All the maths is in `slas.clock`; this module only decides which clock starts, pauses, resumes or
stops, then stores the derived values (elapsed, due, next threshold, breached, met) so that queues,
sweeps and dashboards filter and sort in SQL.
"""

import logging
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from requests_app.models import CLAIMABLE_STATUSES, Status

from . import escalation
from .models import EscalationSubject, Metric, Reminder, SlaClock, SlaPause
from .policies import sla_goal_for

logger = logging.getLogger(__name__)

# While the request is in one of these statuses, its resolution clock does not run.
RESOLUTION_PAUSING_STATUSES = {
    Status.WAITING_FOR_REQUESTER: "waiting_for_requester",
    Status.PENDING_APPROVAL: "pending_approval",
}
BREACH_PERCENT = 100


@dataclass(frozen=True)
class ClockChange:
    """What happened to one clock, for the request's timeline."""

    metric: str
    verb: str  # started, paused, resumed, stopped, continued, goal changed
    detail: str = ""
    # Thresholds the change made the clock reach (a goal lowered past them): escalated by sla_changes_record.
    crossing: "ThresholdCrossing | None" = field(default=None, compare=False)

    def describe(self):
        label = Metric(self.metric).label
        return f"{label} clock {self.verb}" + (f": {self.detail}" if self.detail else "")


def _goal_for(procurement_request, matching=None):
    """The goal matching the request; `matching` = (category_id, priority) in force at a past moment (replay)."""
    category_id, priority = matching or (procurement_request.category_id, procurement_request.priority)
    return sla_goal_for(category_id=category_id, priority=priority, department_id=procurement_request.department_id)


def _pause_intervals(clock):
    if clock.pk is None:
        return []  # a clock being started has no pauses yet
    return [(pause.started_at, pause.ended_at) for pause in clock.pauses.all()]


def clock_refresh(clock, *, now=None, pure_calendar=None):
    """Recompute a clock's stored values as of now (or its stop), from its start, goal and pauses."""
    now = now or timezone.now()
    calendar = pure_calendar or clock.calendar.to_clock(until=clock.stopped_at)
    pauses = _pause_intervals(clock)
    measured_to = clock.stopped_at or max(now, clock.started_at)
    clock.elapsed_business = calendar.business_seconds(clock.started_at, measured_to, pauses)
    clock.computed_at = measured_to
    # The instant the goal runs out, with pauses so far; undefined while paused (no time passes).
    clock.due_at = calendar.due_at(clock.started_at, clock.goal_seconds, pauses)
    clock.breached = clock.elapsed_business > clock.goal_seconds
    if clock.breached:
        clock.ever_breached = True
        clock.breached_at = clock.due_at or calendar.due_at(
            clock.started_at, clock.goal_seconds, [(start, end) for start, end in pauses if end is not None]
        )
    clock.met = None if clock.stopped_at is None else not clock.breached
    # The goal's warnings, the breach and the escalation ladder's steps (percent, minutes before due).
    thresholds = escalation.clock_thresholds(clock)
    # Reached when elapsed >= its share of the goal: the same test as the threshold's instant (SLA-SEMANTICS).
    clock.last_threshold = max(
        (key for key, needed in thresholds if key > 0 and clock.elapsed_business >= needed), default=0
    )
    clock.next_threshold, clock.next_threshold_at = None, None
    if clock.stopped_at is None and clock.paused_since is None:
        for key, needed in thresholds:
            if needed <= clock.elapsed_business:
                continue  # reached already: its instant is not after measured_to
            instant = calendar.due_at(clock.started_at, needed, pauses)
            if instant is not None and instant > measured_to:
                clock.next_threshold, clock.next_threshold_at = key, instant
                break
    return clock


# What clock_refresh recomputes: the sweep saves only these.
REFRESHED_FIELDS = (
    "elapsed_business",
    "computed_at",
    "due_at",
    "breached",
    "ever_breached",
    "breached_at",
    "met",
    "last_threshold",
    "next_threshold",
    "next_threshold_at",
    "updated_at",
)


def _refresh_crossing(clock, *, now, cause=""):
    """Refresh a stored, running clock and return the thresholds that made it reach (None if none)."""
    reached_before = clock.last_threshold
    goal_before, elapsed_before = clock.goal_seconds, clock.elapsed_business
    clock_refresh(clock, now=now)
    thresholds = escalation.thresholds_crossed(clock, goal_seconds_before=goal_before, elapsed_before=elapsed_before)
    if not thresholds or clock.stopped_at is not None:
        return None  # a stopped clock has nobody left to warn: a met clock never escalates
    return ThresholdCrossing(
        clock.pk,
        clock.procurement_request_id,
        clock.metric,
        clock.cycle,
        reached_before,
        clock.last_threshold,
        thresholds=thresholds,
        clock=clock,
        cause=cause,
    )


def _save(clock, now):
    clock_refresh(clock, now=now)
    clock.save()
    return clock


def _new_clock(procurement_request, *, metric, goal, started_at, cycle=1):
    return SlaClock(
        procurement_request=procurement_request,
        metric=metric,
        cycle=cycle,
        goal=goal,
        goal_seconds=(goal.first_response_minutes if metric == Metric.FIRST_RESPONSE else goal.resolution_minutes) * 60,
        calendar=goal.calendar,
        started_at=started_at,
        computed_at=started_at,
        **_dimensions(procurement_request),
    )


# The request's fields copied onto its clocks for the dashboards (SlaClock.department and the rest).
CLOCK_DIMENSIONS = ("department_id", "team_id", "category_id", "priority", "assignee_id")


def _dimensions(procurement_request):
    return {name: getattr(procurement_request, name) for name in CLOCK_DIMENSIONS}


@transaction.atomic(savepoint=False)  # called inside the request services' transaction: no savepoint pair
def sla_clocks_dimensions_sync(*, procurement_request) -> int:
    """Copy the request's department, team, category, priority and buyer onto all its clocks, running or
    stopped (one UPDATE). Called by every service that changes one of them, after saving the request, so
    that a completed cycle is counted where the queue lists its request now. Returns the rows updated."""
    return SlaClock.objects.filter(procurement_request=procurement_request).update(**_dimensions(procurement_request))


@transaction.atomic
def sla_clocks_start(*, procurement_request, at, matching=None) -> list[ClockChange]:
    """Start both clocks when Procurement's work begins (submission, or approval when required)."""
    if SlaClock.objects.filter(procurement_request=procurement_request).exists():
        return []  # already running: a second start (replayed event) changes nothing
    goal = _goal_for(procurement_request, matching)
    changes = []
    for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
        _save(_new_clock(procurement_request, metric=metric, goal=goal, started_at=at), at)
        changes.append(ClockChange(metric, "started", _goal_words(goal, metric)))
    return changes


def _goal_words(goal, metric):
    minutes = goal.first_response_minutes if metric == Metric.FIRST_RESPONSE else goal.resolution_minutes
    return f"goal {business_duration(minutes * 60)} ({goal.policy.name})"


def business_duration(seconds):
    """'1 h 30 min', '45 min', '2 min 5 s': short and exact enough for a timeline line."""
    seconds = int(seconds)
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    return ("-" if seconds < 0 else "") + (" ".join(parts) or "0 min")


def _current(procurement_request, metric):
    return (
        SlaClock.objects.select_for_update(of=("self",))
        .filter(procurement_request=procurement_request, metric=metric, is_current=True)
        .select_related("calendar", "goal__policy")
        .first()
    )


def _pause(clock, *, at, reason):
    if clock is None or clock.stopped_at is not None or clock.paused_since is not None:
        return None
    at = max(at, clock.started_at)  # clock skew between processes must not put a pause before the start
    SlaPause.objects.create(clock=clock, started_at=at, reason=reason)
    clock.paused_since = at
    # A threshold reached since the last sweep, before this pause, is still told.
    crossing = _refresh_crossing(clock, now=at)
    clock.save()
    return ClockChange(clock.metric, "paused", reason.replace("_", " "), crossing=crossing)


def _resume(clock, *, at):
    if clock is None or clock.paused_since is None:
        return None
    at = max(at, clock.paused_since)
    SlaPause.objects.filter(clock=clock, ended_at__isnull=True).update(ended_at=at)
    clock.paused_since = None
    _save(clock, at)
    return ClockChange(clock.metric, "resumed", f"due {timezone.localtime(clock.due_at):%a %d %b %H:%M}")


def _stop(clock, *, at, outcome=True):
    if clock is None or clock.stopped_at is not None:
        return None
    at = max(at, clock.started_at)
    if clock.paused_since is not None:
        SlaPause.objects.filter(clock=clock, ended_at__isnull=True).update(ended_at=at)
        clock.paused_since = None
    clock.stopped_at = at
    _save(clock, at)
    if not outcome:
        clock.met = None  # a cancelled request neither met nor missed its promise
        clock.save(update_fields=["met"])
        return ClockChange(clock.metric, "stopped", "request cancelled")
    used = business_duration(clock.elapsed_business)
    goal = business_duration(clock.goal_seconds)
    verdict = "met" if clock.met else f"breached by {business_duration(clock.elapsed_business - clock.goal_seconds)}"
    return ClockChange(clock.metric, "stopped", f"{verdict} ({used} of {goal})")


def _reopen(procurement_request, *, at, matching=None):
    """Resolution continues from its original start (the completed time is a pause); first response
    starts a new cycle. Completed cycles stay frozen as they were."""
    changes = []
    resolution = _current(procurement_request, Metric.RESOLUTION)
    if resolution is not None and resolution.stopped_at is not None:
        continued = _new_clock(
            procurement_request,
            metric=Metric.RESOLUTION,
            goal=resolution.goal or _goal_for(procurement_request, matching),
            started_at=resolution.started_at,
            cycle=resolution.cycle + 1,
        )
        continued.goal_seconds = resolution.goal_seconds
        continued.ever_breached = resolution.ever_breached
        SlaClock.objects.filter(pk=resolution.pk).update(is_current=False)
        continued.save()
        SlaPause.objects.bulk_create(
            [
                *(
                    SlaPause(clock=continued, started_at=pause.started_at, ended_at=pause.ended_at, reason=pause.reason)
                    for pause in resolution.pauses.all()
                ),
                SlaPause(clock=continued, started_at=resolution.stopped_at, ended_at=at, reason="completed"),
            ]
        )
        _save(continued, at)
        changes.append(ClockChange(Metric.RESOLUTION, "continued", f"cycle {continued.cycle}"))
    first_response = _current(procurement_request, Metric.FIRST_RESPONSE)
    if first_response is not None:
        goal = _goal_for(procurement_request, matching)
        SlaClock.objects.filter(pk=first_response.pk).update(is_current=False)
        new_cycle = _new_clock(
            procurement_request,
            metric=Metric.FIRST_RESPONSE,
            goal=goal,
            started_at=at,
            cycle=first_response.cycle + 1,
        )
        new_cycle.ever_breached = first_response.ever_breached
        _save(new_cycle, at)
        changes.append(ClockChange(Metric.FIRST_RESPONSE, "started", f"cycle {new_cycle.cycle}"))
    return changes


@transaction.atomic
def sla_clocks_on_status_change(*, procurement_request, from_status, to_status, at, matching=None) -> list[ClockChange]:
    """Start, pause, resume or stop the request's clocks for one status change."""
    changes = []
    if to_status == Status.APPROVED:
        changes += sla_clocks_start(procurement_request=procurement_request, at=at, matching=matching)
    if from_status == Status.COMPLETED and to_status == Status.IN_PROGRESS:
        return changes + _reopen(procurement_request, at=at, matching=matching)
    resolution = _current(procurement_request, Metric.RESOLUTION)
    if to_status in RESOLUTION_PAUSING_STATUSES:
        changes.append(_pause(resolution, at=at, reason=RESOLUTION_PAUSING_STATUSES[to_status]))
    elif from_status in RESOLUTION_PAUSING_STATUSES and to_status not in (Status.CANCELLED, Status.REJECTED):
        changes.append(_resume(resolution, at=at))
    if to_status == Status.COMPLETED:
        changes.append(_stop(resolution, at=at))
        # Completing is itself an answer the requester sees: a first response still running ends here,
        # so no cycle is left running on a finished request.
        changes.append(_stop(_current(procurement_request, Metric.FIRST_RESPONSE), at=at))
    if to_status in (Status.CANCELLED, Status.REJECTED):
        for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
            changes.append(_stop(_current(procurement_request, metric), at=at, outcome=False))
    return [change for change in changes if change is not None]


@transaction.atomic
def sla_clocks_on_public_reply(*, procurement_request, at) -> list[ClockChange]:
    """Procurement's first reply the requester can see stops the first-response clock."""
    change = _stop(_current(procurement_request, Metric.FIRST_RESPONSE), at=at)
    return [change] if change else []


@transaction.atomic
def sla_clocks_rematch(*, procurement_request, at, matching=None) -> list[ClockChange]:
    """After a priority or category change: keep the elapsed time, switch to the newly matching goal.

    A goal already exceeded breaches at once (breached_at is the theoretical instant); a relaxed goal
    clears `breached` for the running cycle, but `ever_breached` stays.
    """
    goal = _goal_for(procurement_request, matching)
    changes = []
    for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
        clock = _current(procurement_request, metric)
        if clock is None or clock.stopped_at is not None:
            continue
        new_seconds = (goal.first_response_minutes if metric == Metric.FIRST_RESPONSE else goal.resolution_minutes) * 60
        if clock.goal_id == goal.pk and clock.goal_seconds == new_seconds:
            continue
        old_seconds = clock.goal_seconds
        clock.goal, clock.goal_seconds, clock.calendar = goal, new_seconds, goal.calendar
        crossing = _refresh_crossing(clock, now=at, cause="goal changed")
        clock.save()
        detail = f"goal {business_duration(old_seconds)} → {business_duration(new_seconds)} ({goal.policy.name})"
        if clock.breached:
            detail += f"; already exceeded, breached since {timezone.localtime(clock.breached_at):%a %d %b %H:%M}"
        changes.append(ClockChange(metric, "goal changed", detail, crossing=crossing))
    return changes


SUMMARY_FIELDS = ("sla_due_at", "sla_threshold", "sla_breached")


def _summary(rows):
    """The request's SLA summary from its running clocks' (due_at, paused_since, last_threshold, breached)."""
    return {
        "sla_due_at": min((due for due, paused, _, _ in rows if due is not None and paused is None), default=None),
        "sla_threshold": max((threshold for _, _, threshold, _ in rows), default=0),
        "sla_breached": any(breached for *_, breached in rows),
    }


def sla_summary_update(*, procurement_request):
    """Copy the running clocks' state onto the request, where the queues sort and filter on it."""
    from requests_app.models import ProcurementRequest

    running = SlaClock.objects.current().running().filter(procurement_request=procurement_request)
    summary = _summary(list(running.values_list("due_at", "paused_since", "last_threshold", "breached")))
    if any(getattr(procurement_request, field) != value for field, value in summary.items()):
        ProcurementRequest.objects.filter(pk=procurement_request.pk).update(**summary)
        for field, value in summary.items():
            setattr(procurement_request, field, value)
    return summary


def _summaries_update(requests):
    """sla_summary_update for a batch of locked requests: one read, and one write for those that changed."""
    from requests_app.models import ProcurementRequest

    rows = {pk: [] for pk in requests}
    running = SlaClock.objects.current().running().filter(procurement_request_id__in=rows)
    for pk, *row in running.values_list(
        "procurement_request_id", "due_at", "paused_since", "last_threshold", "breached"
    ):
        rows[pk].append(row)
    changed = []
    for pk, procurement_request in requests.items():
        summary = _summary(rows[pk])
        if any(getattr(procurement_request, field) != value for field, value in summary.items()):
            for field, value in summary.items():
                setattr(procurement_request, field, value)
            changed.append(procurement_request)
    ProcurementRequest.objects.bulk_update(changed, SUMMARY_FIELDS)


def sla_changes_record(*, procurement_request, changes):
    """After an event changed clocks: one timeline line naming the changes, the request's SLA summary,
    and the escalation of any threshold the change made a clock reach (in the event's transaction)."""
    changes = [change for change in changes if change]
    if not changes:
        return None
    sla_summary_update(procurement_request=procurement_request)
    line = sla_timeline_record(procurement_request=procurement_request, changes=changes)
    crossings = [change.crossing for change in changes if change.crossing]
    if crossings:
        escalation.escalations_record(
            crossings=[c.to_escalation() for c in crossings], now=crossings[0].clock.computed_at
        )
    return line


@dataclass(frozen=True)
class ThresholdCrossing:
    """A clock reached one or more thresholds since its state was last stored (for escalation).

    `from_percent`/`to_percent` are the highest percent thresholds before and after; `thresholds`
    names every threshold reached (percent, or minus minutes before due), in the order reached.
    """

    clock_id: int
    procurement_request_id: int
    metric: str
    cycle: int
    from_percent: int
    to_percent: int
    thresholds: tuple[int, ...] = field(default=(), compare=False)
    clock: SlaClock | None = field(default=None, compare=False, repr=False)
    cause: str = field(default="", compare=False)

    def to_escalation(self):
        clock = self.clock
        return escalation.Crossing(
            procurement_request_id=self.procurement_request_id,
            subject=self.metric,
            cycle=self.cycle,
            thresholds=self.thresholds,
            policy=clock.goal.policy if clock.goal else None,
            calendar=clock.calendar.to_clock(),
            clock=clock,
            cause=self.cause,
        )


# A fixed key for PostgreSQL's advisory lock: one sweep at a time, whatever runs it.
SWEEP_LOCK_KEY = 0x5D_5EE7


def _sweep_lock_taken():
    """Whether this transaction got the sweep lock (released at commit). SQLite has no such lock:
    there, the row locks' absence is made up for by its single writer."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SWEEP_LOCK_KEY])
        return cursor.fetchone()[0]


def sla_clocks_sweep(*, now=None, batch_size=500) -> list[ThresholdCrossing]:
    """Bring stale clocks up to date — a threshold reached, a goal run out — in bounded batches.

    Run every minute by Celery beat. Its cost follows the number of clocks that are due, not the
    number of open requests (two partial indexes answer the question). Requests are locked before
    their clocks, in the same order as every lifecycle event, and a request an event holds right
    now is skipped: that event refreshes its clocks itself. A second run at the same moment finds
    nothing to do.
    """
    from requests_app.models import ProcurementRequest

    now = now or timezone.now()
    crossings = []
    while True:
        with transaction.atomic():
            due = SlaClock.objects.needing_refresh(now).order_by().values_list("procurement_request_id", flat=True)
            candidates = list(dict.fromkeys(due[: batch_size * 2]))[:batch_size]
            # Taken only when there is work, so that an idle minute stays one query. Two beats started
            # by mistake: the second finds the lock held and leaves the minute to the first.
            if not candidates or not _sweep_lock_taken():
                if candidates:
                    logger.info("Another SLA sweep holds the lock; this one stands down.")
                return crossings
            locked = {
                request.pk: request
                for request in ProcurementRequest.objects.select_for_update(skip_locked=True)
                .filter(pk__in=candidates)
                .only("pk", "sla_due_at", "sla_threshold", "sla_breached")
            }
            # Read after the locks: a crossing another sweep or an event just stored is not seen twice.
            clocks = (
                SlaClock.objects.needing_refresh(now)
                .filter(procurement_request_id__in=locked)
                .select_related("goal__policy", "calendar")
                .prefetch_related("pauses", "calendar__versions", "goal__policy__escalation_steps")
            )
            batch = []
            for clock in clocks:
                crossing = _refresh_crossing(clock, now=now)
                clock.save(update_fields=REFRESHED_FIELDS)
                if crossing is not None:
                    batch.append(crossing)
            _summaries_update(locked)
            escalation.escalations_record(crossings=[crossing.to_escalation() for crossing in batch], now=now)
            crossings += batch
        if not locked or len(candidates) < batch_size:
            return crossings


# --- Reminders: requests waiting for a claim or an approval -----------------------------------------


def _still_waiting(reminder, procurement_request):
    if reminder.subject == EscalationSubject.APPROVAL:
        return procurement_request.status == Status.PENDING_APPROVAL
    return procurement_request.status in CLAIMABLE_STATUSES and procurement_request.assignee_id is None


def _reminder_advance(reminder, *, now, calendar):
    """Steps reached since the last one fired (a Crossing, or None), and the next step's instant stored."""
    steps = sorted({step.value for step in escalation.ladder_for(reminder.policy) if step.applies_to(reminder.subject)})
    elapsed = calendar.business_seconds(reminder.started_at, max(now, reminder.started_at))
    reached = tuple(minutes for minutes in steps if reminder.last_step < minutes and minutes * 60 <= elapsed)
    if reached:
        reminder.last_step = reached[-1]
    upcoming = [minutes for minutes in steps if minutes * 60 > elapsed]
    reminder.next_step = upcoming[0] if upcoming else None
    reminder.next_at = calendar.due_at(reminder.started_at, upcoming[0] * 60) if upcoming else None
    if not reached:
        return None
    return escalation.Crossing(
        procurement_request_id=reminder.procurement_request_id,
        subject=reminder.subject,
        cycle=1,
        thresholds=reached,
        policy=reminder.policy,
        calendar=calendar,
    )


@transaction.atomic
def sla_reminder_start(*, procurement_request, subject, at):
    """Start counting a wait (unclaimed, or awaiting approval) in the request's business calendar.

    Called by the live lifecycle (submission, approval), never by the replay. A step at 0 minutes
    (the approver is asked) fires at once, in this transaction.
    """
    goal = _goal_for(procurement_request)
    reminder, created = Reminder.objects.get_or_create(
        procurement_request=procurement_request,
        subject=subject,
        defaults={"policy": goal.policy, "calendar": goal.calendar, "started_at": at},
    )
    if not created:
        return reminder
    crossing = _reminder_advance(reminder, now=at, calendar=goal.calendar.to_clock())
    reminder.save()
    if crossing is not None:
        escalation.escalations_record(crossings=[crossing], now=at)
    return reminder


def sla_reminders_sweep(*, now=None, batch_size=500) -> int:
    """Fire the reminders whose next step has come, in bounded batches; returns how many crossings fired.

    Like the clock sweep: requests locked first (skipping those an event holds), the advisory lock
    when there is work, and a reminder whose wait is over is stopped instead of fired.
    """
    from requests_app.models import ProcurementRequest

    now = now or timezone.now()
    fired = 0
    while True:
        with transaction.atomic():
            due = Reminder.objects.due(now).order_by("next_at").values_list("procurement_request_id", flat=True)
            candidates = list(dict.fromkeys(due[:batch_size]))
            if not candidates or not _sweep_lock_taken():
                return fired
            locked = ProcurementRequest.objects.select_for_update(skip_locked=True).only("pk", "status", "assignee_id")
            locked = {request.pk: request for request in locked.filter(pk__in=candidates)}
            reminders = (
                Reminder.objects.due(now)
                .filter(procurement_request_id__in=locked)
                .select_related("policy", "calendar")
                .prefetch_related("calendar__versions", "policy__escalation_steps")
            )
            crossings = []
            for reminder in reminders:
                if not _still_waiting(reminder, locked[reminder.procurement_request_id]):
                    reminder.stopped_at, reminder.next_step, reminder.next_at = now, None, None
                else:
                    crossing = _reminder_advance(reminder, now=now, calendar=reminder.calendar.to_clock())
                    if crossing is not None:
                        crossings.append(crossing)
                reminder.save(update_fields=["last_step", "next_step", "next_at", "stopped_at"])
            escalation.escalations_record(crossings=crossings, now=now)
            fired += len(crossings)
        if not locked or len(candidates) < batch_size:
            return fired


def sla_timeline_record(*, procurement_request, changes=(), note="", at=None):
    """One timeline line, after the event's own, naming every clock change that event caused."""
    from requests_app.models import EventKind, RequestEvent

    note = note or "; ".join(change.describe() for change in changes if change) + "."
    if note == ".":
        return None
    fields = {"created_at": at} if at is not None else {}
    return RequestEvent.objects.create(
        procurement_request=procurement_request, kind=EventKind.SLA, actor=None, note=note, **fields
    )


# --- Replay -------------------------------------------------------------------------------------

_CLOCK_FIELDS = (
    "metric",
    "cycle",
    "is_current",
    "goal_id",
    "goal_seconds",
    "calendar_id",
    "started_at",
    "stopped_at",
    "paused_since",
    "elapsed_business",
    "computed_at",
    "due_at",
    "next_threshold",
    "next_threshold_at",
    "breached",
    "ever_breached",
    "breached_at",
    "met",
)


def clock_state(procurement_request):
    """Every clock cycle of the request with its pauses, as comparable tuples (ids left out)."""
    clocks = SlaClock.objects.filter(procurement_request=procurement_request).prefetch_related("pauses")
    return sorted(
        (
            tuple(getattr(clock, field) for field in _CLOCK_FIELDS),
            tuple(
                sorted(
                    (pause.started_at, pause.ended_at or pause.started_at, pause.ended_at is None, pause.reason)
                    for pause in clock.pauses.all()
                )
            ),
        )
        for clock in clocks
    )


def _matching_at_start(procurement_request, changes):
    """(category_id, priority) before the first priority or category change: undo them, newest first."""
    matching = {"category": procurement_request.category_id, "priority": procurement_request.priority}
    for event in reversed(changes):
        for key, (old, _new) in event.data.items():
            matching[key] = old
    return matching


def _replay(procurement_request, *, record_timeline):
    """Run the request's recorded history through the same clock rules as when it happened.

    Goals are matched with the priority and category in force at each event, not today's.
    """
    from requests_app import permissions
    from requests_app.models import EventKind

    events = list(
        procurement_request.events.exclude(kind=EventKind.SLA).select_related("actor").order_by("created_at", "id")
    )
    in_force = _matching_at_start(procurement_request, [e for e in events if e.kind == EventKind.REPRIORITISED])
    for event in events:
        at = event.created_at
        matching = (in_force["category"], in_force["priority"])
        changes = []
        if event.kind == EventKind.CREATED:
            if not procurement_request.requires_approval:
                changes += sla_clocks_start(
                    procurement_request=procurement_request, at=procurement_request.created_at, matching=matching
                )
        elif event.kind == EventKind.REPRIORITISED:
            for key, (_old, new) in event.data.items():
                in_force[key] = new
            changes += sla_clocks_rematch(
                procurement_request=procurement_request, at=at, matching=(in_force["category"], in_force["priority"])
            )
        elif event.from_status and event.to_status:
            changes += sla_clocks_on_status_change(
                procurement_request=procurement_request,
                from_status=event.from_status,
                to_status=event.to_status,
                at=at,
                matching=matching,
            )
            if event.to_status == Status.WAITING_FOR_REQUESTER:
                changes += sla_clocks_on_public_reply(procurement_request=procurement_request, at=at)
        elif event.kind == EventKind.COMMENTED and event.actor and permissions.is_procurement_staff(event.actor):
            changes += sla_clocks_on_public_reply(procurement_request=procurement_request, at=at)
        if record_timeline:
            sla_timeline_record(procurement_request=procurement_request, changes=changes, at=at)


@transaction.atomic
def sla_clocks_rebuild(*, procurement_request, actor=None, rewrite_timeline=False) -> bool:
    """Rebuild the request's clocks from its event history; True if anything differed.

    An explicit, audited command (`manage.py sla_recompute`), never a side effect: on unchanged data
    it rolls itself back and changes nothing; otherwise it keeps the rebuilt clocks and writes one
    timeline line saying who recomputed them. `rewrite_timeline` (demo data only) also replaces
    the clock lines of the timeline with ones at the instants of the replayed events.
    """
    from requests_app.models import EventKind, ProcurementRequest

    # Re-read: the history, not a caller's in-memory copy, is the source of truth here.
    procurement_request = ProcurementRequest.objects.select_for_update().get(pk=procurement_request.pk)
    before = clock_state(procurement_request)
    # The sweep measures running clocks after the last event: the replay is measured as of the same moments.
    swept_at = {
        (metric, cycle): computed_at
        for metric, cycle, computed_at in SlaClock.objects.running()
        .filter(procurement_request=procurement_request)
        .values_list("metric", "cycle", "computed_at")
    }
    with transaction.atomic():
        SlaClock.objects.filter(procurement_request=procurement_request).delete()
        if rewrite_timeline:
            procurement_request.events.filter(kind=EventKind.SLA).delete()
        _replay(procurement_request, record_timeline=rewrite_timeline)
        for clock in SlaClock.objects.running().filter(procurement_request=procurement_request).with_relations():
            measured_at = swept_at.get((clock.metric, clock.cycle))
            if measured_at is not None and measured_at > clock.computed_at:
                _save(clock, measured_at)
        changed = clock_state(procurement_request) != before
        if not changed:
            transaction.set_rollback(True)  # identical: keep the original rows, ids and all
    sla_summary_update(procurement_request=procurement_request)  # writes only if it differs
    if changed and not rewrite_timeline:
        who = (actor.get_full_name() or actor.username) if actor else "the service desk"
        sla_timeline_record(
            procurement_request=procurement_request, note=f"SLA clocks recomputed from the history by {who}."
        )
    return changed
