"""Business calendars: the pure calendar behind one, changes only by new versions (never in the past
by accident), public holidays from the `holidays` package, the seeded office calendar, and the admin."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from requests_app.models import BuyerTeam, RoutingRule
from slas.calendars import (
    business_calendar_create,
    business_calendar_holidays_import,
    business_calendar_version_add,
    public_holiday_dates,
)
from slas.clock import Calendar, VersionedCalendar
from slas.demo import OFFICE_CALENDAR, STANDARD_POLICY, sla_defaults_ensure
from slas.models import BusinessCalendar, BusinessCalendarVersion, SlaGoal, SlaPolicy, pure_calendars
from slas.policies import sla_goal_for
from tests.factories import CategoryFactory
from tests.slas.factories import BusinessCalendarFactory, office_spec

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


# -- the pure calendar ---------------------------------------------------------------------------------


def test_a_calendar_with_one_version_is_that_versions_calendar():
    # given a calendar with one version
    calendar = BusinessCalendarFactory(spec=office_spec(holidays=["2025-04-18"]))
    # when it is turned into the pure calendar
    clock = calendar.to_clock()
    # then it is exactly that spec's Calendar (worked example 1: Fri 16:30 + 4 h = Mon 12:30)
    assert clock == Calendar.from_spec(office_spec(holidays=["2025-04-18"]))
    assert clock.due_at(berlin(2025, 3, 7, 16, 30), 4 * HOUR) == berlin(2025, 3, 10, 12, 30)


def test_a_calendar_with_several_versions_counts_each_span_with_its_version():
    # given 09:00–17:00 until Tue 2025-03-11 00:00, then 08:00–18:00
    calendar = BusinessCalendarFactory()
    change = berlin(2025, 3, 11)
    BusinessCalendarVersion.objects.create(
        calendar=calendar, effective_from=change, spec=office_spec(hours=[("08:00", "18:00")])
    )
    # when it is turned into the pure calendar
    clock = calendar.to_clock()
    # then each day is measured with the version in force: Mon 8 h, Tue 10 h
    assert isinstance(clock, VersionedCalendar)
    assert clock.business_seconds(berlin(2025, 3, 10), berlin(2025, 3, 12)) == 18 * HOUR
    assert clock.calendar_at(change - timedelta(seconds=1)) == Calendar.from_spec(office_spec())


def test_a_calendar_without_versions_is_a_configuration_error():
    calendar = BusinessCalendarFactory(spec=False)
    with pytest.raises(ImproperlyConfigured, match="has no version"):
        calendar.to_clock()


def test_prefetched_versions_make_the_pure_calendar_free(django_assert_num_queries):
    # given calendars fetched with their versions
    BusinessCalendarFactory()
    calendars = list(BusinessCalendar.objects.with_versions())
    # when each is turned into its pure calendar, then no further query is made
    with django_assert_num_queries(0):
        clocks = [calendar.to_clock() for calendar in calendars]
    assert len(clocks) == len(calendars)


def test_calendars_with_the_same_versions_share_one_pure_calendar():
    # given a calendar turned into its pure calendar twice
    calendar = BusinessCalendarFactory()
    first = calendar.to_clock()
    # then the second is the same (warm) instance
    assert BusinessCalendar.objects.get(pk=calendar.pk).to_clock() is first
    # and a new version gives a new one
    business_calendar_version_add(calendar=calendar, spec=office_spec(hours=[("08:00", "16:00")]))
    assert calendar.to_clock() is not first


def test_pure_calendars_reads_only_the_versions_and_matches_to_clock(django_assert_num_queries):
    # given two calendars, one of them with a second version
    office, other = BusinessCalendarFactory(), BusinessCalendarFactory()
    business_calendar_version_add(calendar=other, spec=office_spec(hours=[("08:00", "16:00")]))
    # when their pure calendars are read by id, then one query reads them
    with django_assert_num_queries(1):
        pure = pure_calendars({office.pk, other.pk})
    # and each is the calendar's own pure calendar (the same memoised instance as to_clock() gives)
    assert pure[office.pk] is office.to_clock()
    assert pure[other.pk] is BusinessCalendar.objects.get(pk=other.pk).to_clock()
    assert isinstance(pure[other.pk], VersionedCalendar)
    # and no id, no query
    with django_assert_num_queries(0):
        assert pure_calendars(set()) == {}


def test_pure_calendars_names_a_calendar_without_versions():
    bare = BusinessCalendar.objects.create(name="No hours yet")
    with pytest.raises(ImproperlyConfigured, match=str(bare.pk)):
        pure_calendars({bare.pk})


def test_the_current_spec_is_the_version_in_force_now():
    # given a version in force and one scheduled for tomorrow
    calendar = BusinessCalendarFactory()
    business_calendar_version_add(
        calendar=calendar,
        spec=office_spec(hours=[("07:00", "15:00")]),
        effective_from=timezone.now() + timedelta(days=1),
        note="Summer hours.",
    )
    # then the current spec is still the first one
    assert calendar.current_spec["week"]["mon"] == [["09:00", "17:00"]]


# -- versions ----------------------------------------------------------------------------------------------


def test_a_new_version_starts_now_by_default_and_records_who_and_why(admin_user):
    # given a calendar
    calendar = BusinessCalendarFactory()
    before = timezone.now()
    # when a version is added without a start
    version = business_calendar_version_add(
        calendar=calendar, spec=office_spec(hours=[("08:00", "16:00")]), note="Earlier hours.", actor=admin_user
    )
    # then it is in force from now, with the actor and note kept
    assert before <= version.effective_from <= timezone.now()
    assert (version.created_by, version.note) == (admin_user, "Earlier hours.")
    assert calendar.versions.count() == 2


def test_a_new_version_cannot_start_in_the_past():
    # given a calendar
    calendar = BusinessCalendarFactory()
    yesterday = timezone.now() - timedelta(days=1)
    # when a version starting yesterday is added
    with pytest.raises(ValidationError) as caught:
        business_calendar_version_add(calendar=calendar, spec=office_spec(), effective_from=yesterday)
    # then it is refused on effective_from and nothing is written
    assert "in the past" in caught.value.message_dict["effective_from"][0]
    assert calendar.versions.count() == 1


def test_a_retroactive_version_needs_the_explicit_argument():
    # given a calendar
    calendar = BusinessCalendarFactory()
    yesterday = timezone.now() - timedelta(days=1)
    # when a version starting yesterday is added with allow_retroactive
    version = business_calendar_version_add(
        calendar=calendar, spec=office_spec(), effective_from=yesterday, allow_retroactive=True
    )
    # then it is written
    assert version.effective_from == yesterday


def test_a_version_needs_an_aware_start_and_a_free_one():
    calendar = BusinessCalendarFactory()
    start = timezone.now() + timedelta(days=3)
    with pytest.raises(ValidationError) as naive:
        business_calendar_version_add(calendar=calendar, spec=office_spec(), effective_from=start.replace(tzinfo=None))
    business_calendar_version_add(calendar=calendar, spec=office_spec(), effective_from=start)
    with pytest.raises(ValidationError) as taken:
        business_calendar_version_add(calendar=calendar, spec=office_spec(), effective_from=start)
    assert list(naive.value.message_dict) == ["effective_from"]
    assert "already has a version starting" in taken.value.message_dict["effective_from"][0]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({**office_spec(), "timezone": "Europe/Atlantis"}, "timezone"),
        (office_spec(hours=[("17:00", "09:00")]), "week.mon[0]"),
        (office_spec(holidays=["2026-02-30"]), "holidays[0]"),
        (office_spec(exceptions={"2026-12-24": [["9:00", "12:00"]]}), "exceptions['2026-12-24'][0]"),
        ({**office_spec(), "weekly": {}}, "unknown field"),
        ("not a dict", "spec"),
    ],
    ids=["timezone", "week", "holiday", "exception", "unknown", "type"],
)
def test_a_bad_spec_is_a_validation_error_on_spec_naming_the_field(spec, field):
    # given a calendar
    calendar = BusinessCalendarFactory()
    # when a version with a bad spec is added
    with pytest.raises(ValidationError) as caught:
        business_calendar_version_add(calendar=calendar, spec=spec)
    # then the error is on spec and its message names the bad field; nothing is written
    assert list(caught.value.message_dict) == ["spec"]
    assert field in caught.value.message_dict["spec"][0]
    assert calendar.versions.count() == 1


def test_a_version_is_stored_in_the_canonical_form():
    # given a spec with unsorted holidays and a closed Saturday
    spec = {**office_spec(holidays=["2026-12-26", "2026-12-25"]), "week": {**office_spec()["week"], "sat": []}}
    # when it becomes a calendar
    calendar = business_calendar_create(name="Canonical", spec=spec)
    # then its version holds the normalised spec
    stored = calendar.versions.get().spec
    assert stored["holidays"] == ["2026-12-25", "2026-12-26"]
    assert "sat" not in stored["week"]


def test_calendar_names_are_unique():
    business_calendar_create(name="Twice", spec=office_spec())
    with pytest.raises(ValidationError) as caught:
        business_calendar_create(name="Twice", spec=office_spec())
    assert list(caught.value.message_dict) == ["name"]


# -- public holidays ------------------------------------------------------------------------------------


def test_importing_bavarian_holidays_adds_a_version_with_them(admin_user):
    # given a calendar without holidays
    calendar = BusinessCalendarFactory()
    before = timezone.now()
    # when the 2026 public holidays of Germany/Bavaria are imported, with the "catholic" category
    # that holds Assumption Day (a holiday in most of Bavaria)
    version, added = business_calendar_holidays_import(
        calendar=calendar,
        country="DE",
        subdivision="BY",
        years=[2026],
        categories=["public", "catholic"],
        actor=admin_user,
    )
    # then a new version in force from now holds them, sorted: Epiphany and Assumption included
    holidays = version.spec["holidays"]
    assert {"2026-01-06", "2026-08-15", "2026-06-04", "2026-12-25"} <= set(holidays)
    assert holidays == sorted(holidays) and added == len(holidays) == 13
    assert version.effective_from >= before and version.created_by == admin_user
    assert version.note == "Public holidays DE-BY 2026: 13 added."
    assert calendar.versions.count() == 2
    # and the weekly hours are those of the version before
    assert version.spec["week"] == office_spec()["week"]


def test_statutory_holidays_only_by_default():
    # when Bavaria's 2026 holidays are imported without categories
    version, added = business_calendar_holidays_import(
        calendar=BusinessCalendarFactory(), country="de", subdivision="by", years=[2026], actor=None
    )
    # then Epiphany is in, but Assumption (category "catholic" in the holidays package) is not
    assert "2026-01-06" in version.spec["holidays"]
    assert "2026-08-15" not in version.spec["holidays"]
    assert added == 12


def test_importing_holidays_twice_adds_nothing_and_writes_no_version():
    # given a calendar that already has Christmas and then Bavaria's 2026 holidays
    calendar = BusinessCalendarFactory(spec=office_spec(holidays=["2026-12-25", "2026-12-31"]))
    first, added = business_calendar_holidays_import(
        calendar=calendar, country="DE", subdivision="BY", years=[2026, 2026], actor=None
    )
    # when the same import runs again
    second, added_again = business_calendar_holidays_import(
        calendar=calendar, country="DE", subdivision="BY", years=[2026], actor=None
    )
    # then the first counted only the new dates, kept the old ones, and listed each once
    assert added == 11
    assert "2026-12-31" in first.spec["holidays"]
    assert len(first.spec["holidays"]) == len(set(first.spec["holidays"])) == 13
    # and the second added nothing and wrote no version
    assert (second, added_again) == (first, 0)
    assert calendar.versions.count() == 2


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "DE", "subdivision": "ZZ"}, "subdivision"),
        ({"country": "DE", "years": []}, "years"),
        ({"country": "DE", "years": [20260]}, "years"),
        ({"country": "DE", "categories": ["bank"]}, "categories"),
    ],
    ids=["country", "subdivision", "no-years", "bad-year", "category"],
)
def test_bad_holiday_import_arguments_name_the_field(arguments, field):
    # given a calendar
    calendar = BusinessCalendarFactory()
    # when holidays are imported with a bad argument
    with pytest.raises(ValidationError) as caught:
        business_calendar_holidays_import(calendar=calendar, **{"years": [2026], "actor": None, **arguments})
    # then the error names that field, and nothing is written
    assert list(caught.value.message_dict) == [field]
    assert calendar.versions.count() == 1


def test_holidays_are_not_imported_before_a_scheduled_version():
    # given a version scheduled for next week
    calendar = BusinessCalendarFactory()
    business_calendar_version_add(
        calendar=calendar, spec=office_spec(), effective_from=timezone.now() + timedelta(days=7)
    )
    # when holidays are imported from now, then it is refused: the scheduled version would drop them
    with pytest.raises(ValidationError) as caught:
        business_calendar_holidays_import(calendar=calendar, country="DE", years=[2026], actor=None)
    assert "already scheduled" in caught.value.message_dict["effective_from"][0]


def test_public_holiday_dates_accept_subdivision_names():
    dates = public_holiday_dates(country="DE", subdivision="BY", years=[2027])
    assert public_holiday_dates(country="DE", subdivision="Bayern", years=[2027]) == dates


# -- the seeded office calendar ---------------------------------------------------------------------------


def test_the_office_calendar_has_bavarian_holidays_and_short_days_at_year_end():
    # given the calendar the data migration created
    calendar = BusinessCalendar.objects.get(name=OFFICE_CALENDAR)
    spec = calendar.current_spec
    year = timezone.localdate().year
    # then it is Mon–Fri 08:00–12:00 and 13:00–17:00 in Berlin
    assert spec["timezone"] == "Europe/Berlin"
    assert set(spec["week"]) == {"mon", "tue", "wed", "thu", "fri"}
    assert spec["week"]["wed"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    # with this and next year's Bavarian holidays (Assumption Day included) and short days on 24/31 December
    for each in (year, year + 1):
        assert {f"{each}-01-06", f"{each}-08-15", f"{each}-12-25"} <= set(spec["holidays"])
        assert spec["exceptions"][f"{each}-12-24"] == spec["exceptions"][f"{each}-12-31"] == [["09:00", "12:00"]]
    # and it counts as promised: an urgent request's day (8 h) filed Mon 16:00 runs out Tue 16:00
    clock = calendar.to_clock()
    monday = berlin(2026, 3, 2, 16)
    assert clock.due_at(monday, 8 * HOUR) == berlin(2026, 3, 3, 16)


def test_sla_defaults_ensure_is_idempotent_and_restores_a_flushed_database():
    # given the seeded defaults
    counts = (BusinessCalendar.objects.count(), SlaPolicy.objects.count(), SlaGoal.objects.count())
    # when they are ensured again, then nothing changes
    assert sla_defaults_ensure() == {"calendars": [], "policies": []}
    assert (BusinessCalendar.objects.count(), SlaPolicy.objects.count(), SlaGoal.objects.count()) == counts
    # and after everything is deleted (as a transactional test's flush does) they come back
    RoutingRule.objects.all().delete()
    BuyerTeam.objects.all().delete()  # routing's teams keep their calendar
    SlaPolicy.objects.all().delete()
    BusinessCalendar.objects.all().delete()
    created = sla_defaults_ensure()
    assert created["calendars"] == [OFFICE_CALENDAR]
    assert (BusinessCalendar.objects.count(), SlaPolicy.objects.count(), SlaGoal.objects.count()) == counts


def test_sla_defaults_ensure_keeps_an_administrators_default():
    # given an administrator made another policy the default and the standard one was removed
    SlaPolicy.objects.all().delete()
    theirs = SlaPolicy.objects.create(name="Ours", description="…", is_default=True)
    # when the defaults are ensured
    sla_defaults_ensure()
    # then theirs stays the default
    assert SlaPolicy.objects.get(is_default=True) == theirs


# -- the admin -----------------------------------------------------------------------------------------------


def test_calendar_admin_pages_load(admin_client):
    # given the seeded calendar
    calendar = BusinessCalendar.objects.get(name=OFFICE_CALENDAR)
    version = calendar.versions.get()
    urls = [
        reverse("admin:slas_businesscalendar_changelist"),
        reverse("admin:slas_businesscalendar_change", args=[calendar.pk]),
        reverse("admin:slas_businesscalendar_add"),
        reverse("admin:slas_businesscalendar_add_version", args=[calendar.pk]),
        reverse("admin:slas_businesscalendar_import_holidays", args=[calendar.pk]),
        reverse("admin:slas_businesscalendarversion_changelist"),
        reverse("admin:slas_businesscalendarversion_change", args=[version.pk]),
    ]
    # when a superuser opens each page
    responses = [admin_client.get(url) for url in urls]
    # then every one loads
    assert [response.status_code for response in responses] == [200] * len(urls)


def test_existing_versions_are_read_only_in_the_calendar_admin(admin_client):
    # given a calendar with a version
    calendar = BusinessCalendarFactory()
    # when its change page is opened
    response = admin_client.get(reverse("admin:slas_businesscalendar_change", args=[calendar.pk]))
    # then the version is listed without inputs, and no version can be added or deleted inline
    inline = response.context["inline_admin_formsets"][0]
    assert inline.formset.total_form_count() == 1
    assert not inline.has_change_permission and not inline.has_add_permission and not inline.has_delete_permission
    assert 'name="versions-0-spec"' not in response.content.decode()


def test_the_calendar_admin_offers_no_add_another_row_for_versions(admin_client):
    # given a calendar with a version
    calendar = BusinessCalendarFactory()
    # when its change page is opened
    response = admin_client.get(reverse("admin:slas_businesscalendar_change", args=[calendar.pk]))
    # then the inline allows no new forms, so the admin's script shows no "Add another" row
    # (versions are added through "Add a version", which applies the effective-from rules)
    assert response.context["inline_admin_formsets"][0].formset.max_num == 0


def test_adding_a_calendar_in_the_admin_creates_its_first_version(admin_client, admin_user):
    # when a superuser adds a calendar with a spec
    response = admin_client.post(
        reverse("admin:slas_businesscalendar_add"),
        {
            "name": "Warehouse",
            "description": "",
            "is_active": "on",
            "spec": '{"timezone": "Europe/Berlin", "week": {"mon": [["06:00", "14:00"]]}}',
            "note": "Shift hours.",
        },
    )
    # then the calendar exists with one version by that user
    assert response.status_code == 302
    version = BusinessCalendar.objects.get(name="Warehouse").versions.get()
    assert (version.spec["week"], version.note, version.created_by) == (
        {"mon": [["06:00", "14:00"]]},
        "Shift hours.",
        admin_user,
    )


def test_adding_a_calendar_with_a_bad_spec_shows_the_field(admin_client):
    response = admin_client.post(
        reverse("admin:slas_businesscalendar_add"),
        {"name": "Broken", "spec": '{"timezone": "Europe/Berlin", "week": {"mon": [["6:00", "14:00"]]}}'},
    )
    assert response.status_code == 200
    assert "week.mon[0]" in str(response.context["adminform"].form.errors["spec"])
    assert not BusinessCalendar.objects.filter(name="Broken").exists()


def test_adding_a_version_in_the_admin(admin_client, admin_user):
    # given a calendar
    calendar = BusinessCalendarFactory()
    url = reverse("admin:slas_businesscalendar_add_version", args=[calendar.pk])
    spec = '{"timezone": "Europe/Berlin", "week": {"mon": [["10:00", "16:00"]]}}'
    # when a version starting yesterday is submitted, then the form refuses it
    yesterday = timezone.localtime() - timedelta(days=1)
    refused = admin_client.post(
        url,
        {"effective_from_0": f"{yesterday:%Y-%m-%d}", "effective_from_1": "09:00", "spec": spec, "note": "Oops."},
    )
    assert refused.status_code == 200 and "cannot start in the past" in refused.content.decode()
    # when one without a start is submitted, then it is added from now, with a message
    response = admin_client.post(url, {"spec": spec, "note": "Shorter Mondays."}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:slas_businesscalendar_change", args=[calendar.pk])
    assert "Added a version" in response.content.decode()
    latest = calendar.versions.latest("effective_from")
    assert (latest.note, latest.created_by, latest.spec["week"]) == (
        "Shorter Mondays.",
        admin_user,
        {"mon": [["10:00", "16:00"]]},
    )


def test_importing_holidays_in_the_admin(admin_client):
    # given a calendar
    calendar = BusinessCalendarFactory()
    url = reverse("admin:slas_businesscalendar_import_holidays", args=[calendar.pk])
    # when an unknown country is submitted, then the form shows the error on the country
    bad = admin_client.post(url, {"country": "XX", "years": "2026", "categories": "public"})
    assert bad.status_code == 200
    assert "country" in bad.context["form"].errors
    # when Bavaria's holidays for 2026 and 2027 are submitted
    response = admin_client.post(
        url, {"country": "DE", "subdivision": "BY", "years": "2026, 2027", "categories": "public"}, follow=True
    )
    # then a version with them is added and the message says how many
    assert "Public holidays DE-BY 2026, 2027: 24 added." in response.content.decode()
    assert "2027-01-06" in calendar.versions.latest("effective_from").spec["holidays"]


def test_the_import_action_leads_to_the_import_form(admin_client):
    calendar = BusinessCalendarFactory()
    response = admin_client.post(
        reverse("admin:slas_businesscalendar_changelist"),
        {"action": "import_holidays_action", "_selected_action": [calendar.pk]},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:slas_businesscalendar_import_holidays", args=[calendar.pk])


def test_first_version_may_start_at_any_time():
    # given a new calendar created with a start in the past (no clock has counted in it)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    calendar = business_calendar_create(name="Old", spec=office_spec(), effective_from=start)
    # then its version starts then
    assert calendar.versions.get().effective_from == start


@pytest.mark.django_db(transaction=True)
def test_sla_defaults_ensure_brings_the_defaults_back_after_a_flush():
    # given a database emptied as transactional tests leave it
    call_command("flush", interactive=False, verbosity=0)
    assert not SlaPolicy.objects.exists()
    # when the defaults are ensured (a transactional test's set-up), with a category to file under
    created = sla_defaults_ensure()
    goods = CategoryFactory(name="Goods")
    # then the calendar and the standard policy are back and every request gets a goal; the capital
    # policy waits for its categories (requests_app's reference data)
    assert created == {"calendars": [OFFICE_CALENDAR], "policies": [STANDARD_POLICY]}
    goal = sla_goal_for(category_id=goods.pk, priority="urgent", department_id=None)
    assert (goal.policy.name, goal.resolution_minutes) == (STANDARD_POLICY, 480)
