"""The minute sweep and the request's SLA summary: stored clock state stays true between events.

Calendar and instants as in test_clock_services: "Procurement office hours" (Mon–Fri 08–12, 13–17
Berlin); a normal request submitted Monday 2025-03-10 09:00 has first response 4 h (50 % 11:00,
75 % 12:00, 90 % 13:36, due 14:00) and resolution 40 h (due Monday 17 March 09:00).
"""

import pytest
from django.conf import settings

from requests_app.models import ProcurementRequest
from servicedesk.celery import app
from slas import tasks
from slas.models import SlaClock
from slas.services import ThresholdCrossing, clock_state, sla_clocks_rebuild, sla_clocks_sweep
from tests.slas.test_clock_services import (
    FIRST_RESPONSE,
    MONDAY_0900,
    RESOLUTION,
    ask_requester,
    at,
    berlin,
    complete,
    current,
    reply,
    submit,
    take,
)

pytestmark = pytest.mark.django_db


def stored(procurement_request):
    """The request's SLA summary as the queues read it."""
    row = ProcurementRequest.objects.get(pk=procurement_request.pk)
    return row.sla_due_at, row.sla_threshold, row.sla_breached


def test_a_submitted_request_is_due_at_its_earliest_clock(requester):
    # when a request is submitted Monday 09:00
    procurement_request = submit(requester)

    # then it sorts by the first-response due time, with nothing reached yet
    assert stored(procurement_request) == (berlin(10, 14), 0, False)


def test_the_summary_follows_the_clocks_through_the_lifecycle(requester, buyer):
    # given a request in progress
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))

    # when the buyer answers, the first response stops: the request is due when the resolution is
    reply(procurement_request, buyer, berlin(10, 10))
    assert stored(procurement_request) == (berlin(17, 9), 0, False)

    # when the buyer asks the requester something, the resolution pauses: no due time, sorts last
    ask_requester(procurement_request, buyer, berlin(10, 11))
    assert stored(procurement_request) == (None, 0, False)

    # when the requester answers and the request is completed, nothing is running any more
    reply(procurement_request, requester, berlin(11, 9))
    assert stored(procurement_request)[0] == current(procurement_request, RESOLUTION).due_at
    complete(procurement_request, buyer, berlin(11, 10))
    assert stored(procurement_request) == (None, 0, False)


def test_the_sweep_stores_a_threshold_reached_between_events(requester):
    # given a request nobody has touched since Monday 09:00
    procurement_request = submit(requester)

    # when the sweep runs at 11:00, the first response has used 50 % of its 4 h
    with at(berlin(10, 11)):
        crossings = sla_clocks_sweep()

    # then the clock and the request say so, and the clock knows its next threshold
    clock = current(procurement_request, FIRST_RESPONSE)
    assert crossings == [
        ThresholdCrossing(clock.pk, procurement_request.pk, FIRST_RESPONSE, 1, from_percent=0, to_percent=50)
    ]
    assert (clock.last_threshold, clock.next_threshold, clock.next_threshold_at) == (50, 75, berlin(10, 12))
    assert stored(procurement_request) == (berlin(10, 14), 50, False)


def test_a_second_sweep_at_the_same_moment_changes_nothing(requester):
    # given a sweep that stored the 50 % threshold
    procurement_request = submit(requester)
    with at(berlin(10, 11)):
        sla_clocks_sweep()
    before = list(SlaClock.objects.filter(procurement_request=procurement_request).values())

    # when it runs again at the same moment
    with at(berlin(10, 11)):
        crossings = sla_clocks_sweep()

    # then it finds nothing to do
    assert crossings == []
    assert list(SlaClock.objects.filter(procurement_request=procurement_request).values()) == before


def test_a_sweep_after_several_thresholds_reports_one_collapsed_crossing(requester):
    # given a request whose first response ran out at 14:00 with no sweep since 09:00
    procurement_request = submit(requester)

    # when the sweep runs at 14:00:01
    with at(berlin(10, 14, 0, 1)):
        crossings = sla_clocks_sweep()

    # then 50, 75, 90 and 100 % are one crossing, and the request is breached
    assert [(c.metric, c.from_percent, c.to_percent) for c in crossings] == [(FIRST_RESPONSE, 0, 100)]
    clock = current(procurement_request, FIRST_RESPONSE)
    assert (clock.breached, clock.ever_breached, clock.breached_at) == (True, True, berlin(10, 14))
    assert stored(procurement_request) == (berlin(10, 14), 100, True)


def test_the_goal_used_up_exactly_is_not_yet_a_breach_one_second_later_it_is(requester):
    # given a request whose first response is due at 14:00
    procurement_request = submit(requester)

    # when the sweep runs at exactly 14:00, the goal is used up but a reply now would still be on time
    with at(berlin(10, 14)):
        sla_clocks_sweep()
    assert stored(procurement_request) == (berlin(10, 14), 100, False)

    # when it runs a second later, the clock has no threshold left, yet the breach is found and stored
    assert current(procurement_request, FIRST_RESPONSE).next_threshold_at is None
    with at(berlin(10, 14, 0, 1)):
        crossings = sla_clocks_sweep()
    assert crossings == []  # 100 % was already reported at 14:00
    assert current(procurement_request, FIRST_RESPONSE).breached is True
    assert stored(procurement_request) == (berlin(10, 14), 100, True)


def test_paused_and_stopped_clocks_are_left_alone(requester, buyer):
    # given a request answered at 09:45 and waiting for its requester since 10:00
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 9, 45))
    ask_requester(procurement_request, buyer, berlin(10, 10))
    before = list(SlaClock.objects.filter(procurement_request=procurement_request).values())

    # when the sweep runs days later
    with at(berlin(20, 16)):
        crossings = sla_clocks_sweep()

    # then neither the stopped first response nor the paused resolution is touched
    assert crossings == []
    assert list(SlaClock.objects.filter(procurement_request=procurement_request).values()) == before


def test_with_nothing_due_the_sweep_is_one_query_however_many_requests_are_open(requester, django_assert_num_queries):
    # given open requests whose clocks have no threshold due
    for _ in range(4):
        submit(requester)

    # when the sweep runs before any threshold: a savepoint, the due-clock question, its release
    with at(berlin(10, 9, 30)), django_assert_num_queries(3):
        assert sla_clocks_sweep() == []


def test_small_batches_still_refresh_every_due_clock(requester):
    # given five requests whose first response reached 50 %
    requests = [submit(requester) for _ in range(5)]

    # when the sweep runs in batches of two
    with at(berlin(10, 11)):
        crossings = sla_clocks_sweep(batch_size=2)

    # then every request was refreshed once
    assert sorted(c.procurement_request_id for c in crossings) == sorted(r.pk for r in requests)
    assert {stored(r)[1] for r in requests} == {50}


def test_the_periodic_task_runs_the_sweep_and_beat_runs_it_every_minute(requester):
    # given a request at 50 %
    procurement_request = submit(requester, MONDAY_0900)

    # when the Celery task runs (in-process)
    with at(berlin(10, 11)):
        swept = tasks.sweep_clocks.apply().get()

    # then it reports the crossing, and the beat entry names this task every 60 s
    assert swept == 1
    assert stored(procurement_request)[1] == 50
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-sla-clocks"]
    assert app.tasks[entry["task"]].name == tasks.sweep_clocks.name
    assert entry["schedule"] == 60.0


def test_a_recompute_after_the_sweep_finds_nothing_changed(requester):
    # given a request the sweep refreshed after its last event
    procurement_request = submit(requester)
    with at(berlin(10, 11)):
        sla_clocks_sweep()
    swept = clock_state(procurement_request)

    # when its clocks are rebuilt from the history later
    with at(berlin(10, 15)):
        changed = sla_clocks_rebuild(procurement_request=procurement_request)

    # then the replay, measured at the sweep's moment, equals the stored state
    assert changed is False
    assert clock_state(procurement_request) == swept
