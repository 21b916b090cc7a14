"""The request's dimensions copied onto its SLA clocks for the dashboards (SlaClock.department, team,
category, priority, assignee).

A clock records its request's *current* values, not those of the moment it stopped: the dashboard's
figures link to queue lists that filter the requests by their current buyer, team, category and
priority, and a number must agree with the list behind it. So every service that starts or stops a
clock, or changes one of these fields, leaves every clock of the request equal to the request.
"""

import pytest

from requests_app import services
from requests_app.models import BuyerTeam, Category, ProcurementRequest, TeamMembership
from slas import dashboard
from slas.dashboard import Period, Scope
from slas.models import Metric, SlaClock
from slas.services import CLOCK_DIMENSIONS
from tests.factories import CategoryFactory, file_request

pytestmark = pytest.mark.django_db


def assert_clocks_follow(procurement_request):
    """Every clock of the request, running or stopped, current or history, carries the request's values."""
    stored = ProcurementRequest.objects.filter(pk=procurement_request.pk).values(*CLOCK_DIMENSIONS).get()
    clocks = list(SlaClock.objects.filter(procurement_request=procurement_request).values(*CLOCK_DIMENSIONS))
    assert clocks, "the request has clocks"
    assert all(clock == stored for clock in clocks), (stored, clocks)
    return stored


def completed_cycles(procurement_request):
    return SlaClock.objects.filter(procurement_request=procurement_request, is_current=True, met__isnull=False)


@pytest.fixture
def working(requester, buyer):
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    return services.procurement_request_start(procurement_request=procurement_request, actor=buyer)


def test_clocks_started_at_submission_carry_the_request_as_routed(requester):
    procurement_request = file_request(requester)
    stored = assert_clocks_follow(procurement_request)
    assert stored["department_id"] == procurement_request.department_id is not None
    assert stored["priority"] == "normal"


def test_every_path_that_stops_a_clock_leaves_the_request_values_on_it(working, requester, buyer):
    # first response stops on the buyer's public reply
    services.comment_add(procurement_request=working, author=buyer, body="On it.", is_internal=False)
    assert completed_cycles(working).filter(metric=Metric.FIRST_RESPONSE).exists()
    assert_clocks_follow(working)
    # resolution stops on completion
    working = services.procurement_request_complete(procurement_request=working, actor=buyer)
    assert completed_cycles(working).filter(metric=Metric.RESOLUTION).exists()
    stored = assert_clocks_follow(working)
    assert stored["assignee_id"] == buyer.pk
    # reopened and completed again: the new first-response cycle and the continued resolution
    working = services.procurement_request_reopen(procurement_request=working, actor=requester, note="One missing.")
    services.comment_add(procurement_request=working, author=buyer, body="Sorry.", is_internal=False)
    working = services.procurement_request_complete(procurement_request=working, actor=buyer)
    assert SlaClock.objects.filter(procurement_request=working, metric=Metric.FIRST_RESPONSE).count() == 2
    assert_clocks_follow(working)


def test_asking_the_requester_and_cancelling_stop_clocks_with_the_request_values(working, requester, buyer):
    services.procurement_request_wait_for_requester(procurement_request=working, actor=buyer, note="Which layout?")
    assert_clocks_follow(working)
    working = ProcurementRequest.objects.get(pk=working.pk)
    services.procurement_request_cancel(procurement_request=working, actor=requester, note="Not needed any more.")
    assert not SlaClock.objects.filter(procurement_request=working, stopped_at__isnull=True).exists()
    assert_clocks_follow(working)


def test_reassignment_after_a_stop_moves_the_completed_cycle_to_the_new_buyer(working, buyer, other_buyer, manager):
    # Given a first response answered by bob, then the request handed to betty
    services.comment_add(procurement_request=working, author=buyer, body="On it.", is_internal=False)
    services.procurement_request_assign(
        procurement_request=working, actor=manager, assignee=other_buyer, note="Bob is on leave."
    )
    # Then the completed cycle counts for betty, the request's buyer now, as the queue lists it
    stored = assert_clocks_follow(working)
    assert stored["assignee_id"] == other_buyer.pk
    rows = {row.key: row for row in dashboard.breakdown(Scope(Period.last_days(7)), "buyer")}
    assert rows[other_buyer.pk].cycles.fr_count == 1
    assert buyer.pk not in rows or rows[buyer.pk].cycles.fr_count == 0


def test_reprioritising_and_recategorising_move_every_clock(working, buyer):
    services.comment_add(procurement_request=working, author=buyer, body="On it.", is_internal=False)
    category = CategoryFactory(name="Services")
    services.procurement_request_reprioritise(
        procurement_request=working, actor=buyer, note="Asked by the head.", priority="high", category=category
    )
    stored = assert_clocks_follow(working)
    assert (stored["priority"], stored["category_id"]) == ("high", category.pk)
    rows = {row.key: row for row in dashboard.breakdown(Scope(Period.last_days(7)), "category")}
    assert rows[category.pk].cycles.fr_count == 1
    assert Category.objects.filter(pk=stored["category_id"]).exists()


def test_rerouting_moves_the_team_onto_every_clock(working, manager):
    team = BuyerTeam.objects.create(name="Facilities", calendar_id=working.team.calendar_id)
    TeamMembership.objects.create(team=team, user=manager)
    ProcurementRequest.objects.filter(pk=working.pk).update(team=team)  # setup: as if routed there earlier
    SlaClock.objects.filter(procurement_request=working).update(team=None)  # and the clocks out of step
    services.procurement_request_reroute(procurement_request=working, actor=manager, note="Rules changed.")
    assert_clocks_follow(working)
