"""Exact query counts for the list pages and the request page: they must not grow with the rows.

Every page pays a fixed base: the session, the user, the user's and the groups' permissions (the
navigation's role checks), the membership (visibility), and for the navigation the department and
the groups shown in the user menu. Lists add the count for the paginator, the categories for the
filter, and the rows themselves (with their category, department, requester and assignee joined).
"""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from requests_app import services
from requests_app.models import Status
from slas.models import SlaPause
from tests.factories import CategoryFactory, file_request

# 4 base (session, user, user permissions, group permissions) + membership (whose requests the user
# sees) + count + department and groups for the user menu + categories for the filter + the page of rows.
LIST_QUERIES = 10
# Procurement sees every request: no membership read for that, and the menu's department is one query.
STAFF_LIST_QUERIES = LIST_QUERIES - 1
# The approvals list also looks up which departments the user heads.
APPROVALS_QUERIES = LIST_QUERIES + 1
# 4 base + the request (with its category, department, head, requester, assignee, currency) +
# membership + the SLA panel (the current clocks with goal, policy and calendar joined, their pauses
# and their calendars' versions in one prefetch each) + department and groups for the user menu +
# the timeline (events with actor, comment, attachment and assignee joined) + the comments'
# attachments in one prefetch + the request's attachments (with uploader) + its followers (with user) + the
# colleagues the add-follower form offers (the requester, the buyer and managers add followers).
DETAIL_QUERIES = 16
# Procurement may see any request without its membership being read (as STAFF_LIST_QUERIES).
STAFF_DETAIL_QUERIES = DETAIL_QUERIES - 1


def _pdf(name):
    return SimpleUploadedFile(name, b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")


@pytest.fixture
def categories(db):
    return [
        CategoryFactory(name="Goods", approval_threshold=Decimal("5000")),
        CategoryFactory(name="Services", approval_threshold=Decimal("10000")),
    ]


@pytest.fixture
def rows(requester, colleague, buyer, other_buyer, categories):
    """`build(n, scope)`: n requests that all belong on that list, varied in owner, category and buyer."""

    def build(n, scope):
        for number in range(n):
            owner = requester if scope == "mine" or number % 2 == 0 else colleague
            procurement_request = file_request(
                owner,
                title=f"Request {number}",
                category=categories[number % 2],
                estimated_value=Decimal("20000") if scope == "approvals" else Decimal(100 + number),
                is_confidential=number % 5 == 0 and scope != "department",
            )
            if scope != "approvals" and number % 3 == 0:
                services.procurement_request_claim(
                    procurement_request=procurement_request, actor=(buyer, other_buyer)[number % 2]
                )

    return build


@pytest.mark.django_db
@pytest.mark.parametrize("n", [3, 30], ids=["3-rows", "30-rows"])
@pytest.mark.parametrize(
    ("scope", "viewer", "expected"),
    [
        ("mine", "requester", LIST_QUERIES),
        ("department", "requester", LIST_QUERIES),
        ("all", "buyer", STAFF_LIST_QUERIES),
        ("all", "manager", STAFF_LIST_QUERIES),
        ("approvals", "head", APPROVALS_QUERIES),
    ],
)
def test_a_list_page_costs_the_same_queries_for_3_or_30_rows(
    client, request, django_assert_num_queries, rows, n, scope, viewer, expected
):
    # given n requests that all belong on the list
    rows(n, scope)
    client.force_login(request.getfixturevalue(viewer))
    # when the list is opened
    with django_assert_num_queries(expected):
        response = client.get(reverse(f"requests_app:{scope}"))
    # then it shows them (a page of at most 25) in a fixed number of queries
    assert response.status_code == 200
    assert len(response.context["procurement_requests"]) == min(n, 25)


@pytest.mark.django_db
@pytest.mark.parametrize("n", [3, 30], ids=["3-rows", "30-rows"])
def test_a_filtered_list_costs_the_same_queries_for_3_or_30_rows(
    client, django_assert_num_queries, requester, rows, categories, n
):
    # given n requests, filtered by status, category, priority and text
    rows(n, "mine")
    client.force_login(requester)
    query = {"status": "open", "category": categories[0].pk, "priority": "normal", "q": "Request"}
    # when the filtered list is opened
    with django_assert_num_queries(LIST_QUERIES + 1):  # + the category the filter names
        response = client.get(reverse("requests_app:mine"), query)
    # then the filters cost nothing extra per row
    assert response.status_code == 200
    assert len(response.context["procurement_requests"]) == min((n + 1) // 2, 25)


@pytest.fixture
def conversation(requester, head, buyer, manager):
    """`build(n)`: a request in progress with n replies and notes from four people, each with a file."""

    def build(n):
        procurement_request = file_request(requester, files=[_pdf("spec.pdf")])
        procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
        procurement_request = services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
        for number in range(n):
            author = (requester, buyer, head, manager)[number % 4]
            services.comment_add(
                procurement_request=procurement_request,
                author=author,
                body=f"Message {number}",
                is_internal=author in (buyer, manager) and number % 2 == 1,
                files=[_pdf(f"file-{number}.pdf")],
            )
        return procurement_request

    return build


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1, 10], ids=["1-comment", "10-comments"])
@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        ("requester", DETAIL_QUERIES),
        # the assignee's change-priority form lists the categories
        ("buyer", STAFF_DETAIL_QUERIES + 1),
        # the head's approval rights need the departments they head; the head adds no followers (no form)
        ("head", DETAIL_QUERIES + 1 - 1),
        # the manager's assign form lists the buyers, the change-priority form the categories
        ("manager", STAFF_DETAIL_QUERIES + 2),
    ],
)
def test_the_request_page_costs_the_same_queries_for_1_or_10_comments(
    client, request, django_assert_num_queries, conversation, n, viewer, expected
):
    # given a request with n comments, each with a file
    procurement_request = conversation(n)
    client.force_login(request.getfixturevalue(viewer))
    # when its page is opened
    with django_assert_num_queries(expected):
        response = client.get(reverse("requests_app:detail", args=[procurement_request.reference]))
    # then everything is shown in a fixed number of queries
    assert response.status_code == 200
    assert "Message 0" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1, 5], ids=["1-pause", "5-pauses"])
def test_the_request_page_costs_the_same_queries_for_1_or_5_clock_pauses_and_a_reopen(
    client, django_assert_num_queries, requester, buyer, n
):
    # given a request that waited n times for its requester, was completed and reopened, so its
    # clocks have n pauses (+ the completed span) and a second cycle
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    for number in range(n):
        procurement_request = services.procurement_request_wait_for_requester(
            procurement_request=procurement_request, actor=buyer, note=f"Question {number}"
        )
        services.comment_add(procurement_request=procurement_request, author=requester, body=f"Answer {number}")
    procurement_request = services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    services.procurement_request_reopen(procurement_request=procurement_request, actor=requester, note="Wrong size")
    assert SlaPause.objects.filter(clock__procurement_request=procurement_request, clock__is_current=True).count() == (
        n + 1
    )
    client.force_login(requester)
    # when its page is opened (+ its satisfaction survey: it was completed once)
    with django_assert_num_queries(DETAIL_QUERIES + 1):
        response = client.get(reverse("requests_app:detail", args=[procurement_request.reference]))
    # then both clocks' current cycles are shown at the same fixed cost
    assert response.status_code == 200
    assert [view.cycle for view in response.context["clock_views"]] == [2, 2]
    assert 'id="sla-clocks"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1, 10], ids=["1-comment", "10-comments"])
def test_a_request_waiting_for_its_requester_costs_one_query_more_not_one_per_comment(
    client, django_assert_num_queries, requester, buyer, conversation, n
):
    # given a request with n comments, now waiting for the requester's answer
    procurement_request = conversation(n)
    services.procurement_request_wait_for_requester(
        procurement_request=procurement_request, actor=buyer, note="Which colour?"
    )
    client.force_login(requester)
    # when the requester opens it
    with django_assert_num_queries(DETAIL_QUERIES + 1):  # + the question being waited on
        response = client.get(reverse("requests_app:detail", args=[procurement_request.reference]))
    # then the question is shown at a fixed cost
    assert response.status_code == 200
    assert response.context["procurement_request"].status == Status.WAITING_FOR_REQUESTER
    assert "Which colour?" in response.content.decode()
