"""Goal matching: the first matching goal of the first policy wins, the default policy is the fallback,
and a policy that could leave a request without a goal (or with a goal that never applies) is refused."""

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.urls import reverse

from requests_app.models import Category, Priority
from slas.demo import CAPITAL_POLICY, STANDARD_POLICY
from slas.models import SlaGoal, SlaPolicy
from slas.policies import sla_goal_for, sla_policy_check, sla_policy_make_default
from tests.factories import CategoryFactory, DepartmentFactory
from tests.slas.factories import BusinessCalendarFactory, SlaGoalFactory, SlaPolicyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def calendar():
    return BusinessCalendarFactory()


@pytest.fixture
def default_policy(calendar):
    """Only our own policies: the seeded ones are removed, and this default ends with a catch-all."""
    SlaPolicy.objects.all().delete()
    policy = SlaPolicyFactory(name="Default", is_default=True, position=100)
    SlaGoalFactory(policy=policy, position=1, priority=Priority.URGENT, calendar=calendar, resolution_minutes=480)
    SlaGoalFactory(policy=policy, position=99, calendar=calendar, resolution_minutes=2400)
    return policy


@pytest.fixture
def goods():
    return CategoryFactory(name="Goods")


@pytest.fixture
def services():
    return CategoryFactory(name="Services")


def goal_for(category=None, priority=Priority.NORMAL, department=None):
    return sla_goal_for(
        category_id=category.pk if category else None,
        priority=priority,
        department_id=department.pk if department else None,
    )


def test_the_first_matching_goal_of_a_policy_wins(default_policy, calendar, goods):
    # given a policy whose first two goals both match urgent goods
    policy = SlaPolicyFactory(position=1)
    first = SlaGoalFactory(policy=policy, position=1, category=goods, calendar=calendar)
    SlaGoalFactory(policy=policy, position=2, category=goods, priority=Priority.URGENT, calendar=calendar)
    # when the goal for urgent goods is looked up
    goal = goal_for(goods, Priority.URGENT)
    # then the one positioned first wins, even though the second is more specific
    assert goal == first


def test_a_department_specific_goal_beats_a_later_generic_goal(default_policy, calendar, goods):
    # given a policy with a goal for Sales' goods before a goal for everyone's goods
    sales, finance = DepartmentFactory(code="SALES"), DepartmentFactory(code="FIN")
    policy = SlaPolicyFactory(position=1)
    for_sales = SlaGoalFactory(policy=policy, position=1, category=goods, department=sales, calendar=calendar)
    for_everyone = SlaGoalFactory(policy=policy, position=2, category=goods, calendar=calendar)
    # when Sales and Finance each ask for goods
    # then Sales gets its own goal and Finance the generic one
    assert goal_for(goods, department=sales) == for_sales
    assert goal_for(goods, department=finance) == for_everyone


def test_policies_are_tried_in_position_order_and_the_default_last(default_policy, calendar, goods):
    # given two policies matching goods, the later one positioned before the default
    late = SlaPolicyFactory(position=20)
    SlaGoalFactory(policy=late, category=goods, calendar=calendar)
    early = SlaPolicyFactory(position=10)
    early_goal = SlaGoalFactory(policy=early, category=goods, calendar=calendar)
    # the default policy is positioned before both, but it is still the fallback only
    SlaPolicy.objects.filter(pk=default_policy.pk).update(position=0)
    # when the goal for urgent goods is looked up
    # then the earliest non-default policy wins over the default's urgent goal
    assert goal_for(goods, Priority.URGENT) == early_goal


def test_an_inactive_policy_is_skipped(default_policy, calendar, goods):
    # given an inactive policy that would match goods
    inactive = SlaPolicyFactory(position=1, is_active=False)
    SlaGoalFactory(policy=inactive, category=goods, calendar=calendar)
    # when the goal for goods is looked up
    goal = goal_for(goods)
    # then the default policy's catch-all applies
    assert goal.policy == default_policy
    assert goal.is_catch_all


def test_the_default_policy_is_the_fallback(default_policy, calendar, goods, services):
    # given a policy for goods only
    policy = SlaPolicyFactory(position=1)
    SlaGoalFactory(policy=policy, category=goods, calendar=calendar)
    # when urgent and normal services are looked up
    urgent, normal = goal_for(services, Priority.URGENT), goal_for(services, Priority.NORMAL)
    # then the default's urgent goal and catch-all apply
    assert (urgent.policy, urgent.priority, urgent.resolution_minutes) == (default_policy, Priority.URGENT, 480)
    assert (normal.policy, normal.is_catch_all) == (default_policy, True)


def test_without_any_matching_goal_the_lookup_fails_loudly(calendar, goods):
    # given no default policy (nor any other)
    SlaPolicy.objects.all().delete()
    # when a goal is looked up, then it is a configuration error, never None
    with pytest.raises(ImproperlyConfigured, match="default SLA policy"):
        goal_for(goods)


def test_the_lookup_is_one_query_with_the_policy_and_calendar(
    default_policy, calendar, goods, django_assert_num_queries
):
    # given several policies before the default
    for position in range(5):
        SlaGoalFactory(policy=SlaPolicyFactory(position=position), category=CategoryFactory(name=f"C{position}"))
    # when a goal is looked up and its policy and calendar are read
    with django_assert_num_queries(1):
        goal = goal_for(goods, Priority.URGENT)
        names = (goal.policy.name, goal.calendar.name)
    # then it took one query
    assert names == ("Default", calendar.name)


# -- soundness of a policy ---------------------------------------------------------------------------


def test_the_default_policy_must_end_with_a_catch_all(calendar):
    # given a default policy whose goals all have conditions
    policy = SlaPolicy(name="Default", is_default=True)
    goals = [SlaGoal(priority=Priority.URGENT), SlaGoal(priority=Priority.LOW)]
    # when it is checked, then it is refused
    with pytest.raises(ValidationError, match="must end with a goal without conditions"):
        sla_policy_check(policy=policy, goals=goals)
    # and an empty default policy too
    with pytest.raises(ValidationError, match="must end with a goal without conditions"):
        sla_policy_check(policy=policy, goals=[])
    # while a non-default policy needs no catch-all
    sla_policy_check(policy=SlaPolicy(name="Other"), goals=goals)


def test_a_goal_after_one_that_covers_it_is_refused(goods):
    # given a goal for any goods, then one for urgent goods
    goals = [SlaGoal(category=goods), SlaGoal(category=goods, priority=Priority.URGENT), SlaGoal()]
    # when the policy is checked, then the second goal is named as unreachable
    with pytest.raises(ValidationError, match="Goal 2 can never apply: goal 1"):
        sla_policy_check(policy=SlaPolicy(is_default=True), goals=goals)


def test_the_seeded_policies_are_sound_and_promise_what_their_descriptions_say():
    # given the policies the data migration created
    standard = SlaPolicy.objects.get(name=STANDARD_POLICY)
    capital = SlaPolicy.objects.get(name=CAPITAL_POLICY)
    # then both pass the check and the standard one is the default, ending with a catch-all
    for policy in (standard, capital):
        sla_policy_check(policy=policy, goals=policy.goals.all())
    assert standard.is_default and not capital.is_default
    assert "urgent requests within one business hour" in standard.description
    # and the targets are those documented, in minutes
    goods = Category.objects.get(name="Goods")
    expected = {
        Priority.URGENT: (60, 480),
        Priority.HIGH: (120, 1440),
        Priority.NORMAL: (240, 2400),
        Priority.LOW: (480, 4800),
    }
    for priority, targets in expected.items():
        goal = goal_for(goods, priority)
        assert (goal.first_response_minutes, goal.resolution_minutes) == targets
    capital_goal = goal_for(Category.objects.get(name="Capital equipment"), Priority.URGENT)
    renewal_goal = goal_for(Category.objects.get(name="Contract renewal"), Priority.LOW)
    assert (capital_goal.policy, capital_goal.first_response_minutes, capital_goal.resolution_minutes) == (
        capital,
        480,
        9600,
    )
    assert (renewal_goal.first_response_minutes, renewal_goal.resolution_minutes) == (480, 4800)


# -- the admin -----------------------------------------------------------------------------------------


def goal_formset_data(policy, goals, *, delete=()):
    """The POST data of the policy change page, with its goals inline."""
    data = {
        "name": policy.name,
        "description": policy.description,
        "position": policy.position,
        "is_active": "on" if policy.is_active else "",
        "is_default": "on" if policy.is_default else "",
        "goals-TOTAL_FORMS": len(goals),
        "goals-INITIAL_FORMS": len(goals),
        "goals-MIN_NUM_FORMS": 0,
        "goals-MAX_NUM_FORMS": 1000,
        # The escalation ladder inline, left empty (the default ladder applies).
        "escalation_steps-TOTAL_FORMS": 0,
        "escalation_steps-INITIAL_FORMS": 0,
        "escalation_steps-MIN_NUM_FORMS": 0,
        "escalation_steps-MAX_NUM_FORMS": 1000,
    }
    for index, goal in enumerate(goals):
        prefix = f"goals-{index}-"
        data.update(
            {
                f"{prefix}id": goal.pk,
                f"{prefix}policy": policy.pk,
                f"{prefix}position": goal.position,
                f"{prefix}category": goal.category_id or "",
                f"{prefix}priority": goal.priority or "",
                f"{prefix}department": goal.department_id or "",
                f"{prefix}first_response_minutes": goal.first_response_minutes,
                f"{prefix}resolution_minutes": goal.resolution_minutes,
                f"{prefix}calendar": goal.calendar_id,
                f"{prefix}warning_thresholds": "[50, 75, 90]",
            }
        )
        if goal in delete:
            data[f"{prefix}DELETE"] = "on"
    return {key: value for key, value in data.items() if value != ""}


def test_the_admin_refuses_to_remove_the_default_policys_catch_all(admin_client):
    # given the seeded default policy
    policy = SlaPolicy.objects.get(is_default=True)
    goals = list(policy.goals.all())
    url = reverse("admin:slas_slapolicy_change", args=[policy.pk])
    # when its catch-all goal is deleted on the change page
    response = admin_client.post(url, goal_formset_data(policy, goals, delete=[goals[-1]]))
    # then the page shows the error and nothing is deleted
    assert response.status_code == 200
    assert "must end with a goal without conditions" in response.content.decode()
    assert policy.goals.count() == len(goals)
    # while an edit that keeps it saves
    goals[0].resolution_minutes = 420
    response = admin_client.post(url, goal_formset_data(policy, goals))
    assert response.status_code == 302
    assert policy.goals.get(pk=goals[0].pk).resolution_minutes == 420


def test_the_default_policy_cannot_be_deleted_in_the_admin(admin_client):
    policy = SlaPolicy.objects.get(is_default=True)
    response = admin_client.get(reverse("admin:slas_slapolicy_delete", args=[policy.pk]))
    assert response.status_code == 403
    assert SlaPolicy.objects.filter(pk=policy.pk).exists()


def test_policy_admin_pages_load(admin_client):
    # given the seeded policies
    policy = SlaPolicy.objects.get(is_default=True)
    # when a superuser opens the list (searching, filtering), a policy and the add page
    pages = [
        admin_client.get(reverse("admin:slas_slapolicy_changelist"), {"q": "service", "is_default__exact": "1"}),
        admin_client.get(reverse("admin:slas_slapolicy_change", args=[policy.pk])),
        admin_client.get(reverse("admin:slas_slapolicy_add")),
    ]
    # then all load, and the list shows the default policy
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert list(pages[0].context["cl"].result_list) == [policy]


def test_making_a_policy_the_default_is_one_step(admin_client, calendar):
    # given a sound policy with a catch-all, next to the seeded default
    old_default = SlaPolicy.objects.get(is_default=True)
    policy = SlaPolicyFactory(name="New promise")
    SlaGoalFactory(policy=policy, calendar=calendar)
    # when the admin action makes it the default
    response = admin_client.post(
        reverse("admin:slas_slapolicy_changelist"),
        {"action": "make_default_action", "_selected_action": [policy.pk]},
        follow=True,
    )
    # then it is the only default
    assert "is now the default policy" in response.content.decode()
    assert list(SlaPolicy.objects.filter(is_default=True)) == [policy]
    old_default.refresh_from_db()
    assert not old_default.is_default


def test_a_policy_without_a_catch_all_cannot_become_the_default(calendar, goods):
    # given a policy whose only goal is for goods
    policy = SlaPolicyFactory()
    SlaGoalFactory(policy=policy, category=goods, calendar=calendar)
    # when it is made the default, then it is refused and the old default stays
    with pytest.raises(ValidationError, match="must end with a goal without conditions"):
        sla_policy_make_default(policy=policy)
    assert SlaPolicy.objects.get(is_default=True).name == STANDARD_POLICY


def test_goals_can_only_use_active_calendars(admin_client, calendar):
    # given an inactive calendar next to the active ones
    retired = BusinessCalendarFactory(name="Retired", is_active=False)
    policy = SlaPolicy.objects.get(is_default=True)
    # when the policy's goals are edited, then only active calendars are offered
    response = admin_client.get(reverse("admin:slas_slapolicy_change", args=[policy.pk]))
    offered = response.context["inline_admin_formsets"][0].formset.forms[0].fields["calendar"].queryset
    assert calendar in offered and retired not in offered
