"""slas.clock.VersionedCalendar: calendar changes are measured piecewise, each span with the version in force."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slas.clock import Breakdown, Calendar, VersionedCalendar
from tests.slas.test_clock_properties import (
    PROPERTY,
    SECOND,
    _shift,
    _whole,
    calendars,
    clock_cases,
    instants,
    pause_lists,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def weekdays(opens, closes, zone="Europe/Berlin"):
    return Calendar.from_spec({"timezone": zone, "week": {day: [[opens, closes]] for day in WEEKDAYS}})


NINE_TO_FIVE = weekdays("09:00", "17:00")
EIGHT_TO_FOUR = weekdays("08:00", "16:00")
WEDNESDAY = berlin(2025, 3, 12)


def earlier_hours_from_wednesday():
    """09:00-17:00 until Wed 2025-03-12 00:00 Berlin, 08:00-16:00 from then on."""
    return VersionedCalendar([(berlin(2025, 1, 1), NINE_TO_FIVE), (WEDNESDAY, EIGHT_TO_FOUR)])


# -- A version change between working days --------------------------------------------------------


def test_span_across_a_version_change_is_measured_piecewise():
    # given hours 09-17 until Wednesday, then 08-16
    calendar = earlier_hours_from_wednesday()
    # when Mon 09:00 to Thu 12:00 is measured
    worked = calendar.business_seconds(berlin(2025, 3, 10, 9), berlin(2025, 3, 13, 12))
    # then Mon and Tue count 8 h each under the old hours, Wed 8 h and Thu 08-12 under the new
    assert worked == 28 * HOUR


def test_due_date_crossing_a_version_change_uses_the_new_hours_after_it():
    # given hours 09-17 until Wednesday, then 08-16
    calendar = earlier_hours_from_wednesday()
    # when goals that run out after the change are counted
    # then three days from Monday end at Wednesday's new closing time, 16:00 ...
    assert calendar.due_at(berlin(2025, 3, 10, 9), 24 * HOUR) == berlin(2025, 3, 12, 16)
    # ... and Tuesday 13:00 + 8 h is Tue 13-17 (old) and Wed 08-12 (new)
    assert calendar.due_at(berlin(2025, 3, 11, 13), 8 * HOUR) == berlin(2025, 3, 12, 12)
    assert NINE_TO_FIVE.due_at(berlin(2025, 3, 11, 13), 8 * HOUR) == berlin(2025, 3, 12, 13)


def test_opening_hours_follow_the_version_in_force():
    # given hours 09-17 until Wednesday, then 08-16
    calendar = earlier_hours_from_wednesday()
    # when the calendar is probed on either side of the change
    # then Tuesday 08:30 is closed, Wednesday 08:30 is open, and Tuesday's close leads to Wednesday 08:00
    assert not calendar.is_open(berlin(2025, 3, 11, 8, 30))
    assert calendar.is_open(berlin(2025, 3, 12, 8, 30))
    assert not calendar.is_open(berlin(2025, 3, 12, 16, 30))
    assert calendar.next_opening(berlin(2025, 3, 11, 17)) == berlin(2025, 3, 12, 8)
    assert calendar.calendar_at(berlin(2025, 3, 11, 23, 59, 59)) == NINE_TO_FIVE
    assert calendar.calendar_at(WEDNESDAY) == EIGHT_TO_FOUR


def test_pause_across_a_version_change():
    # given hours 09-17 until Wednesday, then 08-16, and a pause Tue 16:00 -> Wed 10:00
    calendar = earlier_hours_from_wednesday()
    pause = [(berlin(2025, 3, 11, 16), berlin(2025, 3, 12, 10))]
    # when a 16 h goal from Monday 09:00 is counted
    due = calendar.due_at(berlin(2025, 3, 10, 9), 16 * HOUR, pause)
    # then Mon gives 8 h, Tue 09-16 7 h, and the last hour is Wed 10-11 under the new hours
    assert due == berlin(2025, 3, 12, 11)
    # and Wednesday's paused 08-10 shows as paused working time in the breakdown
    parts = calendar.breakdown(berlin(2025, 3, 10, 9), due, pause)
    assert parts == Breakdown(business=16 * HOUR, paused=3 * HOUR, closed=31 * HOUR, actual=50 * HOUR)


def test_breakdown_across_a_version_change():
    # given hours 09-17 until Wednesday, then 08-16
    calendar = earlier_hours_from_wednesday()
    # when Mon 09:00 to Wed 12:00 is broken down
    parts = calendar.breakdown(berlin(2025, 3, 10, 9), berlin(2025, 3, 12, 12))
    # then 8 + 8 + 4 h are business, the rest of the 51 h closed
    assert parts == Breakdown(business=20 * HOUR, paused=0, closed=31 * HOUR, actual=51 * HOUR)


# -- A version effective in the middle of a working interval --------------------------------------


def test_version_effective_mid_interval_splits_the_day_at_that_instant():
    # given 09-17, then from Wed 12:00 hours of 10-14
    calendar = VersionedCalendar(
        [(berlin(2025, 1, 1), NINE_TO_FIVE), (berlin(2025, 3, 12, 12), weekdays("10:00", "14:00"))]
    )
    # when Wednesday is measured
    worked = calendar.business_seconds(berlin(2025, 3, 12), berlin(2025, 3, 13))
    # then 09-12 counts under the old hours and 12-14 under the new: 5 h, open without a break at noon
    assert worked == 5 * HOUR
    assert calendar.is_open(berlin(2025, 3, 12, 11, 59, 59))
    assert calendar.is_open(berlin(2025, 3, 12, 12))
    assert not calendar.is_open(berlin(2025, 3, 12, 14))
    assert calendar.due_at(berlin(2025, 3, 12, 9), 5 * HOUR) == berlin(2025, 3, 12, 14)


def test_version_effective_mid_interval_may_close_at_once():
    # given 09-17, then from Wed 12:00 hours of 13-20
    calendar = VersionedCalendar(
        [(berlin(2025, 1, 1), NINE_TO_FIVE), (berlin(2025, 3, 12, 12), weekdays("13:00", "20:00"))]
    )
    # when Wednesday is measured and counted
    # then 09-12 and 13-20 count (10 h), 12:30 is closed, and 4 h from 09:00 end at 14:00
    assert calendar.business_seconds(berlin(2025, 3, 12), berlin(2025, 3, 13)) == 10 * HOUR
    assert not calendar.is_open(berlin(2025, 3, 12, 12, 30))
    assert calendar.next_opening(berlin(2025, 3, 12, 12)) == berlin(2025, 3, 12, 13)
    assert calendar.due_at(berlin(2025, 3, 12, 9), 4 * HOUR) == berlin(2025, 3, 12, 14)


def test_goal_running_out_exactly_at_a_version_change_is_due_then():
    # given 09-17, then from Mon 17:00 a 24x7 calendar
    around_the_clock = Calendar.from_spec(
        {"timezone": "Europe/Berlin", "week": {day: [["00:00", "24:00"]] for day in (*WEEKDAYS, "sat", "sun")}}
    )
    calendar = VersionedCalendar([(berlin(2025, 1, 1), NINE_TO_FIVE), (berlin(2025, 3, 10, 17), around_the_clock)])
    # when an 8 h goal from Mon 09:00 is counted, and one second more
    # then the first is due at the change instant and the second one second after it
    assert calendar.due_at(berlin(2025, 3, 10, 9), 8 * HOUR) == berlin(2025, 3, 10, 17)
    assert calendar.due_at(berlin(2025, 3, 10, 9), 8 * HOUR + 1) == berlin(2025, 3, 10, 17, 0, 1)


def test_version_in_another_time_zone():
    # given Berlin 09-17 until Thu 2025-03-13 00:00 Berlin, then New York 09-17
    calendar = VersionedCalendar(
        [(berlin(2025, 1, 1), NINE_TO_FIVE), (berlin(2025, 3, 13), weekdays("09:00", "17:00", "America/New_York"))]
    )
    # when Thursday is probed and measured (New York is on EDT, UTC-4, since 2025-03-09)
    # then it opens at 13:00 UTC and holds 8 h
    assert calendar.next_opening(berlin(2025, 3, 13)) == utc(2025, 3, 13, 13)
    assert calendar.business_seconds(berlin(2025, 3, 13), berlin(2025, 3, 14, 6)) == 8 * HOUR


# -- Three versions, ordering, validation ---------------------------------------------------------


def test_three_versions_given_in_any_order():
    # given three versions passed out of order
    first, second, third = NINE_TO_FIVE, EIGHT_TO_FOUR, weekdays("10:00", "12:00")
    calendar = VersionedCalendar(
        [(berlin(2025, 3, 12), second), (berlin(2025, 3, 14), third), (berlin(2025, 1, 1), first)]
    )
    # when a week is measured
    worked = calendar.business_seconds(berlin(2025, 3, 10), berlin(2025, 3, 15))
    # then Mon-Tue 8 h each, Wed-Thu 8 h each, Fri 2 h; and versions come back sorted
    assert worked == 34 * HOUR
    assert [version for _, version in calendar.versions] == [first, second, third]


def test_first_version_applies_from_the_beginning_of_time():
    # given a single later version effective from June, and a second from July
    calendar = VersionedCalendar([(berlin(2025, 6, 1), NINE_TO_FIVE), (berlin(2025, 7, 1), EIGHT_TO_FOUR)])
    # when March is measured
    # then the first version counts it
    assert calendar.business_seconds(berlin(2025, 3, 10), berlin(2025, 3, 11)) == 8 * HOUR
    assert calendar.due_at(berlin(2025, 3, 10, 9), HOUR) == berlin(2025, 3, 10, 10)


def test_a_closed_version_is_skipped_until_the_next_one():
    # given a calendar with no hours at all until Wednesday, then 08-16
    closed = Calendar.from_spec({"timezone": "Europe/Berlin", "week": {}})
    calendar = VersionedCalendar([(berlin(2025, 1, 1), closed), (WEDNESDAY, EIGHT_TO_FOUR)])
    # when a goal starts on Monday
    # then nothing counts before Wednesday 08:00
    assert calendar.due_at(berlin(2025, 3, 10, 9), HOUR) == berlin(2025, 3, 12, 9)
    assert calendar.next_opening(berlin(2025, 3, 10, 9)) == berlin(2025, 3, 12, 8)


def test_versions_with_no_working_time_at_all_refuse_due_dates():
    # given only closed versions
    closed = Calendar.from_spec({"timezone": "Europe/Berlin", "week": {}})
    calendar = VersionedCalendar([(berlin(2025, 1, 1), closed), (WEDNESDAY, closed)])
    # when a due date is asked for
    # then ValueError, not an endless loop
    with pytest.raises(ValueError, match="no working time"):
        calendar.due_at(berlin(2025, 3, 10, 9), HOUR)


def test_working_time_only_in_a_past_version_gives_up_after_20_years():
    # given open hours until Wednesday, closed from then on
    closed = Calendar.from_spec({"timezone": "Europe/Berlin", "week": {}})
    calendar = VersionedCalendar([(berlin(2025, 1, 1), NINE_TO_FIVE), (WEDNESDAY, closed)])
    # when a goal longer than what is left before Wednesday is counted
    # then the bounded search raises
    with pytest.raises(ValueError, match="20 years"):
        calendar.due_at(berlin(2025, 3, 11, 9), 9 * HOUR)
    with pytest.raises(ValueError, match="20 years"):
        calendar.next_opening(berlin(2025, 3, 12, 9))


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        pytest.param([], "at least one", id="empty"),
        pytest.param([(datetime(2025, 1, 1), NINE_TO_FIVE)], "naive", id="naive-effective-from"),  # noqa: DTZ001
        pytest.param([(berlin(2025, 1, 1), {"timezone": "UTC"})], "Calendar", id="not-a-calendar"),
        pytest.param([berlin(2025, 1, 1)], "pair", id="not-a-pair"),
        pytest.param(
            [(berlin(2025, 1, 1), NINE_TO_FIVE), (utc(2024, 12, 31, 23), EIGHT_TO_FOUR)],
            "two versions take effect",
            id="same-instant-twice",
        ),
    ],
)
def test_invalid_versions_are_rejected(versions, message):
    # given a bad list of versions
    # when a VersionedCalendar is built
    # then ValueError says what is wrong
    with pytest.raises(ValueError, match=re.escape(message)):
        VersionedCalendar(versions)


def test_versioned_calendars_compare_by_their_versions():
    # given two equal version lists and a different one
    one = earlier_hours_from_wednesday()
    same = earlier_hours_from_wednesday()
    other = VersionedCalendar([(berlin(2025, 1, 1), NINE_TO_FIVE)])
    # when compared and hashed
    # then equal lists are equal and hash alike
    assert one == same
    assert hash(one) == hash(same)
    assert one != other


# -- Properties: piecewise against the plain calendars --------------------------------------------


@PROPERTY
@given(first=calendars, second=calendars, change=instants(), start=instants(), days=st.integers(0, 40), data=st.data())
def test_versioned_measure_is_the_sum_of_its_pieces(first, second, change, start, days, data):
    # given two calendars with a change between them, a span and pauses
    calendar = VersionedCalendar([(_shift(change, -400 * 86400), first), (change, second)])
    end = _shift(start, days * 86400)
    pauses = data.draw(pause_lists(start))
    # when the span is measured
    worked = calendar.business_seconds(start, end, pauses)
    # then it is the part before the change by the first calendar plus the part after by the second
    start, end, change = _whole(start), _whole(end), _whole(change)  # the clock's one-second resolution
    before = first.business_seconds(start, min(end, change), pauses) if start < change else 0
    after = second.business_seconds(max(start, change), end, pauses) if end > change else 0
    assert worked == before + after
    probe = data.draw(instants())
    assert calendar.is_open(probe) == (first if _whole(probe) < change else second).is_open(probe)


@PROPERTY
@given(case=clock_cases(), second=calendars, change=instants())
def test_versioned_due_at_is_the_earliest_instant_with_the_goal_elapsed(case, second, change):
    # given a clock over two calendar versions
    first, start, pauses, goal = case
    calendar = VersionedCalendar([(_shift(change, -400 * 86400), first), (change, second)])
    # when the due instant is computed
    due = calendar.due_at(start, goal, pauses)
    if due is None:
        assert any(end is None for _, end in pauses)
        return
    # then exactly the goal has elapsed there, and less one second earlier
    assert calendar.business_seconds(start, due, pauses) == goal
    if goal > 0:
        assert calendar.business_seconds(start, due - SECOND, pauses) < goal
