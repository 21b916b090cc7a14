"""The write services: who may take each action, when, what they must say, and what gets recorded."""

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from requests_app import services
from requests_app.models import (
    Attachment,
    Comment,
    Currency,
    EventKind,
    ProcurementRequest,
    RequestEvent,
    Status,
)
from requests_app.routing import routing_defaults_ensure
from slas.demo import sla_defaults_ensure
from slas.models import SlaClock
from stakeholders.roles import Role
from tests.factories import CategoryFactory, euro, file_request, person

ACTORS = ["requester", "colleague", "other_requester", "head", "buyer", "other_buyer", "manager"]

# Statuses in which Procurement has taken the request, so it has an assignee.
WORKED = {
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.WAITING_FOR_REQUESTER,
    Status.WAITING_FOR_SUPPLIER,
    Status.ORDERED,
    Status.COMPLETED,
    Status.CLOSED,
}
OPEN = {
    Status.SUBMITTED,
    Status.PENDING_APPROVAL,
    Status.APPROVED,
    Status.ASSIGNED,
    Status.IN_PROGRESS,
    Status.WAITING_FOR_REQUESTER,
    Status.WAITING_FOR_SUPPLIER,
    Status.ORDERED,
}


@pytest.fixture
def people(requester, colleague, other_requester, head, buyer, other_buyer, manager):
    """Everyone at once, so that the department always has its head while a rule is checked."""
    return {
        "requester": requester,
        "colleague": colleague,
        "other_requester": other_requester,
        "head": head,
        "buyer": buyer,
        "other_buyer": other_buyer,
        "manager": manager,
    }


def _put_in(procurement_request, status, *, assignee=None, completed_at=None):
    """Setup only: write the status (and what goes with it) straight to the row."""
    fields = {"status": status, "assignee": assignee}
    if status in {Status.COMPLETED, Status.CLOSED}:
        fields["completed_at"] = completed_at or timezone.now()
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(**fields)
    procurement_request.refresh_from_db()
    return procurement_request


def _snapshot(procurement_request):
    """Everything a refused action must leave as it was."""
    row = ProcurementRequest.objects.values(
        "status", "assignee_id", "po_number", "completed_at", "updated_at", "requires_approval"
    ).get(pk=procurement_request.pk)
    return (
        row,
        list(RequestEvent.objects.order_by("pk").values_list("pk", flat=True)),
        Comment.objects.count(),
        Attachment.objects.count(),
        list(SlaClock.objects.order_by("pk").values()),
    )


def _new_events(procurement_request, before):
    return list(procurement_request.events.exclude(pk__in=before[1]).order_by("pk"))


def _lifecycle_and_clock_events(procurement_request, before):
    """The new events, split into the action's own and the SLA lines its clock changes added.

    Routing's line after an approval is neither: tests/requests_app/test_routing.py checks it.
    """
    new = [event for event in _new_events(procurement_request, before) if event.kind != EventKind.ROUTED]
    return [event for event in new if event.kind != EventKind.SLA], [
        event for event in new if event.kind == EventKind.SLA
    ]


# --- the verbs ------------------------------------------------------------------------------------


class Verb:
    def __init__(self, service, *, legal, target, arguments=None, who, who_status):
        self.service = service
        self.legal = legal
        self.target = target
        self.arguments = arguments or (lambda people: {})
        self.who = who
        self.who_status = who_status


VERBS = {
    "approve": Verb(
        services.procurement_request_approve,
        legal={Status.PENDING_APPROVAL},
        target=Status.APPROVED,
        who={"head"},
        who_status=Status.PENDING_APPROVAL,
    ),
    "reject": Verb(
        services.procurement_request_reject,
        legal={Status.PENDING_APPROVAL},
        target=Status.REJECTED,
        arguments=lambda people: {"note": "Over the team budget"},
        who={"head"},
        who_status=Status.PENDING_APPROVAL,
    ),
    "claim": Verb(
        services.procurement_request_claim,
        legal={Status.SUBMITTED, Status.APPROVED},
        target=Status.ASSIGNED,
        who={"buyer", "other_buyer", "manager"},
        who_status=Status.SUBMITTED,
    ),
    "assign": Verb(
        services.procurement_request_assign,
        legal=OPEN - {Status.PENDING_APPROVAL},
        target=Status.ASSIGNED,  # only from an unworked status; otherwise the status stays
        arguments=lambda people: {"assignee": people["other_buyer"], "note": "Bob is on holiday"},
        who={"manager"},
        who_status=Status.SUBMITTED,
    ),
    "start": Verb(
        services.procurement_request_start,
        legal={Status.ASSIGNED},
        target=Status.IN_PROGRESS,
        who={"buyer", "manager"},
        who_status=Status.ASSIGNED,
    ),
    "wait_for_requester": Verb(
        services.procurement_request_wait_for_requester,
        legal={Status.ASSIGNED, Status.IN_PROGRESS},
        target=Status.WAITING_FOR_REQUESTER,
        arguments=lambda people: {"note": "Which keyboard layout?"},
        who={"buyer", "manager"},
        who_status=Status.IN_PROGRESS,
    ),
    "wait_for_supplier": Verb(
        services.procurement_request_wait_for_supplier,
        legal={Status.ASSIGNED, Status.IN_PROGRESS},
        target=Status.WAITING_FOR_SUPPLIER,
        who={"buyer", "manager"},
        who_status=Status.IN_PROGRESS,
    ),
    "resume": Verb(
        services.procurement_request_resume,
        legal={Status.WAITING_FOR_REQUESTER, Status.WAITING_FOR_SUPPLIER, Status.ORDERED},
        target=Status.IN_PROGRESS,
        who={"buyer", "manager"},
        who_status=Status.WAITING_FOR_SUPPLIER,
    ),
    "mark_ordered": Verb(
        services.procurement_request_mark_ordered,
        legal={Status.IN_PROGRESS, Status.WAITING_FOR_SUPPLIER},
        target=Status.ORDERED,
        arguments=lambda people: {"po_number": "PO-4711"},
        who={"buyer", "manager"},
        who_status=Status.IN_PROGRESS,
    ),
    "complete": Verb(
        services.procurement_request_complete,
        legal={Status.IN_PROGRESS, Status.ORDERED},
        target=Status.COMPLETED,
        who={"buyer", "manager"},
        who_status=Status.IN_PROGRESS,
    ),
    "close": Verb(
        services.procurement_request_close,
        legal={Status.COMPLETED},
        target=Status.CLOSED,
        who={"requester", "buyer", "manager"},
        who_status=Status.COMPLETED,
    ),
    "cancel": Verb(
        services.procurement_request_cancel,
        legal=OPEN,
        target=Status.CANCELLED,
        arguments=lambda people: {"note": "No longer needed"},
        who={"requester", "head", "manager"},
        who_status=Status.IN_PROGRESS,
    ),
    "reopen": Verb(
        services.procurement_request_reopen,
        legal={Status.COMPLETED},
        target=Status.IN_PROGRESS,
        arguments=lambda people: {"note": "The charger is missing"},
        who={"requester", "buyer", "manager"},
        who_status=Status.COMPLETED,
    ),
}


# Verbs that change the clocks of a request submitted without approval (both clocks running), so
# they add one SLA timeline line: rejecting and cancelling stop both clocks, asking the requester
# answers first response and pauses resolution, completing stops resolution, and reopening starts
# a new first-response cycle. The others leave the clocks as they are.
CLOCK_VERBS = {"reject", "wait_for_requester", "complete", "cancel", "reopen"}


def _assignee_for(verb_name, status, people):
    if verb_name == "claim":
        return None  # claimable means unassigned: let the status alone decide
    return people["buyer"] if status in WORKED else None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verb_name", "actor_name", "allowed"),
    [
        pytest.param(verb_name, actor_name, actor_name in verb.who, id=f"{verb_name}-{actor_name}")
        for verb_name, verb in VERBS.items()
        for actor_name in ACTORS
    ],
)
def test_only_the_right_people_may_take_each_action(people, verb_name, actor_name, allowed):
    # given a request of the requester's department in a status where the action is legal
    verb = VERBS[verb_name]
    procurement_request = file_request(people["requester"])
    _put_in(procurement_request, verb.who_status, assignee=_assignee_for(verb_name, verb.who_status, people))
    actor = people[actor_name]
    before = _snapshot(procurement_request)

    if allowed:
        # when someone allowed takes it, then it happens and the event names them
        updated = verb.service(procurement_request=procurement_request, actor=actor, **verb.arguments(people))
        assert ProcurementRequest.objects.get(pk=procurement_request.pk).status == updated.status
        assert updated.status == verb.target
        lifecycle, clock_events = _lifecycle_and_clock_events(procurement_request, before)
        assert [event.actor for event in lifecycle] == [actor]
        # and a verb that moves the clocks adds one SLA line after the event, written by no one
        assert [event.actor for event in clock_events] == ([None] if verb_name in CLOCK_VERBS else [])
        assert all(clock_event.pk > lifecycle[-1].pk for clock_event in clock_events)
    else:
        # when anyone else tries, then they are refused and nothing changes
        with pytest.raises(PermissionDenied):
            verb.service(procurement_request=procurement_request, actor=actor, **verb.arguments(people))
        assert _snapshot(procurement_request) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verb_name", "status"),
    [
        pytest.param(verb_name, status, id=f"{verb_name}-from-{status.value}")
        for verb_name in VERBS
        for status in Status
    ],
)
def test_each_action_is_taken_only_from_its_legal_statuses(people, verb_name, status):
    # given a request in `status`, and someone who may take the action
    verb = VERBS[verb_name]
    procurement_request = _put_in(
        file_request(people["requester"]), status, assignee=_assignee_for(verb_name, status, people)
    )
    actor = people[{"approve": "head", "reject": "head", "claim": "buyer"}.get(verb_name, "manager")]
    before = _snapshot(procurement_request)

    if status in verb.legal:
        # when the action is taken from a legal status, then the request moves
        updated = verb.service(procurement_request=procurement_request, actor=actor, **verb.arguments(people))
        expected = verb.target
        if verb_name == "assign" and status not in {Status.SUBMITTED, Status.APPROVED}:
            expected = status  # reassigning work in hand keeps its status
        assert updated.status == expected
        assert ProcurementRequest.objects.get(pk=procurement_request.pk).status == expected
    else:
        # when it is taken from any other status, then it is refused and nothing changes
        with pytest.raises(services.ActionNotAllowed):
            verb.service(procurement_request=procurement_request, actor=actor, **verb.arguments(people))
        assert _snapshot(procurement_request) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verb_name", "status", "actor_name", "field"),
    [
        ("reject", Status.PENDING_APPROVAL, "head", "note"),
        ("cancel", Status.IN_PROGRESS, "requester", "note"),
        ("reopen", Status.COMPLETED, "requester", "note"),
        ("wait_for_requester", Status.IN_PROGRESS, "buyer", "note"),
        ("mark_ordered", Status.IN_PROGRESS, "buyer", "po_number"),
    ],
)
@pytest.mark.parametrize("blank", ["", "   \n"], ids=["empty", "whitespace"])
def test_a_missing_reason_is_refused_with_the_field_named_and_nothing_written(
    people, verb_name, status, actor_name, field, blank
):
    # given a request where the action is legal, and someone who may take it
    procurement_request = _put_in(
        file_request(people["requester"]), status, assignee=_assignee_for(verb_name, status, people)
    )
    before = _snapshot(procurement_request)

    # when they take it without the reason it needs
    with pytest.raises(ValidationError) as error:
        VERBS[verb_name].service(procurement_request=procurement_request, actor=people[actor_name], **{field: blank})

    # then the error names the field, and nothing was written
    assert field in error.value.message_dict
    assert _snapshot(procurement_request) == before


@pytest.mark.django_db
def test_the_given_reason_is_recorded_on_the_event(people):
    # given a request in progress
    procurement_request = _put_in(file_request(people["requester"]), Status.IN_PROGRESS, assignee=people["buyer"])

    # when the requester cancels it, with surrounding whitespace
    services.procurement_request_cancel(
        procurement_request=procurement_request, actor=people["requester"], note="  Bought it myself \n"
    )

    # then the event carries the trimmed reason, and the SLA line after it says both clocks stopped
    event = procurement_request.events.exclude(kind=EventKind.SLA).latest("pk")
    assert (event.to_status, event.note) == (Status.CANCELLED, "Bought it myself")
    clock_event = procurement_request.events.latest("pk")
    assert (clock_event.kind, clock_event.actor) == (EventKind.SLA, None)
    assert clock_event.note == (
        "First response clock stopped: request cancelled; Resolution clock stopped: request cancelled."
    )


@pytest.mark.django_db
def test_marking_ordered_stores_the_po_number(people):
    # given a request in progress with its buyer
    procurement_request = _put_in(file_request(people["requester"]), Status.IN_PROGRESS, assignee=people["buyer"])

    # when the buyer records the order
    services.procurement_request_mark_ordered(
        procurement_request=procurement_request, actor=people["buyer"], po_number=" PO-4711 "
    )

    # then the PO number is stored and the event says so
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.po_number) == (Status.ORDERED, "PO-4711")
    event = procurement_request.events.latest("pk")
    assert (event.kind, event.note) == (EventKind.PO_RECORDED, "PO PO-4711")


# --- claim and assign -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_when_two_buyers_claim_the_same_request_the_second_is_refused(requester, buyer, other_buyer):
    # given a submitted request that both buyers loaded at the same time
    procurement_request = file_request(requester)
    seen_by_other_buyer = ProcurementRequest.objects.get(pk=procurement_request.pk)

    # when the first claims it, then the second claims their copy
    services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    with pytest.raises(services.ActionNotAllowed):
        services.procurement_request_claim(procurement_request=seen_by_other_buyer, actor=other_buyer)

    # then the first buyer keeps it, and only one claim is on the timeline
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.assignee) == (Status.ASSIGNED, buyer)
    claims = procurement_request.events.filter(kind=EventKind.ASSIGNED)
    assert [(event.actor, event.assignee) for event in claims] == [(buyer, buyer)]


@pytest.mark.django_db
def test_a_manager_assigns_a_new_request_to_a_buyer_with_an_event(requester, buyer, manager):
    # given a submitted request
    procurement_request = file_request(requester)

    # when the manager assigns it to a buyer
    services.procurement_request_assign(
        procurement_request=procurement_request, actor=manager, assignee=buyer, note="Laptops are yours"
    )

    # then it is assigned to the buyer, and the event records who gave it to whom
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.assignee) == (Status.ASSIGNED, buyer)
    event = procurement_request.events.latest("pk")
    assert (event.kind, event.actor, event.assignee) == (EventKind.ASSIGNED, manager, buyer)
    assert (event.from_status, event.to_status, event.note) == (Status.SUBMITTED, Status.ASSIGNED, "Laptops are yours")


@pytest.mark.django_db
@pytest.mark.parametrize("assignee_name", ["requester", "head"])
def test_assigning_to_someone_who_is_not_a_buyer_is_refused(people, assignee_name):
    # given a submitted request
    procurement_request = file_request(people["requester"])
    before = _snapshot(procurement_request)

    # when the manager assigns it to a non-buyer
    with pytest.raises(ValidationError) as error:
        services.procurement_request_assign(
            procurement_request=procurement_request, actor=people["manager"], assignee=people[assignee_name]
        )

    # then the assignee field is blamed and nothing changes
    assert "assignee" in error.value.message_dict
    assert _snapshot(procurement_request) == before


@pytest.mark.django_db
def test_assigning_to_an_inactive_buyer_is_refused(requester, manager, procurement_department):
    # given a buyer who has left
    gone = person(Role.BUYER, procurement_department, username="gone", is_active=False)
    procurement_request = file_request(requester)
    before = _snapshot(procurement_request)

    # when the manager assigns the request to them
    with pytest.raises(ValidationError) as error:
        services.procurement_request_assign(procurement_request=procurement_request, actor=manager, assignee=gone)

    # then it is refused
    assert "assignee" in error.value.message_dict
    assert _snapshot(procurement_request) == before


@pytest.mark.django_db
def test_reassigning_work_in_progress_keeps_its_status_and_records_the_new_buyer(
    requester, buyer, other_buyer, manager
):
    # given a request in progress with a buyer
    procurement_request = _put_in(file_request(requester), Status.IN_PROGRESS, assignee=buyer)

    # when the manager hands it to another buyer, saying why (a reassignment needs a reason)
    services.procurement_request_assign(
        procurement_request=procurement_request, actor=manager, assignee=other_buyer, note="Bob is on holiday"
    )

    # then the status stays, the assignee changes, and the event says to whom and why
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.assignee) == (Status.IN_PROGRESS, other_buyer)
    event = procurement_request.events.latest("pk")
    assert (event.kind, event.actor, event.assignee) == (EventKind.ASSIGNED, manager, other_buyer)
    assert (event.from_status, event.to_status, event.note) == ("", "", "Bob is on holiday")


@pytest.mark.django_db
def test_assigning_to_the_current_assignee_is_refused(requester, buyer, manager):
    # given a request already with the buyer
    procurement_request = _put_in(file_request(requester), Status.IN_PROGRESS, assignee=buyer)
    before = _snapshot(procurement_request)

    # when the manager assigns it to the same buyer
    with pytest.raises(ValidationError) as error:
        services.procurement_request_assign(procurement_request=procurement_request, actor=manager, assignee=buyer)

    # then it is refused, with no duplicate event
    assert "assignee" in error.value.message_dict
    assert _snapshot(procurement_request) == before


# --- reopen ---------------------------------------------------------------------------------------


@pytest.fixture
def completed_at_start(requester, buyer):
    """A request its buyer completed at a fixed moment; returns (request, when)."""
    completed_at = timezone.now().replace(microsecond=0)
    procurement_request = _put_in(file_request(requester), Status.IN_PROGRESS, assignee=buyer)
    with time_machine.travel(completed_at, tick=False):
        services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    return procurement_request, completed_at


@pytest.mark.django_db
def test_the_requester_may_reopen_within_the_window_and_it_goes_back_in_progress(requester, completed_at_start):
    # given a request completed almost a whole window ago
    procurement_request, completed_at = completed_at_start
    last_day = completed_at + timedelta(days=settings.REOPEN_WINDOW_DAYS) - timedelta(minutes=1)

    # when the requester reopens it on the last day
    with time_machine.travel(last_day, tick=False):
        services.procurement_request_reopen(procurement_request=procurement_request, actor=requester, note="No charger")

    # then it is back in progress, with the reason on the timeline
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.IN_PROGRESS
    event = procurement_request.events.exclude(kind=EventKind.SLA).latest("pk")
    assert (event.from_status, event.to_status, event.actor, event.note) == (
        Status.COMPLETED,
        Status.IN_PROGRESS,
        requester,
        "No charger",
    )
    # and the SLA line after it: resolution continues in a second cycle, first response starts again
    clock_event = procurement_request.events.latest("pk")
    assert (clock_event.kind, clock_event.actor) == (EventKind.SLA, None)
    assert clock_event.note == "Resolution clock continued: cycle 2; First response clock started: cycle 2."


@pytest.mark.django_db
def test_the_requester_may_not_reopen_after_the_window(requester, completed_at_start):
    # given a request completed a whole window ago
    procurement_request, completed_at = completed_at_start
    before = _snapshot(procurement_request)

    # when the requester tries to reopen it
    with (
        time_machine.travel(completed_at + timedelta(days=settings.REOPEN_WINDOW_DAYS), tick=False),
        pytest.raises(PermissionDenied),
    ):
        services.procurement_request_reopen(procurement_request=procurement_request, actor=requester, note="Late")

    # then it stays completed
    assert _snapshot(procurement_request) == before


@pytest.mark.django_db
def test_the_buyer_may_reopen_after_the_window(buyer, completed_at_start):
    # given a request completed long ago (but not yet closed)
    procurement_request, completed_at = completed_at_start

    # when its buyer reopens it
    with time_machine.travel(completed_at + timedelta(days=10 * settings.REOPEN_WINDOW_DAYS), tick=False):
        services.procurement_request_reopen(procurement_request=procurement_request, actor=buyer, note="Wrong size")

    # then it is back in progress
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.IN_PROGRESS


@pytest.mark.django_db
def test_a_requester_reopen_is_judged_by_the_stored_completion_time(requester, buyer):
    # given a request whose completion time was set (setup) beyond the window
    procurement_request = _put_in(
        file_request(requester),
        Status.COMPLETED,
        assignee=buyer,
        completed_at=timezone.now() - timedelta(days=settings.REOPEN_WINDOW_DAYS + 1),
    )

    # when the requester tries to reopen it, then it is refused
    with pytest.raises(PermissionDenied):
        services.procurement_request_reopen(procurement_request=procurement_request, actor=requester, note="Late")
    assert ProcurementRequest.objects.get(pk=procurement_request.pk).status == Status.COMPLETED


# --- approval -------------------------------------------------------------------------------------


def _category(threshold):
    return CategoryFactory(name=f"Threshold {threshold}", approval_threshold=threshold)


@pytest.mark.django_db
def test_a_value_above_the_threshold_waits_for_approval_with_an_explaining_event(requester):
    # given a category whose threshold is 1,000 EUR
    category = _category(Decimal("1000"))

    # when a request just above it is filed
    procurement_request = file_request(requester, category=category, estimated_value=Decimal("1000.01"))

    # then it waits for approval, with no SLA clocks yet, and the timeline says why
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.requires_approval) == (Status.PENDING_APPROVAL, True)
    assert not procurement_request.sla_clocks.exists()
    created, pending = procurement_request.events.order_by("pk")
    assert created.kind == EventKind.CREATED
    assert (pending.from_status, pending.to_status, pending.actor) == (
        Status.SUBMITTED,
        Status.PENDING_APPROVAL,
        None,
    )
    assert "1,000.00 EUR" in pending.note
    assert "approval" in pending.note


@pytest.mark.django_db
def test_a_value_equal_to_the_threshold_needs_no_approval(requester):
    # given a category whose threshold is 1,000 EUR
    category = _category(Decimal("1000"))

    # when a request of exactly 1,000 EUR is filed
    procurement_request = file_request(requester, category=category, estimated_value=Decimal("1000.00"))

    # then it is simply submitted, its SLA clocks start at once, and routing sends it to a team
    procurement_request.refresh_from_db()
    assert (procurement_request.status, procurement_request.requires_approval) == (Status.SUBMITTED, False)
    assert list(procurement_request.events.order_by("pk").values_list("kind", flat=True)) == [
        EventKind.CREATED,
        EventKind.SLA,
        EventKind.ROUTED,
    ]
    assert procurement_request.sla_clocks.count() == 2


@pytest.mark.django_db
def test_a_category_without_threshold_never_needs_approval(requester):
    # given a category with no threshold
    category = CategoryFactory(name="No threshold", approval_threshold=None)

    # when a very large request is filed
    procurement_request = file_request(requester, category=category, estimated_value=Decimal("9999999.99"))

    # then it is simply submitted
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.SUBMITTED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount_usd", "value_eur", "status"),
    [
        (Decimal("5435.00"), Decimal("5000.20"), Status.PENDING_APPROVAL),
        (Decimal("5434.00"), Decimal("4999.28"), Status.SUBMITTED),
    ],
)
def test_a_foreign_amount_is_converted_before_the_threshold_decides(requester, amount_usd, value_eur, status):
    # given a 5,000 EUR threshold and a dollar worth 0.92 EUR
    category = _category(Decimal("5000"))
    dollar, _ = Currency.objects.update_or_create(
        code="USD", defaults={"name": "US dollar", "rate_to_base": Decimal("0.92")}
    )

    # when a request in dollars is filed
    procurement_request = file_request(requester, category=category, estimated_value=amount_usd, currency=dollar)

    # then its EUR value is stored and decides whether approval is needed
    procurement_request.refresh_from_db()
    assert procurement_request.estimated_value_base == value_eur
    assert procurement_request.status == status


@pytest.fixture
def pending(requester, head):
    """A request of the head's department waiting for approval."""
    category = _category(Decimal("1000"))
    procurement_request = file_request(requester, category=category, estimated_value=Decimal("2500"))
    assert procurement_request.status == Status.PENDING_APPROVAL
    return procurement_request


@pytest.mark.django_db
def test_the_department_head_approves(pending, head):
    # when the head approves with a note
    services.procurement_request_approve(procurement_request=pending, actor=head, note="Fine")

    # then it is approved (routing's default rule leaves it in the team queue), and the event is the approval
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED
    approval, clock_event, routed = pending.events.order_by("-pk")[:3][::-1]
    assert (approval.kind, approval.actor, approval.note) == (EventKind.APPROVED, head, "Fine")
    # and the approval starts both SLA clocks, said in one SLA line after it, before routing's line
    assert (clock_event.kind, clock_event.actor) == (EventKind.SLA, None)
    assert (routed.kind, routed.actor) == (EventKind.ROUTED, None)
    assert clock_event.note.startswith("First response clock started: goal ")
    assert "; Resolution clock started: goal " in clock_event.note
    assert pending.sla_clocks.count() == 2


@pytest.mark.django_db
def test_the_department_head_rejects_with_a_reason(pending, head):
    # when the head rejects with a reason
    services.procurement_request_reject(procurement_request=pending, actor=head, note="Not this quarter")

    # then it is rejected and the reason is on the timeline
    pending.refresh_from_db()
    assert pending.status == Status.REJECTED
    event = pending.events.latest("pk")
    assert (event.kind, event.actor, event.note) == (EventKind.REJECTED, head, "Not this quarter")


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["approve", "reject"])
def test_the_head_of_another_department_cannot_decide(pending, other_department, action):
    # given the head of another department
    other_head = person(Role.DEPARTMENT_HEAD, other_department, username="otto")
    before = _snapshot(pending)

    # when they try to decide on the request
    with pytest.raises(PermissionDenied):
        VERBS[action].service(procurement_request=pending, actor=other_head, note="Decided")

    # then nothing changes
    assert _snapshot(pending) == before


@pytest.mark.django_db
def test_a_manager_cannot_approve_when_the_department_has_a_head(pending, manager):
    # given a pending request of a department with a head
    before = _snapshot(pending)

    # when the procurement manager tries to approve it, then they are refused
    with pytest.raises(PermissionDenied):
        services.procurement_request_approve(procurement_request=pending, actor=manager)
    assert _snapshot(pending) == before


@pytest.mark.django_db
def test_a_manager_approves_for_a_department_without_a_head(requester, manager):
    # given a pending request of a department with no head
    procurement_request = file_request(requester, category=_category(Decimal("1000")), estimated_value=Decimal("2500"))
    assert procurement_request.department.head_id is None

    # when the procurement manager approves it
    services.procurement_request_approve(procurement_request=procurement_request, actor=manager)

    # then it is approved
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.APPROVED


@pytest.mark.django_db
def test_a_pending_request_cannot_be_claimed_or_assigned_until_approved(pending, head, buyer, manager):
    # given a request waiting for approval
    before = _snapshot(pending)

    # when a buyer claims it or a manager assigns it, then both are refused with nothing changed
    with pytest.raises(services.ActionNotAllowed):
        services.procurement_request_claim(procurement_request=pending, actor=buyer)
    with pytest.raises(services.ActionNotAllowed):
        services.procurement_request_assign(procurement_request=pending, actor=manager, assignee=buyer)
    assert _snapshot(pending) == before

    # when the head approves it, then the buyer can claim it
    services.procurement_request_approve(procurement_request=pending, actor=head)
    services.procurement_request_claim(procurement_request=pending, actor=buyer)
    pending.refresh_from_db()
    assert (pending.status, pending.assignee) == (Status.ASSIGNED, buyer)


# --- submission -----------------------------------------------------------------------------------


def _submit(requester, token, **overrides):
    fields = {
        "requester": requester,
        "title": "Standing desks",
        "description": "Two standing desks.",
        "category": CategoryFactory(),
        "priority": "normal",
        "estimated_value": Decimal("800"),
        "currency": euro(),
        "submission_token": token,
    }
    fields.update(overrides)
    return services.procurement_request_submit(**fields)


@pytest.mark.django_db
def test_submitting_the_same_form_twice_returns_the_first_request(requester):
    # given a request filed with a form's token
    token = uuid.uuid4()
    first, first_created = _submit(requester, token)

    # when the same form is submitted again, even with other values
    second, second_created = _submit(requester, token, title="Changed my mind")

    # then the first request comes back, and there is one row, one event, one start of its clocks and one routing
    assert (first_created, second_created) == (True, False)
    assert second.pk == first.pk
    assert second.title == "Standing desks"
    assert ProcurementRequest.objects.count() == 1
    assert list(RequestEvent.objects.order_by("pk").values_list("kind", flat=True)) == [
        EventKind.CREATED,
        EventKind.SLA,
        EventKind.ROUTED,
    ]
    assert SlaClock.objects.count() == 2


@pytest.mark.django_db
def test_a_submission_token_of_another_user_is_refused(requester, colleague):
    # given a request filed with a form's token
    token = uuid.uuid4()
    _submit(requester, token)

    # when someone else submits with that token
    with pytest.raises(PermissionDenied):
        _submit(colleague, token)

    # then there is still one request, one event, one start of its clocks and one routing
    assert ProcurementRequest.objects.count() == 1
    assert list(RequestEvent.objects.order_by("pk").values_list("kind", flat=True)) == [
        EventKind.CREATED,
        EventKind.SLA,
        EventKind.ROUTED,
    ]
    assert SlaClock.objects.count() == 2


@pytest.mark.django_db
def test_someone_without_the_submit_permission_cannot_file(department):
    # given a department member holding no role
    nobody = person(Role.REQUESTER, department, username="nobody")
    nobody.groups.clear()
    nobody = get_user_model().objects.get(pk=nobody.pk)

    # when they submit, then they are refused and nothing is written
    with pytest.raises(PermissionDenied):
        _submit(nobody, uuid.uuid4())
    assert ProcurementRequest.objects.count() == 0


@pytest.mark.django_db
def test_someone_outside_any_department_cannot_file(requester):
    # given a requester whose membership was removed
    requester.membership.delete()
    loner = get_user_model().objects.get(pk=requester.pk)

    # when they submit, then it is refused and nothing is written
    with pytest.raises(ValidationError):
        _submit(loner, uuid.uuid4())
    assert ProcurementRequest.objects.count() == 0


@pytest.mark.django_db
def test_a_needed_by_date_in_the_past_is_refused(requester):
    # when a request is filed as needed yesterday
    with pytest.raises(ValidationError) as error:
        _submit(requester, uuid.uuid4(), needed_by=timezone.localdate() - timedelta(days=1))

    # then the field is blamed and nothing is written
    assert "needed_by" in error.value.message_dict
    assert ProcurementRequest.objects.count() == 0


@pytest.mark.django_db
def test_references_are_sequential_and_formatted(requester):
    # when three requests are filed
    references = [file_request(requester).reference for _ in range(3)]

    # then they count up from 1 in this year's series
    year = timezone.localdate().year
    assert references == [f"PR-{year}-000001", f"PR-{year}-000002", f"PR-{year}-000003"]
    assert all(re.fullmatch(r"PR-\d{4}-\d{6}", reference) for reference in references)


@pytest.mark.django_db
def test_each_year_has_its_own_reference_series(requester):
    # when requests are filed across a new year (Berlin local time decides the year)
    filed = []
    for moment in [
        datetime(2031, 6, 1, 9, 0, tzinfo=UTC),
        datetime(2031, 12, 31, 22, 30, tzinfo=UTC),  # 23:30 in Berlin: still 2031
        datetime(2031, 12, 31, 23, 30, tzinfo=UTC),  # 00:30 in Berlin: already 2032
        datetime(2032, 2, 1, 9, 0, tzinfo=UTC),
    ]:
        with time_machine.travel(moment, tick=False):
            filed.append(file_request(requester).reference)

    # then numbering starts again at 1 in the new year
    assert filed == ["PR-2031-000001", "PR-2031-000002", "PR-2032-000001", "PR-2032-000002"]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_two_simultaneous_submissions_of_one_form_file_one_request(requester, attempt, require_service):
    # (skips on SQLite, which serialises all writers; fails instead when SERVICEDESK_REQUIRE_SERVICES is set)
    require_service("PostgreSQL", connection.vendor == "postgresql", "two submissions can only race on PostgreSQL")
    # given one form, submitted from two threads (two connections) at the same instant
    sla_defaults_ensure()  # the SLA set-up submissions need; an earlier transactional test flushed it
    routing_defaults_ensure()  # and routing's default rule
    token = uuid.uuid4()
    category, currency = CategoryFactory(), euro()
    start = threading.Barrier(2)
    results, errors = [], []

    def submit():
        try:
            same_requester = get_user_model().objects.get(pk=requester.pk)
            start.wait(timeout=10)
            results.append(_submit(same_requester, token, category=category, currency=currency))
        except Exception as error:  # reported by the assertions below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then both get the same request, exactly one of them created it, and one row, event, clock start and routing
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert len({procurement_request.pk for procurement_request, _ in results}) == 1
    assert ProcurementRequest.objects.filter(submission_token=token).count() == 1
    events = RequestEvent.objects.filter(procurement_request__submission_token=token).order_by("pk")
    assert list(events.values_list("kind", flat=True)) == [EventKind.CREATED, EventKind.SLA, EventKind.ROUTED]
    assert SlaClock.objects.filter(procurement_request__submission_token=token).count() == 2


# --- comments -------------------------------------------------------------------------------------


@pytest.fixture
def waiting(requester, buyer):
    """A request whose buyer asked the requester a question."""
    procurement_request = _put_in(file_request(requester), Status.IN_PROGRESS, assignee=buyer)
    return services.procurement_request_wait_for_requester(
        procurement_request=procurement_request, actor=buyer, note="Which layout?"
    )


@pytest.mark.django_db
def test_the_requesters_reply_hands_the_request_back_to_procurement(waiting, requester):
    # when the requester answers
    comment = services.comment_add(procurement_request=waiting, author=requester, body="German layout")

    # then the reply is on the timeline and the request is back in progress
    waiting.refresh_from_db()
    assert waiting.status == Status.IN_PROGRESS
    replied, resumed, clock_event = waiting.events.order_by("-pk")[:3][::-1]
    assert (replied.kind, replied.comment, replied.actor) == (EventKind.COMMENTED, comment, requester)
    assert (resumed.from_status, resumed.to_status, resumed.actor) == (
        Status.WAITING_FOR_REQUESTER,
        Status.IN_PROGRESS,
        requester,
    )
    # and the resolution clock, paused while waiting, runs again
    assert (clock_event.kind, clock_event.actor) == (EventKind.SLA, None)
    assert clock_event.note.startswith("Resolution clock resumed: due ")


@pytest.mark.django_db
def test_a_reply_to_a_request_not_waiting_does_not_move_it(requester, buyer):
    # given a request in progress
    procurement_request = _put_in(file_request(requester), Status.IN_PROGRESS, assignee=buyer)
    events_before = procurement_request.events.count()

    # when the requester writes
    services.comment_add(procurement_request=procurement_request, author=requester, body="Any news?")

    # then only the reply is recorded
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.IN_PROGRESS
    assert list(procurement_request.events.order_by("pk")[events_before:].values_list("kind", flat=True)) == [
        EventKind.COMMENTED
    ]


@pytest.mark.django_db
def test_a_buyers_internal_note_on_a_waiting_request_does_not_resume_it(waiting, buyer):
    # when the buyer writes an internal note
    services.comment_add(procurement_request=waiting, author=buyer, body="Chasing them", is_internal=True)

    # then it is an internal event and the request still waits for the requester
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING_FOR_REQUESTER
    event = waiting.events.latest("pk")
    assert (event.kind, event.is_internal, event.comment.is_internal) == (EventKind.NOTE_ADDED, True, True)


@pytest.mark.django_db
def test_a_reply_on_a_request_resumed_meanwhile_is_kept(waiting, requester, buyer):
    # given the requester's page still shows "waiting", but the buyer has resumed it meanwhile
    seen_by_requester = ProcurementRequest.objects.get(pk=waiting.pk)
    services.procurement_request_resume(procurement_request=waiting, actor=buyer)

    # when the requester's reply arrives
    services.comment_add(procurement_request=seen_by_requester, author=requester, body="German layout")

    # then the reply is stored and the status is left alone
    waiting.refresh_from_db()
    assert waiting.status == Status.IN_PROGRESS
    assert Comment.objects.filter(procurement_request=waiting, body="German layout").count() == 1
    assert waiting.events.latest("pk").kind == EventKind.COMMENTED


@pytest.mark.django_db
@pytest.mark.parametrize("author_name", ["requester", "head"])
def test_only_procurement_writes_internal_notes(people, author_name):
    # given a request of the department
    procurement_request = file_request(people["requester"])
    before = _snapshot(procurement_request)

    # when someone outside Procurement writes an internal note, then it is refused with nothing written
    with pytest.raises(PermissionDenied):
        services.comment_add(
            procurement_request=procurement_request, author=people[author_name], body="Psst", is_internal=True
        )
    assert _snapshot(procurement_request) == before


@pytest.mark.django_db
@pytest.mark.parametrize("author_name", ["colleague", "other_requester"])
def test_people_not_party_to_the_request_cannot_reply(people, author_name):
    # given a request of the requester
    procurement_request = file_request(people["requester"])
    before = _snapshot(procurement_request)

    # when someone else writes on it, then it is refused with nothing written
    with pytest.raises(PermissionDenied):
        services.comment_add(procurement_request=procurement_request, author=people[author_name], body="Hi")
    assert _snapshot(procurement_request) == before


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["", "  \n\t"], ids=["empty", "whitespace"])
def test_an_empty_reply_is_refused(waiting, requester, body):
    # given a request waiting for the requester
    before = _snapshot(waiting)

    # when the requester sends an empty reply
    with pytest.raises(ValidationError) as error:
        services.comment_add(procurement_request=waiting, author=requester, body=body)

    # then the body is blamed and nothing is written
    assert "body" in error.value.message_dict
    assert _snapshot(waiting) == before


@pytest.mark.django_db
def test_a_reply_with_an_invalid_attachment_writes_nothing(waiting, requester):
    # given a request waiting for the requester
    before = _snapshot(waiting)
    bad = SimpleUploadedFile("quote.pdf", b"this is not a pdf", content_type="application/pdf")

    # when the requester replies with a file that is not what its name says
    with pytest.raises(ValidationError):
        services.comment_add(procurement_request=waiting, author=requester, body="Here is the quote", files=[bad])

    # then no comment, event or attachment is written, and it still waits
    assert _snapshot(waiting) == before
    assert ProcurementRequest.objects.get(pk=waiting.pk).status == Status.WAITING_FOR_REQUESTER


@pytest.mark.django_db
def test_a_reply_with_a_valid_attachment_stores_it_on_the_comment(waiting, requester):
    # when the requester replies with a pdf
    quote = SimpleUploadedFile("quote.pdf", b"%PDF-1.7\n1 0 obj\n", content_type="application/pdf")
    comment = services.comment_add(procurement_request=waiting, author=requester, body="Quote", files=[quote])

    # then the file hangs off the comment and is on the timeline
    attachment = Attachment.objects.get()
    assert (attachment.comment, attachment.uploaded_by, attachment.original_name) == (comment, requester, "quote.pdf")
    assert waiting.events.filter(kind=EventKind.ATTACHMENT_ADDED, attachment=attachment).count() == 1
