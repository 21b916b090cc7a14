"""Exact query counts for the buyer queue: every view, the CSV export and the bulk service cost the same
for 3 rows as for 12 (and for a full page as for a short one).

A queue page pays the fixed base every page pays (session, user, the user's and the groups'
permissions, the department (with the membership) and groups of the user menu), then: the counts of every
view in one aggregate, the page of rows (requester and assignee
joined), the rows' current SLA clocks and their calendars' versions for the badges,
the user's saved views, and the filter form's choices (buyers, departments, categories).
The page's categories, departments (with their heads) and teams come in a query each rather than
joined to the rows: joined, they made PostgreSQL spend ten times longer planning the page than reading it.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from requests_app import services
from requests_app.models import ProcurementRequest, Status, TeamMembership
from tests.factories import CategoryFactory, file_request

# 4 base + counts + rows + the rows' categories, departments and teams + clocks + calendar versions +
# the department (with the membership) and groups for the user menu + saved views + buyers, departments, categories
# and teams for the filters (a manager's bulk-assign select shows the filter's buyers: no further query).
QUEUE_QUERIES = 18
# 4 base + the rows in one streamed query (a filter naming a buyer, department or category adds the
# query for its choices, once).
EXPORT_QUERIES = 5


@pytest.fixture
def build(requester, other_requester, buyer, other_buyer):
    """`build(n, view)`: n requests that all belong to the view, from two departments and two categories."""
    categories = [CategoryFactory(name="Goods"), CategoryFactory(name="Services", approval_threshold=Decimal("10000"))]

    def make(n, view):
        made = []
        for number in range(n):
            procurement_request = file_request(
                (requester, other_requester)[number % 2],
                title=f"Request {number}",
                category=categories[number % 2],
                estimated_value=Decimal(100 + number),
                is_confidential=number % 4 == 0,
            )
            if view != "unassigned":
                procurement_request = services.procurement_request_claim(
                    procurement_request=procurement_request, actor=buyer if view == "mine" else other_buyer
                )
            if view == "waiting":
                procurement_request = services.procurement_request_start(
                    procurement_request=procurement_request, actor=other_buyer
                )
                services.procurement_request_wait_for_supplier(
                    procurement_request=procurement_request, actor=other_buyer
                )
            made.append(procurement_request)
        if view == "team":
            # Routing put them all in one team; the buyer is a member of it.
            TeamMembership.objects.get_or_create(team_id=made[0].team_id, user=buyer)
        summary = {"at_risk": {"sla_threshold": 75}, "breached": {"sla_threshold": 100, "sla_breached": True}}
        ProcurementRequest.objects.filter(pk__in=[pr.pk for pr in made]).update(**summary.get(view, {}))
        return made

    return make


@pytest.mark.django_db
@pytest.mark.parametrize("n", [3, 12], ids=["3-rows", "12-rows"])
@pytest.mark.parametrize(
    ("view", "viewer", "expected"),
    [
        ("mine", "buyer", QUEUE_QUERIES),
        ("team", "buyer", QUEUE_QUERIES),
        ("unassigned", "buyer", QUEUE_QUERIES),
        ("at_risk", "buyer", QUEUE_QUERIES),
        ("breached", "buyer", QUEUE_QUERIES),
        ("waiting", "buyer", QUEUE_QUERIES),
        ("mine", "manager", QUEUE_QUERIES),
        ("unassigned", "manager", QUEUE_QUERIES),
        ("at_risk", "manager", QUEUE_QUERIES),
        ("breached", "manager", QUEUE_QUERIES),
        ("waiting", "manager", QUEUE_QUERIES),
        ("all", "manager", QUEUE_QUERIES),
    ],
)
def test_every_queue_view_costs_the_same_queries_for_3_or_12_rows(
    client, request, django_assert_num_queries, build, n, view, viewer, expected
):
    # given n requests that all belong to the view
    build(n, "mine" if view == "all" else view)
    user = request.getfixturevalue(viewer)
    if view == "mine" and viewer == "manager":
        ProcurementRequest.objects.update(assignee=user)
    client.force_login(user)
    # when the view is opened
    with django_assert_num_queries(expected):
        response = client.get(reverse("requests_app:queue", kwargs={"view": view}))
    # then it shows them all, badges included, in a fixed number of queries
    assert response.status_code == 200
    assert len(response.context["rows"]) == n
    assert all(row.badge.state != "none" for row in response.context["rows"])


@pytest.mark.django_db
@pytest.mark.parametrize("n", [3, 12], ids=["3-rows", "12-rows"])
def test_a_filtered_and_searched_queue_costs_the_same_queries_for_3_or_12_rows(
    client, django_assert_num_queries, buyer, build, n
):
    # given n unassigned requests, filtered by every kind of filter and a search
    made = build(n, "unassigned")
    client.force_login(buyer)
    query = {
        "q": "Request",
        "status": Status.SUBMITTED,
        "assignee": "none",
        "priority": "normal",
        "sla": "running",
        "department": made[0].department_id,
        "category": made[0].category_id,
        "value_min": "0",
        "value_max": "100000",
        "created_from": "2000-01-01",
        "created_to": "2100-01-01",
    }
    # when the filtered view is opened
    with django_assert_num_queries(QUEUE_QUERIES + 1):  # + the search's capped count of matches
        response = client.get(reverse("requests_app:queue", kwargs={"view": "unassigned"}), query)
    # then the filters cost nothing per row
    assert response.status_code == 200
    assert len(response.context["rows"]) == (n + 1) // 2


@pytest.mark.django_db
@pytest.mark.parametrize("n", [3, 12], ids=["3-rows", "12-rows"])
def test_the_csv_export_costs_the_same_queries_for_3_or_12_rows(client, django_assert_num_queries, manager, build, n):
    # given n requests
    build(n, "mine")
    client.force_login(manager)
    # when the whole "All" view is exported
    with django_assert_num_queries(EXPORT_QUERIES):
        response = client.get(reverse("requests_app:queue_export", kwargs={"view": "all"}))
        lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    # then every row is there, read in one query
    assert len(lines) == n + 1


# Per bulk call: the selected requests, in one query. Per request, what a single action costs: the row
# locked and checked, locked again by the status change, saved, its event, its current SLA clocks read
# under lock (neither claiming nor starting moves a clock) = 5 statements, plus the SAVEPOINT and
# RELEASE of the service's and the clock service's atomic blocks (each request commits on its own; here
# the whole test is one transaction, so they are savepoints), and whether an active webhook wants
# request.status_changed (1).
BULK_BASE = 1
BULK_PER_ROW = 10
# Assigning also asks whether the buyer is in the request's team (others need a manager), copies the new buyer
# onto the request's SLA clocks, which the dashboards group by (one UPDATE), and tells the requester and the
# new buyer: their profiles and follows (1), the department the buyer's notice names (1), e-mail preferences
# (1), one bulk insert in notifications_create's savepoint (3).
NOTICES = 6
ASSIGN_PER_ROW = BULK_PER_ROW + 2 + NOTICES
# A user's permissions are read once and then cached on the user object: the actor's, and for an
# assignment the buyer's (is_buyer), on first use.
PERMISSIONS = 2


@pytest.mark.django_db
@pytest.mark.parametrize("n", [2, 5], ids=["2-rows", "5-rows"])
def test_a_bulk_start_costs_a_fixed_number_of_queries_per_request(django_assert_num_queries, buyer, build, n):
    # given n requests the buyer has claimed
    made = build(n, "mine")
    versions = {pr.reference: pr.version for pr in made}
    # when the buyer starts them all at once
    with django_assert_num_queries(BULK_BASE + BULK_PER_ROW * n):
        outcome = services.procurement_request_bulk_act(actor=buyer, action="start", versions=versions)
    # then each went through the service, at the same cost each
    assert len(outcome.done) == n
    assert set(ProcurementRequest.objects.values_list("status", flat=True)) == {Status.IN_PROGRESS}


@pytest.mark.django_db
@pytest.mark.parametrize("n", [2, 5], ids=["2-rows", "5-rows"])
def test_a_bulk_assignment_costs_a_fixed_number_of_queries_per_request(
    django_assert_num_queries, manager, other_buyer, build, n
):
    # given n unassigned requests
    made = build(n, "unassigned")
    versions = {pr.reference: pr.version for pr in made}
    # when the manager assigns them all to one buyer
    with django_assert_num_queries(BULK_BASE + 2 * PERMISSIONS + ASSIGN_PER_ROW * n):
        outcome = services.procurement_request_bulk_act(
            actor=manager, action="assign", versions=versions, assignee=other_buyer
        )
    # then all are hers
    assert len(outcome.done) == n
    assert set(ProcurementRequest.objects.values_list("assignee", flat=True)) == {other_buyer.pk}
