"""The SLA schema: constraints hold in the database, validators say what is wrong, queryset methods select
what their names say."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from slas.models import BusinessCalendarVersion, Metric, SlaClock, SlaGoal, SlaPause, SlaPolicy
from tests.slas.factories import (
    BusinessCalendarFactory,
    SlaGoalFactory,
    SlaPolicyFactory,
    clock,
    office_spec,
    request_without_clocks,
)

pytestmark = pytest.mark.django_db


def refused_by_the_database(create):
    """Run `create` in a savepoint and report whether the database refused it."""
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


# -- policies and goals ------------------------------------------------------------------------


def test_a_second_default_policy_is_refused_by_the_database():
    # given the default policy the data migration created
    assert SlaPolicy.objects.filter(is_default=True).count() == 1
    # when another policy is saved as the default
    refused = refused_by_the_database(lambda: SlaPolicyFactory(is_default=True))
    # then the database refuses it, and any number of non-default policies is fine
    assert refused
    SlaPolicyFactory(is_default=False)
    SlaPolicyFactory(is_default=False)
    assert SlaPolicy.objects.filter(is_default=True).count() == 1


def test_a_second_default_policy_is_a_validation_error_in_forms():
    # given a default policy
    # when a new policy that is also the default is validated (as the admin does)
    policy = SlaPolicy(name="Another", description="…", is_default=True)
    # then the message says what to do
    with pytest.raises(ValidationError, match="already the default"):
        policy.full_clean()


def test_the_default_policy_cannot_be_inactive():
    # given the default policy
    policy = SlaPolicy.objects.get(is_default=True)
    # when it is deactivated
    policy.is_active = False
    # then validation and the database both refuse
    with pytest.raises(ValidationError, match="cannot be inactive"):
        policy.full_clean()
    assert refused_by_the_database(lambda: policy.save(update_fields=["is_active"]))


@pytest.mark.parametrize("field", ["first_response_minutes", "resolution_minutes"])
def test_goal_targets_must_be_positive(field):
    # given a policy
    policy = SlaPolicyFactory()
    # when a goal with a zero target is saved
    refused = refused_by_the_database(lambda: SlaGoalFactory(policy=policy, **{field: 0}))
    # then the database refuses it
    assert refused


def test_a_goal_priority_outside_the_choices_is_refused_by_the_database():
    assert refused_by_the_database(lambda: SlaGoalFactory(priority="whenever"))


@pytest.mark.parametrize("thresholds", [[50, 75, 90], [], [1], [10, 99]])
def test_valid_warning_thresholds_pass(thresholds):
    # given a goal with ascending whole percentages in 1..99
    goal = SlaGoalFactory.build(policy=SlaPolicyFactory(), calendar=BusinessCalendarFactory())
    goal.warning_thresholds = thresholds
    # when it is validated, then nothing is wrong
    goal.full_clean()


@pytest.mark.parametrize(
    "thresholds",
    [[90, 75], [50, 50], [0, 50], [50, 100], [50.5], ["50"], [True], "50,75", {"warn": 50}],
    ids=["descending", "repeat", "zero", "hundred", "fraction", "text", "bool", "string", "dict"],
)
def test_invalid_warning_thresholds_are_refused_on_the_field(thresholds):
    # given a goal with thresholds that are not ascending whole percentages in 1..99
    goal = SlaGoalFactory.build(policy=SlaPolicyFactory(), calendar=BusinessCalendarFactory())
    goal.warning_thresholds = thresholds
    # when it is validated
    with pytest.raises(ValidationError) as caught:
        goal.full_clean()
    # then the error is on warning_thresholds
    assert list(caught.value.message_dict) == ["warning_thresholds"]


def test_a_new_goal_warns_at_50_75_and_90_percent_by_default():
    assert SlaGoalFactory().warning_thresholds == [50, 75, 90]


def test_goals_and_policies_are_ordered_by_position():
    # given goals and policies saved out of order
    policy = SlaPolicyFactory(position=50)
    calendar = BusinessCalendarFactory()
    later = SlaGoalFactory(policy=policy, position=2, calendar=calendar)
    earlier = SlaGoalFactory(policy=policy, position=1, calendar=calendar)
    first_policy = SlaPolicyFactory(position=0)
    # then the default ordering follows position
    assert list(policy.goals.all()) == [earlier, later]
    assert SlaPolicy.objects.first() == first_policy


def test_goal_seconds_per_metric():
    goal = SlaGoal(first_response_minutes=60, resolution_minutes=480)
    assert goal.goal_seconds(Metric.FIRST_RESPONSE) == 3600
    assert goal.goal_seconds(Metric.RESOLUTION) == 8 * 3600


# -- calendar versions ---------------------------------------------------------------------------


def test_a_version_with_a_bad_spec_is_a_validation_error_on_spec_naming_the_field():
    # given a version whose Monday has an impossible time
    version = BusinessCalendarVersion(
        calendar=BusinessCalendarFactory(), effective_from=timezone.now(), spec=office_spec(hours=[("09:00", "25:00")])
    )
    # when it is validated
    with pytest.raises(ValidationError) as caught:
        version.full_clean()
    # then the error is on spec and names the field inside it
    assert list(caught.value.message_dict) == ["spec"]
    assert "week.mon[0]" in caught.value.message_dict["spec"][0]


def test_two_versions_of_a_calendar_cannot_start_at_the_same_moment():
    # given a calendar with a version
    calendar = BusinessCalendarFactory()
    start = calendar.versions.get().effective_from
    # when another version with the same start is saved
    refused = refused_by_the_database(
        lambda: BusinessCalendarVersion.objects.create(calendar=calendar, effective_from=start, spec=office_spec())
    )
    # then the database refuses it
    assert refused


# -- clocks and pauses -----------------------------------------------------------------------------


@pytest.fixture
def procurement_request(requester):
    return request_without_clocks(requester)


@pytest.fixture
def calendar():
    return BusinessCalendarFactory()


def test_a_cycle_number_is_unique_per_request_and_metric(procurement_request, calendar):
    # given cycle 1 of the resolution clock, no longer current
    clock(procurement_request, calendar=calendar, cycle=1, is_current=False)
    # when another cycle 1 of the same metric is saved
    refused = refused_by_the_database(lambda: clock(procurement_request, calendar=calendar, cycle=1, is_current=False))
    # then it is refused; cycle 1 of the other metric is fine
    assert refused
    clock(procurement_request, calendar=calendar, metric=Metric.FIRST_RESPONSE, cycle=1)


def test_only_one_cycle_per_metric_is_current(procurement_request, calendar):
    # given a current resolution clock
    clock(procurement_request, calendar=calendar, cycle=1)
    # when a second current cycle of the same metric is saved
    refused = refused_by_the_database(lambda: clock(procurement_request, calendar=calendar, cycle=2))
    # then it is refused, while a current first-response clock and older non-current cycles are fine
    assert refused
    clock(procurement_request, calendar=calendar, metric=Metric.FIRST_RESPONSE)
    clock(procurement_request, calendar=calendar, cycle=2, is_current=False)
    assert SlaClock.objects.filter(procurement_request=procurement_request).current().count() == 2


def test_a_clock_cannot_stop_before_it_started(procurement_request, calendar):
    now = timezone.now()
    assert refused_by_the_database(
        lambda: clock(procurement_request, calendar=calendar, started_at=now, stopped_at=now - timedelta(seconds=1))
    )


def test_a_clock_has_at_most_one_open_pause(procurement_request, calendar):
    # given a clock paused once
    paused = clock(procurement_request, calendar=calendar)
    now = timezone.now()
    SlaPause.objects.create(clock=paused, started_at=now, reason="waiting_for_requester")
    # when a second open pause is recorded
    refused = refused_by_the_database(
        lambda: SlaPause.objects.create(clock=paused, started_at=now, reason="pending_approval")
    )
    # then it is refused; closed pauses are not limited
    assert refused
    SlaPause.objects.create(
        clock=paused, started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=1), reason="completed"
    )


def test_the_clock_queryset_methods_select_what_they_say(requester, calendar):
    # given clocks in different states
    now = timezone.now()
    overdue = clock(request_without_clocks(requester), calendar=calendar, due_at=now - timedelta(hours=1))
    breached = clock(request_without_clocks(requester), calendar=calendar, breached=True, due_at=now)
    paused = clock(request_without_clocks(requester), calendar=calendar, paused_since=now)
    stopped = clock(
        request_without_clocks(requester),
        calendar=calendar,
        started_at=now - timedelta(days=2),
        stopped_at=now,
        met=True,
        due_at=now - timedelta(days=1),
        next_threshold=50,
        next_threshold_at=now - timedelta(hours=1),
    )
    warning = clock(
        request_without_clocks(requester), calendar=calendar, next_threshold=75, next_threshold_at=now - timedelta(1)
    )
    clocks = SlaClock.objects.all()
    # then each method selects exactly its clocks
    assert set(clocks.running()) == {overdue, breached, paused, warning}
    assert set(clocks.stopped()) == {stopped}
    assert set(clocks.paused()) == {paused}
    assert set(clocks.breached_now()) == {breached}
    assert set(clocks.due_before(now)) == {overdue}
    assert set(clocks.threshold_reached_by(now)) == {warning}
    assert set(clocks.for_metric(Metric.FIRST_RESPONSE)) == set()


def test_clock_admin_pages_load_and_search_by_reference(admin_client, procurement_request, calendar):
    # given a clock with a pause
    paused = clock(procurement_request, calendar=calendar, paused_since=timezone.now())
    SlaPause.objects.create(clock=paused, started_at=paused.paused_since, reason="waiting_for_requester")
    # when a superuser opens the list (searching by the request's reference, filtering) and the clock
    found = admin_client.get(
        reverse("admin:slas_slaclock_changelist"), {"q": procurement_request.reference, "metric": "resolution"}
    )
    detail = admin_client.get(reverse("admin:slas_slaclock_change", args=[paused.pk]))
    # then both load, read-only
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [paused]
    assert detail.status_code == 200
    assert not detail.context["has_change_permission"]
