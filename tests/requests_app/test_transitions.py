"""The status table: every (from, to) pair of Status through procurement_request_transition."""

import itertools

import pytest

from requests_app import services
from requests_app.models import TRANSITIONS, EventKind, ProcurementRequest, RequestEvent, Status
from tests.factories import file_request

# Written out rather than read from TRANSITIONS, so that a wrong edit to the table fails here.
ALLOWED = {
    (Status.SUBMITTED, Status.PENDING_APPROVAL),
    (Status.SUBMITTED, Status.ASSIGNED),
    (Status.SUBMITTED, Status.CANCELLED),
    (Status.PENDING_APPROVAL, Status.APPROVED),
    (Status.PENDING_APPROVAL, Status.ASSIGNED),  # approval asked for mid-flight: back to the buyer
    (Status.PENDING_APPROVAL, Status.REJECTED),
    (Status.PENDING_APPROVAL, Status.CANCELLED),
    (Status.APPROVED, Status.ASSIGNED),
    (Status.APPROVED, Status.CANCELLED),
    (Status.ASSIGNED, Status.IN_PROGRESS),
    (Status.ASSIGNED, Status.WAITING_FOR_REQUESTER),
    (Status.ASSIGNED, Status.WAITING_FOR_SUPPLIER),
    (Status.ASSIGNED, Status.CANCELLED),
    (Status.ASSIGNED, Status.PENDING_APPROVAL),  # a category change that needs approval
    (Status.IN_PROGRESS, Status.WAITING_FOR_REQUESTER),
    (Status.IN_PROGRESS, Status.WAITING_FOR_SUPPLIER),
    (Status.IN_PROGRESS, Status.ORDERED),
    (Status.IN_PROGRESS, Status.COMPLETED),
    (Status.IN_PROGRESS, Status.CANCELLED),
    (Status.IN_PROGRESS, Status.PENDING_APPROVAL),
    (Status.WAITING_FOR_REQUESTER, Status.IN_PROGRESS),
    (Status.WAITING_FOR_REQUESTER, Status.CANCELLED),
    (Status.WAITING_FOR_SUPPLIER, Status.IN_PROGRESS),
    (Status.WAITING_FOR_SUPPLIER, Status.ORDERED),
    (Status.WAITING_FOR_SUPPLIER, Status.CANCELLED),
    (Status.WAITING_FOR_SUPPLIER, Status.PENDING_APPROVAL),
    (Status.ORDERED, Status.COMPLETED),
    (Status.ORDERED, Status.IN_PROGRESS),
    (Status.ORDERED, Status.CANCELLED),
    (Status.COMPLETED, Status.CLOSED),
    (Status.COMPLETED, Status.IN_PROGRESS),
}
# Moves that change the SLA clocks of a request submitted without approval (so both clocks run):
# they add one SLA timeline line after the move's own event. Entering pending approval or waiting
# for the requester pauses resolution (the question also answers first response), completing stops
# resolution, rejecting or cancelling stops both, and reopening starts a new first-response cycle.
CLOCK_MOVES = {
    (from_status, to_status)
    for from_status, to_status in ALLOWED
    if to_status
    in {Status.PENDING_APPROVAL, Status.WAITING_FOR_REQUESTER, Status.COMPLETED, Status.REJECTED, Status.CANCELLED}
} | {(Status.COMPLETED, Status.IN_PROGRESS)}
ALL_PAIRS = list(itertools.product(Status, Status))
ALLOWED_PAIRS = [pytest.param(a, b, id=f"{a.value}->{b.value}") for a, b in ALL_PAIRS if (a, b) in ALLOWED]
REFUSED_PAIRS = [pytest.param(a, b, id=f"{a.value}->{b.value}") for a, b in ALL_PAIRS if (a, b) not in ALLOWED]


def _request_in(requester, status):
    procurement_request = file_request(requester)
    # Setup only: put the row straight into the status under test.
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(status=status)
    procurement_request.refresh_from_db()
    return procurement_request


def test_the_table_declares_exactly_the_documented_moves():
    # given the lifecycle table
    # when it is flattened into pairs
    declared = {(from_status, to_status) for from_status, targets in TRANSITIONS.items() for to_status in targets}
    # then it is exactly the documented set, and every status has an entry
    assert declared == ALLOWED
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.django_db
@pytest.mark.parametrize(("from_status", "to_status"), ALLOWED_PAIRS)
def test_an_allowed_move_changes_the_status_and_writes_one_event(requester, buyer, from_status, to_status):
    # given a request in from_status, its SLA clocks running since submission
    procurement_request = _request_in(requester, from_status)
    events_before = set(RequestEvent.objects.values_list("pk", flat=True))

    # when it is moved to to_status
    moved = services.procurement_request_transition(
        procurement_request=procurement_request, to_status=to_status, actor=buyer, note="Moving on"
    )

    # then the row has the new status and exactly one event records the move
    assert moved.status == to_status
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).status == to_status
    new_events = RequestEvent.objects.exclude(pk__in=events_before)
    assert new_events.exclude(kind=EventKind.SLA).count() == 1
    event = new_events.exclude(kind=EventKind.SLA).get()
    assert event.procurement_request_id == procurement_request.pk
    assert event.kind == EventKind.STATUS_CHANGED
    assert (event.from_status, event.to_status) == (from_status, to_status)
    assert event.actor == buyer
    assert event.note == "Moving on"
    # and a move that changes the clocks adds exactly one SLA line after it, written by no one
    clock_events = list(new_events.filter(kind=EventKind.SLA))
    assert len(clock_events) == (1 if (from_status, to_status) in CLOCK_MOVES else 0)
    for clock_event in clock_events:
        assert clock_event.procurement_request_id == procurement_request.pk
        assert clock_event.pk > event.pk
        assert clock_event.actor is None
        assert " clock " in clock_event.note


@pytest.mark.django_db
@pytest.mark.parametrize(("from_status", "to_status"), REFUSED_PAIRS)
def test_a_refused_move_raises_and_changes_nothing(requester, buyer, from_status, to_status):
    # given a request in from_status
    procurement_request = _request_in(requester, from_status)
    events_before = RequestEvent.objects.count()

    # when it is asked to move to a status the table does not allow
    with pytest.raises(services.ActionNotAllowed):
        services.procurement_request_transition(
            procurement_request=procurement_request, to_status=to_status, actor=buyer, note="Not allowed"
        )

    # then the stored status is unchanged and no event was written
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).status == from_status
    assert RequestEvent.objects.count() == events_before


@pytest.mark.django_db
def test_completing_stamps_completed_at(requester, buyer):
    # given a request in progress, never completed
    procurement_request = _request_in(requester, Status.IN_PROGRESS)
    assert procurement_request.completed_at is None

    # when it is completed
    services.procurement_request_transition(
        procurement_request=procurement_request, to_status=Status.COMPLETED, actor=buyer
    )

    # then the completion time is stored
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).completed_at is not None


@pytest.mark.django_db
def test_a_move_is_checked_against_the_stored_status_not_a_stale_copy(requester, buyer):
    # given a caller holding a copy that says "in progress" while the row was cancelled meanwhile
    procurement_request = _request_in(requester, Status.IN_PROGRESS)
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(status=Status.CANCELLED)

    # when the stale copy is moved to completed
    with pytest.raises(services.ActionNotAllowed):
        services.procurement_request_transition(
            procurement_request=procurement_request, to_status=Status.COMPLETED, actor=buyer
        )

    # then the cancelled row stays cancelled
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).status == Status.CANCELLED
