"""Changing an open request's priority or category: who may, what is recorded, and how the SLA clocks follow.

Instants are fixed with time_machine and named in Berlin wall time; the calendar is the office-hours one
the data migration installs (Mon–Fri 08:00–12:00 and 13:00–17:00, Europe/Berlin), as in
tests/slas/test_clock_services.py.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from requests_app import services
from requests_app.models import EventKind, Priority, ProcurementRequest, Status
from slas.models import Metric, SlaClock
from slas.services import clock_state, sla_clocks_rebuild
from tests.factories import CategoryFactory
from tests.requests_app.test_views import field_error, page_of
from tests.slas.test_clock_services import HOUR, at, berlin, standard_goal, submit, take

pytestmark = pytest.mark.django_db

FIRST_RESPONSE, RESOLUTION = Metric.FIRST_RESPONSE, Metric.RESOLUTION


def current(procurement_request, metric):
    return SlaClock.objects.get(procurement_request=procurement_request, metric=metric, is_current=True)


def reprioritise(procurement_request, actor, moment, *, note="The production line is down.", **changes):
    with at(moment):
        return services.procurement_request_reprioritise(
            procurement_request=procurement_request, actor=actor, note=note, **changes
        )


@pytest.fixture
def working(requester, buyer):
    """A normal-priority request submitted Monday 09:00, in progress with its buyer since 09:30."""
    return take(submit(requester), buyer, berlin(10, 9, 30))


# --- who may, and what is recorded ------------------------------------------------------------------


def test_the_assignee_raises_the_priority_and_the_event_records_old_and_new_with_the_reason(working, buyer):
    # when the assignee makes the request urgent at Monday 10:00
    updated = reprioritise(working, buyer, berlin(10, 10), priority=Priority.URGENT)

    # then the request is urgent, and one event says so with its structured facts and the reason
    assert ProcurementRequest.objects.get(pk=working.pk).priority == Priority.URGENT
    assert updated.priority == Priority.URGENT
    event = working.events.get(kind=EventKind.REPRIORITISED)
    assert (event.actor, event.created_at) == (buyer, berlin(10, 10))
    assert event.data == {"priority": ["normal", "urgent"]}
    assert event.note == "Priority Normal → Urgent: The production line is down."
    # and the SLA line right after it names both goals
    sla_line = working.events.filter(kind=EventKind.SLA, pk__gt=event.pk).get()
    assert "goal 4 h → 1 h (Standard service)" in sla_line.note


def test_a_manager_may_change_the_category_too(working, manager):
    # given another category
    services_category = CategoryFactory(name="Services", approval_threshold=None)

    # when the manager moves the request to it and raises the priority
    reprioritise(working, manager, berlin(10, 10), priority=Priority.HIGH, category=services_category)

    # then both changes are recorded in one event
    event = working.events.get(kind=EventKind.REPRIORITISED)
    assert event.data == {"priority": ["normal", "high"], "category": [working.category_id, services_category.pk]}
    assert event.note == "Priority Normal → High, category Goods → Services: The production line is down."
    assert ProcurementRequest.objects.get(pk=working.pk).category == services_category


@pytest.mark.parametrize("who", ["requester", "head", "other_buyer"])
def test_people_who_do_not_work_the_request_may_not_change_it(request, working, who):
    # when someone who is not the assignee nor a manager tries
    with pytest.raises(PermissionDenied):
        reprioritise(working, request.getfixturevalue(who), berlin(10, 10), priority=Priority.URGENT)

    # then nothing changed
    assert ProcurementRequest.objects.get(pk=working.pk).priority == Priority.NORMAL
    assert not working.events.filter(kind=EventKind.REPRIORITISED).exists()


@pytest.mark.parametrize("note", ["", "   "], ids=["empty", "blank"])
def test_a_reason_is_required(working, buyer, note):
    with pytest.raises(ValidationError) as refused:
        reprioritise(working, buyer, berlin(10, 10), note=note, priority=Priority.URGENT)
    assert "note" in refused.value.message_dict
    assert ProcurementRequest.objects.get(pk=working.pk).priority == Priority.NORMAL


def test_a_change_that_changes_nothing_is_refused(working, buyer):
    with pytest.raises(ValidationError, match="different from the current one"):
        reprioritise(working, buyer, berlin(10, 10), priority=Priority.NORMAL, category=working.category)
    with pytest.raises(ValidationError):
        reprioritise(working, buyer, berlin(10, 10))
    assert not working.events.filter(kind=EventKind.REPRIORITISED).exists()


def test_a_closed_request_cannot_be_reprioritised(working, buyer):
    with at(berlin(10, 10)):
        completed = services.procurement_request_complete(procurement_request=working, actor=buyer)
    assert completed.status == Status.COMPLETED
    with pytest.raises(services.ActionNotAllowed):
        reprioritise(completed, buyer, berlin(10, 11), priority=Priority.URGENT)


# --- the SLA clocks -----------------------------------------------------------------------------------


def test_a_stricter_goal_already_exceeded_breaches_at_once_at_the_theoretical_instant(working, buyer):
    # given a normal request with 5 business hours used by Monday 15:00
    # when it becomes urgent then (1 h to first response, 8 h to resolution)
    reprioritise(working, buyer, berlin(10, 15), priority=Priority.URGENT)

    # then first response is breached since Monday 10:00 (start + 1 h), recorded at the change
    first_response = current(working, FIRST_RESPONSE)
    assert (first_response.goal, first_response.goal_seconds) == (standard_goal(Priority.URGENT), HOUR)
    assert (first_response.breached, first_response.ever_breached) == (True, True)
    assert first_response.breached_at == berlin(10, 10)
    assert first_response.computed_at == berlin(10, 15)
    assert first_response.elapsed_business == 5 * HOUR
    # and resolution keeps its elapsed time against the new 8 h: due Tuesday 09:00, not breached
    resolution = current(working, RESOLUTION)
    assert (resolution.goal_seconds, resolution.due_at, resolution.breached) == (8 * HOUR, berlin(11, 9), False)


def test_a_relaxed_goal_clears_breached_but_ever_breached_stays(working, buyer):
    # given first response breached by a change to urgent at Monday 15:00
    reprioritise(working, buyer, berlin(10, 15), priority=Priority.URGENT)

    # when the request is lowered to low priority at 16:00 (8 h to first response, 80 h to resolution)
    reprioritise(working, buyer, berlin(10, 16), priority=Priority.LOW, note="Not so urgent after all.")

    # then first response is no longer breached, but it was: 6 h used, due Tuesday 09:00
    first_response = current(working, FIRST_RESPONSE)
    assert (first_response.goal_seconds, first_response.elapsed_business) == (8 * HOUR, 6 * HOUR)
    assert (first_response.breached, first_response.ever_breached) == (False, True)
    assert first_response.due_at == berlin(11, 9)
    assert current(working, RESOLUTION).due_at == berlin(24, 9)


def test_replaying_a_history_with_priority_changes_rebuilds_the_same_clocks(working, buyer):
    # given first response answered at 11:00 under the normal goal (2 h of 4 h), then a raise to urgent
    with at(berlin(10, 11)):
        services.comment_add(procurement_request=working, author=buyer, body="On it.")
    reprioritise(working, buyer, berlin(10, 15), priority=Priority.URGENT)
    reprioritise(working, buyer, berlin(11, 10), priority=Priority.HIGH, note="Urgent was too much.")
    live = clock_state(working)
    assert current(working, FIRST_RESPONSE).met is True

    # when its clocks are rebuilt from the history
    changed = sla_clocks_rebuild(procurement_request=working, actor=buyer)

    # then the goal in force at each moment was used (normal when first response stopped): nothing differs
    assert changed is False
    assert clock_state(working) == live


# --- the request page -----------------------------------------------------------------------------------


def test_the_assignee_changes_the_priority_from_the_request_page(client, working, buyer):
    client.force_login(buyer)
    detail_url = reverse("requests_app:detail", args=[working.reference])
    assert "Change priority…" in page_of(client.get(detail_url))

    response = client.post(
        reverse("requests_app:reprioritise", args=[working.reference]),
        {"priority": "urgent", "category": "", "note": "The production line is down."},
    )

    assert response.status_code == 302
    assert response.url == detail_url
    assert ProcurementRequest.objects.get(pk=working.pk).priority == Priority.URGENT
    page = page_of(client.get(detail_url))
    assert "has its new priority or category" in page
    assert "Priority Normal → Urgent: The production line is down." in page


def test_the_requester_may_not_change_the_priority(client, working, requester):
    client.force_login(requester)
    response = client.post(
        reverse("requests_app:reprioritise", args=[working.reference]), {"priority": "urgent", "note": "Please."}
    )
    assert response.status_code == 403
    assert ProcurementRequest.objects.get(pk=working.pk).priority == Priority.NORMAL


def test_a_change_without_a_reason_is_refused_beside_the_field(client, working, buyer):
    client.force_login(buyer)
    events_before = working.events.count()

    response = client.post(
        reverse("requests_app:reprioritise", args=[working.reference]), {"priority": "urgent", "note": ""}
    )

    page = page_of(response)
    assert response.status_code == 400
    assert field_error(page, "id_reprioritise_note") == "This field is required."
    assert 'class="collapse show" id="action-reprioritise"' in page
    assert ProcurementRequest.objects.get(pk=working.pk).priority == Priority.NORMAL
    assert working.events.count() == events_before


# --- a category change that calls for approval ------------------------------------------------------


@pytest.fixture
def capital():
    """A category whose requests above 1,000 EUR need the department head's approval."""
    return CategoryFactory(name="Capital equipment (test)", approval_threshold=1000)


def test_a_category_change_that_needs_approval_sends_the_request_to_the_head_and_pauses_resolution(
    working, buyer, head, capital
):
    # given a 1,200 EUR request in progress, in a category without approval
    # when the buyer moves it to a category needing approval above 1,000 EUR
    updated = reprioritise(working, buyer, berlin(10, 10), category=capital, note="It is a capital purchase.")

    # then it waits for the head, its resolution clock paused, and the timeline says why
    assert updated.status == Status.PENDING_APPROVAL
    assert current(working, RESOLUTION).paused_since == berlin(10, 10)
    moved = working.events.filter(kind=EventKind.STATUS_CHANGED).latest("pk")
    assert (moved.from_status, moved.to_status) == (Status.IN_PROGRESS, Status.PENDING_APPROVAL)
    assert "need approval; waiting for" in moved.note and head.get_full_name() in moved.note


def test_once_approved_the_request_goes_back_to_its_buyer_and_the_clock_resumes(working, buyer, head, capital):
    # given a request sent to approval by a category change at 10:00
    reprioritise(working, buyer, berlin(10, 10), category=capital)

    # when the head approves it at 11:00
    with at(berlin(10, 11)):
        approved = services.procurement_request_approve(procurement_request=working, actor=head)

    # then it is the buyer's again, and the hour of waiting is not counted
    assert (approved.status, approved.assignee) == (Status.ASSIGNED, buyer)
    resolution = current(working, RESOLUTION)
    assert resolution.paused_since is None
    assert list(resolution.pauses.values_list("started_at", "ended_at", "reason")) == [
        (berlin(10, 10), berlin(10, 11), "pending_approval")
    ]


def test_a_request_approved_before_is_not_sent_to_approval_again(requester, buyer, head, capital):
    # given a request that needed approval at submission and got it, then was worked
    procurement_request = submit(requester, category=capital)
    with at(berlin(10, 9, 10)):
        services.procurement_request_approve(procurement_request=procurement_request, actor=head)
    procurement_request = take(procurement_request, buyer, berlin(10, 9, 30))
    other_capital = CategoryFactory(name="Contract renewal (test)", approval_threshold=500)

    # when the buyer moves it to another category needing approval
    updated = reprioritise(procurement_request, buyer, berlin(10, 10), category=other_capital)

    # then it stays in progress
    assert updated.status == Status.IN_PROGRESS


@pytest.mark.parametrize("status", [Status.WAITING_FOR_REQUESTER, Status.ORDERED])
def test_a_category_change_needing_approval_is_refused_when_approval_can_no_longer_be_asked(
    working, buyer, capital, status
):
    # given a request waiting for its requester, or already ordered
    ProcurementRequest.objects.filter(pk=working.pk).update(status=status)
    events = working.events.count()

    # when the buyer moves it to a category needing approval, then it is refused, naming the field
    with pytest.raises(ValidationError) as refused:
        reprioritise(working, buyer, berlin(10, 10), category=capital)
    assert "cannot be asked for" in refused.value.message_dict["category"][0]
    row = ProcurementRequest.objects.get(pk=working.pk)
    assert (row.category_id, row.status, working.events.count()) == (working.category_id, status, events)


def test_replaying_a_mid_flight_approval_changes_nothing(working, buyer, head, capital):
    # given a request sent to approval by a category change and approved
    reprioritise(working, buyer, berlin(10, 10), category=capital)
    with at(berlin(10, 11)):
        services.procurement_request_approve(procurement_request=working, actor=head)
    live = clock_state(working)

    # when its clocks are rebuilt from the history, then nothing differs
    with at(berlin(10, 12)):
        assert sla_clocks_rebuild(procurement_request=working) is False
    assert clock_state(working) == live
