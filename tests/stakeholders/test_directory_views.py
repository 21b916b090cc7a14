"""The internal customer directory: who may read which department page, what it shows, what it costs."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from stakeholders import relations
from stakeholders.models import ActionItem, ActionItemStatus, Department, Meeting, Notification, ServiceAgreement
from stakeholders.selectors import request_volumes
from tests.factories import CategoryFactory, file_request

pytestmark = pytest.mark.django_db

# Exact query counts, whatever the data size: session, user, permissions (4), the page's own reads, and
# the layout's user menu (the department with the membership, groups: 2). The department page reads the agreement
# (+ policies), the open requests (+ clocks, calendar versions), volumes, action items, contacts, the
# SLA catalogue (policies, goals, calendars, versions, benchmarks), last / next (+ attendees) meeting,
# outcomes (+ their action items), the schedule, the CSAT figures (one aggregate), and the relationship
# survey's trend (one aggregate) and schedule; while a round is open, + the staff check (not here).
DIRECTORY_QUERIES = 4 + 1 + 2
DEPARTMENT_PAGE_QUERIES = 4 + 1 + 22 + 2


def department_url(department, name="stakeholders:department", **kwargs):
    return reverse(name, kwargs={"code": department.code, **kwargs})


@pytest.fixture
def sales_with_history(department, manager, requester, head, buyer):
    """Sales with an agreement, a published past meeting with an overdue action item, and a next meeting."""
    now = timezone.now()
    relations.service_agreement_create(
        department=department, actor=manager, review_on=date(2030, 1, 1), deviations="Urgent IT in 30 minutes"
    )
    past = relations.meeting_plan(
        department=department, actor=manager, title="Q1 review", starts_at=now - timedelta(days=20), attendees=[head]
    )
    relations.action_item_add(
        meeting=past,
        actor=manager,
        title="Send the hiring forecast",
        owner=head,
        due_on=timezone.localdate() - timedelta(3),
    )
    relations.meeting_outcomes_publish(meeting=past, actor=manager, summary="Laptops from the catalogue.")
    relations.meeting_plan(department=department, actor=manager, title="Q2 review", starts_at=now + timedelta(days=40))
    file_request(requester, title="Laptops for new starters")
    return department


# --- Access ----------------------------------------------------------------------------------------

ACCESS = [
    # (who, own department page, other department page)
    ("requester", 200, 404),
    ("head", 200, 404),
    ("other_requester", 404, 200),
    ("buyer", 200, 200),
    ("manager", 200, 200),
]


@pytest.mark.parametrize(("who", "own", "other"), ACCESS)
def test_a_department_page_is_for_its_staff_and_procurement(
    client, request, department, other_department, who, own, other
):
    client.force_login(request.getfixturevalue(who))
    assert client.get(department_url(department)).status_code == own
    assert client.get(department_url(other_department)).status_code == other


def test_anonymous_visitors_are_sent_to_log_in(client, department):
    response = client.get(department_url(department))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_public_department_page_is_readable_by_everyone_signed_in(client, department, other_requester):
    Department.objects.filter(pk=department.pk).update(directory_is_public=True)
    client.force_login(other_requester)
    assert client.get(department_url(department)).status_code == 200
    assert client.get(department_url(department, name="stakeholders:agreement_create")).status_code == 403


@pytest.mark.parametrize(
    ("who", "status"), [("requester", 403), ("head", 403), ("buyer", 403), ("other_requester", 404)]
)
def test_only_managers_write_agreements_and_a_denied_write_changes_nothing(client, request, department, who, status):
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        department_url(department, name="stakeholders:agreement_create"), {"review_on": "2027-01-01"}
    )
    assert response.status_code == status
    assert not ServiceAgreement.objects.exists()


def test_a_meeting_of_another_department_is_a_404(client, sales_with_history, other_department, other_requester):
    meeting = Meeting.objects.filter(department=sales_with_history).first()
    client.force_login(other_requester)
    assert client.get(department_url(sales_with_history, name="stakeholders:meeting", pk=meeting.pk)).status_code == 404
    # nor can it be reached through the other department's address
    client.force_login(other_requester)
    url = reverse("stakeholders:meeting", kwargs={"code": other_department.code, "pk": meeting.pk})
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    "action", ["stakeholders:meeting_minutes", "stakeholders:action_item_create", "stakeholders:meeting_publish"]
)
@pytest.mark.parametrize(("who", "status"), [("requester", 403), ("other_requester", 404)])
def test_a_meeting_action_is_a_404_for_who_cannot_read_the_meeting_and_a_403_for_who_only_reads_it(
    client, request, sales_with_history, action, who, status
):
    meeting = Meeting.objects.filter(department=sales_with_history).first()
    before = (meeting.title, meeting.minutes, meeting.action_items.count(), meeting.summary)
    client.force_login(request.getfixturevalue(who))
    response = client.post(
        department_url(sales_with_history, name=action, pk=meeting.pk), {"minutes-title": "Hijacked"}
    )
    assert response.status_code == status
    meeting.refresh_from_db()
    assert (meeting.title, meeting.minutes, meeting.action_items.count(), meeting.summary) == before


def test_requesters_go_straight_to_their_own_department(client, department, requester):
    client.force_login(requester)
    response = client.get(reverse("stakeholders:directory"))
    assert response.status_code == 302 and response.url == department_url(department)


# --- What the pages show ---------------------------------------------------------------------------


def test_the_department_page_shows_the_relationship(client, sales_with_history, manager):
    client.force_login(manager)
    response = client.get(department_url(sales_with_history))
    page = response.content.decode()
    assert response.status_code == 200
    for text in [
        "Urgent IT in 30 minutes",  # the agreement's deviations
        "Q1 review",  # last meeting
        "Q2 review",  # next meeting
        "Laptops from the catalogue.",  # published outcome
        "Send the hiring forecast",  # open, overdue action item
        "1 overdue",
        "Laptops for new starters",  # open request
        "Standard service",  # the SLA catalogue entry that applies
    ]:
        assert text in page, text


def test_volumes_count_each_category_over_the_last_twelve_months_in_one_query(
    department, requester, django_assert_num_queries
):
    # given three Goods and one Services request this year, and one Goods request 13 months ago
    services = CategoryFactory(name="Services", approval_threshold=Decimal("10000"))
    for _ in range(3):
        file_request(requester, estimated_value=Decimal("100"))
    file_request(requester, category=services, estimated_value=Decimal("900"))
    old = file_request(requester)
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))

    # when the volumes are read
    with django_assert_num_queries(1):
        volumes = request_volumes(department=department)

    # then each category counts its requests and their value, most requested first
    assert [(v.category, v.count, v.value, v.share) for v in volumes] == [
        ("Goods", 3, Decimal("300.00"), 75),
        ("Services", 1, Decimal("900.00"), 25),
    ]


def test_the_directory_lists_every_department_for_procurement_in_a_fixed_number_of_queries(
    client, sales_with_history, other_department, manager, procurement_department, django_assert_num_queries
):
    client.force_login(manager)
    with django_assert_num_queries(DIRECTORY_QUERIES):
        response = client.get(reverse("stakeholders:directory"))
    rows = {department.name: department for department in response.context["departments"]}
    assert set(rows) == {"Sales", "Finance"}  # Procurement itself is not its own customer
    assert (rows["Sales"].open_requests, rows["Sales"].overdue_action_items, rows["Sales"].agreement_version) == (
        1,
        1,
        1,
    )
    assert rows["Finance"].next_meeting_at is None


def test_the_department_page_costs_the_same_queries_whatever_the_history(
    client, sales_with_history, manager, requester, head, django_assert_num_queries
):
    client.force_login(manager)
    with django_assert_num_queries(DEPARTMENT_PAGE_QUERIES):
        client.get(department_url(sales_with_history))
    # more of everything
    for n in range(5):
        file_request(requester, title=f"Extra {n}")
        meeting = relations.meeting_plan(
            department=sales_with_history,
            actor=manager,
            title=f"Extra {n}",
            starts_at=timezone.now() - timedelta(days=n + 1),
        )
        relations.action_item_add(meeting=meeting, actor=manager, title=f"Act {n}", owner=head, due_on=date(2030, 1, 1))
        relations.meeting_outcomes_publish(meeting=meeting, actor=manager, summary=f"Outcome {n}")
        relations.service_agreement_create(department=sales_with_history, actor=manager, review_on=date(2030, 1, 1))
    with django_assert_num_queries(DEPARTMENT_PAGE_QUERIES):
        client.get(department_url(sales_with_history))


# --- Forms -----------------------------------------------------------------------------------------


def test_a_manager_records_a_new_agreement_version_and_errors_show_beside_the_field(client, department, manager):
    client.force_login(manager)
    url = department_url(department, name="stakeholders:agreement_create")
    response = client.post(url, {"review_on": "not a date", "policies": ["9999"]})
    assert response.status_code == 400
    assert "review_on" in response.context["form"].errors and "policies" in response.context["form"].errors
    assert not ServiceAgreement.objects.exists()

    response = client.post(url, {"review_on": "2027-03-01", "deviations": "None", "change_note": "First version"})
    assert response.status_code == 302
    agreement = ServiceAgreement.objects.get(department=department)
    assert (agreement.version, agreement.review_on, agreement.created_by) == (1, date(2027, 3, 1), manager)


def test_the_head_signs_off_from_the_page(client, department, manager, head):
    agreement = relations.service_agreement_create(department=department, actor=manager, review_on=date(2027, 1, 1))
    client.force_login(head)
    response = client.post(department_url(department, name="stakeholders:agreement_sign_off", version=1))
    assert response.status_code == 302
    agreement.refresh_from_db()
    assert agreement.signed_off_by == head


def test_publishing_from_the_meeting_page_needs_a_summary(client, sales_with_history, manager):
    meeting = Meeting.objects.get(title="Q2 review")
    Meeting.objects.filter(pk=meeting.pk).update(starts_at=timezone.now() - timedelta(hours=1))
    client.force_login(manager)
    url = department_url(sales_with_history, name="stakeholders:meeting_publish", pk=meeting.pk)
    response = client.post(url, {"publish-summary": ""})
    assert response.status_code == 400 and "summary" in response.context["publish_form"].errors
    before = Notification.objects.count()
    response = client.post(url, {"publish-summary": "All good."})
    assert response.status_code == 302
    assert Notification.objects.count() > before


def test_the_owner_closes_an_action_item_and_others_may_not(client, sales_with_history, head, requester):
    item = ActionItem.objects.get()
    url = department_url(sales_with_history, name="stakeholders:action_item_status", pk=item.pk)
    client.force_login(requester)
    assert client.post(url, {"status": "done"}).status_code == 403
    client.force_login(head)
    assert client.post(url, {"status": "bogus"}).status_code == 400
    item.refresh_from_db()
    assert item.status == ActionItemStatus.OPEN
    assert client.post(url, {"status": "done"}).status_code == 302
    item.refresh_from_db()
    assert item.status == ActionItemStatus.DONE


@pytest.mark.parametrize(
    "path", ["/stakeholders/NOPE/", "/stakeholders/SALES/meetings/999999/", "/stakeholders/SALES/agreement/9/sign-off/"]
)
def test_bad_addresses_are_404s_not_500s(client, department, manager, path):
    client.force_login(manager)
    assert client.get(path).status_code in (404, 405)


def test_a_manager_sets_the_schedule_and_plans_meetings_and_bad_dates_come_back_beside_the_field(
    client, department, manager, head
):
    client.force_login(manager)
    schedule_url = department_url(department, name="stakeholders:schedule")
    response = client.post(schedule_url, {"every_months": "7", "title": "Review", "first_at": "soon"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"every_months", "first_at"}
    assert not Meeting.objects.exists()

    response = client.post(
        schedule_url, {"every_months": "3", "title": "Quarterly review", "first_at": "2030-04-02T10:00"}
    )
    assert response.status_code == 302
    assert department.meeting_schedule.every_months == 3
    assert Meeting.objects.get(department=department).title == "Quarterly review"

    plan_url = department_url(department, name="stakeholders:meeting_create")
    response = client.post(plan_url, {"title": "", "starts_at": "2030-13-01T10:00", "attendees": ["999999"]})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"title", "starts_at", "attendees"}
    response = client.post(plan_url, {"title": "Extra review", "starts_at": "2030-05-01T10:00", "attendees": [head.pk]})
    assert response.status_code == 302
    assert list(Meeting.objects.get(title="Extra review").attendees.all()) == [head]
