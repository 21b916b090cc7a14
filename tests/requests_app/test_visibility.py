"""Who sees which request (visible_to / can_view) and which actions each role is offered."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from requests_app import permissions
from requests_app.models import ProcurementRequest, Status
from stakeholders.roles import Role
from tests.factories import CategoryFactory, file_request, person

# What each viewer should see of the six requests built by `requests` below.
EXPECTED = {
    "requester": {"own", "own_confidential", "colleagues"},
    "colleague": {"own", "colleagues", "colleagues_confidential"},
    "head": {"own", "own_confidential", "colleagues", "colleagues_confidential"},
    "other_requester": {"other_departments", "other_departments_confidential"},
    "other_head": {"other_departments", "other_departments_confidential"},
    "buyer": {
        "own",
        "own_confidential",
        "colleagues",
        "colleagues_confidential",
        "other_departments",
        "other_departments_confidential",
    },
    "manager": {
        "own",
        "own_confidential",
        "colleagues",
        "colleagues_confidential",
        "other_departments",
        "other_departments_confidential",
    },
    "anonymous": set(),
    "inactive_requester": set(),
}


@pytest.fixture
def viewers(requester, colleague, other_requester, head, buyer, manager, other_department):
    inactive = person(Role.REQUESTER, requester.membership.department, username="ivy")
    return {
        "requester": requester,
        "colleague": colleague,
        "other_requester": other_requester,
        "head": head,
        "other_head": person(Role.DEPARTMENT_HEAD, other_department, username="otto"),
        "buyer": buyer,
        "manager": manager,
        "anonymous": AnonymousUser(),
        "inactive_requester": inactive,
    }


@pytest.fixture
def requests(viewers):
    """Six requests: open and confidential, from the requester, a colleague and another department."""
    built = {
        "own": file_request(viewers["requester"]),
        "own_confidential": file_request(viewers["requester"], is_confidential=True),
        "colleagues": file_request(viewers["colleague"]),
        "colleagues_confidential": file_request(viewers["colleague"], is_confidential=True),
        "other_departments": file_request(viewers["other_requester"]),
        "other_departments_confidential": file_request(viewers["other_requester"], is_confidential=True),
    }
    # A department member whose account was switched off must see nothing, not even the open requests.
    get_user_model().objects.filter(pk=viewers["inactive_requester"].pk).update(is_active=False)
    viewers["inactive_requester"].refresh_from_db()
    return built


@pytest.mark.django_db
@pytest.mark.parametrize("viewer_name", EXPECTED)
def test_each_viewer_sees_exactly_their_requests(viewers, requests, viewer_name):
    # given six requests across departments and confidentiality
    viewer = viewers[viewer_name]

    # when the viewer's list is built
    visible = set(ProcurementRequest.objects.visible_to(viewer).values_list("pk", flat=True))

    # then it holds exactly the expected ones
    names = {name for name, procurement_request in requests.items() if procurement_request.pk in visible}
    assert names == EXPECTED[viewer_name]


@pytest.mark.django_db
@pytest.mark.parametrize("viewer_name", EXPECTED)
def test_can_view_agrees_with_the_list_for_every_request(viewers, requests, viewer_name):
    # given six requests across departments and confidentiality
    viewer = viewers[viewer_name]

    # when each one is checked on its own
    allowed = {
        name for name, procurement_request in requests.items() if permissions.can_view(viewer, procurement_request)
    }

    # then the answer is the same as the list's
    assert allowed == EXPECTED[viewer_name]


# --- available actions ----------------------------------------------------------------------------


@pytest.fixture
def cast(requester, colleague, other_requester, head, buyer, other_buyer, manager):
    return {
        "requester": requester,
        "colleague": colleague,
        "other_requester": other_requester,
        "head": head,
        "buyer": buyer,
        "other_buyer": other_buyer,
        "manager": manager,
        "anonymous": AnonymousUser(),
    }


def _in_state(requester, buyer, state):
    """Setup only: a request of the requester's department in one of the key states."""
    if state == "pending_approval":
        category = CategoryFactory(name="Threshold 1000", approval_threshold=Decimal("1000"))
        procurement_request = file_request(requester, category=category, estimated_value=Decimal("2000"))
        assert procurement_request.status == Status.PENDING_APPROVAL
        return procurement_request
    procurement_request = file_request(requester)
    fields = {
        "submitted": {},
        "in_progress": {"status": Status.IN_PROGRESS, "assignee": buyer},
        "waiting_for_requester": {"status": Status.WAITING_FOR_REQUESTER, "assignee": buyer},
        "completed": {"status": Status.COMPLETED, "assignee": buyer, "completed_at": timezone.now()},
        "closed": {"status": Status.CLOSED, "assignee": buyer, "completed_at": timezone.now()},
    }[state]
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(**fields)
    procurement_request.refresh_from_db()
    return procurement_request


WORK = ["wait_for_requester", "wait_for_supplier", "mark_ordered", "complete", "reprioritise"]
ACTIONS = {
    ("submitted", "requester"): ["cancel"],
    ("submitted", "colleague"): [],
    ("submitted", "other_requester"): [],
    ("submitted", "head"): ["cancel"],
    ("submitted", "buyer"): ["claim"],
    ("submitted", "other_buyer"): ["claim"],
    ("submitted", "manager"): ["claim", "assign", "reroute", "reprioritise", "cancel"],
    ("submitted", "anonymous"): [],
    ("pending_approval", "requester"): ["cancel"],
    ("pending_approval", "head"): ["approve", "reject", "cancel"],
    ("pending_approval", "buyer"): [],
    ("pending_approval", "manager"): ["cancel"],  # the department has a head: the manager does not approve
    ("in_progress", "requester"): ["cancel"],
    ("in_progress", "colleague"): [],
    ("in_progress", "head"): ["cancel"],
    ("in_progress", "buyer"): WORK,
    ("in_progress", "other_buyer"): [],
    ("in_progress", "manager"): ["assign", "reroute", *WORK, "cancel"],
    ("waiting_for_requester", "requester"): ["cancel"],
    ("waiting_for_requester", "buyer"): ["resume", "reprioritise"],
    ("waiting_for_requester", "manager"): ["assign", "reroute", "resume", "reprioritise", "cancel"],
    ("completed", "requester"): ["close", "reopen"],
    ("completed", "colleague"): [],
    ("completed", "head"): [],
    ("completed", "buyer"): ["close", "reopen"],
    ("completed", "other_buyer"): [],
    ("completed", "manager"): ["close", "reopen"],
    ("closed", "requester"): [],
    ("closed", "buyer"): [],
    ("closed", "manager"): [],
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "who", "expected"),
    [pytest.param(state, who, expected, id=f"{state}-{who}") for (state, who), expected in ACTIONS.items()],
)
def test_each_role_is_offered_exactly_what_it_may_do_now(cast, state, who, expected):
    # given a request in a key state
    procurement_request = _in_state(cast["requester"], cast["buyer"], state)

    # when the actions for this person are listed
    offered = permissions.available_actions(cast[who], procurement_request)

    # then they are exactly those this role may take in this state, in lifecycle order
    assert offered == expected
