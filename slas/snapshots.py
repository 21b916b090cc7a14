"""Snapshots of the SLA dashboards' period figures for their preset views.

Exact medians and 90th percentiles need every completed cycle of the period sorted, once per grouping:
at a million requests a 90-day period holds about 160,000 cycles and the manager's dashboard takes
seconds to compute (bench/README.md, "The SLA dashboard"). So the views most people open — the
manager's dashboard for the last 7, 30 or 90 days or the current or last quarter, unfiltered or narrowed
by one filter (one department, team, category or priority), and each department's scorecard for the last
7, 30 or 90 days — show period figures computed by a beat task every SLA_DASHBOARD_SNAPSHOT_SECONDS, with
the time they were computed on the page. The figures are the same functions' output (dashboard.period_figures,
dashboard.scorecard_figures), so a snapshot is exactly what a live view would have shown at its time;
"now" figures (open, at risk, breached now, the age of open work, early warning, the most urgent
requests) are always read live. The days of a period are the viewer's: the same snapshots are kept in every
time zone a procurement manager or department head has chosen (the unfiltered views and the scorecards
there; one filter only in the site's). Two filters at once, a custom period, a view not kept in the viewer's
zone, or a snapshot older than twice the interval (beat stopped) is computed live as before.
"""

import hashlib
import pickle
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import dashboard
from .models import DashboardSnapshot

PRESET_DAYS = (7, 30, 90)  # DashboardFilterForm's "last N days" periods
PRESET_QUARTERS = 2  # the current quarter and the one before it (the form offers more, seldom chosen)
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


def preset_periods(*, today=None, quarters=True):
    """The periods the beat task keeps: the last 7, 30 and 90 days up to today and (`quarters`) the
    PRESET_QUARTERS most recent quarters, in the site's time zone."""
    today = today or timezone.localdate()
    periods = [dashboard.Period.last_days(days, today=today) for days in PRESET_DAYS]
    if quarters:
        periods += [
            dashboard.Period.quarter(*quarter) for quarter in dashboard.recent_quarters(PRESET_QUARTERS, today=today)
        ]
    return periods


def one_filter_scopes(period):
    """The period narrowed by each value of one filter: each department, team, category and priority."""
    from requests_app.models import BuyerTeam, Category, Priority
    from stakeholders.models import Department

    return (
        [
            dashboard.Scope(period, department_id=pk)
            for pk in Department.objects.order_by("pk").values_list("pk", flat=True)
        ]
        + [dashboard.Scope(period, team_id=pk) for pk in BuyerTeam.objects.order_by("pk").values_list("pk", flat=True)]
        + [
            dashboard.Scope(period, category_id=pk)
            for pk in Category.objects.order_by("pk").values_list("pk", flat=True)
        ]
        + [dashboard.Scope(period, priority=priority) for priority in Priority.values]
    )


def _filters(scope):
    return [value for value in (scope.team_id, scope.department_id, scope.category_id, scope.priority) if value]


def _is_kept(period, *, quarters=True):
    """Whether the beat task may keep snapshots of this period (in the viewer's time zone: whether it does
    for that zone, the lookup tells)."""
    return settings.SLA_DASHBOARD_SNAPSHOT_SECONDS > 0 and period in preset_periods(quarters=quarters)


def viewer_time_zones():
    """The time zones other than the site's that procurement managers and department heads have chosen
    (their dashboards' and scorecards' days), sorted."""
    from stakeholders.models import Department, Profile

    from .escalation import users_with_permission

    viewers = Q(user__in=users_with_permission("assign_request").values("pk")) | Q(
        user__in=Department.objects.filter(head__isnull=False).values("head_id")
    )
    zones = Profile.objects.filter(viewers, user__is_active=True).exclude(time_zone="")
    return sorted(set(zones.values_list("time_zone", flat=True)) - {settings.TIME_ZONE})


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
    if len(_filters(scope)) > 1 or not _is_kept(scope.period):
        return None  # never kept: no query
    return _fresh(snapshot_key("manager", scope), now=now)


def fairness_snapshot(scope, *, now=None):
    """For a preset period narrowed to one department only: the unfiltered view's snapshot, whose fairness
    is this view's (fairness compares every department whatever the department filter). Else None."""
    if scope.department_id is None:
        return None
    return manager_snapshot(replace(scope, department_id=None), now=now)


def scorecard_snapshot(department, period, *, now=None):
    """The snapshot of a department's scorecard figures for this period, or None (as manager_snapshot)."""
    if not _is_kept(period, quarters=False):
        return None
    return _fresh(snapshot_key("scorecard", dashboard.Scope(period, department_id=department.pk)), now=now)


def _store(key, figures, computed_at):
    DashboardSnapshot.objects.update_or_create(
        key=key, defaults={"figures": pickle.dumps(figures), "computed_at": computed_at}
    )


def dashboard_snapshots_refresh(*, today=None):
    """Recompute every preset view's period figures and replace their snapshots; drop snapshots of days
    gone by. Idempotent: a second run writes the same figures again. Returns the number of snapshots
    written. In the site's time zone (the beat worker's) every kept view; in each other zone dashboard
    viewers chose (viewer_time_zones), the unfiltered views and the scorecards, whose days are theirs."""
    keys = _refresh_zone(today=today, one_filter=True)
    for zone in viewer_time_zones():
        with timezone.override(zone):
            keys += _refresh_zone(today=today, one_filter=False)
    DashboardSnapshot.objects.exclude(key__in=keys).delete()
    return len(keys)


def _refresh_zone(*, today, one_filter):
    """Refresh the kept views in the current time zone; returns their keys."""
    from stakeholders.models import Department

    today = today or timezone.localdate()
    periods = preset_periods(today=today, quarters=False)
    keys = []
    for period in preset_periods(today=today):
        unfiltered = dashboard.Scope(period)
        with dashboard.one_reading():
            whole_at = timezone.now()  # taken before reading: the figures are at least this fresh
            whole = dashboard.period_figures(unfiltered, today=today)
        keys.append(snapshot_key("manager", unfiltered))
        _store(keys[-1], whole, whole_at)
        for scope in one_filter_scopes(period) if one_filter else []:
            # Fairness compares every department whatever the department filter: the unfiltered view's
            # (so such a snapshot is as fresh as that one's).
            shared = whole.fairness if scope.department_id else None
            with dashboard.one_reading():
                computed_at = whole_at if shared else timezone.now()
                figures = dashboard.period_figures(scope, today=today, fairness_figures=shared)
            keys.append(snapshot_key("manager", scope))
            _store(keys[-1], figures, computed_at)
    for department in Department.objects.filter(is_procurement=False).order_by("pk"):
        with dashboard.one_reading():
            computed_at = timezone.now()
            quarters = dashboard.quarterly_attainment(dashboard.Scope(periods[0], department_id=department.pk))
            for period in periods:
                keys.append(snapshot_key("scorecard", dashboard.Scope(period, department_id=department.pk)))
                _store(keys[-1], dashboard.scorecard_figures(department, period, quarters=quarters), computed_at)
    return keys
