"""The four role groups the data migration creates, and the navigation each role sees."""

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from stakeholders.services import roles_ensure

# Written out rather than read from stakeholders.roles, so that a wrong edit to the roles fails here.
EXPECTED_ROLE_PERMISSIONS = {
    "Requester": {"requests_app.submit_request"},
    "Department head": {"requests_app.submit_request", "requests_app.approve_request"},
    "Buyer": {
        "requests_app.submit_request",
        "requests_app.work_request",
        "requests_app.view_all_requests",
        "requests_app.view_internal_notes",
    },
    "Procurement manager": {
        "requests_app.submit_request",
        "requests_app.work_request",
        "requests_app.view_all_requests",
        "requests_app.view_internal_notes",
        "requests_app.assign_request",
    },
}


def granted():
    """{group name: {"app_label.codename", ...}} as stored in the database."""
    return {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.prefetch_related("permissions__content_type")
    }


@pytest.mark.django_db
def test_the_migration_created_exactly_the_four_roles_with_their_permissions():
    # given a freshly migrated database (no test helper has touched the groups)
    # when the groups are read
    # then there are exactly the four roles, each with exactly its permissions
    assert granted() == EXPECTED_ROLE_PERMISSIONS


@pytest.mark.django_db
def test_the_role_permissions_are_the_custom_ones_on_procurement_request():
    # given the permissions the roles grant
    codenames = {name.split(".")[1] for names in EXPECTED_ROLE_PERMISSIONS.values() for name in names}
    # when they are looked up
    permissions = Permission.objects.filter(codename__in=codenames).select_related("content_type")
    # then each exists once, on ProcurementRequest
    assert sorted(p.codename for p in permissions) == sorted(codenames)
    assert {(p.content_type.app_label, p.content_type.model) for p in permissions} == {
        ("requests_app", "procurementrequest")
    }


@pytest.mark.django_db
def test_ensuring_the_roles_repairs_them_and_changes_nothing_when_they_are_right():
    # given an admin removed a permission from the buyers and deleted the requester group
    Group.objects.get(name="Buyer").permissions.remove(Permission.objects.get(codename="view_internal_notes"))
    Group.objects.filter(name="Requester").delete()
    # when the roles are ensured, twice
    roles_ensure()
    roles_ensure()
    # then the roles are exactly as the migration made them
    assert granted() == EXPECTED_ROLE_PERMISSIONS


# Which links of the main navigation each role sees; the SLA catalogue is published to everyone, and
# everyone reaches the directory: Procurement all internal customers, department staff their own page.
NAVIGATION = {
    "requester": {"My requests", "My department", "New request", "SLA catalogue", "Service agreement"},
    "head": {
        "My requests",
        "My department",
        "Approvals",
        "Scorecard",
        "New request",
        "SLA catalogue",
        "Service agreement",
    },
    "buyer": {"Queue", "Work list", "My requests", "New request", "SLA catalogue", "Customers"},
    "manager": {
        "Customers",
        "Queue",
        "Work list",
        "My requests",
        "Approvals",
        "Routing",
        "Dashboard",
        "New request",
        "SLA catalogue",
        "SLA settings",
        "Webhooks",
    },
}


def navigation_links(page):
    nav = re.search(r'<nav class="navbar.*?</nav>', page, re.DOTALL).group(0)
    nav = nav.split('<div class="dropdown">')[0]  # the user menu is not navigation
    texts = re.findall(r"<a [^>]*>(.*?)</a>", nav, re.DOTALL)
    return {" ".join(re.sub(r"<[^>]+>", "", text).split()) for text in texts} - {"Procurement Service Desk"}


@pytest.mark.parametrize("role", list(NAVIGATION))
@pytest.mark.django_db
def test_the_navigation_shows_each_role_its_own_links(client, request, role):
    # given a user of the role
    user = request.getfixturevalue(role)
    client.force_login(user)
    # when any page is opened
    response = client.get(reverse("requests_app:mine"))
    # then the navigation has exactly that role's links
    assert response.status_code == 200
    assert navigation_links(response.content.decode()) == NAVIGATION[role]


@pytest.mark.django_db
def test_the_navigation_is_hidden_before_logging_in(client):
    # when the login page is opened anonymously
    page = client.get(reverse("login")).content.decode()
    # then there are no navigation links, only the brand
    assert navigation_links(page) == set()
    assert "Log out" not in page


def user_menu_line(page):
    """The first line of the user menu: the department and the groups."""
    menu = page.split('<ul class="dropdown-menu dropdown-menu-end">', 1)[1]
    line = re.search(r'<span class="dropdown-item-text[^"]*">(.*?)</span>', menu, re.DOTALL).group(1)
    return " ".join(line.split())


@pytest.mark.django_db
def test_the_user_menu_names_the_users_department_and_groups(client, buyer, requester):
    client.force_login(buyer)
    line = user_menu_line(client.get(reverse("requests_app:mine")).content.decode())
    assert line.startswith(buyer.membership.department.name + " · ")
    assert all(group.name in line for group in buyer.groups.all())
    # without a department the menu says so
    requester.membership.delete()
    client.force_login(requester)
    assert user_menu_line(client.get(reverse("requests_app:mine")).content.decode()).startswith("No department")
