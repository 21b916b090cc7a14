"""Replaying a request's history rebuilds exactly the clocks the live events built (sla_recompute).

Hypothesis generates lifecycles: sequences of the actions people take (priority changes included, so
goals must be matched with the priority in force at each moment), each after a random wait,
played through the real request services under time-machine. Afterwards a rebuild from the event
history must find nothing to change, and a deliberately damaged clock must be repaired and audited.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from requests_app import permissions, services
from requests_app.models import EventKind, ProcurementRequest
from slas.models import SlaClock
from slas.services import clock_state, sla_clocks_rebuild
from tests.factories import file_request

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2025, 3, 3, 8, 30, tzinfo=BERLIN)  # a Monday morning

# Each step: who acts, and how; None where the action is not legal now (then the step is skipped).
ACTIONS = [
    "claim",
    "start",
    "ask",
    "answer",
    "reply",
    "note",
    "supplier",
    "resume",
    "order",
    "complete",
    "reopen",
    "raise",
    "lower",
]
PRIORITIES = ["low", "normal", "high", "urgent"]


def _take(action, procurement_request, *, requester, buyer, manager):
    pr = ProcurementRequest.objects.get(pk=procurement_request.pk)
    if action in ("raise", "lower"):
        # The manager may change it before anyone claims it; the assignee afterwards.
        actor = buyer if pr.assignee_id == buyer.id else manager
        index = PRIORITIES.index(pr.priority) + (1 if action == "raise" else -1)
        legal = permissions.action_is_legal("reprioritise", pr) and permissions.can_perform(actor, "reprioritise", pr)
        if legal and 0 <= index < len(PRIORITIES):
            services.procurement_request_reprioritise(
                procurement_request=pr, actor=actor, priority=PRIORITIES[index], note=f"{action.title()}d."
            )
        return
    if action == "answer":
        if pr.status == "waiting_for_requester":
            services.comment_add(procurement_request=pr, author=requester, body="Here is the answer.")
        return
    if action in ("reply", "note"):
        if pr.is_open:
            services.comment_add(procurement_request=pr, author=buyer, body="Update.", is_internal=action == "note")
        return
    verb = {
        "claim": ("claim", {}),
        "start": ("start", {}),
        "ask": ("wait_for_requester", {"note": "Which model?"}),
        "supplier": ("wait_for_supplier", {}),
        "resume": ("resume", {}),
        "order": ("mark_ordered", {"po_number": "PO-1"}),
        "complete": ("complete", {}),
        "reopen": ("reopen", {"note": "Still missing a part."}),
    }[action]
    name, arguments = verb
    actor = requester if name == "reopen" else buyer
    if permissions.action_is_legal(name, pr) and permissions.can_perform(actor, name, pr):
        getattr(services, f"procurement_request_{name}")(procurement_request=pr, actor=actor, **arguments)


lifecycles = st.lists(
    st.tuples(st.sampled_from(ACTIONS), st.integers(min_value=0, max_value=3 * 24 * 60)),  # minutes to wait
    min_size=1,
    max_size=12,
)


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=lifecycles, priority=st.sampled_from(PRIORITIES))
def test_replaying_the_history_changes_nothing(requester, buyer, manager, steps, priority):
    # given a request that went through a generated lifecycle, each step at its own moment
    moment = START
    with time_machine.travel(moment, tick=False):
        procurement_request = file_request(requester, priority=priority)
    for action, wait_minutes in steps:
        moment += timedelta(minutes=wait_minutes)
        with time_machine.travel(moment, tick=False):
            _take(action, procurement_request, requester=requester, buyer=buyer, manager=manager)
    live = clock_state(procurement_request)
    events_before = procurement_request.events.count()

    # when its clocks are rebuilt from the event history
    changed = sla_clocks_rebuild(procurement_request=procurement_request, actor=buyer)

    # then nothing differs, nothing is rewritten and nothing is added to the timeline
    assert live, "the lifecycle started clocks"
    assert changed is False
    assert clock_state(procurement_request) == live
    assert procurement_request.events.count() == events_before


@pytest.mark.django_db
def test_a_damaged_clock_is_repaired_and_the_repair_is_on_the_timeline(requester, buyer):
    # given a request whose resolution clock was damaged (say, by a bug since fixed)
    with time_machine.travel(START, tick=False):
        procurement_request = file_request(requester)
    with time_machine.travel(START + timedelta(hours=2), tick=False):
        services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    live = clock_state(procurement_request)
    SlaClock.objects.filter(procurement_request=procurement_request, metric="resolution").update(
        due_at=START, elapsed_business=1
    )

    # when its clocks are recomputed
    changed = sla_clocks_rebuild(procurement_request=procurement_request, actor=buyer)

    # then they are what the history says again, and the timeline names who recomputed them
    assert changed is True
    assert clock_state(procurement_request) == live
    last = procurement_request.events.filter(kind=EventKind.SLA).latest("id")
    assert "recomputed from the history by" in last.note
    assert buyer.get_full_name() in last.note


@pytest.mark.django_db
def test_the_recompute_command_reports_what_it_changed(requester, buyer, capsys):
    # given two requests, one with a damaged clock
    with time_machine.travel(START, tick=False):
        intact = file_request(requester)
        damaged = file_request(requester)
    SlaClock.objects.filter(procurement_request=damaged, metric="first_response").update(goal_seconds=1)

    # when every request is recomputed
    call_command("sla_recompute", "--all", "--by", buyer.username)

    # then only the damaged one was rebuilt, and the summary says so
    output = capsys.readouterr().out
    assert f"{damaged.reference}: clocks rebuilt" in output
    assert intact.reference not in output
    assert "1 request(s) recomputed, 1 unchanged." in output


@pytest.mark.django_db
def test_the_recompute_command_refuses_an_unknown_request():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--request"):
        call_command("sla_recompute", "--request", "PR-1999-000001")
