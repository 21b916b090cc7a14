"""The managers' SLA settings page: who may open and change it, and that each change goes through
the same rules as the admin (sound policies only, calendar versions never in the past)."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from requests_app.models import Priority
from slas.demo import OFFICE_CALENDAR, STANDARD_POLICY
from slas.models import BusinessCalendar, SlaGoal, SlaPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def standard():
    return SlaPolicy.objects.get(name=STANDARD_POLICY)


@pytest.fixture
def office():
    return BusinessCalendar.objects.get(name=OFFICE_CALENDAR)


def _goal_rows(policy, *, changes=None, extra=()):
    """The policy form as the browser posts it: every goal as it is, with `changes` {index: {field: value}}."""
    goals = list(policy.goals.order_by("position", "id"))
    rows = [
        {
            "id": goal.pk,
            "position": goal.position,
            "category": goal.category_id or "",
            "priority": goal.priority or "",
            "department": goal.department_id or "",
            "first_response_minutes": goal.first_response_minutes,
            "resolution_minutes": goal.resolution_minutes,
            "calendar": goal.calendar_id,
            "warning_thresholds": ", ".join(str(t) for t in goal.warning_thresholds),
        }
        for goal in goals
    ]
    for index, fields in (changes or {}).items():
        rows[index].update(fields)
    rows.extend(extra)
    data = {
        "name": policy.name,
        "description": policy.description,
        "position": policy.position,
        "is_active": "on" if policy.is_active else "",
        "goals-TOTAL_FORMS": len(rows),
        "goals-INITIAL_FORMS": len(goals),
        "goals-MIN_NUM_FORMS": 0,
        "goals-MAX_NUM_FORMS": 1000,
    }
    for index, row in enumerate(rows):
        for field, value in row.items():
            data[f"goals-{index}-{field}"] = value
    return data


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anon", 302), ("requester", 403), ("head", 403), ("buyer", 403), ("manager", 200)],
)
@pytest.mark.parametrize(
    "url_name", ["settings", "policy_create", "policy_edit", "calendar_hours", "calendar_holidays"]
)
def test_only_procurement_managers_open_the_settings_pages(client, request, who, expected, url_name, standard, office):
    # given a user in each role
    if who != "anon":
        client.force_login(request.getfixturevalue(who))
    kwargs = {
        "policy_edit": {"pk": standard.pk},
        "calendar_hours": {"pk": office.pk},
        "calendar_holidays": {"pk": office.pk},
    }

    # when they open the page
    response = client.get(reverse(f"slas:{url_name}", kwargs=kwargs.get(url_name)))

    # then only managers see it; anonymous users are sent to log in
    assert response.status_code == expected
    if who == "anon":
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["requester", "head", "buyer"])
def test_a_denied_policy_change_changes_nothing(client, request, who, standard):
    # given a non-manager posting a change to the default policy
    client.force_login(request.getfixturevalue(who))
    before = list(standard.goals.values_list("first_response_minutes", flat=True))

    # when they post it
    response = client.post(
        reverse("slas:policy_edit", kwargs={"pk": standard.pk}),
        _goal_rows(standard, changes={0: {"first_response_minutes": 5}}),
    )

    # then it is refused and nothing changed
    assert response.status_code == 403
    assert list(standard.goals.values_list("first_response_minutes", flat=True)) == before


def test_the_settings_page_lists_policies_goals_and_calendars_in_business_words(client, manager, standard, office):
    client.force_login(manager)

    response = client.get(reverse("slas:settings"))

    page = response.content.decode()
    assert STANDARD_POLICY in page and OFFICE_CALENDAR in page
    assert "1 business hour" in page  # urgent first response, 60 min
    assert "Mon–Fri 08:00–12:00, 13:00–17:00" in page


def test_the_settings_page_costs_the_same_queries_with_more_goals(
    client, manager, standard, django_assert_max_num_queries
):
    # given the page's cost with the demo policies
    client.force_login(manager)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        client.get(reverse("slas:settings"))
    # when another policy with three goals exists
    policy = SlaPolicy.objects.create(name="Extra", description="More.", position=5)
    for priority in (Priority.URGENT, Priority.HIGH, Priority.LOW):
        SlaGoal.objects.create(
            policy=policy,
            priority=priority,
            first_response_minutes=60,
            resolution_minutes=480,
            calendar=standard.goals.first().calendar,
        )

    # then the page needs no more queries
    with django_assert_max_num_queries(len(first.captured_queries)):
        client.get(reverse("slas:settings"))


def test_a_manager_changes_a_goal_and_new_requests_get_it(client, manager, standard):
    # given the urgent goal of the default policy (first response 60 min)
    client.force_login(manager)

    # when the manager makes it 30 minutes
    response = client.post(
        reverse("slas:policy_edit", kwargs={"pk": standard.pk}),
        _goal_rows(standard, changes={0: {"first_response_minutes": 30}}),
    )

    # then it is saved, in order, and the change is in the admin's history
    assert response.status_code == 302
    urgent = standard.goals.get(priority=Priority.URGENT)
    assert urgent.first_response_minutes == 30
    assert list(standard.goals.order_by("position").values_list("position", flat=True)) == [10, 20, 30, 40, 50]
    assert LogEntry.objects.filter(object_id=str(standard.pk), user=manager).exists()


def test_a_goal_that_could_never_apply_is_refused_with_the_reason(client, manager, standard):
    # given the default policy, whose last goal catches every request
    client.force_login(manager)
    before = list(standard.goals.values_list("id", "position", "first_response_minutes"))

    # when a manager adds an urgent goal after the catch-all
    response = client.post(
        reverse("slas:policy_edit", kwargs={"pk": standard.pk}),
        _goal_rows(
            standard,
            extra=[
                {
                    "position": 99,
                    "priority": Priority.URGENT,
                    "first_response_minutes": 15,
                    "resolution_minutes": 60,
                    "calendar": standard.goals.first().calendar_id,
                    "warning_thresholds": "50, 75, 90",
                }
            ],
        ),
    )

    # then the form comes back with the reason and nothing is saved
    assert response.status_code == 400
    assert "can never apply" in response.content.decode()
    assert list(standard.goals.values_list("id", "position", "first_response_minutes")) == before


def test_a_bad_field_is_reported_beside_it(client, manager, standard):
    client.force_login(manager)

    response = client.post(
        reverse("slas:policy_edit", kwargs={"pk": standard.pk}),
        _goal_rows(standard, changes={1: {"warning_thresholds": "75, 50"}, 2: {"resolution_minutes": 0}}),
    )

    assert response.status_code == 400
    goals = response.context["goals"]
    assert "ascending" in goals.forms[1].errors["warning_thresholds"][0]
    assert goals.forms[2].errors["resolution_minutes"]


def test_a_new_policy_is_created_with_its_goals(client, manager, office):
    client.force_login(manager)
    data = {
        "name": "Marketing events",
        "description": "Event services are answered within two business hours.",
        "position": 10,
        "is_active": "on",
        "goals-TOTAL_FORMS": 1,
        "goals-INITIAL_FORMS": 0,
        "goals-MIN_NUM_FORMS": 0,
        "goals-MAX_NUM_FORMS": 1000,
        "goals-0-position": 1,
        "goals-0-priority": Priority.HIGH,
        "goals-0-first_response_minutes": 120,
        "goals-0-resolution_minutes": 960,
        "goals-0-calendar": office.pk,
        "goals-0-warning_thresholds": "60, 80",
    }

    response = client.post(reverse("slas:policy_create"), data)

    assert response.status_code == 302
    policy = SlaPolicy.objects.get(name="Marketing events")
    assert list(policy.goals.values_list("priority", "first_response_minutes", "warning_thresholds")) == [
        (Priority.HIGH, 120, [60, 80])
    ]


def test_making_another_policy_the_default_needs_a_catch_all(client, manager, standard):
    # given a policy without a catch-all goal
    client.force_login(manager)
    capital = SlaPolicy.objects.exclude(pk=standard.pk).get(is_active=True)

    # when a manager tries to make it the default
    client.post(reverse("slas:policy_default", kwargs={"pk": capital.pk}))

    # then the default stays where it was
    assert SlaPolicy.objects.get(is_default=True) == standard


def test_a_manager_changes_the_working_hours_from_a_future_moment(client, manager, office):
    # given the office calendar (Mon–Fri 08–12, 13–17)
    client.force_login(manager)
    starts = (timezone.localtime() + timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    form = client.get(reverse("slas:calendar_hours", kwargs={"pk": office.pk})).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}

    # when the manager closes Friday afternoons from next week
    data.update(effective_from=starts.strftime("%Y-%m-%dT%H:%M"), fri="08:00-12:00", note="Summer hours")
    response = client.post(reverse("slas:calendar_hours", kwargs={"pk": office.pk}), data)

    # then a new version starts then, with the new hours and everything else kept
    assert response.status_code == 302
    version = office.versions.latest("effective_from")
    assert (version.effective_from, version.note, version.created_by) == (starts, "Summer hours", manager)
    assert version.spec["week"]["fri"] == [["08:00", "12:00"]]
    assert version.spec["week"]["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    assert version.spec["holidays"] == office.versions.earliest("effective_from").spec["holidays"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tue", "09:00 to 17:00", "write hours as"),
        ("wed", "17:00-09:00", "end 09:00 is not after start 17:00"),
        ("holidays", "2026-02-30", "is not a date"),
        ("exceptions", "Christmas: closed", "start the line with a date"),
    ],
)
def test_bad_working_hours_are_reported_beside_the_field_and_nothing_is_saved(
    client, manager, office, field, value, message
):
    client.force_login(manager)
    form = client.get(reverse("slas:calendar_hours", kwargs={"pk": office.pk})).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data.update({field: value, "note": "Try"})
    versions = office.versions.count()

    response = client.post(reverse("slas:calendar_hours", kwargs={"pk": office.pk}), data)

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field]).lower()
    assert office.versions.count() == versions


def test_a_version_in_the_past_is_refused(client, manager, office):
    client.force_login(manager)
    form = client.get(reverse("slas:calendar_hours", kwargs={"pk": office.pk})).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data.update(effective_from="2020-01-01T00:00", note="Backdated")

    response = client.post(reverse("slas:calendar_hours", kwargs={"pk": office.pk}), data)

    assert response.status_code == 400
    assert "past" in response.context["form"].errors["effective_from"][0]


def test_a_manager_imports_public_holidays(client, manager, office):
    # given the office calendar with Bavarian holidays for this year and next
    client.force_login(manager)
    year = timezone.localdate().year + 2

    # when the manager imports the year after
    response = client.post(
        reverse("slas:calendar_holidays", kwargs={"pk": office.pk}),
        {"country": "DE", "subdivision": "BY", "years": str(year), "categories": "public"},
    )

    # then a new version holds them, e.g. that year's Christmas Day
    assert response.status_code == 302
    assert f"{year}-12-25" in office.versions.latest("effective_from").spec["holidays"]


def test_an_unknown_country_is_reported_beside_the_field(client, manager, office):
    client.force_login(manager)

    response = client.post(
        reverse("slas:calendar_holidays", kwargs={"pk": office.pk}),
        {"country": "XX", "years": "2027", "categories": "public"},
    )

    assert response.status_code == 400
    assert "country" in response.context["form"].errors
