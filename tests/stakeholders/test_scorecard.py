"""The department head's SLA scorecard: who may read it, what it shows, its query count, print layout."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from slas import dashboard
from slas.dashboard import Period, local_midnight
from slas.models import Metric, SlaClock
from tests.slas.factories import BusinessCalendarFactory, SlaGoalFactory, SlaPolicyFactory, clock
from tests.slas.test_dashboard import completed, open_request

pytestmark = pytest.mark.django_db


def url(code="SALES"):
    return reverse("stakeholders:scorecard", kwargs={"code": code})


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("requester", 404),
        ("other_requester", 404),
        ("head", 200),
        ("buyer", 200),
        ("manager", 200),
    ],
)
def test_the_scorecard_is_for_the_departments_head_and_procurement(client, request, department, who, expected):
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    assert client.get(url()).status_code == expected


def test_a_head_cannot_read_another_departments_scorecard(client, head, other_department):
    client.force_login(head)
    assert client.get(url("FIN")).status_code == 404
    assert client.get(url("NOPE")).status_code == 404
    assert client.get(url("sales")).status_code == 200  # codes are case-insensitive


def test_the_scorecard_shows_promises_delivery_open_work_and_quarters(client, head, requester, other_requester):
    calendar = BusinessCalendarFactory()
    policy = SlaPolicyFactory(name="Sales fast lane")
    SlaGoalFactory(policy=policy, department=head.membership.department, calendar=calendar, first_response_minutes=60)
    SlaGoalFactory(policy=policy, department=other_requester.membership.department, calendar=calendar)
    completed(requester, calendar, hours_taken=2, met=True)
    completed(requester, calendar, hours_taken=6, met=False)
    completed(other_requester, calendar, hours_taken=1, met=True)  # another department: not here
    open_request(requester, threshold=100, breached=True)
    client.force_login(head)
    response = client.get(url(), {"period": "30"})
    card = response.context["card"]
    assert (card.attainment.res_count, card.attainment.res_met_percent, card.attainment.res_median_hours) == (
        2,
        50.0,
        4.0,
    )
    assert (card.backlog.open, card.backlog.breached, card.filed) == (1, 1, 3)
    applies = [promise.applies_to for promise in card.promises]
    assert "from Sales" in applies and "from Finance" not in applies
    assert [quarter.label[:1] for quarter in card.quarters] == ["Q"] * 4
    assert card.quarters[-1].attainment.res_count == 2
    assert len(card.urgent) == 1
    content = response.content.decode()
    assert "@media print" not in content  # the print rules live in app.css …
    assert "d-print-none" in content  # … and the page marks what not to print


def test_quarterly_attainment_puts_each_cycle_in_its_quarter(requester):
    calendar = BusinessCalendarFactory()
    today = date(2026, 11, 22)
    procurement_request = completed(requester, calendar, hours_taken=2, met=True)
    SlaClock.objects.filter(procurement_request=procurement_request, metric=Metric.RESOLUTION).update(
        started_at=local_midnight(date(2026, 5, 8)), stopped_at=local_midnight(date(2026, 5, 10))
    )
    other = completed(requester, calendar, hours_taken=9, met=False)
    SlaClock.objects.filter(procurement_request=other, metric=Metric.RESOLUTION).update(
        started_at=local_midnight(date(2026, 3, 30)), stopped_at=local_midnight(date(2026, 4, 1))
    )
    quarters = dashboard.quarterly_attainment(dashboard.Scope(Period.last_days(30)), today=today)
    assert [quarter.label for quarter in quarters] == ["Q1 2026", "Q2 2026", "Q3 2026", "Q4 2026"]
    q2 = quarters[1].attainment
    assert (q2.res_count, q2.res_met, q2.res_median_hours) == (2, 1, 5.5)


def _queries(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url(), {"period": "90"})
    assert response.status_code == 200
    return len(captured)


def test_the_scorecard_costs_the_same_queries_whatever_the_data_size(client, head, requester):
    calendar = BusinessCalendarFactory()
    client.force_login(head)
    completed(requester, calendar, hours_taken=1, met=True)
    # An open request with a running clock (its badge reads the calendar's versions: one query more
    # than a page whose requests have no clock at all, whatever their number).
    clock(open_request(requester), calendar=calendar, started_at=timezone.now() - timedelta(hours=1))
    small = _queries(client)
    for index in range(8):
        completed(requester, calendar, hours_taken=index + 1, met=index % 2 == 0)
        open_request(requester, threshold=75, days_old=index)
    clock(open_request(requester), calendar=calendar, started_at=timezone.now() - timedelta(hours=2))
    assert _queries(client) == small
