"""`seed_demo`: departments, one login per role and demo requests; a second run adds nothing."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from requests_app.models import (
    Attachment,
    BuyerTeam,
    Comment,
    EventKind,
    ProcurementRequest,
    RequestEvent,
    RoutingRule,
    RoutingStrategy,
    Status,
)
from stakeholders.models import Department, Membership, Profile

INTERNAL_CUSTOMERS = {
    "Sales",
    "Marketing",
    "Operations",
    "Manufacturing",
    "Finance",
    "Quality Assurance",
    "Research & Development",
    "Logistics & Distribution",
    "Engineering & Design",
    "Executive Management",
    "Information Technology",
    "Service Departments",
}
# username -> (department, role group)
ONE_PER_ROLE = {
    "alice": ("Sales", "Requester"),
    "hannah": ("Sales", "Department head"),
    "bob": ("Procurement", "Buyer"),
    "maria": ("Procurement", "Procurement manager"),
}


def seed():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts():
    return {
        "users": get_user_model().objects.count(),
        "departments": Department.objects.count(),
        "memberships": Membership.objects.count(),
        "requests": ProcurementRequest.objects.count(),
        "events": RequestEvent.objects.count(),
        "comments": Comment.objects.count(),
        "attachments": Attachment.objects.count(),
    }


@pytest.mark.django_db
def test_seeding_creates_the_departments_and_procurement():
    # when the demo data is seeded
    seed()
    # then the 12 internal customers and Procurement exist, and only Procurement works requests
    assert set(Department.objects.values_list("name", flat=True)) == INTERNAL_CUSTOMERS | {"Procurement"}
    assert list(Department.objects.filter(is_procurement=True).values_list("name", flat=True)) == ["Procurement"]


@pytest.mark.django_db
def test_seeding_creates_one_login_per_role_and_an_admin():
    # when the demo data is seeded
    seed()
    # then each role has its demo user, in its department, with the demo password
    users = get_user_model().objects.prefetch_related("groups").select_related("membership__department")
    for username, (department, role) in ONE_PER_ROLE.items():
        user = users.get(username=username)
        assert user.membership.department.name == department, username
        assert [group.name for group in user.groups.all()] == [role], username
        assert user.check_password("demo"), username
    assert Department.objects.get(name="Sales").head.username == "hannah"
    admin = users.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password("demo")


@pytest.mark.django_db
def test_seeding_creates_demo_requests_across_the_lifecycle():
    # when the demo data is seeded
    output = seed()
    # then there are demo requests in many states, each with its history
    statuses = set(ProcurementRequest.objects.values_list("status", flat=True))
    assert ProcurementRequest.objects.count() == 16
    assert {
        Status.PENDING_APPROVAL,
        Status.APPROVED,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
        Status.WAITING_FOR_REQUESTER,
        Status.WAITING_FOR_SUPPLIER,
        Status.ORDERED,
        Status.COMPLETED,
        Status.CANCELLED,
    } <= statuses
    assert not ProcurementRequest.objects.filter(events__isnull=True).exists()
    assert "16 new requests" in output


@pytest.mark.django_db
def test_seeding_twice_creates_nothing_new():
    # given the demo data seeded once
    seed()
    before = counts()
    statuses = dict(ProcurementRequest.objects.values_list("reference", "status"))
    # when it is seeded again
    output = seed()
    # then nothing was added or changed
    assert counts() == before
    assert dict(ProcurementRequest.objects.values_list("reference", "status")) == statuses
    assert "0 new requests" in output


@pytest.mark.django_db
def test_seeding_sets_up_teams_rules_and_one_buyer_away_and_the_requests_show_their_routing():
    # when the demo data is seeded
    seed()
    # then the four teams have their leads, the rules end with the default on the indirect team's queue
    leads = dict(BuyerTeam.objects.filter(is_active=True).values_list("name", "lead__username"))
    assert leads == {
        "Direct materials": "dan",
        "Indirect & services": "bob",
        "IT & software": "betty",
        "Capital projects": "maria",
    }
    default = RoutingRule.objects.get(is_default=True)
    assert (default.team.name, default.strategy) == ("Indirect & services", RoutingStrategy.TEAM_QUEUE)
    assert RoutingRule.objects.filter(is_default=False).count() >= 5
    # and one buyer is out of office, with an open request flagged for the lead
    away = Profile.objects.filter(away_until__gte=timezone.localdate())
    assert list(away.values_list("user__username", flat=True)) == ["paula"]
    assert ProcurementRequest.objects.assigned_to_absent().exists()
    # and every request past approval was routed, some to a buyer, some to a team queue
    routed = RequestEvent.objects.filter(kind=EventKind.ROUTED)
    assert not ProcurementRequest.objects.exclude(status=Status.PENDING_APPROVAL).filter(team__isnull=True).exists()
    assert routed.filter(assignee__isnull=False).exists() and routed.filter(assignee__isnull=True).exists()


@pytest.mark.django_db
def test_the_demo_shows_the_relationship_with_sales_once():
    from stakeholders.models import ActionItem, Meeting, ServiceAgreement

    seed()
    seed()
    now = timezone.now()
    sales = Department.objects.get(code="SALES")
    assert list(ServiceAgreement.objects.filter(department=sales).values_list("version", flat=True)) == [2, 1]
    assert Meeting.objects.filter(department=sales).past(now).published().count() == 1
    assert Meeting.objects.filter(department=sales).upcoming(now).count() == 1
    assert ActionItem.objects.overdue(timezone.localdate()).filter(meeting__department=sales).count() == 1
    assert ServiceAgreement.objects.review_passed(timezone.localdate()).filter(department__code="FIN").exists()


@pytest.mark.django_db
def test_the_demo_shows_answered_surveys_and_one_low_score_with_an_open_follow_up():
    from stakeholders.models import SatisfactionSurvey, SurveyFollowUp

    seed()
    seed()
    completed = ProcurementRequest.objects.filter(completed_at__isnull=False)
    assert SatisfactionSurvey.objects.count() == completed.count() == 4
    assert sorted(SatisfactionSurvey.objects.answered().values_list("requester__username", "rating")) == [
        ("carol", 5),
        ("nora", 2),
    ]
    # sent when their (backdated) request was completed
    for survey in SatisfactionSurvey.objects.select_related("procurement_request"):
        assert survey.sent_at == survey.procurement_request.completed_at
    follow_up = SurveyFollowUp.objects.open().get()
    assert follow_up.survey.requester.username == "nora"
    assert follow_up.owner == follow_up.survey.procurement_request.team.lead


@pytest.mark.django_db
def test_the_demo_shows_a_relationship_survey_trend_for_sales_once():
    from stakeholders.models import RelationshipAnswer, RelationshipSurvey

    seed()
    seed()
    rounds = list(RelationshipSurvey.objects.filter(department__code="SALES").order_by("opened_on"))
    assert len(rounds) == 2 and rounds[-1].is_open(timezone.localdate())
    assert [RelationshipAnswer.objects.filter(survey=survey).count() for survey in rounds] == [3, 1]
