"""A calendar change while a request is running: each span counts with the version in force then.

SLA-SEMANTICS, "Calendar changes": elapsed time is computed piecewise; saving a new version never
rewrites time already counted.
"""

from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from requests_app import services
from slas.calendars import business_calendar_version_add
from slas.models import Metric, SlaClock
from slas.services import sla_clocks_rebuild
from tests.factories import CategoryFactory, file_request
from tests.slas.factories import BusinessCalendarFactory, SlaGoalFactory, office_spec

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day, hour, minute=0):
    return datetime(2025, 3, day, hour, minute, tzinfo=BERLIN)


@contextmanager
def at(moment):
    with time_machine.travel(moment, tick=False):
        yield


@pytest.fixture
def shifted_hours(db):
    """A goal of 16 business hours on a calendar that moves from 09–17 to 07–15 on Monday 10 March."""
    category = CategoryFactory(name="Lab supplies", approval_threshold=None)
    calendar = BusinessCalendarFactory(name="Lab hours")  # 09:00–17:00 since long ago
    with at(berlin(5, 12)):
        business_calendar_version_add(
            calendar=calendar,
            spec=office_spec(hours=(("07:00", "15:00"),)),
            effective_from=berlin(10, 0),
            note="Early shift from March.",
        )
    SlaGoalFactory(
        policy__position=0, category=category, first_response_minutes=60, resolution_minutes=16 * 60, calendar=calendar
    )
    return category


@pytest.mark.django_db
def test_a_calendar_change_mid_request_counts_each_span_with_its_own_version(requester, buyer, shifted_hours):
    # given a request submitted on Friday 7 March at 13:00, under the old 09–17 hours
    with at(berlin(7, 13)):
        procurement_request = file_request(requester, category=shifted_hours, estimated_value=Decimal("100"))
    resolution = SlaClock.objects.get(procurement_request=procurement_request, metric=Metric.RESOLUTION)

    # then Friday counts 4 h (13–17, old hours) and the remaining 12 h run on the new 07–15 hours:
    # Monday 07–15 (8 h) and Tuesday 07–11 (4 h)
    assert resolution.due_at == berlin(11, 11)

    # and on Monday at 10:00 (new hours: 3 h that day) the clock has used 4 h + 3 h
    with at(berlin(10, 10)):
        services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
        services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
        services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    resolution.refresh_from_db()
    assert resolution.elapsed_business == 7 * 3600
    assert resolution.met is True


@pytest.mark.django_db
def test_adding_a_version_later_does_not_rewrite_a_finished_clock(requester, buyer, shifted_hours):
    # given a request completed under the calendar as it was
    with at(berlin(10, 9)):
        procurement_request = file_request(requester, category=shifted_hours, estimated_value=Decimal("100"))
    with at(berlin(10, 12)):
        services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
        services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
        services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    finished = SlaClock.objects.get(procurement_request=procurement_request, metric=Metric.RESOLUTION)

    # when the calendar gets a new version afterwards (from the next day on)
    calendar = finished.calendar
    with at(berlin(10, 18)):
        business_calendar_version_add(
            calendar=calendar, spec=office_spec(hours=(("10:00", "12:00"),)), effective_from=berlin(11, 0)
        )

    # then the finished clock keeps its measure, and a replay of its history agrees
    finished.refresh_from_db()
    assert finished.elapsed_business == 3 * 3600  # 09:00–12:00 under the 07–15 hours in force then
    assert sla_clocks_rebuild(procurement_request=procurement_request) is False


@pytest.mark.django_db
def test_a_retroactive_correction_is_applied_only_by_the_explicit_recompute(requester, buyer, shifted_hours):
    # given a request worked Monday 09:00–12:00 under the 07–15 hours
    with at(berlin(10, 9)):
        procurement_request = file_request(requester, category=shifted_hours, estimated_value=Decimal("100"))
    with at(berlin(10, 12)):
        services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
        services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
        services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    finished = SlaClock.objects.get(procurement_request=procurement_request, metric=Metric.RESOLUTION)

    # when someone corrects Monday's hours retroactively (the office really opened at 10:00)
    with at(berlin(12, 9)):
        business_calendar_version_add(
            calendar=finished.calendar,
            spec=office_spec(hours=(("10:00", "15:00"),)),
            effective_from=berlin(10, 1),  # the early-shift version starts at 00:00
            allow_retroactive=True,
        )
    finished.refresh_from_db()
    # then saving the calendar changed nothing by itself
    assert finished.elapsed_business == 3 * 3600

    # and the explicit recompute applies it, and says so on the timeline
    assert sla_clocks_rebuild(procurement_request=procurement_request, actor=buyer) is True
    rebuilt = SlaClock.objects.get(procurement_request=procurement_request, metric=Metric.RESOLUTION)
    assert rebuilt.elapsed_business == 2 * 3600  # 10:00–12:00
    assert "recomputed from the history by" in procurement_request.events.latest("id").note
