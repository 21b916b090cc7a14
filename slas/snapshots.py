"""Snapshots of the SLA dashboards' period figures for their preset views.

Exact medians and 90th percentiles need every completed cycle of the period sorted, once per grouping:
at a million requests a 90-day period holds about 160,000 cycles and the manager's dashboard takes
seconds to compute (bench/README.md, "The SLA dashboard"). So the views most people open — the
manager's dashboard unfiltered for the last 7, 30 or 90 days, each department's scorecard for the same
periods — show period figures computed by a beat task every SLA_DASHBOARD_SNAPSHOT_SECONDS, with the
time they were computed on the page. The figures are the same functions' output (dashboard.period_figures,
dashboard.scorecard_figures), so a snapshot is exactly what a live view would have shown at its time;
"now" figures (open, at risk, breached now, the age of open work, early warning, the most urgent
requests) are always read live. Any other scope, a viewer in another time zone, or a snapshot older
than twice the interval (beat stopped) is computed live as before.
"""

import hashlib
import pickle
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import dashboard
from .models import DashboardSnapshot

PRESET_DAYS = (7, 30, 90)  # DashboardFilterForm's "last N days" periods
# The figures are pickled dataclasses of slas/dashboard.py: a snapshot written by other code (before a deploy)
# is never read, since its key names the code that wrote it. The next refresh replaces it.
CODE_VERSION = hashlib.sha1(Path(dashboard.__file__).read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Snapshot:
    figures: object  # dashboard.PeriodFigures or dashboard.ScorecardFigures
    computed_at: datetime


def snapshot_key(kind, scope):
    """The row a view's snapshot is stored under: the kind, the code's version, the time zone the period's
    days are in, and the scope (period and filters) exactly."""
    period = scope.period
    filters = (scope.team_id, scope.department_id, scope.category_id, scope.priority)
    zone = timezone.get_current_timezone_name()
    return f"{kind}|{CODE_VERSION}|{zone}|{period.first_day}|{period.last_day}|{period.label}|{filters}"


def _is_preset(scope, *, department_id=None):
    """A period the beat task keeps (the last 7, 30 or 90 days up to today, in the site's time zone) and no
    filter but the scorecard's own department."""
    today = timezone.localdate()
    return (
        settings.SLA_DASHBOARD_SNAPSHOT_SECONDS > 0
        and timezone.get_current_timezone_name() == settings.TIME_ZONE
        and any(scope.period == dashboard.Period.last_days(days, today=today) for days in PRESET_DAYS)
        and (scope.team_id, scope.category_id, scope.priority) == (None, None, None)
        and scope.department_id == department_id
    )


def _fresh(key, *, now=None):
    """The snapshot stored under `key` if it is recent enough to show, else None (one query)."""
    now = now or timezone.now()
    oldest = now - timedelta(seconds=2 * settings.SLA_DASHBOARD_SNAPSHOT_SECONDS)
    row = DashboardSnapshot.objects.filter(key=key, computed_at__gte=oldest).values("figures", "computed_at").first()
    if row is None:
        return None
    return Snapshot(pickle.loads(bytes(row["figures"])), row["computed_at"])


def manager_snapshot(scope, *, now=None):
    """The snapshot of the manager's dashboard's period figures for this scope, or None: not a preset view
    (no query then), none stored yet, or too old."""
    if not _is_preset(scope):
        return None
    return _fresh(snapshot_key("manager", scope), now=now)


def fairness_snapshot(scope, *, now=None):
    """For a preset period narrowed to one department only: the unfiltered view's snapshot, whose fairness
    is this view's (fairness compares every department whatever the department filter). Else None."""
    if scope.department_id is None:
        return None
    return manager_snapshot(replace(scope, department_id=None), now=now)


def scorecard_snapshot(department, period, *, now=None):
    """The snapshot of a department's scorecard figures for this period, or None (as manager_snapshot)."""
    scope = dashboard.Scope(period, department_id=department.pk)
    if not _is_preset(scope, department_id=department.pk):
        return None
    return _fresh(snapshot_key("scorecard", scope), now=now)


def _store(key, figures, computed_at):
    DashboardSnapshot.objects.update_or_create(
        key=key, defaults={"figures": pickle.dumps(figures), "computed_at": computed_at}
    )


def dashboard_snapshots_refresh(*, today=None):
    """Recompute every preset view's period figures and replace their snapshots; drop snapshots of days
    gone by. Idempotent: a second run writes the same figures again. Returns the number of snapshots
    written. Runs in the site's time zone (the beat worker's), the one preset views are served in."""
    from stakeholders.models import Department

    today = today or timezone.localdate()
    periods = [dashboard.Period.last_days(days, today=today) for days in PRESET_DAYS]
    keys = []
    for period in periods:
        scope = dashboard.Scope(period)
        keys.append(snapshot_key("manager", scope))
        with dashboard.one_reading():
            computed_at = timezone.now()  # taken before reading: the figures are at least this fresh
            _store(keys[-1], dashboard.period_figures(scope, today=today), computed_at)
    for department in Department.objects.filter(is_procurement=False).order_by("pk"):
        with dashboard.one_reading():
            computed_at = timezone.now()
            quarters = dashboard.quarterly_attainment(dashboard.Scope(periods[0], department_id=department.pk))
            for period in periods:
                keys.append(snapshot_key("scorecard", dashboard.Scope(period, department_id=department.pk)))
                _store(keys[-1], dashboard.scorecard_figures(department, period, quarters=quarters), computed_at)
    DashboardSnapshot.objects.exclude(key__in=keys).delete()
    return len(keys)
