"""SLA clocks through the real request services: which lifecycle event starts, pauses, resumes or stops
which clock, with due instants in business time, and what the request page, the SLA catalogue and the
new-request promise show of them.

Every instant is fixed with time_machine (tick=False) and named in Berlin wall time. The calendar is the
one the data migration installs: "Procurement office hours", Mon–Fri 08:00–12:00 and 13:00–17:00 in
Europe/Berlin. The week of Monday 2025-03-10 has no public holiday and no DST change (CET = UTC+1).
"""

import re
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from requests_app import services
from requests_app.models import Category, EventKind, Priority, ProcurementRequest, Status
from slas.demo import CAPITAL_POLICY, OFFICE_CALENDAR, STANDARD_POLICY
from slas.models import BusinessCalendar, Metric, PauseReason, SlaClock, SlaGoal, SlaPause, SlaPolicy
from slas.services import ClockChange, clock_refresh, sla_clocks_rematch
from tests.factories import CategoryFactory, file_request
from tests.slas.factories import SlaGoalFactory, SlaPolicyFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
FIRST_RESPONSE, RESOLUTION = Metric.FIRST_RESPONSE, Metric.RESOLUTION


def berlin(day, hour, minute=0, second=0, *, month=3, year=2025):
    """An instant given in Berlin wall time (March 2025 unless told)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


MONDAY_0900 = berlin(10, 9)


@contextmanager
def at(moment):
    with time_machine.travel(moment, tick=False):
        yield


def submit(requester, moment=MONDAY_0900, **overrides):
    with at(moment):
        return file_request(requester, **overrides)


def claim(procurement_request, buyer, moment):
    with at(moment):
        return services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)


def take(procurement_request, buyer, moment):
    """The buyer claims the request and starts work on it (neither changes a clock)."""
    procurement_request = claim(procurement_request, buyer, moment)
    with at(moment):
        return services.procurement_request_start(procurement_request=procurement_request, actor=buyer)


def reply(procurement_request, author, moment, *, body="On it.", is_internal=False):
    with at(moment):
        return services.comment_add(
            procurement_request=procurement_request, author=author, body=body, is_internal=is_internal
        )


def ask_requester(procurement_request, buyer, moment, note="Which keyboard layout?"):
    with at(moment):
        return services.procurement_request_wait_for_requester(
            procurement_request=procurement_request, actor=buyer, note=note
        )


def complete(procurement_request, buyer, moment):
    with at(moment):
        return services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)


def current(procurement_request, metric):
    return SlaClock.objects.get(procurement_request=procurement_request, metric=metric, is_current=True)


def cycles(procurement_request, metric):
    return list(SlaClock.objects.filter(procurement_request=procurement_request, metric=metric).order_by("cycle"))


def sla_notes(procurement_request):
    return list(procurement_request.events.filter(kind=EventKind.SLA).order_by("pk").values_list("note", flat=True))


def standard_goal(priority):
    return SlaGoal.objects.get(policy__name=STANDARD_POLICY, priority=priority)


def office_calendar():
    return BusinessCalendar.objects.get(name=OFFICE_CALENDAR)


def business_seconds(start, end):
    """Business time of the office calendar between two instants (no pauses)."""
    return office_calendar().to_clock().business_seconds(start, end)


def timeline(procurement_request):
    """The whole timeline as (kind, note of SLA lines, else the status moved to) in order."""
    return [
        (event.kind, event.note if event.kind == EventKind.SLA else event.to_status)
        for event in procurement_request.events.order_by("pk")
    ]


@pytest.fixture
def working(requester, buyer):
    """A normal-priority request submitted Monday 09:00, in progress with its buyer since 09:30."""
    return take(submit(requester), buyer, berlin(10, 9, 30))


# --- start ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "category_name", "policy_name", "first_response_due", "resolution_due"),
    [
        # 1 h / 8 h: the goal ends an hour into the next working stretch
        (Priority.URGENT, "Goods", STANDARD_POLICY, berlin(10, 10), berlin(11, 9)),
        # 2 h / 24 h
        (Priority.HIGH, "Goods", STANDARD_POLICY, berlin(10, 11), berlin(13, 9)),
        # 4 h / 40 h: 09:00–12:00 and, after lunch, 13:00–14:00; a week of 39 h, then Monday 08:00–09:00
        (Priority.NORMAL, "Goods", STANDARD_POLICY, berlin(10, 14), berlin(17, 9)),
        # 8 h / 80 h
        (Priority.LOW, "Goods", STANDARD_POLICY, berlin(11, 9), berlin(24, 9)),
        # contract renewals: 1 business day / 10 business days, whatever the priority
        (Priority.URGENT, "Contract renewal", CAPITAL_POLICY, berlin(11, 9), berlin(24, 9)),
    ],
)
def test_a_submission_without_approval_starts_both_clocks_with_the_matching_goal_and_business_time_due(
    requester, priority, category_name, policy_name, first_response_due, resolution_due
):
    # given the matching goal of the seeded policies
    category = Category.objects.get(name=category_name)
    goal = SlaGoal.objects.get(
        policy__name=policy_name,
        **({"category": category} if policy_name == CAPITAL_POLICY else {"priority": priority}),
    )

    # when a request is submitted on Monday 09:00 (no approval needed)
    procurement_request = submit(requester, priority=priority, category=category, estimated_value=Decimal("1200"))

    # then both clocks run from the submission with the goal's targets and their due instants in business time
    assert procurement_request.status == Status.SUBMITTED
    first_response, resolution = current(procurement_request, FIRST_RESPONSE), current(procurement_request, RESOLUTION)
    for clock, minutes, due in (
        (first_response, goal.first_response_minutes, first_response_due),
        (resolution, goal.resolution_minutes, resolution_due),
    ):
        assert (clock.goal, clock.goal_seconds, clock.calendar) == (goal, minutes * 60, office_calendar())
        assert (clock.cycle, clock.is_current, clock.started_at) == (1, True, MONDAY_0900)
        assert (clock.stopped_at, clock.paused_since, clock.met, clock.breached) == (None, None, None, False)
        assert clock.elapsed_business == 0
        assert clock.due_at == due
    assert SlaClock.objects.filter(procurement_request=procurement_request).count() == 2


def test_the_normal_goal_is_4_and_40_business_hours_and_its_start_is_one_timeline_line(requester):
    # when a normal-priority request is submitted
    procurement_request = submit(requester, priority=Priority.NORMAL)

    # then the goal applied is the standard normal one, and one SLA line follows the creation, by no one
    goal = standard_goal(Priority.NORMAL)
    assert (goal.first_response_minutes, goal.resolution_minutes) == (240, 2400)
    assert timeline(procurement_request) == [
        (EventKind.CREATED, Status.SUBMITTED),
        (
            EventKind.SLA,
            "First response clock started: goal 4 h (Standard service); "
            "Resolution clock started: goal 40 h (Standard service).",
        ),
        (EventKind.ROUTED, ""),  # then routing (the default rule: the team queue), no status change
    ]
    clock_event = procurement_request.events.get(kind=EventKind.SLA)
    assert (clock_event.actor, clock_event.created_at) == (None, MONDAY_0900)


def _pending(requester, moment=MONDAY_0900):
    """A Goods request above the 5,000 EUR threshold: it waits for the department head."""
    procurement_request = submit(requester, moment, estimated_value=Decimal("6000"))
    assert procurement_request.status == Status.PENDING_APPROVAL
    return procurement_request


def test_a_request_needing_approval_has_no_clocks_until_approved_then_both_start_at_the_approval(requester, head):
    # given a request waiting for approval since Monday 09:00
    procurement_request = _pending(requester)
    assert not SlaClock.objects.filter(procurement_request=procurement_request).exists()
    assert sla_notes(procurement_request) == []

    # when the head approves it on Tuesday 10:00
    with at(berlin(11, 10)):
        services.procurement_request_approve(procurement_request=procurement_request, actor=head, note="Fine")

    # then both clocks start at the approval, with nothing counted (or paused) for the wait before it
    first_response, resolution = current(procurement_request, FIRST_RESPONSE), current(procurement_request, RESOLUTION)
    assert first_response.started_at == resolution.started_at == berlin(11, 10)
    assert first_response.due_at == berlin(11, 15)  # 10:00–12:00 and 13:00–15:00
    assert resolution.due_at == berlin(18, 10)  # Tue 6 h, Wed–Fri 24 h, Mon 8 h, Tue 08:00–10:00
    assert not SlaPause.objects.filter(clock__procurement_request=procurement_request).exists()
    # and the approval's SLA line follows it, then routing's line
    assert timeline(procurement_request)[-3:] == [
        (EventKind.APPROVED, Status.APPROVED),
        (
            EventKind.SLA,
            "First response clock started: goal 4 h (Standard service); "
            "Resolution clock started: goal 40 h (Standard service).",
        ),
        (EventKind.ROUTED, ""),
    ]


def test_a_rejected_request_never_starts_its_clocks(requester, head):
    # given a request waiting for approval
    procurement_request = _pending(requester)

    # when the head rejects it
    with at(berlin(11, 10)):
        services.procurement_request_reject(procurement_request=procurement_request, actor=head, note="No budget")

    # then it never had a clock, and its timeline has no SLA line
    assert not SlaClock.objects.filter(procurement_request=procurement_request).exists()
    assert [kind for kind, _ in timeline(procurement_request)] == [
        EventKind.CREATED,
        EventKind.STATUS_CHANGED,
        EventKind.REJECTED,
    ]


# --- first response ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replied_at", "elapsed", "met", "note"),
    [
        pytest.param(berlin(10, 10, 30), 90 * 60, True, "met (1 h 30 min of 4 h)", id="early"),
        # SLA-SEMANTICS: a reply exactly at due_at is met; one second later is breached
        pytest.param(berlin(10, 14), 4 * HOUR, True, "met (4 h of 4 h)", id="exactly-at-due"),
        pytest.param(berlin(10, 14, 0, 1), 4 * HOUR + 1, False, "breached by 1 s (4 h of 4 h)", id="one-second-late"),
    ],
)
def test_the_buyers_public_reply_stops_first_response(working, buyer, replied_at, elapsed, met, note):
    # given a request whose first response is due Monday 14:00
    assert current(working, FIRST_RESPONSE).due_at == berlin(10, 14)

    # when the buyer writes the first reply the requester can see
    reply(working, buyer, replied_at)

    # then first response stops there, met or breached at the due instant; resolution runs on
    clock = current(working, FIRST_RESPONSE)
    assert (clock.stopped_at, clock.elapsed_business, clock.met) == (replied_at, elapsed, met)
    assert (clock.breached, clock.ever_breached) == (not met, not met)
    assert clock.breached_at == (None if met else berlin(10, 14))
    assert (clock.next_threshold, clock.next_threshold_at) == (None, None)
    assert current(working, RESOLUTION).stopped_at is None
    # and the timeline says so in one line after the reply
    assert timeline(working)[-2:] == [
        (EventKind.COMMENTED, ""),
        (EventKind.SLA, f"First response clock stopped: {note}."),
    ]


def test_a_second_reply_changes_nothing(working, buyer):
    # given the buyer's first reply
    reply(working, buyer, berlin(10, 10))
    before = current(working, FIRST_RESPONSE)
    notes = sla_notes(working)

    # when they write again later
    reply(working, buyer, berlin(10, 16), body="Ordered.")

    # then the first response keeps its stop, and no SLA line is added
    after = current(working, FIRST_RESPONSE)
    assert (after.pk, after.stopped_at, after.elapsed_business, after.met) == (
        before.pk,
        berlin(10, 10),
        HOUR,
        True,
    )
    assert sla_notes(working) == notes


@pytest.mark.parametrize(
    ("author_name", "is_internal"),
    [
        ("buyer", True),
        ("manager", True),
        ("requester", False),
        ("head", False),
    ],
    ids=["buyer-internal-note", "manager-internal-note", "requester-comment", "head-comment"],
)
def test_an_internal_note_or_a_requester_side_comment_does_not_stop_first_response(
    request, working, author_name, is_internal
):
    # given a running first response
    notes = sla_notes(working)

    # when someone writes something that is not Procurement's public reply
    reply(working, request.getfixturevalue(author_name), berlin(10, 10), is_internal=is_internal)

    # then first response keeps running and no SLA line is written
    clock = current(working, FIRST_RESPONSE)
    assert (clock.stopped_at, clock.met, clock.due_at) == (None, None, berlin(10, 14))
    assert sla_notes(working) == notes


# --- waiting for the requester ----------------------------------------------------------------------


def test_asking_the_requester_answers_first_response_and_pauses_resolution(working, buyer):
    # when the buyer asks the requester a question on Monday 11:00
    ask_requester(working, buyer, berlin(10, 11))

    # then the question is the first response, met after 2 h
    first_response = current(working, FIRST_RESPONSE)
    assert (first_response.stopped_at, first_response.elapsed_business, first_response.met) == (
        berlin(10, 11),
        2 * HOUR,
        True,
    )
    # and resolution is paused, not due while paused, with an open pause saying why
    resolution = current(working, RESOLUTION)
    assert (resolution.paused_since, resolution.stopped_at, resolution.due_at) == (berlin(10, 11), None, None)
    assert (resolution.next_threshold, resolution.next_threshold_at) == (None, None)
    assert resolution.elapsed_business == 2 * HOUR
    assert list(resolution.pauses.values_list("started_at", "ended_at", "reason")) == [
        (berlin(10, 11), None, PauseReason.WAITING_FOR_REQUESTER)
    ]
    assert timeline(working)[-2:] == [
        (EventKind.STATUS_CHANGED, Status.WAITING_FOR_REQUESTER),
        (
            EventKind.SLA,
            "Resolution clock paused: waiting for requester; First response clock stopped: met (2 h of 4 h).",
        ),
    ]


def _requester_answers(procurement_request, requester, buyer, moment):
    reply(procurement_request, requester, moment, body="German layout")


def _buyer_resumes(procurement_request, requester, buyer, moment):
    with at(moment):
        services.procurement_request_resume(procurement_request=procurement_request, actor=buyer)


@pytest.mark.parametrize("resume", [_requester_answers, _buyer_resumes], ids=["requester-replies", "buyer-resumes"])
def test_resuming_closes_the_pause_and_moves_due_later_by_exactly_the_paused_business_time(
    working, requester, buyer, resume
):
    # given resolution due Monday 17 March 09:00, paused from Monday 11:00
    due_without_pause = current(working, RESOLUTION).due_at
    assert due_without_pause == berlin(17, 9)
    ask_requester(working, buyer, berlin(10, 11))

    # when the request goes back to Procurement on Tuesday 14:00
    resume(working, requester, buyer, berlin(11, 14))

    # then the pause is closed, and due moved by the 10 business hours paused (Mon 11–12, 13–17, Tue 08–12, 13–14)
    resolution = current(working, RESOLUTION)
    assert resolution.paused_since is None
    assert list(resolution.pauses.values_list("started_at", "ended_at", "reason")) == [
        (berlin(10, 11), berlin(11, 14), PauseReason.WAITING_FOR_REQUESTER)
    ]
    assert resolution.due_at == berlin(18, 11)
    assert business_seconds(due_without_pause, resolution.due_at) == business_seconds(berlin(10, 11), berlin(11, 14))
    assert business_seconds(berlin(10, 11), berlin(11, 14)) == 10 * HOUR
    assert resolution.elapsed_business == 2 * HOUR
    assert sla_notes(working)[-1] == "Resolution clock resumed: due Tue 18 Mar 11:00."


def test_waiting_for_the_supplier_does_not_pause_resolution(working, buyer):
    # given a request in progress
    notes = sla_notes(working)

    # when the buyer puts it on hold for the supplier on Monday 11:00, then resumes it on Tuesday 14:00
    with at(berlin(10, 11)):
        services.procurement_request_wait_for_supplier(procurement_request=working, actor=buyer)
    during = current(working, RESOLUTION)
    with at(berlin(11, 14)):
        services.procurement_request_resume(procurement_request=working, actor=buyer)

    # then resolution never paused and is still due when it was; no SLA line was written
    for resolution in (during, current(working, RESOLUTION)):
        assert (resolution.paused_since, resolution.stopped_at, resolution.due_at) == (None, None, berlin(17, 9))
    assert not SlaPause.objects.filter(clock__procurement_request=working).exists()
    assert current(working, FIRST_RESPONSE).stopped_at is None
    assert sla_notes(working) == notes


# --- completion, reopen, cancel ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completed_at", "elapsed", "met", "note"),
    [
        # Mon 7 h + Tue 8 h + Wed 08:00–10:00
        pytest.param(berlin(12, 10), 17 * HOUR, True, "met (17 h of 40 h)", id="in-time"),
        # due Monday 17 March 09:00, completed an hour later
        pytest.param(berlin(17, 10), 41 * HOUR, False, "breached by 1 h (41 h of 40 h)", id="late"),
    ],
)
def test_completing_stops_resolution(working, buyer, completed_at, elapsed, met, note):
    # given a request the buyer answered and worked on
    reply(working, buyer, berlin(10, 10))

    # when it is completed
    complete(working, buyer, completed_at)

    # then resolution stops there, met or breached at its due instant, with no further threshold
    resolution = current(working, RESOLUTION)
    assert (resolution.stopped_at, resolution.elapsed_business, resolution.met) == (completed_at, elapsed, met)
    assert (resolution.breached, resolution.ever_breached) == (not met, not met)
    assert resolution.breached_at == (None if met else berlin(17, 9))
    assert resolution.due_at == berlin(17, 9)
    assert (resolution.next_threshold, resolution.next_threshold_at) == (None, None)
    assert timeline(working)[-2:] == [
        (EventKind.STATUS_CHANGED, Status.COMPLETED),
        (EventKind.SLA, f"Resolution clock stopped: {note}."),
    ]


def test_a_reopened_request_continues_resolution_as_cycle_2_and_starts_a_new_first_response(working, requester, buyer):
    # given a request answered Monday 10:00 and completed Tuesday 10:00 (9 business hours, met)
    reply(working, buyer, berlin(10, 10))
    complete(working, buyer, berlin(11, 10))
    first_cycle = current(working, RESOLUTION)
    frozen = {
        field: getattr(first_cycle, field)
        for field in ("started_at", "stopped_at", "elapsed_business", "due_at", "met", "breached", "goal_seconds")
    }
    assert frozen["elapsed_business"] == 9 * HOUR and frozen["met"] is True

    # when the requester reopens it on Wednesday 10:00 (within the reopen window)
    with at(berlin(12, 10)):
        services.procurement_request_reopen(procurement_request=working, actor=requester, note="No charger")

    # then resolution cycle 1 is frozen as it was and no longer current
    old, continued = cycles(working, RESOLUTION)
    assert (old.pk, old.cycle, old.is_current) == (first_cycle.pk, 1, False)
    assert {field: getattr(old, field) for field in frozen} == frozen
    # and cycle 2 runs from the original start, the completed day counting as a pause
    assert (continued.cycle, continued.is_current, continued.started_at) == (2, True, MONDAY_0900)
    assert (continued.stopped_at, continued.paused_since, continued.met) == (None, None, None)
    assert continued.goal_seconds == 40 * HOUR
    assert list(continued.pauses.values_list("started_at", "ended_at", "reason")) == [
        (berlin(11, 10), berlin(12, 10), PauseReason.COMPLETED)
    ]
    assert continued.elapsed_business == 9 * HOUR
    assert continued.due_at == berlin(18, 9)  # 31 h left from Wed 10:00: Wed 6, Thu 8, Fri 8, Mon 8, Tue 08–09
    # and first response starts a new cycle at the reopen, the answered cycle 1 kept
    answered, new = cycles(working, FIRST_RESPONSE)
    assert (answered.cycle, answered.is_current, answered.stopped_at, answered.met) == (1, False, berlin(10, 10), True)
    assert (new.cycle, new.is_current, new.started_at, new.stopped_at) == (2, True, berlin(12, 10), None)
    assert new.due_at == berlin(12, 15)  # 10:00–12:00 and 13:00–15:00
    assert sla_notes(working)[-1] == "Resolution clock continued: cycle 2; First response clock started: cycle 2."


@pytest.mark.parametrize("waiting", [False, True], ids=["in-progress", "waiting-for-requester"])
def test_cancelling_stops_both_clocks_with_neither_met_nor_missed(working, requester, buyer, waiting):
    # given a running request, or one waiting for its requester since Monday 10:00
    if waiting:
        ask_requester(working, buyer, berlin(10, 10))

    # when the requester cancels it on Monday 11:00
    with at(berlin(10, 11)):
        services.procurement_request_cancel(procurement_request=working, actor=requester, note="Bought it myself")

    # then each clock is stopped without a verdict, and no pause is left open
    for metric in (FIRST_RESPONSE, RESOLUTION):
        clock = current(working, metric)
        assert clock.stopped_at == (berlin(10, 10) if waiting and metric == FIRST_RESPONSE else berlin(10, 11))
        assert clock.paused_since is None
        assert (clock.next_threshold, clock.next_threshold_at) == (None, None)
    assert current(working, RESOLUTION).met is None
    assert current(working, FIRST_RESPONSE).met is (True if waiting else None)  # the question had answered it
    assert not SlaPause.objects.filter(clock__procurement_request=working, ended_at__isnull=True).exists()
    expected = (
        "Resolution clock stopped: request cancelled."
        if waiting
        else "First response clock stopped: request cancelled; Resolution clock stopped: request cancelled."
    )
    assert timeline(working)[-2:] == [(EventKind.STATUS_CHANGED, Status.CANCELLED), (EventKind.SLA, expected)]


# --- goal changes -----------------------------------------------------------------------------------


def _change_priority(procurement_request, priority, moment):
    """Setup: the row gets the new priority; then the clocks are re-matched as the change's service will."""
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(priority=priority)
    procurement_request.refresh_from_db()
    with at(moment):
        return sla_clocks_rematch(procurement_request=procurement_request, at=moment)


def test_a_stricter_goal_already_exceeded_breaches_at_once_at_the_theoretical_instant(working):
    # given a normal request with 5 business hours used by Monday 15:00
    # when it becomes urgent then (1 h to first response, 8 h to resolution)
    changes = _change_priority(working, Priority.URGENT, berlin(10, 15))

    # then first response is breached since Monday 10:00 (start + 1 h), recorded at the change
    urgent = standard_goal(Priority.URGENT)
    first_response = current(working, FIRST_RESPONSE)
    assert (first_response.goal, first_response.goal_seconds) == (urgent, HOUR)
    assert (first_response.breached, first_response.ever_breached) == (True, True)
    assert first_response.breached_at == berlin(10, 10)
    assert first_response.computed_at == berlin(10, 15)
    assert (first_response.elapsed_business, first_response.stopped_at, first_response.met) == (5 * HOUR, None, None)
    # and resolution keeps its elapsed time against the new 8 h: due Tuesday 09:00, not breached
    resolution = current(working, RESOLUTION)
    assert (resolution.goal, resolution.goal_seconds, resolution.due_at) == (urgent, 8 * HOUR, berlin(11, 9))
    assert (resolution.breached, resolution.breached_at) == (False, None)
    # and each change names both goals
    assert changes == [
        ClockChange(
            FIRST_RESPONSE,
            "goal changed",
            "goal 4 h → 1 h (Standard service); already exceeded, breached since Mon 10 Mar 10:00",
        ),
        ClockChange(RESOLUTION, "goal changed", "goal 40 h → 8 h (Standard service)"),
    ]
    assert changes[0].describe() == (
        "First response clock goal changed: goal 4 h → 1 h (Standard service); "
        "already exceeded, breached since Mon 10 Mar 10:00"
    )


def test_a_relaxed_goal_clears_breached_but_ever_breached_stays(working):
    # given first response breached by a change to urgent at Monday 15:00
    _change_priority(working, Priority.URGENT, berlin(10, 15))

    # when the request is lowered to low priority at 16:00 (8 h to first response, 80 h to resolution)
    changes = _change_priority(working, Priority.LOW, berlin(10, 16))

    # then first response is no longer breached, but it was: 6 h used, due Tuesday 09:00
    first_response = current(working, FIRST_RESPONSE)
    assert (first_response.goal_seconds, first_response.elapsed_business) == (8 * HOUR, 6 * HOUR)
    assert (first_response.breached, first_response.ever_breached) == (False, True)
    assert first_response.due_at == berlin(11, 9)
    assert current(working, RESOLUTION).due_at == berlin(24, 9)
    assert [change.detail for change in changes] == [
        "goal 1 h → 8 h (Standard service)",
        "goal 8 h → 80 h (Standard service)",
    ]


def test_rematching_leaves_stopped_clocks_and_unchanged_goals_alone(working, buyer):
    # given first response answered at 10:00
    reply(working, buyer, berlin(10, 10))
    answered = current(working, FIRST_RESPONSE)

    # when the same priority is re-matched, then the priority changes to high
    unchanged = _change_priority(working, Priority.NORMAL, berlin(10, 11))
    changes = _change_priority(working, Priority.HIGH, berlin(10, 11))

    # then nothing changed the first time, and only running resolution changed the second
    assert unchanged == []
    assert [(change.metric, change.verb) for change in changes] == [(RESOLUTION, "goal changed")]
    after = current(working, FIRST_RESPONSE)
    assert (after.goal_id, after.goal_seconds, after.met) == (answered.goal_id, 4 * HOUR, True)


# --- thresholds -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "now", "expected"),
    [
        # first response, 4 h from Monday 09:00: 50 % 11:00, 75 % 12:00 (end of the morning), 90 % 13:36, due 14:00
        (FIRST_RESPONSE, MONDAY_0900, (50, berlin(10, 11))),
        (FIRST_RESPONSE, berlin(10, 10, 59, 59), (50, berlin(10, 11))),
        (FIRST_RESPONSE, berlin(10, 11), (75, berlin(10, 12))),
        (FIRST_RESPONSE, berlin(10, 12, 30), (90, berlin(10, 13, 36))),
        (FIRST_RESPONSE, berlin(10, 13, 36), (100, berlin(10, 14))),
        (FIRST_RESPONSE, berlin(10, 14), (None, None)),
        # resolution, 40 h: 50 % Wed 14:00, 75 % Thu 16:00, 90 % Fri 14:00, due Mon 17 March 09:00
        (RESOLUTION, MONDAY_0900, (50, berlin(12, 14))),
        (RESOLUTION, berlin(12, 14), (75, berlin(13, 16))),
        (RESOLUTION, berlin(13, 16), (90, berlin(14, 14))),
        (RESOLUTION, berlin(15, 12), (100, berlin(17, 9))),  # the weekend adds nothing
        (RESOLUTION, berlin(17, 9, 0, 1), (None, None)),
    ],
)
def test_the_next_threshold_is_the_first_of_50_75_90_100_percent_not_yet_reached(working, metric, now, expected):
    # given a clock started Monday 09:00 with the default warnings
    clock = current(working, metric)
    assert clock.goal.warning_thresholds == [50, 75, 90]

    # when its values are recomputed as of `now`
    clock_refresh(clock, now=now)

    # then the next threshold is the first one whose instant is still ahead
    assert (clock.next_threshold, clock.next_threshold_at) == expected


def test_a_clock_just_started_stores_its_first_threshold(working):
    # when a request is submitted, then each clock already knows when it reaches 50 %
    assert (current(working, FIRST_RESPONSE).next_threshold, current(working, FIRST_RESPONSE).next_threshold_at) == (
        50,
        berlin(10, 11),
    )
    assert (current(working, RESOLUTION).next_threshold, current(working, RESOLUTION).next_threshold_at) == (
        50,
        berlin(12, 14),
    )


def test_there_is_no_next_threshold_while_paused_or_after_stopping(working, buyer):
    # given resolution paused and first response stopped by a question on Monday 10:00
    ask_requester(working, buyer, berlin(10, 10))

    # when they are recomputed later on
    clocks = [clock_refresh(current(working, metric), now=berlin(11, 10)) for metric in (FIRST_RESPONSE, RESOLUTION)]

    # then neither has a next threshold
    assert [(clock.next_threshold, clock.next_threshold_at) for clock in clocks] == [(None, None), (None, None)]


# --- the timeline -----------------------------------------------------------------------------------


def test_every_clock_change_writes_one_sla_line_right_after_the_event_that_caused_it(requester, buyer):
    # given a request submitted Monday 09:00
    procurement_request = submit(requester)

    # when it goes through its life: claimed, noted, asked, answered, on hold, resumed, completed, reopened
    claim(procurement_request, buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 9, 45), body="Checking stock", is_internal=True)
    ask_requester(procurement_request, buyer, berlin(10, 11))
    reply(procurement_request, requester, berlin(11, 14), body="German layout")
    with at(berlin(11, 15)):
        services.procurement_request_wait_for_supplier(procurement_request=procurement_request, actor=buyer)
    with at(berlin(12, 9)):
        services.procurement_request_resume(procurement_request=procurement_request, actor=buyer)
    complete(procurement_request, buyer, berlin(12, 10))
    with at(berlin(13, 10)):
        services.procurement_request_reopen(procurement_request=procurement_request, actor=requester, note="Wrong")

    # then each event that changed a clock is followed by exactly one SLA line saying what changed
    assert timeline(procurement_request) == [
        (EventKind.CREATED, Status.SUBMITTED),
        (
            EventKind.SLA,
            "First response clock started: goal 4 h (Standard service); "
            "Resolution clock started: goal 40 h (Standard service).",
        ),
        (EventKind.ROUTED, ""),  # the default rule: the team queue
        (EventKind.ASSIGNED, Status.ASSIGNED),
        (EventKind.NOTE_ADDED, ""),
        (EventKind.STATUS_CHANGED, Status.WAITING_FOR_REQUESTER),
        (
            EventKind.SLA,
            "Resolution clock paused: waiting for requester; First response clock stopped: met (2 h of 4 h).",
        ),
        (EventKind.COMMENTED, ""),
        (EventKind.STATUS_CHANGED, Status.IN_PROGRESS),
        (EventKind.SLA, "Resolution clock resumed: due Tue 18 Mar 11:00."),
        (EventKind.STATUS_CHANGED, Status.WAITING_FOR_SUPPLIER),
        (EventKind.STATUS_CHANGED, Status.IN_PROGRESS),
        # Mon 09–11, Tue 14–17, Wed 08–10 (the supplier's hold counts)
        (EventKind.STATUS_CHANGED, Status.COMPLETED),
        (EventKind.SLA, "Resolution clock stopped: met (7 h of 40 h)."),
        (EventKind.STATUS_CHANGED, Status.IN_PROGRESS),
        (EventKind.SLA, "Resolution clock continued: cycle 2; First response clock started: cycle 2."),
    ]
    # and each SLA line is the system's, at the instant of the event before it
    events = list(procurement_request.events.order_by("pk"))
    for before, event in zip(events, events[1:], strict=False):
        if event.kind == EventKind.SLA:
            assert (event.actor, event.is_internal, event.created_at) == (None, False, before.created_at)


# --- the request page -------------------------------------------------------------------------------


def clock_panel(page):
    """{metric label: (state, text)} of the request page's SLA panel, tags stripped, spaces collapsed."""
    items = re.findall(r'<li class="list-group-item sla-clock" data-state="(\w+)">(.*?)</li>', page, re.DOTALL)
    panel = {}
    for state, body in items:
        text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
        panel["First response" if text.startswith("First response") else text.split()[0]] = (state, text)
    return panel


def open_page(client, user, procurement_request, moment):
    client.force_login(user)
    with at(moment):
        response = client.get(reverse("requests_app:detail", args=[procurement_request.reference]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_request_page_shows_each_clock_with_goal_due_time_and_where_the_time_went(client, requester, working):
    # when the requester opens the request on Monday 13:30 (3 h 30 min of business time since 09:00)
    page = open_page(client, requester, working, berlin(10, 13, 30))

    # then the panel shows both clocks with their goal, use, due time and the lunch hour left out
    assert 'id="sla-clocks"' in page
    panel = clock_panel(page)
    assert panel["First response"] == (
        "running",
        "First response 30 min left Goal 4 h · 88 % used · due Mon 10 Mar, 14:00 CET "
        "3 h 30 min of business time used; 1 h outside working hours.",
    )
    assert panel["Resolution"] == (
        "running",
        "Resolution 36 h 30 min left Goal 40 h · 9 % used · due Mon 17 Mar, 09:00 CET "
        "3 h 30 min of business time used; 1 h outside working hours.",
    )
    assert '<time datetime="2025-03-10T14:00:00+01:00">' in page


def test_the_request_page_says_a_paused_clock_is_paused(client, requester, buyer, working):
    # given a question asked on Monday 11:00
    ask_requester(working, buyer, berlin(10, 11))

    # when the requester opens the request on Tuesday 10:00
    page = open_page(client, requester, working, berlin(11, 10))

    # then resolution is shown paused, not due while waiting, with the paused time excluded
    panel = clock_panel(page)
    assert panel["Resolution"] == (
        "paused",
        "Resolution Paused Goal 40 h · 5 % used · paused, not due while waiting "
        "2 h of business time used; 7 h paused (waiting for the requester) excluded; 16 h outside working hours.",
    )
    assert panel["First response"] == (
        "met",
        "First response Met Goal 4 h · 50 % used · due Mon 10 Mar, 14:00 CET 2 h of business time used.",
    )


# --- the SLA catalogue ------------------------------------------------------------------------------

STANDARD_TARGETS = {
    # applies to: (first response, resolution)
    "Urgent priority": ("1 business hour", "1 business day"),
    "High priority": ("2 business hours", "3 business days"),
    "Normal priority": ("4 business hours", "5 business days"),
    "Low priority": ("1 business day", "10 business days"),
    "Everything else": ("4 business hours", "5 business days"),
}
CAPITAL_TARGETS = {
    "Capital equipment": ("1 business day", "20 business days"),
    "Contract renewal": ("1 business day", "10 business days"),
}
CATALOGUE_DAY = berlin(31, 10)  # the benchmarks look back 90 days from here: to 31 December 2024


def catalogue_rows(page):
    """{applies to: row text} of every goal row on the catalogue page, tags stripped, spaces collapsed."""
    rows = {}
    for body in re.findall(r"<tr>\s*<td>(.*?)</tr>", page, re.DOTALL):
        text = " ".join(re.sub(r"<[^>]+>", " ", body).split())
        applies_to = next(label for label in {**STANDARD_TARGETS, **CAPITAL_TARGETS} if text.startswith(label))
        rows[applies_to] = text
    return rows


@pytest.fixture
def track_record(requester, buyer):
    """Requests of March 2025 whose clocks stopped, plus ones the benchmarks must leave out."""

    def normal(replied_at, completed_at=None):
        procurement_request = take(submit(requester), buyer, berlin(10, 9, 10))
        reply(procurement_request, buyer, replied_at)
        if completed_at:
            complete(procurement_request, buyer, completed_at)
        return procurement_request

    normal(berlin(10, 10), completed_at=berlin(12, 10))  # first response 1 h met, resolution 17 h met
    normal(berlin(10, 15), completed_at=berlin(17, 10))  # 5 h missed, 41 h missed
    normal(berlin(10, 9, 30))  # 30 min met, resolution still running (not counted)
    cancelled = submit(requester)
    with at(berlin(10, 11)):
        services.procurement_request_cancel(procurement_request=cancelled, actor=requester, note="Not needed")
    # stopped more than 90 days before the catalogue day: too old to count
    old = take(submit(requester, berlin(4, 9, month=11, year=2024)), buyer, berlin(4, 9, 5, month=11, year=2024))
    reply(old, buyer, berlin(4, 9, 15, month=11, year=2024))
    complete(old, buyer, berlin(5, 9, month=11, year=2024))
    urgent = submit(requester, priority=Priority.URGENT)
    reply(urgent, buyer, berlin(10, 9, 20))  # 20 min of 1 h: met


@pytest.mark.parametrize("role", ["requester", "head", "buyer", "manager"])
def test_the_catalogue_shows_every_active_policy_with_its_targets_in_business_time(client, request, role):
    # given someone of any role, logged in
    client.force_login(request.getfixturevalue(role))

    # when they open the catalogue
    with at(CATALOGUE_DAY):
        response = client.get(reverse("slas:catalogue"))

    # then every active policy is there, the default last, with each goal's targets in business hours and days
    assert response.status_code == 200
    page = response.content.decode()
    assert [policy.name for policy, _ in response.context["policies"]] == [CAPITAL_POLICY, STANDARD_POLICY]
    rows = catalogue_rows(page)
    assert rows == {
        applies_to: f"{applies_to} {first_response} no completed requests yet "
        f"{resolution} no completed requests yet Procurement office hours"
        for applies_to, (first_response, resolution) in {**CAPITAL_TARGETS, **STANDARD_TARGETS}.items()
    }
    assert "Mon–Fri 08:00–12:00, 13:00–17:00" in page
    assert "Time zone Europe/Berlin" in page


def test_the_catalogue_leaves_out_an_inactive_policy(client, requester):
    # given the capital policy switched off
    SlaPolicy.objects.filter(name=CAPITAL_POLICY).update(is_active=False)
    client.force_login(requester)

    # when the catalogue is opened
    response = client.get(reverse("slas:catalogue"))

    # then only the standard service is published
    assert [policy.name for policy, _ in response.context["policies"]] == [STANDARD_POLICY]
    assert CAPITAL_POLICY not in response.content.decode()


def test_the_catalogue_asks_an_anonymous_visitor_to_log_in(client):
    # when someone not logged in opens the catalogue
    response = client.get(reverse("slas:catalogue"))

    # then they are sent to the login page, coming back afterwards
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse('slas:catalogue')}"


def test_the_catalogue_benchmarks_the_clocks_stopped_in_the_last_90_days(client, requester, track_record):
    # given met and missed clocks of March, a cancelled request and one completed in November
    client.force_login(requester)

    # when the catalogue is opened on 31 March
    with at(CATALOGUE_DAY):
        page = client.get(reverse("slas:catalogue")).content.decode()

    # then normal requests show 2 of 3 first responses and 1 of 2 resolutions met, with median and p90
    rows = catalogue_rows(page)
    assert rows["Normal priority"] == (
        "Normal priority "
        "4 business hours 67 % met median 1 h 00 min · p90 5 h 00 min · 3 requests "
        "5 business days 50 % met median 3.6 business days · p90 5.1 business days · 2 requests "
        "Procurement office hours"
    )
    # and urgent ones their single answered first response; nothing resolved yet
    assert rows["Urgent priority"] == (
        "Urgent priority 1 business hour 100 % met median 20 min · p90 20 min · 1 request "
        "1 business day no completed requests yet Procurement office hours"
    )
    assert "no completed requests yet" in rows["Low priority"]


def test_a_reopened_request_counts_once_with_its_last_cycles_result(client, requester, buyer):
    # given a request answered and completed in time (cycle 1), then reopened, answered again and completed late
    procurement_request = take(submit(requester), buyer, berlin(10, 9, 30))
    reply(procurement_request, buyer, berlin(10, 10))
    complete(procurement_request, buyer, berlin(11, 10))
    with at(berlin(12, 10)):
        services.procurement_request_reopen(procurement_request=procurement_request, actor=buyer, note="Wrong size")
    reply(procurement_request, buyer, berlin(12, 11))
    complete(procurement_request, buyer, berlin(19, 10))  # cycle 2 was due Tuesday 18 March 09:00
    assert [clock.met for clock in cycles(procurement_request, RESOLUTION)] == [True, False]
    client.force_login(requester)

    # when the catalogue and the Goods promise are read on 31 March
    with at(CATALOGUE_DAY):
        page = client.get(reverse("slas:catalogue")).content.decode()
    text = promise(client, requester, category=procurement_request.category_id, priority=Priority.NORMAL)

    # then the request counts once, with the result of its last cycle (SLA-SEMANTICS, Reopen)
    assert catalogue_rows(page)["Normal priority"] == (
        "Normal priority "
        "4 business hours 100 % met median 1 h 00 min · p90 1 h 00 min · 1 request "
        "5 business days 0 % met median 6.1 business days · p90 6.1 business days · 1 request "
        "Procurement office hours"
    )
    assert "Last quarter, 0 % of Goods requests were resolved on time (1 request)." in text


def _more_goals_and_clocks(requester, buyer, n):
    """n extra goals (one policy, each goal on its own calendar) and n answered normal requests."""
    policy = SlaPolicyFactory(name="Facilities", position=50)
    for number in range(n):
        SlaGoalFactory(policy=policy, position=number, category=CategoryFactory(name=f"Facilities {number}"))
    for number in range(n):
        procurement_request = submit(requester, berlin(10 + number, 9))
        reply(procurement_request, buyer, berlin(10 + number, 10))


# base (session, user, user and group permissions), the policies, their goals (category, department
# and calendar joined), the calendars in use, their versions, the stopped clocks, and for the
# navigation the department (with the membership) and the groups of the user menu
CATALOGUE_QUERIES = 11


@pytest.mark.parametrize("n", [1, 6], ids=["1-goal-and-clock", "6-goals-and-clocks"])
@pytest.mark.parametrize("role", ["requester", "head", "buyer", "manager"])
def test_the_catalogue_costs_the_same_queries_whatever_the_number_of_goals_and_clocks(
    client, request, django_assert_num_queries, requester, buyer, n, role
):
    # given n extra goals and n stopped clocks
    _more_goals_and_clocks(requester, buyer, n)
    client.force_login(request.getfixturevalue(role))

    # when the catalogue is opened
    with at(CATALOGUE_DAY), django_assert_num_queries(CATALOGUE_QUERIES):
        response = client.get(reverse("slas:catalogue"))

    # then every goal and benchmark is shown at a fixed cost
    assert response.status_code == 200
    rows = dict(response.context["policies"])
    assert len(rows[SlaPolicy.objects.get(name="Facilities")]) == n
    normal = next(row for row in rows[SlaPolicy.objects.get(name=STANDARD_POLICY)] if row.goal.priority == "normal")
    assert normal.benchmarks[FIRST_RESPONSE].count == n


# --- the promise on the new-request form ------------------------------------------------------------


def promise(client, user, moment=CATALOGUE_DAY, **query):
    client.force_login(user)
    with at(moment):
        response = client.get(reverse("slas:promise"), query)
    assert response.status_code == 200
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.mark.parametrize(
    ("category_name", "priority", "first_response", "resolution", "policy_name"),
    [
        ("Goods", Priority.URGENT, "1 business hour", "1 business day", STANDARD_POLICY),
        ("Goods", Priority.NORMAL, "4 business hours", "5 business days", STANDARD_POLICY),
        ("Services", Priority.LOW, "1 business day", "10 business days", STANDARD_POLICY),
        ("Capital equipment", Priority.NORMAL, "1 business day", "20 business days", CAPITAL_POLICY),
        ("Contract renewal", Priority.URGENT, "1 business day", "10 business days", CAPITAL_POLICY),
    ],
)
def test_the_promise_names_the_targets_of_the_matching_goal(
    client, requester, category_name, priority, first_response, resolution, policy_name
):
    # when the requester picks a category and a priority on the new-request form
    category = Category.objects.get(name=category_name)
    text = promise(client, requester, category=category.pk, priority=priority)

    # then the fragment promises that goal's targets, in business time of its calendar
    assert (
        f"First response within {first_response} , resolved within {resolution} "
        f"({policy_name}; business time in Procurement office hours) ."
    ) in text
    assert f"No {category_name} requests were completed last quarter to compare with." in text


def test_the_promise_gives_the_share_of_the_categorys_requests_resolved_on_time_last_quarter(
    client, requester, track_record
):
    # given two Goods requests completed in March, one in time and one late (and one in November, too old)
    # when the promise for Goods is asked for on 31 March
    text = promise(client, requester, category=Category.objects.get(name="Goods").pk, priority=Priority.NORMAL)

    # then it gives the share met and how many requests it is based on
    assert "Last quarter, 50 % of Goods requests were resolved on time (2 requests)." in text


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"priority": "normal"},
        {"category": "GOODS"},
        {"category": "", "priority": "normal"},
        {"category": "not-a-number", "priority": "normal"},
        {"category": "1.5", "priority": "normal"},
        {"category": "999999", "priority": "normal"},
        {"category": "9" * 30, "priority": "normal"},
        {"category": "GOODS", "priority": "whenever"},
        {"category": "INACTIVE", "priority": "normal"},
    ],
    ids=[
        "nothing",
        "no-category",
        "no-priority",
        "empty-category",
        "non-numeric-category",
        "decimal-category",
        "unknown-category",
        "out-of-range-category",
        "unknown-priority",
        "inactive-category",
    ],
)
def test_the_promise_shows_only_a_hint_for_missing_or_invalid_input(client, requester, query):
    # given the ids behind the placeholders
    goods = Category.objects.get(name="Goods")
    inactive = CategoryFactory(name="Discontinued", is_active=False)
    query = {key: {"GOODS": goods.pk, "INACTIVE": inactive.pk}.get(value, value) for key, value in query.items()}

    # when the fragment is asked for with that input
    text = promise(client, requester, **query)

    # then it answers with the hint, and no promise
    assert text == "Choose a category and priority to see the promised response and resolution times."


def test_the_promise_asks_an_anonymous_visitor_to_log_in(client):
    # when someone not logged in asks for the fragment
    response = client.get(reverse("slas:promise"), {"category": 1, "priority": "normal"})

    # then they are sent to the login page
    assert response.status_code == 302
    assert response.url.startswith(f"{reverse('login')}?next=")


@pytest.mark.django_db
def test_completing_without_any_reply_stops_the_first_response_clock_too(requester, buyer):
    # given a request the buyer worked without ever writing to the requester
    procurement_request = submit(requester)
    take(procurement_request, buyer, berlin(10, 9, 30))
    # when the buyer completes it
    with at(berlin(10, 10)):
        services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    # then no clock is left running: completion answered the requester, within the 4 h goal
    first_response = SlaClock.objects.get(procurement_request=procurement_request, metric=FIRST_RESPONSE)
    assert first_response.stopped_at == berlin(10, 10)
    assert first_response.met is True
    assert not SlaClock.objects.filter(procurement_request=procurement_request).running().exists()
