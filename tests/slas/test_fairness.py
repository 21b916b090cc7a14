"""Fairness across departments: comparable requests (same category and priority), the flag raised and
not raised, small samples, reopen rate and priority raises — from hand-made data with known answers."""

import pytest
from django.urls import reverse

from requests_app.models import EventKind, ProcurementRequest, RequestEvent
from slas import dashboard
from slas.dashboard import Period, Scope
from slas.models import Metric
from tests.factories import CategoryFactory
from tests.slas.factories import BusinessCalendarFactory, clock
from tests.slas.test_dashboard import completed

pytestmark = pytest.mark.django_db
SCOPE = Scope(Period.last_days(30))


@pytest.fixture
def calendar():
    return BusinessCalendarFactory()


def batch(requester, calendar, *, count, met, hours_taken=4, **fields):
    return [
        completed(requester, calendar, hours_taken=hours_taken, met=index < met, **fields) for index in range(count)
    ]


def rows_by_name(result):
    return {row.name: row for row in result.rows}


def test_a_department_served_worse_than_the_others_for_the_same_requests_is_flagged(
    requester, other_requester, calendar
):
    # Sales: 10 normal Goods requests, 5 met; Finance: 10 of the same, 9 met.
    batch(requester, calendar, count=10, met=5)
    batch(other_requester, calendar, count=10, met=9)
    result = rows_by_name(dashboard.fairness(SCOPE, margin=10, min_volume=5))
    sales, finance = result["Sales"], result["Finance"]
    assert (sales.comparable_met_percent, sales.expected_met_percent, sales.met_gap) == (50.0, 90.0, -40.0)
    assert sales.flags == ["met % 40.0 points lower than the others, same mix"]
    assert finance.met_gap == 40.0 and finance.flags  # treated better: flagged too, it is a difference
    # With a wider margin nobody is flagged.
    assert not dashboard.fairness(SCOPE, margin=50, min_volume=5).flagged


def test_a_different_mix_is_not_unfairness(requester, other_requester, calendar):
    # Sales files only urgent Services (hard: 50 % met everywhere); Finance normal Goods (90 % everywhere).
    services = CategoryFactory(name="Services")
    batch(requester, calendar, count=10, met=5, category=services, priority="urgent")
    batch(other_requester, calendar, count=10, met=5, category=services, priority="urgent")
    batch(other_requester, calendar, count=20, met=18)
    result = rows_by_name(dashboard.fairness(SCOPE, margin=10, min_volume=5))
    sales = result["Sales"]
    # Overall Sales meets 50 % against Finance's 77 %, but for the same requests the others meet 50 % too.
    assert (sales.met_percent, sales.expected_met_percent, sales.met_gap) == (50.0, 50.0, 0.0)
    assert not sales.flags
    # Finance's Goods have no counterpart elsewhere: only its Services count as comparable.
    assert result["Finance"].comparable == 10


def test_slower_service_for_the_same_requests_is_flagged_with_its_evidence(requester, other_requester, calendar):
    batch(requester, calendar, count=6, met=6, hours_taken=8)
    batch(other_requester, calendar, count=6, met=6, hours_taken=2)
    result = rows_by_name(dashboard.fairness(SCOPE, margin=10, min_volume=5))
    sales = result["Sales"]
    # The desk's median for Goods · Normal is 5 h (six of 2 h and six of 8 h): Sales takes 8 h, 60 % longer.
    assert sales.time_difference_percent == 60.0
    assert "resolution 60.0 % slower than the desk, same mix" in sales.flags
    (cell,) = sales.cells
    assert (cell.category, cell.priority, cell.count, cell.rest_count, cell.desk_median_hours) == (
        "Goods",
        "Normal",
        6,
        6,
        5.0,
    )


def test_small_samples_are_never_flagged(requester, other_requester, calendar):
    batch(requester, calendar, count=3, met=0)
    batch(other_requester, calendar, count=3, met=3)
    result = dashboard.fairness(SCOPE, margin=10, min_volume=5)
    assert rows_by_name(result)["Sales"].met_gap == -100.0
    assert not result.flagged


def test_reopen_rate_and_priority_raises_with_who_raised_them(requester, other_requester, buyer, calendar):
    reopened, plain = batch(requester, calendar, count=2, met=2)
    # The reopened request's current resolution cycle is its second.
    clock_row = reopened.sla_clocks.get(metric=Metric.RESOLUTION, is_current=True)
    type(clock_row).objects.filter(pk=clock_row.pk).update(cycle=2)
    clock(reopened, calendar=calendar, metric=Metric.RESOLUTION, cycle=1, is_current=False)
    for procurement_request, change in ((reopened, ["normal", "urgent"]), (plain, ["high", "low"])):
        RequestEvent.objects.create(
            procurement_request=procurement_request,
            kind=EventKind.REPRIORITISED,
            actor=buyer,
            data={"priority": change},
        )
    ProcurementRequest.objects.filter(pk=plain.pk).update(priority="low")
    sales = rows_by_name(dashboard.fairness(SCOPE))["Sales"]
    assert (sales.reopened, sales.reopen_percent) == (1, 50.0)
    # Only the raise counts (normal → urgent), not the lowering.
    assert (sales.filed, sales.raised, sales.raised_percent) == (2, 1, 50.0)
    assert sales.raised_by == [(buyer.get_full_name() or buyer.username, 1)]


def test_the_dashboard_compares_every_department_even_when_one_is_chosen(requester, other_requester, calendar):
    batch(requester, calendar, count=6, met=3)
    batch(other_requester, calendar, count=6, met=6)
    everyone = dashboard.manager_dashboard(SCOPE).fairness
    one = dashboard.manager_dashboard(Scope(SCOPE.period, department_id=requester.membership.department_id)).fairness
    assert [(row.name, row.met_gap) for row in one.rows] == [(row.name, row.met_gap) for row in everyone.rows]
    assert rows_by_name(everyone)["Sales"].met_gap == -50.0


def test_the_evidence_comes_on_demand_by_htmx_or_as_a_page_without_script(
    client, manager, requester, other_requester, calendar
):
    batch(requester, calendar, count=6, met=6, hours_taken=8)
    batch(other_requester, calendar, count=6, met=6, hours_taken=2)
    department_id = requester.membership.department_id
    client.force_login(manager)
    page = client.get(reverse("slas:dashboard"), {"period": 30}).content.decode()
    evidence_url = reverse("slas:dashboard_fairness_evidence", args=[department_id])
    # The dashboard holds the summary and the link, not the cells.
    assert f'hx-get="{evidence_url}?period=30"' in page
    assert f'href="{evidence_url}?period=30"' in page
    assert "data-evidence-table" not in page
    # Opened: the fragment alone, the same cells the dashboard computes.
    fragment = client.get(evidence_url, {"period": 30}, headers={"HX-Request": "true"}).content.decode()
    assert fragment.startswith("<table") and "Goods · Normal" in fragment and "<html" not in fragment
    (cell,) = rows_by_name(dashboard.fairness(SCOPE)).get("Sales").cells
    assert f'href="{cell.link.replace("&", "&amp;")}"' in fragment
    # Without script: a page of its own with a way back.
    full = client.get(evidence_url, {"period": 30}).content.decode()
    assert "<html" in full and "Goods · Normal" in full and "Back to the dashboard" in full
    # A department without completed requests in the period, and a requester, get nothing.
    assert client.get(reverse("slas:dashboard_fairness_evidence", args=[999999]), {"period": 30}).status_code == 404
    client.force_login(requester)
    assert client.get(evidence_url, {"period": 30}).status_code == 403
