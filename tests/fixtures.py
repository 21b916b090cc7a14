"""Domain fixtures: two departments and one person per role (loaded from tests/conftest.py)."""

import pytest

from stakeholders.roles import Role

from .factories import DepartmentFactory, person


@pytest.fixture
def department(db):
    return DepartmentFactory(name="Sales", code="SALES")


@pytest.fixture
def other_department(db):
    return DepartmentFactory(name="Finance", code="FIN")


@pytest.fixture
def procurement_department(db):
    return DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)


@pytest.fixture
def requester(department):
    return person(Role.REQUESTER, department, username="alice")


@pytest.fixture
def colleague(department):
    """Another requester of the same department."""
    return person(Role.REQUESTER, department, username="carol")


@pytest.fixture
def other_requester(other_department):
    return person(Role.REQUESTER, other_department, username="oscar")


@pytest.fixture
def head(department):
    return person(Role.DEPARTMENT_HEAD, department, username="hannah")


@pytest.fixture
def buyer(procurement_department):
    return person(Role.BUYER, procurement_department, username="bob")


@pytest.fixture
def other_buyer(procurement_department):
    return person(Role.BUYER, procurement_department, username="betty")


@pytest.fixture
def manager(procurement_department):
    return person(Role.PROCUREMENT_MANAGER, procurement_department, username="maria")
