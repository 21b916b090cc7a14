"""Who finds a pending request in their Approvals list (ProcurementRequest.objects.awaiting_approval_by)."""

from decimal import Decimal

import pytest

from requests_app.models import ProcurementRequest
from stakeholders.models import Department
from stakeholders.roles import Role
from tests.factories import CategoryFactory, file_request, person


def pending(requester):
    return file_request(requester, estimated_value=Decimal("6000"), category=CategoryFactory(name="Goods"))


def awaiting(user):
    return set(ProcurementRequest.objects.awaiting_approval_by(user).values_list("reference", flat=True))


@pytest.mark.django_db
def test_the_head_decides_their_departments_requests_but_not_their_own(requester, head, manager):
    # given a staff request and the head's own request, both above the threshold
    staff_request = pending(requester)
    heads_own = pending(head)
    # then the head decides the staff request and the manager decides the head's own
    assert awaiting(head) == {staff_request.reference}
    assert awaiting(manager) == {heads_own.reference}


@pytest.mark.django_db
def test_a_manager_stands_in_for_a_department_without_a_head(other_requester, manager, buyer):
    # given a request from a department that has no head
    procurement_request = pending(other_requester)
    # then only the procurement manager finds it
    assert awaiting(manager) == {procurement_request.reference}
    assert awaiting(buyer) == set()


@pytest.mark.django_db
def test_a_manager_stands_in_when_the_head_is_inactive(requester, head, manager):
    # given a request whose department head has left the company
    procurement_request = pending(requester)
    head.is_active = False
    head.save(update_fields=["is_active"])
    # then the manager finds it and may approve it
    assert awaiting(manager) == {procurement_request.reference}
    from requests_app import permissions

    assert permissions.can_perform(manager, "approve", ProcurementRequest.objects.get(pk=procurement_request.pk))


@pytest.mark.django_db
def test_a_head_of_another_department_sees_nothing_to_approve(requester, other_department):
    # given a pending Sales request and the head of Finance
    pending(requester)
    finance_head = person(Role.DEPARTMENT_HEAD, other_department)
    assert Department.objects.get(pk=other_department.pk).head == finance_head
    # then Finance's head has nothing to decide
    assert awaiting(finance_head) == set()
