"""The queue's SLA badge: the most urgent running clock of each request, measured now in business time.

Instants as in test_clock_services: "Procurement office hours" (Mon–Fri 08–12, 13–17 Berlin); a normal
request submitted Monday 2025-03-10 09:00 has a first response of 4 h (due 14:00) and a resolution of
40 h (due Monday 17 March 09:00).
"""

import pytest

from requests_app.models import ProcurementRequest
from slas.selectors import sla_badges
from tests.slas.test_clock_services import ask_requester, at, berlin, complete, reply, submit, take

pytestmark = pytest.mark.django_db


def badge(procurement_request, moment):
    procurement_request = ProcurementRequest.objects.get(pk=procurement_request.pk)
    return sla_badges([procurement_request], now=moment)[procurement_request.pk]


@pytest.mark.parametrize(
    ("hour", "minute", "text", "css"),
    [
        (10, 0, "3 h left", "text-bg-success"),  # 1 h of 4 used: 25 %
        (11, 0, "2 h left", "sla-50"),  # 50 %
        (12, 30, "1 h left", "text-bg-warning"),  # lunch does not count: 3 h used, 75 %
        (13, 40, "20 min left", "sla-90"),  # 3 h 40 min: 92 %
        (14, 30, "Overdue 30 min", "text-bg-danger"),
    ],
)
def test_the_badge_shows_business_time_left_coloured_by_the_share_used(requester, hour, minute, text, css):
    procurement_request = submit(requester)
    shown = badge(procurement_request, berlin(10, hour, minute))
    assert (shown.text, shown.css) == (text, css)


def test_the_most_urgent_clock_decides_and_a_breached_one_wins(requester, buyer):
    # given the first response answered at 10:00: only the resolution runs (40 h, due next Monday 09:00)
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 10))
    # then Tuesday 09:00 it has used 8 business hours (Monday 7, Tuesday 1) and has 32 left
    assert badge(procurement_request, berlin(11, 9)).text == "32 h left"
    # and a week later it is overdue
    shown = badge(procurement_request, berlin(18, 9))
    assert (shown.state, shown.text) == ("breached", "Overdue 8 h")


def test_a_request_waiting_for_its_requester_is_paused(requester, buyer):
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    ask_requester(procurement_request, buyer, berlin(10, 10))
    shown = badge(procurement_request, berlin(12, 9))
    assert (shown.state, shown.text, shown.css) == ("paused", "Paused", "text-bg-secondary")


def test_a_completed_request_shows_whether_it_met_its_promise(requester, buyer):
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 10))
    complete(procurement_request, buyer, berlin(10, 16))
    assert badge(procurement_request, berlin(20, 9)).text == "Met"


def test_a_request_waiting_for_approval_has_not_started(requester):
    from decimal import Decimal

    with at(berlin(10, 9)):
        procurement_request = submit(requester, estimated_value=Decimal("9000"))
    assert badge(procurement_request, berlin(10, 10)).text == "Not started"


def test_a_page_of_badges_costs_two_queries_whatever_its_size(requester, django_assert_num_queries):
    requests = [submit(requester) for _ in range(6)]
    with django_assert_num_queries(2):  # the current clocks with their calendars; the calendars' versions
        shown = sla_badges(requests, now=berlin(10, 10))
    assert {badge.text for badge in shown.values()} == {"3 h left"}
