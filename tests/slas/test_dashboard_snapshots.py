"""Snapshots of the SLA dashboards' period figures (slas/snapshots.py): a snapshot holds exactly what a
live computation gives, the page served from one shows the same figures as the live page (plus its
time), "now" figures stay live, and anything but a fresh preset view is computed live."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.seed import seed_bench
from requests_app.models import ProcurementRequest
from slas import dashboard, snapshots
from slas.dashboard import Period, Scope
from slas.demo import sla_defaults_ensure
from slas.models import DashboardSnapshot, Metric, SlaClock
from slas.tasks import refresh_dashboard_snapshots
from stakeholders.middleware import session_time_zone_set
from stakeholders.models import Department, Profile
from tests.slas.factories import BusinessCalendarFactory, request_without_clocks
from tests.slas.test_dashboard import completed

pytestmark = pytest.mark.django_db
# A snapshot-served dashboard still reads the early warning and backlog (one pass), in dashboard.one_reading()
# (its settings: one query on PostgreSQL).
NOW_QUERIES = 6 + (1 if connection.vendor == "postgresql" else 0)
PRESETS = [Period.last_days(days) for days in snapshots.PRESET_DAYS]


def snapshot_count():
    """Each preset period (the last N days and the recent quarters) unfiltered and narrowed by each filter
    value, and each department's scorecard for the last N days."""
    periods = snapshots.preset_periods()
    scorecards = len(PRESETS) * Department.objects.filter(is_procurement=False).count()
    return len(periods) * (1 + len(snapshots.one_filter_scopes(periods[0]))) + scorecards


@pytest.fixture
def seeded():
    """Several weeks of generated requests (bench/seed.py: every department, buyer, priority, category;
    completed, cancelled and rejected ones; clocks met, missed, paused, running), some completed
    requests reopened and completed again (a second resolution cycle, the first no longer current)."""
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        seed_bench(requests=2000, departments=4, buyers=6, seed=11, now=now, log=lambda line: None)
    reopened = SlaClock.objects.filter(
        metric=Metric.RESOLUTION, is_current=True, met__isnull=False, stopped_at__gte=now - timedelta(days=60)
    ).order_by("pk")[:12]
    for first in reopened:
        SlaClock.objects.filter(pk=first.pk).update(is_current=False)
        first.pk, first.cycle, first.is_current = None, 2, True
        first.stopped_at += timedelta(days=2)
        first.elapsed_business += 5 * 3600
        first.met = not first.met
        first.save(force_insert=True)
    return now


@pytest.fixture
def manager():
    """A procurement manager the seed made (its Procurement department is the seed's)."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="bench-manager-1")


def _without_variable_parts(html):
    """The page without what differs between two renders of the same figures: CSRF tokens and the
    snapshot's own label."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', "", html)
    return re.sub(r'\n *<p class="small text-body-secondary mb-0" id="figures-as-of">.*?</p>', "", html, flags=re.S)


def test_a_snapshot_holds_exactly_what_a_fresh_computation_gives(seeded):
    written = snapshots.dashboard_snapshots_refresh()

    departments = list(Department.objects.filter(is_procurement=False))
    assert written == snapshot_count() == DashboardSnapshot.objects.count()
    quarters = snapshots.preset_periods()[len(PRESETS) :]
    assert len(quarters) == snapshots.PRESET_QUARTERS and all(period.label.startswith("Q") for period in quarters)
    for period in snapshots.preset_periods():
        # unfiltered and by each department, team, category and priority (a department's fairness being
        # the unfiltered one's: fairness compares every department)
        for scope in [Scope(period), *snapshots.one_filter_scopes(period)]:
            assert snapshots.manager_snapshot(scope).figures == dashboard.period_figures(scope), scope
    for period in PRESETS:
        for department in departments:
            card = snapshots.scorecard_snapshot(department, period).figures
            assert card == dashboard.scorecard_figures(department, period)
    # the data exercises what the figures count: several departments and buyers, reopened cycles
    ninety = dashboard.period_figures(Scope(PRESETS[-1]))
    assert len(ninety.breakdowns["department"]) >= 4 and len(ninety.breakdowns["buyer"]) >= 6
    assert ninety.attainment.res_count >= 100 and ninety.attainment.res_median is not None
    assert sum(row.reopened for row in ninety.fairness.rows) > 0


def test_the_page_from_a_snapshot_shows_what_the_live_page_shows(seeded, client, manager):
    client.force_login(manager)
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    pages = [
        (reverse("slas:dashboard"), {"period": "90"}),
        (reverse("slas:dashboard"), {"period": "7"}),
        (reverse("stakeholders:scorecard", kwargs={"code": department.code}), {"period": "30"}),
    ]
    live = [client.get(url, query) for url, query in pages]
    snapshots.dashboard_snapshots_refresh()
    served = [client.get(url, query) for url, query in pages]

    for before, after in zip(live, served, strict=True):
        assert before.status_code == after.status_code == 200
        assert b'id="figures-as-of"' not in before.content and b'id="figures-as-of"' in after.content
        assert _without_variable_parts(after.content.decode()) == _without_variable_parts(before.content.decode())
    computed_at = DashboardSnapshot.objects.get(key=snapshots.snapshot_key("manager", Scope(PRESETS[-1]))).computed_at
    assert f"as of {timezone.localtime(computed_at):%H:%M}" in served[0].content.decode()


def test_fairness_evidence_comes_from_the_snapshot_the_dashboard_showed(seeded, client, manager):
    client.force_login(manager)
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    url = reverse("slas:dashboard_fairness_evidence", args=[department.pk])
    live = [client.get(url, {"period": "90"}, headers={"HX-Request": "true"}), client.get(url, {"period": "90"})]
    snapshots.dashboard_snapshots_refresh()
    with CaptureQueriesContext(connection) as captured:
        fragment = client.get(url, {"period": "90"}, headers={"HX-Request": "true"})
    page = client.get(url, {"period": "90"})

    assert fragment.content == live[0].content  # the cells, counts and links: the same
    assert not any("slas_slaclock" in query["sql"] for query in captured.captured_queries)
    assert "recomputed every few minutes" in page.content.decode()
    assert "recomputed every few minutes" not in live[1].content.decode()


def test_a_preset_narrowed_by_one_filter_is_served_from_its_own_snapshot(seeded, client, manager):
    client.force_login(manager)
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    for query in ({"period": "90", "department": department.pk}, {"period": "30", "priority": "high"}):
        DashboardSnapshot.objects.all().delete()
        live = client.get(reverse("slas:dashboard"), query)
        snapshots.dashboard_snapshots_refresh()
        served = client.get(reverse("slas:dashboard"), query)
        before, after = live.context["dashboard"], served.context["dashboard"]
        assert before.as_of is None and after.as_of is not None, query
        assert (after.fairness, after.breakdowns, after.weeks) == (before.fairness, before.breakdowns, before.weeks)
        assert _without_variable_parts(served.content.decode()) == _without_variable_parts(live.content.decode())


def test_two_filters_with_a_department_show_the_one_filter_snapshots_fairness(seeded, client, manager):
    client.force_login(manager)
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    query = {"period": "90", "department": department.pk, "priority": "high"}
    client.get(reverse("slas:dashboard"), query)  # warm: a first request reads what later ones have cached
    with CaptureQueriesContext(connection) as computed:
        live = client.get(reverse("slas:dashboard"), query)
    snapshots.dashboard_snapshots_refresh()
    with CaptureQueriesContext(connection) as captured:
        served = client.get(reverse("slas:dashboard"), query)

    # fairness ignores the department filter: the "high priority" snapshot's is exactly the live one
    before, after = live.context["dashboard"], served.context["dashboard"]
    assert after.fairness == before.fairness and after.breakdowns == before.breakdowns
    assert after.as_of is None and before.fairness_as_of is None
    high = snapshots.snapshot_key("manager", Scope(PRESETS[-1], priority="high"))
    assert after.fairness_as_of == DashboardSnapshot.objects.get(key=high).computed_at
    assert 'id="fairness-as-of"' in served.content.decode() and 'id="fairness-as-of"' not in live.content.decode()
    # fairness's cycles of every department and its filed and raised counts are not read
    # (the live page looked for the snapshot too, and found none)
    assert len(captured) == len(computed) - 3


def test_now_figures_stay_live_and_period_figures_wait_for_the_next_refresh(seeded, client, manager):
    client.force_login(manager)
    snapshots.dashboard_snapshots_refresh()
    before = client.get(reverse("slas:dashboard"), {"period": "30"}).context["dashboard"]

    # a request filed now, already breached
    from django.contrib.auth import get_user_model

    new = request_without_clocks(get_user_model().objects.get(username="bench-staff-1-1"))
    ProcurementRequest.objects.filter(pk=new.pk).update(sla_breached=True)

    after = client.get(reverse("slas:dashboard"), {"period": "30"}).context["dashboard"]
    assert (after.backlog.open, after.backlog.breached) == (before.backlog.open + 1, before.backlog.breached + 1)
    assert after.created == before.created and after.as_of == before.as_of
    snapshots.dashboard_snapshots_refresh()
    refreshed = client.get(reverse("slas:dashboard"), {"period": "30"}).context["dashboard"]
    assert refreshed.created == before.created + 1 and refreshed.as_of > before.as_of


def test_only_a_fresh_preset_view_in_the_sites_time_zone_is_served_from_a_snapshot(seeded, settings):
    snapshots.dashboard_snapshots_refresh()
    department = Department.objects.filter(is_procurement=False).first()
    ninety = PRESETS[-1]
    assert snapshots.manager_snapshot(Scope(ninety)) is not None
    assert snapshots.manager_snapshot(Scope(ninety, department_id=department.pk)) is not None
    assert snapshots.manager_snapshot(Scope(snapshots.preset_periods()[-1], priority="high")) is not None
    with CaptureQueriesContext(connection) as captured:  # two filters, or another period: does not even look
        assert snapshots.manager_snapshot(Scope(ninety, department_id=department.pk, priority="high")) is None
        assert snapshots.manager_snapshot(Scope(Period(ninety.first_day, ninety.last_day, "custom"))) is None
        assert snapshots.manager_snapshot(Scope(Period.last_days(14))) is None
        assert snapshots.scorecard_snapshot(department, Period.quarter(2026, 1)) is None
    assert len(captured) == 0
    # beat stopped: a snapshot older than twice the interval is not shown
    later = timezone.now() + timedelta(seconds=2 * settings.SLA_DASHBOARD_SNAPSHOT_SECONDS + 1)
    assert snapshots.manager_snapshot(Scope(ninety), now=later) is None
    assert snapshots.scorecard_snapshot(department, ninety, now=later) is None
    # a viewer in another time zone has other days: computed live
    with timezone.override("America/New_York" if settings.TIME_ZONE != "America/New_York" else "Asia/Tokyo"):
        assert snapshots.manager_snapshot(Scope(Period.last_days(90))) is None
    # written by other code (before a deploy): not read, whatever its age
    for row in DashboardSnapshot.objects.all():
        DashboardSnapshot.objects.filter(pk=row.pk).update(key=row.key.replace(snapshots.CODE_VERSION, "older-code"))
    assert snapshots.manager_snapshot(Scope(ninety)) is None
    snapshots.dashboard_snapshots_refresh()
    assert not DashboardSnapshot.objects.filter(key__contains="older-code").exists()
    settings.SLA_DASHBOARD_SNAPSHOT_SECONDS = 0
    assert snapshots.manager_snapshot(Scope(ninety)) is None


def test_a_managers_own_time_zone_gets_its_own_snapshots(seeded, client, manager):
    # given a manager working from New York (the site's days are Berlin's)
    zone = "America/New_York"
    Profile.objects.update_or_create(user=manager, defaults={"time_zone": zone})
    assert snapshots.viewer_time_zones() == [zone]
    snapshots.dashboard_snapshots_refresh()
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    with timezone.override(zone):
        # the unfiltered views and the scorecards are kept in New York days, equal to a fresh computation there
        ninety = Period.last_days(90)
        assert snapshots.manager_snapshot(Scope(ninety)).figures == dashboard.period_figures(Scope(ninety))
        card = snapshots.scorecard_snapshot(department, ninety).figures
        assert card == dashboard.scorecard_figures(department, ninety)
        # one filter is kept in the site's zone only
        assert snapshots.manager_snapshot(Scope(ninety, department_id=department.pk)) is None
    # and the manager's page, in their zone, is served from them
    client.force_login(manager)
    session = client.session
    session_time_zone_set(SimpleNamespace(session=session), zone)
    session.save()
    page = client.get(reverse("slas:dashboard"), {"period": "90"})
    assert page.context["dashboard"].as_of is not None
    # a zone nobody uses is not kept
    assert snapshots.viewer_time_zones() == [zone]
    with timezone.override("Asia/Tokyo"):
        assert snapshots.manager_snapshot(Scope(Period.last_days(90))) is None


def test_a_refresh_replaces_its_snapshots_and_drops_those_of_days_gone_by(seeded):
    yesterday = timezone.localdate() - timedelta(days=1)
    snapshots.dashboard_snapshots_refresh(today=yesterday)
    old_keys = set(DashboardSnapshot.objects.values_list("key", flat=True))
    count = snapshots.dashboard_snapshots_refresh()
    assert snapshots.dashboard_snapshots_refresh() == count == DashboardSnapshot.objects.count()
    # yesterday's "last N days" are gone; a quarter is the same period both days, its snapshots replaced
    kept = old_keys & set(DashboardSnapshot.objects.values_list("key", flat=True))
    quarters = {f"|{period.label}|" for period in snapshots.preset_periods()[len(PRESETS) :]}
    assert kept and all(any(label in key for label in quarters) for key in kept)
    assert not any("last " in key for key in kept)


def _served_queries(client, department):
    snapshots.dashboard_snapshots_refresh()
    scope = Scope(PRESETS[-1])
    with CaptureQueriesContext(connection) as captured:
        figures = dashboard.manager_dashboard(scope, snapshot=snapshots.manager_snapshot(scope))
    assert figures.as_of is not None
    with CaptureQueriesContext(connection) as page:
        assert client.get(reverse("slas:dashboard"), {"period": "90"}).status_code == 200
    with CaptureQueriesContext(connection) as card:
        assert client.get(reverse("stakeholders:scorecard", kwargs={"code": department.code})).status_code == 200
    return len(captured), len(page), len(card)


def test_a_snapshot_served_page_costs_the_same_queries_whatever_the_data_size(client):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        seed_bench(requests=60, departments=3, buyers=3, seed=5, now=now, log=lambda line: None)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="bench-manager-1"))
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    small = _served_queries(client, department)
    with time_machine.travel(now, tick=False):
        seed_bench(requests=300, departments=3, buyers=3, seed=6, now=now, log=lambda line: None)
    assert small[0] == NOW_QUERIES + 1  # + the snapshot itself
    assert _served_queries(client, department) == small


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_refreshes_the_snapshots_in_the_worker(celery_worker_process, requester, other_requester):
    # (no seed here: a transactional test's database has lost the migrations' reference data, the
    # default SLA policy included, which filing a request needs)
    sla_defaults_ensure()
    calendar = BusinessCalendarFactory()
    for index, someone in enumerate([requester, other_requester, requester]):
        completed(someone, calendar, hours_taken=index + 2, met=index != 1, days_ago=index + 1)
    result = refresh_dashboard_snapshots.delay()
    assert celery_worker_process.wait_for_log(f"[{result.id}] succeeded", timeout=60)
    scope = Scope(PRESETS[-1])
    served = snapshots.manager_snapshot(scope)
    assert served.figures == dashboard.period_figures(scope) and served.figures.attainment.res_count == 3
    assert DashboardSnapshot.objects.count() == snapshot_count()
