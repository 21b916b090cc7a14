"""The procurement managers' SLA dashboard: figures from hand-made data whose answers are known,
access, bad filters, CSV, and a query count that does not grow with the data."""

import csv
import io
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import ProcurementRequest, Status
from slas import dashboard
from slas.dashboard import Period, Scope, percentile_cont
from slas.models import Metric
from stakeholders.roles import Role
from tests.factories import CategoryFactory, DepartmentFactory, person
from tests.slas.factories import BusinessCalendarFactory, clock, request_without_clocks

pytestmark = pytest.mark.django_db
HOUR = 3600
# dashboard.one_reading()'s settings (PostgreSQL only), weekly 2, cycles (breakdowns, fairness) 1, requests 1,
# raises 2, early warning + backlog 7
READING_QUERIES = 1 if connection.vendor == "postgresql" else 0
DASHBOARD_QUERIES = READING_QUERIES + 13


def test_percentile_cont_interpolates_like_postgresql():
    assert percentile_cont([], 0.5) is None
    assert percentile_cont([7], 0.9) == 7
    assert percentile_cont([1, 2, 3, 4], 0.5) == 2.5
    # p90 of 1..10: position 0.9 × 9 = 8.1 → 9 + 0.1 × (10 − 9)
    assert percentile_cont(list(range(1, 11)), 0.9) == pytest.approx(9.1)


@pytest.fixture
def calendar():
    return BusinessCalendarFactory()


def completed(requester, calendar, *, hours_taken, met, first_response_hours=1, fr_met=True, days_ago=2, **fields):
    """A completed request whose two current cycles stopped `days_ago` with the given verdicts."""
    procurement_request = request_without_clocks(requester, **fields)
    stopped = timezone.now() - timedelta(days=days_ago)
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(status=Status.COMPLETED, completed_at=stopped)
    started = stopped - timedelta(days=3)
    clock(
        procurement_request,
        calendar=calendar,
        metric=Metric.RESOLUTION,
        started_at=started,
        stopped_at=stopped,
        elapsed_business=hours_taken * HOUR,
        met=met,
    )
    clock(
        procurement_request,
        calendar=calendar,
        metric=Metric.FIRST_RESPONSE,
        started_at=started,
        stopped_at=started + timedelta(hours=first_response_hours),
        elapsed_business=first_response_hours * HOUR,
        met=fr_met,
    )
    return procurement_request


def open_request(requester, *, threshold=0, breached=False, days_old=0, **fields):
    procurement_request = request_without_clocks(requester, **fields)
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(
        sla_threshold=threshold, sla_breached=breached, created_at=timezone.now() - timedelta(days=days_old, hours=1)
    )
    return procurement_request


def test_attainment_counts_completed_cycles_met_share_median_and_p90(requester, calendar):
    # Given resolution cycles of 1..10 business hours, the first seven met
    for taken in range(1, 11):
        completed(requester, calendar, hours_taken=taken, met=taken <= 7, fr_met=taken % 2 == 0)
    # and one stopped long before the period, which must not count
    completed(requester, calendar, hours_taken=50, met=False, days_ago=60)
    # When
    figures = dashboard.attainment(Scope(Period.last_days(30)))
    # Then
    assert figures.res_count == 10
    assert figures.res_met_percent == 70.0
    assert figures.res_median_hours == 5.5
    assert figures.res_p90_hours == 9.1
    assert figures.fr_count == 10
    assert figures.fr_met_percent == 50.0


def test_only_the_current_cycle_of_a_reopened_request_counts(requester, calendar):
    procurement_request = completed(requester, calendar, hours_taken=3, met=True)
    # The earlier, missed cycle of the same request is history (SLA-SEMANTICS: reports show the last cycle).
    clock(
        procurement_request,
        calendar=calendar,
        metric=Metric.RESOLUTION,
        cycle=2,
        is_current=False,
        started_at=timezone.now() - timedelta(days=5),
        stopped_at=timezone.now() - timedelta(days=4),
        elapsed_business=40 * HOUR,
        met=False,
    )
    figures = dashboard.attainment(Scope(Period.last_days(30)))
    assert (figures.res_count, figures.res_met, figures.res_median) == (1, 1, 3 * HOUR)


def test_backlog_counts_open_at_risk_breached_and_ages(requester):
    open_request(requester, days_old=0)
    open_request(requester, threshold=75, days_old=3)
    open_request(requester, threshold=100, breached=True, days_old=40)
    closed = open_request(requester)
    ProcurementRequest.objects.filter(pk=closed.pk).update(status=Status.CANCELLED)
    backlog = dashboard.backlog(Scope(Period.last_days(30)))
    assert (backlog.open, backlog.at_risk, backlog.breached) == (3, 1, 1)
    assert [count for _label, count, _link in backlog.ages] == [1, 1, 0, 0, 1]


def test_weekly_series_counts_filed_and_completed_per_week(requester, calendar):
    completed(requester, calendar, hours_taken=2, met=True, days_ago=1)
    completed(requester, calendar, hours_taken=20, met=False, days_ago=1)
    period = Period.last_days(7)
    weeks = dashboard.weekly(Scope(period))
    assert sum(week.created for week in weeks) == 2
    assert sum(week.completed for week in weeks) == 2
    week = next(week for week in weeks if week.completed)
    assert week.res_met_percent == 50.0
    assert [week.monday.weekday() for week in weeks] == [0] * len(weeks)


def test_breakdown_by_department_and_filters_narrow_every_figure(requester, other_requester, calendar):
    completed(requester, calendar, hours_taken=2, met=True)
    completed(requester, calendar, hours_taken=4, met=False)
    completed(other_requester, calendar, hours_taken=10, met=True)
    open_request(other_requester, threshold=100, breached=True)
    rows = {row.name: row for row in dashboard.breakdown(Scope(Period.last_days(30)), "department")}
    sales, finance = rows["Sales"], rows["Finance"]
    assert (sales.volume, sales.cycles.res_count, sales.cycles.res_met_percent, sales.cycles.res_median) == (
        2,
        2,
        50.0,
        3 * HOUR,
    )
    assert (finance.open, finance.breached, finance.cycles.res_met_percent) == (1, 1, 100.0)
    # Every number links to the queue list that produced it.
    breached = urlparse(finance.links["breached"])
    assert breached.path == reverse("requests_app:queue", kwargs={"view": "breached"})
    assert parse_qs(breached.query) == {"department": [str(other_requester.membership.department_id)]}
    # A department filter narrows everything to it.
    narrowed = Scope(Period.last_days(30), department_id=requester.membership.department_id)
    assert dashboard.attainment(narrowed).res_count == 2
    assert dashboard.backlog(narrowed).open == 0


def test_a_drill_down_link_lists_exactly_the_counted_requests(client, manager, requester, other_requester, calendar):
    completed(requester, calendar, hours_taken=2, met=True)
    completed(other_requester, calendar, hours_taken=10, met=True)
    open_request(other_requester, threshold=100, breached=True)
    open_request(requester)
    scope = Scope(Period.last_days(30))
    client.force_login(manager)
    rows = {row.name: row for row in dashboard.breakdown(scope, "department")}
    for row in rows.values():
        for figure, count in (
            ("open", row.open),
            ("breached", row.breached),
            ("completed", row.cycles.res_count),
            ("responded", row.cycles.fr_count),
        ):
            response = client.get(row.links[figure])
            assert response.status_code == 200
            listed = [queue_row.procurement_request for queue_row in response.context["rows"]]
            assert len(listed) == count, (row.name, figure)


def test_first_responses_link_lists_requests_answered_in_the_period(client, manager, requester, calendar):
    # Answered within the period, though completed long after the first reply; and one answered long ago.
    completed(requester, calendar, hours_taken=2, met=True, days_ago=2)
    completed(requester, calendar, hours_taken=2, met=True, days_ago=60)
    scope = Scope(Period.last_days(30))
    assert dashboard.attainment(scope).fr_count == 1
    client.force_login(manager)
    response = client.get(dashboard.responded_link(scope))
    assert len(response.context["rows"]) == 1


def test_completed_requests_link_filters_the_all_view_by_completion_date(client, manager, requester, calendar):
    completed(requester, calendar, hours_taken=2, met=True, days_ago=2)
    completed(requester, calendar, hours_taken=2, met=True, days_ago=60)
    client.force_login(manager)
    response = client.get(dashboard.completed_link(Scope(Period.last_days(30))))
    assert len(response.context["rows"]) == 1


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", 302), ("requester", 403), ("buyer", 403), ("manager", 200)],
)
def test_only_procurement_managers_see_the_dashboard(client, request, who, expected):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("slas:dashboard")).status_code == expected
    assert client.get(reverse("slas:dashboard_export", kwargs={"dimension": "team"})).status_code == expected


def test_a_department_head_is_sent_to_their_scorecard(client, head):
    client.force_login(head)
    response = client.get(reverse("slas:dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("stakeholders:scorecard", kwargs={"code": "SALES"})
    assert client.get(reverse("slas:dashboard_export", kwargs={"dimension": "team"})).status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period=banana", "period"),
        ("department=abc", "department"),
        ("department=999999", "department"),
        ("priority=extreme", "priority"),
        ("period=quarter", "quarter"),
        ("period=quarter&quarter=1999-Q9", "quarter"),
        ("period=custom&start=2026-02-01", "end"),
        ("period=custom&start=2026-03-01&end=2026-02-01", "end"),
        ("period=custom&start=2020-01-01&end=2026-02-01", "end"),
        ("period=custom&start=not-a-date&end=2026-02-01", "start"),
    ],
)
def test_a_bad_filter_is_shown_beside_its_field_never_a_500(client, manager, query, field):
    client.force_login(manager)
    response = client.get(f"{reverse('slas:dashboard')}?{query}")
    assert response.status_code == 200
    assert field in response.context["form"].errors
    # The rest of the page still shows figures, for the default period.
    assert response.context["dashboard"].scope.period.days in (30, 31) or field != "period"


def test_a_quarter_and_a_custom_period_are_read_from_the_url(client, manager):
    client.force_login(manager)
    response = client.get(reverse("slas:dashboard"), {"period": "custom", "start": "2026-01-05", "end": "2026-01-18"})
    period = response.context["dashboard"].scope.period
    assert (period.first_day.isoformat(), period.last_day.isoformat(), len(response.context["dashboard"].weeks)) == (
        "2026-01-05",
        "2026-01-18",
        2,
    )
    year, number = dashboard.recent_quarters(2)[1]
    response = client.get(reverse("slas:dashboard"), {"period": "quarter", "quarter": f"{year}-Q{number}"})
    period = response.context["dashboard"].scope.period
    assert period.first_day.day == 1 and period.first_day.month == 3 * number - 2
    assert (period.last_day + timedelta(days=1)).day == 1


def test_quarter_bounds():
    assert Period.quarter(2026, 4).first_day.isoformat() == "2026-10-01"
    assert Period.quarter(2026, 4).last_day.isoformat() == "2026-12-31"
    assert Period.quarter(2026, 1).last_day.isoformat() == "2026-03-31"


def test_each_breakdown_exports_as_csv(client, manager, requester, calendar):
    completed(requester, calendar, hours_taken=2, met=True, title="=HYPERLINK(1)")
    client.force_login(manager)
    response = client.get(reverse("slas:dashboard_export", kwargs={"dimension": "department"}), {"period": "90"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["Department", "Filed in period", "First responses completed"]
    assert lines[1][0] == "Sales" and lines[1][4] == "1" and lines[1][5] == "100.0"
    assert client.get(reverse("slas:dashboard_export", kwargs={"dimension": "nope"})).status_code == 404


def _build(requester, calendar, departments, count):
    for index in range(count):
        department = departments[index % len(departments)]
        done = completed(requester, calendar, hours_taken=index + 1, met=index % 3 != 0)
        waiting = open_request(requester, threshold=75 if index % 2 else 0, breached=index % 4 == 0, days_old=index)
        ProcurementRequest.objects.filter(pk__in=[done.pk, waiting.pk]).update(department=department)


def _dashboard_queries(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("slas:dashboard"), {"period": "90"})
    assert response.status_code == 200
    return len(captured)


def test_the_dashboard_costs_the_same_queries_whatever_the_data_size(client, manager, requester, calendar):
    departments = [requester.membership.department, DepartmentFactory(name="Legal", code="LEGAL")]
    CategoryFactory(name="Services")
    client.force_login(manager)
    _build(requester, calendar, departments, 2)
    small = _dashboard_queries(client)
    _build(requester, calendar, departments, 12)
    person(Role.BUYER, requester.membership.department)
    assert _dashboard_queries(client) == small
    with CaptureQueriesContext(connection) as captured:
        dashboard.manager_dashboard(Scope(Period.last_days(90)))
    assert len(captured) == DASHBOARD_QUERIES
