"""Early warning: requests breaching within 24 business hours unless worked, per team and buyer, and the
backlog-versus-capacity forecast — from hand-made data at a fixed instant in the team's calendar."""

from datetime import UTC, datetime, timedelta

import pytest

from requests_app import services
from requests_app.models import ProcurementRequest
from slas import dashboard
from slas.dashboard import Period, Scope
from slas.models import Metric
from tests.slas.factories import BusinessCalendarFactory, clock, request_without_clocks

pytestmark = pytest.mark.django_db
# Monday 2 March 2026, 09:00 in Berlin (CET): the team's week (Mon–Fri 09:00–17:00) lies wholly ahead.
MONDAY_9 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
# 24 business hours later: three 8-hour days, Wednesday 17:00 Berlin.
WEDNESDAY_17 = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


@pytest.fixture
def team():
    calendar = BusinessCalendarFactory()
    return services.buyer_team_upsert(name="Indirect", calendar=calendar, lead=None, members=[])


def waiting(requester, team, *, due_at, breached=False, assignee=None):
    procurement_request = request_without_clocks(requester)
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(
        team=team, sla_due_at=due_at, sla_breached=breached, assignee=assignee
    )
    return procurement_request


def completed_recently(requester, team, calendar, count):
    for _ in range(count):
        procurement_request = request_without_clocks(requester)
        ProcurementRequest.objects.filter(pk=procurement_request.pk).update(team=team, status="completed")
        clock(
            procurement_request,
            calendar=calendar,
            metric=Metric.RESOLUTION,
            started_at=MONDAY_9 - timedelta(days=6),
            stopped_at=MONDAY_9 - timedelta(days=3),
            met=True,
        )


def forecast_of(result, team):
    return next(row for row in result.teams if row.team_id == team.pk)


def test_requests_due_within_24_business_hours_are_counted_per_team_and_buyer(requester, buyer, team):
    soon = waiting(requester, team, due_at=WEDNESDAY_17 - timedelta(hours=1), assignee=buyer)
    waiting(requester, team, due_at=WEDNESDAY_17)  # exactly at the horizon: still within it
    waiting(requester, team, due_at=WEDNESDAY_17 + timedelta(minutes=1))  # Thursday: not yet
    waiting(requester, team, due_at=MONDAY_9 - timedelta(hours=1), breached=True)  # already breached
    result = dashboard.early_warning(Scope(Period.last_days(30)), now=MONDAY_9)
    row = forecast_of(result, team)
    assert row.horizon == WEDNESDAY_17
    assert (row.open, row.breached, row.due_soon) == (4, 1, 2)
    assert [(buyer_row.buyer_id, buyer_row.due_soon) for buyer_row in result.buyers] == [(buyer.pk, 1)]
    assert soon.pk  # the buyer's one request is the soon one


def test_the_due_soon_link_lists_exactly_those_requests(client, manager, requester, team):
    waiting(requester, team, due_at=WEDNESDAY_17 - timedelta(hours=1))
    waiting(requester, team, due_at=WEDNESDAY_17 + timedelta(hours=1))
    waiting(requester, team, due_at=MONDAY_9, breached=True)
    row = forecast_of(dashboard.early_warning(Scope(Period.last_days(30)), now=MONDAY_9), team)
    client.force_login(manager)
    response = client.get(row.links["due_soon"])
    assert response.status_code == 200
    assert len(response.context["rows"]) == row.due_soon == 1


def test_a_team_that_cannot_finish_what_is_due_this_week_will_miss(requester, team):
    # Eight resolutions in the last four weeks: two a week, and the whole week is still ahead.
    completed_recently(requester, team, team.calendar, 8)
    for day in range(2):
        waiting(requester, team, due_at=MONDAY_9 + timedelta(days=day, hours=3))
    row = forecast_of(dashboard.early_warning(Scope(Period.last_days(30)), now=MONDAY_9), team)
    assert (row.weekly_rate, row.week_left, row.capacity_left, row.due_this_week) == (2.0, 1.0, 2.0, 2)
    assert not row.will_miss
    # One more due on Friday is more than two a week.
    waiting(requester, team, due_at=MONDAY_9 + timedelta(days=4, hours=3))
    row = forecast_of(dashboard.early_warning(Scope(Period.last_days(30)), now=MONDAY_9), team)
    assert row.will_miss and row.weeks_to_clear == 1.5


def test_late_in_the_week_less_capacity_is_left(requester, team):
    completed_recently(requester, team, team.calendar, 8)
    thursday_17 = MONDAY_9 + timedelta(days=3, hours=8)  # 1 of 5 working days left
    row = forecast_of(dashboard.early_warning(Scope(Period.last_days(30)), now=thursday_17), team)
    assert row.week_left == pytest.approx(0.2)
    assert row.capacity_left == 0.4
