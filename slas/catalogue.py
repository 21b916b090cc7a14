"""The published SLA catalogue: each promise, its targets in business time, and how it fared.

Benchmarks are computed from completed clock cycles of the last 90 days: the share met, the median
and the 90th percentile of business time actually taken, and how many requests that is.
"""

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Prefetch
from django.utils import timezone

from .models import BusinessCalendar, Metric, SlaClock, SlaGoal, SlaPolicy

BENCHMARK_DAYS = 90
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def business_day_seconds(spec):
    """The length of a usual working day in this calendar (the most common non-zero day)."""
    lengths = []
    for day in WEEKDAYS:
        total = 0
        for start, end in spec.get("week", {}).get(day, []):
            total += _minutes(end) - _minutes(start)
        if total:
            lengths.append(total * 60)
    return statistics.mode(lengths) if lengths else 24 * 3600


def _minutes(hhmm):
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def target_words(seconds, day_seconds):
    """'1 business hour', '5 business days', '90 business minutes'."""
    if day_seconds and seconds >= day_seconds and seconds % day_seconds == 0:
        days = seconds // day_seconds
        return f"{days} business day{'s' if days != 1 else ''}"
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} business hour{'s' if hours != 1 else ''}"
    minutes = seconds // 60
    return f"{minutes} business minutes"


@dataclass
class Benchmark:
    count: int = 0
    met_percent: int | None = None
    median_text: str = "—"
    p90_text: str = "—"


@dataclass
class GoalRow:
    goal: SlaGoal
    applies_to: str
    first_response: str
    resolution: str
    benchmarks: dict = field(default_factory=dict)  # metric -> Benchmark


def _percentile(sorted_values, fraction):
    index = max(0, min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def _benchmarks(since, day_seconds_by_calendar):
    """(goal id, metric) -> Benchmark over completed cycles that stopped since `since`.

    Only each request's last cycle counts (SLA-SEMANTICS, Reopen: reports show the last cycle's
    result): a reopened request is one request, not one per completion.
    """
    rows = (
        SlaClock.objects.filter(stopped_at__gte=since, met__isnull=False, goal__isnull=False, is_current=True)
        .values_list("goal_id", "metric", "elapsed_business", "met", "calendar_id")
        .order_by()
    )
    grouped = {}
    for goal_id, metric, elapsed, met, calendar_id in rows:
        grouped.setdefault((goal_id, metric), []).append((elapsed, met, calendar_id))
    result = {}
    for key, values in grouped.items():
        elapsed = sorted(value[0] for value in values)
        day_seconds = day_seconds_by_calendar.get(values[0][2], 8 * 3600)
        result[key] = Benchmark(
            count=len(values),
            met_percent=round(100 * sum(1 for value in values if value[1]) / len(values)),
            median_text=target_words_approx(statistics.median(elapsed), day_seconds),
            p90_text=target_words_approx(_percentile(elapsed, 0.9), day_seconds),
        )
    return result


def target_words_approx(seconds, day_seconds):
    """A measured duration in business terms, rounded for reading ('2.5 business days', '3 h 10 min')."""
    seconds = int(seconds)
    if seconds >= day_seconds:
        return f"{seconds / day_seconds:.1f} business days"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"


def _applies_to(goal):
    parts = []
    if goal.category_id:
        parts.append(goal.category.name)
    if goal.priority:
        parts.append(f"{goal.get_priority_display()} priority")
    if goal.department_id:
        parts.append(f"from {goal.department.name}")
    return ", ".join(parts) or "Everything else"


def catalogue(*, now=None):
    """Policies in matching order (the default last), each goal with targets and benchmarks."""
    now = now or timezone.now()
    policies = list(policies_in_matching_order())
    calendars = {calendar.pk: calendar for calendar in calendars_in_use(policies)}
    day_seconds = {pk: business_day_seconds(calendar.current_spec) for pk, calendar in calendars.items()}
    benchmarks = _benchmarks(now - timedelta(days=BENCHMARK_DAYS), day_seconds)
    result = []
    for policy in policies:
        rows = []
        for goal in policy.goals.all():
            per_day = day_seconds.get(goal.calendar_id, 8 * 3600)
            rows.append(
                GoalRow(
                    goal=goal,
                    applies_to=_applies_to(goal),
                    first_response=target_words(goal.first_response_minutes * 60, per_day),
                    resolution=target_words(goal.resolution_minutes * 60, per_day),
                    benchmarks={
                        metric: benchmarks.get((goal.pk, metric), Benchmark())
                        for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION)
                    },
                )
            )
        result.append((policy, rows))
    return result, list(calendars.values())


def policies_in_matching_order():
    """The active policies, the default last, each with its goals in order (two queries)."""
    return (
        SlaPolicy.objects.filter(is_active=True)
        .order_by("is_default", "position", "name")
        .prefetch_related(
            Prefetch(
                "goals",
                queryset=SlaGoal.objects.select_related("category", "department", "calendar").order_by("position"),
            )
        )
    )


def calendars_in_use(policies):
    ids = {goal.calendar_id for policy in policies for goal in policy.goals.all()}
    return list(BusinessCalendar.objects.filter(pk__in=ids).prefetch_related("versions").order_by("name"))


def upcoming_holidays(spec, *, today=None, count=8):
    today = today or timezone.localdate()
    dates = sorted(date.fromisoformat(day) for day in spec.get("holidays", []))
    return [day for day in dates if day >= today][:count]


def working_hours_text(spec):
    """'Mon–Fri 08:00–12:00, 13:00–17:00' style lines, grouping days with the same hours."""
    groups = []
    for day in WEEKDAYS:
        hours = ", ".join(f"{start}–{end}" for start, end in spec.get("week", {}).get(day, []))
        if groups and groups[-1][2] == hours:
            groups[-1][1] = day
        else:
            groups.append([day, day, hours])
    lines = []
    for first, last, hours in groups:
        if not hours:
            continue
        days = first.capitalize() if first == last else f"{first.capitalize()}–{last.capitalize()}"
        lines.append(f"{days} {hours}")
    return lines


def category_benchmark(*, category_id, now=None, days=BENCHMARK_DAYS):
    """Share of resolution clocks met for this category over the last quarter, and how many."""
    now = now or timezone.now()
    outcomes = list(
        SlaClock.objects.filter(
            procurement_request__category_id=category_id,
            metric=Metric.RESOLUTION,
            is_current=True,  # the last cycle of a reopened request, as in the catalogue
            stopped_at__gte=now - timedelta(days=days),
            met__isnull=False,
        ).values_list("met", flat=True)
    )
    if not outcomes:
        return Benchmark()
    return Benchmark(count=len(outcomes), met_percent=round(100 * sum(outcomes) / len(outcomes)))
