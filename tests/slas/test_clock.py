"""slas.clock.Calendar: the worked examples of the SLA rules, DST, holidays, exceptions, pauses, spec validation.

Unless a test says otherwise the calendar is the rules' reference calendar: Mon-Fri 09:00-17:00
Europe/Berlin (CET = UTC+1; CEST = UTC+2 from 2025-03-30 to 2025-10-26).
"""

import dataclasses
import pickle
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest

from slas.clock import Breakdown, Calendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
MINUTE = 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")


def berlin(*args, **kwargs):
    return datetime(*args, tzinfo=BERLIN, **kwargs)


def new_york(*args, **kwargs):
    return datetime(*args, tzinfo=NEW_YORK, **kwargs)


def utc(*args, **kwargs):
    return datetime(*args, tzinfo=UTC, **kwargs)


def office(holidays=(), exceptions=None, hours=(("09:00", "17:00"),), days=WEEKDAYS, zone="Europe/Berlin"):
    """The reference calendar, optionally with holidays, exceptions, other hours, days or zone."""
    return Calendar.from_spec(
        {
            "timezone": zone,
            "week": {day: [list(interval) for interval in hours] for day in days},
            "holidays": list(holidays),
            "exceptions": exceptions or {},
        }
    )


def around_the_clock(zone="Europe/Berlin"):
    return office(hours=[("00:00", "24:00")], days=ALL_DAYS, zone=zone)


NAIVE = datetime(2025, 3, 10, 9)  # noqa: DTZ001 - deliberately naive
MONDAY_NINE, MONDAY_FIVE = berlin(2025, 3, 10, 9), berlin(2025, 3, 10, 17)


# -- The worked examples of the SLA rules, one test each ------------------------------------------


def test_example_1_friday_afternoon_submission_is_due_monday_late_morning():
    # given a request submitted Fri 2025-03-07 16:30 with a 4 h goal
    calendar = office()
    # when its due instant is computed
    due = calendar.due_at(berlin(2025, 3, 7, 16, 30), 4 * HOUR)
    # then it is Mon 2025-03-10 12:30 local, 11:30 UTC
    assert due == berlin(2025, 3, 10, 12, 30)
    assert due == utc(2025, 3, 10, 11, 30)


def test_example_2_submission_on_saturday_counts_nothing_until_monday_opening():
    # given a request submitted Sat 2025-03-08 10:00 with a 4 h goal
    calendar = office()
    submitted = berlin(2025, 3, 8, 10)
    # when elapsed time is read over the weekend and just after opening
    # then it stays 0 until Mon 09:00 and starts counting then
    assert calendar.business_seconds(submitted, berlin(2025, 3, 9, 23, 59)) == 0
    assert calendar.business_seconds(submitted, berlin(2025, 3, 10, 9)) == 0
    assert calendar.business_seconds(submitted, berlin(2025, 3, 10, 9, 0, 1)) == 1
    # and it is due Mon 13:00
    assert calendar.due_at(submitted, 4 * HOUR) == berlin(2025, 3, 10, 13)


def test_example_3_easter_holidays_are_skipped():
    # given Good Friday 2025-04-18 and Easter Monday 2025-04-21 as holidays, and a request on Thu 15:00
    calendar = office(holidays=["2025-04-18", "2025-04-21"])
    # when an 8 h goal is counted
    due = calendar.due_at(berlin(2025, 4, 17, 15), 8 * HOUR)
    # then Thursday gives 2 h, and the rest lands on Tue 2025-04-22 15:00 local
    assert due == berlin(2025, 4, 22, 15)


def test_example_4_waiting_for_requester_pushes_the_due_date():
    # given a request on Mon 2025-03-10 09:00 with an 8 h goal, waiting for requester Mon 11:00 -> Tue 14:00
    calendar = office()
    submitted = berlin(2025, 3, 10, 9)
    waiting = [(berlin(2025, 3, 10, 11), berlin(2025, 3, 11, 14))]
    # when the due instant is computed with and without the pause
    # then the pause moves it from Mon 17:00 to Wed 2025-03-12 12:00
    assert calendar.due_at(submitted, 8 * HOUR) == berlin(2025, 3, 10, 17)
    assert calendar.due_at(submitted, 8 * HOUR, waiting) == berlin(2025, 3, 12, 12)


def test_example_5_warning_thresholds_fall_at_exact_fractions_of_the_goal():
    # given a request on Fri 2025-03-07 13:00 with an 8 h goal
    calendar = office()
    submitted = berlin(2025, 3, 7, 13)
    # when the 50/75/90/100 % instants are computed
    # then they are Fri 17:00, Mon 11:00, Mon 12:12 and Mon 13:00
    assert calendar.threshold_at(submitted, 8 * HOUR, 50) == berlin(2025, 3, 7, 17)
    assert calendar.threshold_at(submitted, 8 * HOUR, 75) == berlin(2025, 3, 10, 11)
    assert calendar.threshold_at(submitted, 8 * HOUR, 90) == berlin(2025, 3, 10, 12, 12)
    assert calendar.threshold_at(submitted, 8 * HOUR, 100) == berlin(2025, 3, 10, 13)
    assert calendar.due_at(submitted, 8 * HOUR) == berlin(2025, 3, 10, 13)


def test_example_6_around_the_clock_calendar_counts_real_hours_across_spring_forward():
    # given a 24x7 calendar and a request on Sat 2025-03-29 22:00 local, the night the clocks go forward
    calendar = around_the_clock()
    # when an 8 h goal is counted
    due = calendar.due_at(berlin(2025, 3, 29, 22), 8 * HOUR)
    # then it is due after 8 real hours: Sun 07:00 local (05:00 UTC), not 06:00 wall-clock
    assert due == utc(2025, 3, 30, 5)
    assert due == berlin(2025, 3, 30, 7)


def test_example_7_reopened_request_continues_its_clock_with_the_completed_span_as_a_pause():
    # given a request on Mon 2025-03-10 09:00 with a 16 h goal, resolved Tue 10:00, reopened Wed 10:00
    calendar = office()
    submitted = berlin(2025, 3, 10, 9)
    resolved, reopened = berlin(2025, 3, 11, 10), berlin(2025, 3, 12, 10)
    # when the first cycle is measured and the clock continues after the reopen
    # then 9 h had elapsed at resolution (met) ...
    assert calendar.business_seconds(submitted, resolved) == 9 * HOUR
    # ... and, the completed span counting as a pause, it is due Wed 17:00
    assert calendar.due_at(submitted, 16 * HOUR, [(resolved, reopened)]) == berlin(2025, 3, 12, 17)


def test_example_8_reply_at_closing_is_met_and_one_second_after_next_opening_is_breached():
    # given a request on Mon 2025-03-10 13:00 with a 4 h goal
    calendar = office()
    submitted = berlin(2025, 3, 10, 13)
    goal = 4 * HOUR
    # when the due instant and replies at 17:30 and Tue 09:00:01 are measured
    due = calendar.due_at(submitted, goal)
    late_evening = calendar.business_seconds(submitted, berlin(2025, 3, 10, 17, 30))
    next_morning = calendar.business_seconds(submitted, berlin(2025, 3, 11, 9, 0, 1))
    # then it is due at Monday's closing instant, 17:30 is met, and Tue 09:00:01 is breached by 1 s
    assert due == berlin(2025, 3, 10, 17)
    assert late_evening == goal
    assert next_morning == goal + 1


# -- DST: each day converted to UTC on its own date -----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        pytest.param(BERLIN, date(2025, 3, 30), 5, id="berlin-spring-forward"),
        pytest.param(BERLIN, date(2025, 10, 26), 7, id="berlin-fall-back"),
        pytest.param(BERLIN, date(2025, 6, 1), 6, id="berlin-ordinary-sunday"),
        pytest.param(NEW_YORK, date(2025, 3, 9), 5, id="new-york-spring-forward"),
        pytest.param(NEW_YORK, date(2025, 11, 2), 7, id="new-york-fall-back"),
    ],
)
def test_a_midnight_to_six_window_holds_real_hours_on_dst_days(zone, day, hours):
    # given a calendar open 00:00-06:00 every day
    calendar = office(hours=[("00:00", "06:00")], days=ALL_DAYS, zone=zone.key)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    # when that local day is measured
    worked = calendar.business_seconds(midnight, midnight + timedelta(days=1))
    # then it holds 5 h on spring-forward, 7 h on fall-back, 6 h otherwise
    assert worked == hours * HOUR


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        pytest.param(BERLIN, date(2025, 3, 30), 23, id="berlin-spring-forward"),
        pytest.param(BERLIN, date(2025, 10, 26), 25, id="berlin-fall-back"),
        pytest.param(NEW_YORK, date(2025, 3, 9), 23, id="new-york-spring-forward"),
        pytest.param(NEW_YORK, date(2025, 11, 2), 25, id="new-york-fall-back"),
    ],
)
def test_around_the_clock_calendar_counts_23_or_25_hours_on_dst_days(zone, day, hours):
    # given a 24x7 calendar
    calendar = around_the_clock(zone.key)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    # when a whole local day with a DST change is measured
    # then every real second counts, whatever the wall clock says
    assert calendar.business_seconds(start, end) == hours * HOUR


def test_around_the_clock_due_date_across_fall_back_is_real_hours_later():
    # given a 24x7 New York calendar and a request on Sat 2025-11-01 22:00 EDT (02:00 UTC)
    calendar = around_the_clock("America/New_York")
    # when an 8 h goal is counted over the fall-back night
    due = calendar.due_at(new_york(2025, 11, 1, 22), 8 * HOUR)
    # then it is 10:00 UTC, which reads 05:00 EST on the wall clock
    assert due == utc(2025, 11, 2, 10)
    assert due.astimezone(NEW_YORK).hour == 5


def test_office_hours_keep_their_local_times_across_a_dst_weekend():
    # given Mon-Fri 09:00-17:00 New York and a request on Fri 2025-03-07 16:00 EST (21:00 UTC)
    calendar = office(zone="America/New_York")
    # when a 2 h goal is counted over the spring-forward weekend
    due = calendar.due_at(new_york(2025, 3, 7, 16), 2 * HOUR)
    # then it is Mon 10:00 local, now EDT: 14:00 UTC
    assert due == utc(2025, 3, 10, 14)


def test_a_nonexistent_opening_time_resolves_with_fold_0_to_the_pre_transition_offset():
    # given a Sunday window 02:30-06:00 Berlin; 02:30 does not exist on 2025-03-30
    calendar = office(hours=[("02:30", "06:00")], days=["sun"])
    # when the window is opened and measured that day
    opening = calendar.next_opening(berlin(2025, 3, 29, 12))
    worked = calendar.business_seconds(berlin(2025, 3, 30), berlin(2025, 3, 31))
    # then 02:30 is read with the CET offset (PEP 495 fold=0): 01:30 UTC, 03:30 CEST on the wall clock
    assert opening == datetime(2025, 3, 30, 2, 30, tzinfo=BERLIN, fold=0).astimezone(UTC)
    assert opening == utc(2025, 3, 30, 1, 30)
    assert opening.astimezone(BERLIN).hour == 3
    # and the window holds 01:30-04:00 UTC
    assert worked == 2 * HOUR + 30 * MINUTE
    assert not calendar.is_open(utc(2025, 3, 30, 1, 29, 59))
    assert calendar.is_open(utc(2025, 3, 30, 1, 30))


def test_a_nonexistent_closing_time_resolves_with_fold_0():
    # given a Sunday window 01:00-02:30 Berlin; 02:30 does not exist on 2025-03-30
    calendar = office(hours=[("01:00", "02:30")], days=["sun"])
    # when that day is measured
    worked = calendar.business_seconds(berlin(2025, 3, 30), berlin(2025, 3, 31))
    # then it runs 00:00-01:30 UTC (01:00 CET to 03:30 CEST): 1 h 30 min
    assert worked == HOUR + 30 * MINUTE
    assert calendar.due_at(berlin(2025, 3, 30), worked) == utc(2025, 3, 30, 1, 30)


def test_a_window_inverted_by_the_dst_gap_holds_no_time():
    # given a Sunday window 02:30-03:00: on 2025-03-30 02:30 maps to 01:30 UTC but 03:00 to 01:00 UTC
    calendar = office(hours=[("02:30", "03:00")], days=["sun"])
    # when that Sunday is measured and the next opening looked up
    worked = calendar.business_seconds(berlin(2025, 3, 30), berlin(2025, 3, 31))
    opening = calendar.next_opening(berlin(2025, 3, 29, 12))
    # then it holds nothing, and the next opening is the following Sunday 02:30 CEST
    assert worked == 0
    assert opening == berlin(2025, 4, 6, 2, 30)


def test_intervals_overlapping_after_dst_conversion_count_once():
    # given Sunday windows 01:00-02:45 and 03:00-04:00 Berlin; on 2025-03-30 02:45 is read as 01:45 UTC
    calendar = office(hours=[("01:00", "02:45"), ("03:00", "04:00")], days=["sun"])
    # when that day is measured (00:00-01:45 UTC and 01:00-02:00 UTC overlap)
    worked = calendar.business_seconds(berlin(2025, 3, 30), berlin(2025, 3, 31))
    # then the union counts: 00:00-02:00 UTC, 2 h
    assert worked == 2 * HOUR
    assert calendar.due_at(berlin(2025, 3, 30), 2 * HOUR) == utc(2025, 3, 30, 2)


def test_an_ambiguous_opening_time_takes_the_first_occurrence():
    # given a Sunday window 02:30-06:00 Berlin; 02:30 happens twice on 2025-10-26
    calendar = office(hours=[("02:30", "06:00")], days=["sun"])
    # when the window is opened and measured that day
    opening = calendar.next_opening(berlin(2025, 10, 25, 12))
    worked = calendar.business_seconds(berlin(2025, 10, 26), berlin(2025, 10, 27))
    # then it opens at the first 02:30 (CEST, 00:30 UTC) and runs to 06:00 CET (05:00 UTC)
    assert opening == utc(2025, 10, 26, 0, 30)
    assert worked == 4 * HOUR + 30 * MINUTE


def test_an_ambiguous_closing_time_takes_the_first_occurrence():
    # given a Sunday window 01:00-02:30 Berlin; 02:30 happens twice on 2025-10-26
    calendar = office(hours=[("01:00", "02:30")], days=["sun"])
    # when that day is measured
    worked = calendar.business_seconds(berlin(2025, 10, 26), berlin(2025, 10, 27))
    # then it closes at the first 02:30 (00:30 UTC): 23:00 -> 00:30 UTC is 1 h 30 min
    assert worked == HOUR + 30 * MINUTE
    assert not calendar.is_open(utc(2025, 10, 26, 0, 30))


# -- Holidays and exceptions ----------------------------------------------------------------------


def test_next_opening_skips_a_holiday_weekend():
    # given the Easter holidays 2025
    calendar = office(holidays=["2025-04-18", "2025-04-21"])
    # when the next opening after Thursday's close is looked up
    # then it is Tue 09:00 CEST (07:00 UTC)
    assert calendar.next_opening(berlin(2025, 4, 17, 17)) == utc(2025, 4, 22, 7)


def test_bavarian_public_holidays_2025_to_2035_leave_exactly_the_working_weekdays():
    # given ten-plus years of Bavarian public holidays
    bavaria = holidays.country_holidays("DE", subdiv="BY", years=range(2025, 2036))
    calendar = office(holidays=[day.isoformat() for day in bavaria])
    # when the whole period is measured
    worked = calendar.business_seconds(berlin(2025, 1, 1), berlin(2036, 1, 1))
    # then it is 8 h for every weekday that is not a holiday, and 2025 alone has 250 such days
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range((date(2036, 1, 1) - date(2025, 1, 1)).days)]
    working_days = [day for day in days if day.weekday() < 5 and day not in bavaria]
    assert worked == len(working_days) * 8 * HOUR
    assert calendar.business_seconds(berlin(2025, 1, 1), berlin(2026, 1, 1)) == 250 * 8 * HOUR


def test_bavarian_easter_2035_and_the_dst_change_that_weekend():
    # given Bavarian holidays; Good Friday 2035-03-23, Easter Monday 2035-03-26, clocks forward 2035-03-25
    bavaria = holidays.country_holidays("DE", subdiv="BY", years=range(2025, 2036))
    calendar = office(holidays=[day.isoformat() for day in bavaria])
    # when a 16 h goal starts on Thu 2035-03-22 16:00 CET
    due = calendar.due_at(berlin(2035, 3, 22, 16), 16 * HOUR)
    # then Thu gives 1 h, Tue 8 h, and it is due Wed 2035-03-28 16:00 CEST (14:00 UTC)
    assert due == utc(2035, 3, 28, 14)


def test_a_shorter_day_exception_replaces_that_days_hours():
    # given Christmas Eve 09:00-12:00 only, and Christmas days as holidays
    calendar = office(holidays=["2025-12-25", "2025-12-26"], exceptions={"2025-12-24": [["09:00", "12:00"]]})
    # when a 4 h goal starts on Wed 2025-12-24 09:00
    due = calendar.due_at(berlin(2025, 12, 24, 9), 4 * HOUR)
    # then the eve gives 3 h and the last hour is Mon 2025-12-29 09:00-10:00
    assert calendar.business_seconds(berlin(2025, 12, 24), berlin(2025, 12, 25)) == 3 * HOUR
    assert due == berlin(2025, 12, 29, 10)


def test_an_exception_can_open_a_saturday():
    # given an extra working Saturday 2025-03-15 10:00-14:00
    calendar = office(exceptions={"2025-03-15": [["10:00", "14:00"]]})
    # when a 3 h goal starts on Fri 16:00
    due = calendar.due_at(berlin(2025, 3, 14, 16), 3 * HOUR)
    # then Friday gives 1 h and Saturday the other 2 h
    assert due == berlin(2025, 3, 15, 12)
    assert calendar.is_open(berlin(2025, 3, 15, 10))


def test_an_empty_exception_closes_the_day():
    # given Wed 2025-03-12 closed by exception
    calendar = office(exceptions={"2025-03-12": []})
    # when a 2 h goal starts on Tue 16:00
    due = calendar.due_at(berlin(2025, 3, 11, 16), 2 * HOUR)
    # then Wednesday is skipped: due Thu 10:00
    assert due == berlin(2025, 3, 13, 10)
    assert not calendar.is_open(berlin(2025, 3, 12, 12))


def test_an_exception_on_a_holiday_wins():
    # given 2025-12-24 both a holiday and an exception 09:00-12:00
    calendar = office(holidays=["2025-12-24"], exceptions={"2025-12-24": [["09:00", "12:00"]]})
    # when that day is measured
    # then the exception's hours count: it is the more specific instruction
    assert calendar.business_seconds(berlin(2025, 12, 24), berlin(2025, 12, 25)) == 3 * HOUR


# -- Several intervals a day, 24:00, closing instants ---------------------------------------------


def test_goal_running_out_at_lunch_break_is_due_at_the_break_not_after_it():
    # given 08:00-12:00 and 13:00-17:00 on weekdays
    calendar = office(hours=[("08:00", "12:00"), ("13:00", "17:00")])
    start = berlin(2025, 3, 10, 8)
    # when goals of 4 h and 4 h + 1 s are counted from Monday 08:00
    # then 4 h is due at 12:00 (the closing instant) and one more second at 13:00:01
    assert calendar.due_at(start, 4 * HOUR) == berlin(2025, 3, 10, 12)
    assert calendar.due_at(start, 4 * HOUR + 1) == berlin(2025, 3, 10, 13, 0, 1)
    assert calendar.business_seconds(start, berlin(2025, 3, 10, 17)) == 8 * HOUR


def test_lunch_break_is_closed_and_next_opening_is_the_afternoon():
    # given 08:00-12:00 and 13:00-17:00 on weekdays
    calendar = office(hours=[("08:00", "12:00"), ("13:00", "17:00")])
    # when the lunch break is probed
    # then it is closed, and the next opening is 13:00
    assert not calendar.is_open(berlin(2025, 3, 10, 12))
    assert calendar.next_opening(berlin(2025, 3, 10, 12, 30)) == berlin(2025, 3, 10, 13)


def test_goal_running_out_at_closing_time_is_due_at_the_closing_instant():
    # given a request on Mon 09:00 with exactly one working day of goal
    calendar = office()
    # when it is counted
    # then it is due Mon 17:00, not Tue 09:00
    assert calendar.due_at(berlin(2025, 3, 10, 9), 8 * HOUR) == berlin(2025, 3, 10, 17)


def test_24_00_end_runs_into_the_next_days_midnight_opening():
    # given Fri 18:00-24:00 and Sat 00:00-02:00
    calendar = Calendar.from_spec(
        {"timezone": "Europe/Berlin", "week": {"fri": [["18:00", "24:00"]], "sat": [["00:00", "02:00"]]}}
    )
    # when the stretch is measured and counted across midnight
    # then it is one unbroken 8 h stretch, open at midnight
    assert calendar.business_seconds(berlin(2025, 3, 7, 18), berlin(2025, 3, 8, 2)) == 8 * HOUR
    assert calendar.due_at(berlin(2025, 3, 7, 23), 2 * HOUR) == berlin(2025, 3, 8, 1)
    assert calendar.is_open(berlin(2025, 3, 8, 0))
    assert calendar.to_spec()["week"]["fri"] == [["18:00", "24:00"]]


# -- Pauses ---------------------------------------------------------------------------------------


def test_pauses_outside_working_hours_change_nothing():
    # given example 1 and pauses lying wholly in closed hours
    calendar = office()
    submitted = berlin(2025, 3, 7, 16, 30)
    weekend = [(berlin(2025, 3, 7, 17), berlin(2025, 3, 7, 23)), (berlin(2025, 3, 8), berlin(2025, 3, 10, 9))]
    # when the due instant and elapsed time are computed with them
    # then they are the same as without
    assert calendar.due_at(submitted, 4 * HOUR, weekend) == calendar.due_at(submitted, 4 * HOUR)
    end = berlin(2025, 3, 10, 12)
    assert calendar.business_seconds(submitted, end, weekend) == calendar.business_seconds(submitted, end)


def test_overlapping_pauses_count_once():
    # given pauses Mon 11:00-13:00 and 12:00-14:00 (3 h together)
    calendar = office()
    start = berlin(2025, 3, 10, 9)
    pauses = [(berlin(2025, 3, 10, 12), berlin(2025, 3, 10, 14)), (berlin(2025, 3, 10, 11), berlin(2025, 3, 10, 13))]
    # when Monday is measured and an 8 h goal counted
    # then 3 h are excluded, not 4
    assert calendar.business_seconds(start, berlin(2025, 3, 10, 17), pauses) == 5 * HOUR
    assert calendar.breakdown(start, berlin(2025, 3, 10, 17), pauses).paused == 3 * HOUR
    assert calendar.due_at(start, 8 * HOUR, pauses) == berlin(2025, 3, 11, 12)


def test_pauses_reaching_beyond_the_span_are_clipped_to_it():
    # given a pause from before the span to after it ends
    calendar = office()
    # when a Monday morning is measured
    worked = calendar.business_seconds(
        berlin(2025, 3, 10, 9), berlin(2025, 3, 10, 12), [(berlin(2025, 3, 7), berlin(2025, 3, 10, 10))]
    )
    # then only 10:00-12:00 counts
    assert worked == 2 * HOUR


def test_open_ended_pause_before_the_goal_means_no_due_date():
    # given a request still waiting for the requester since Mon 11:00
    calendar = office()
    start = berlin(2025, 3, 10, 9)
    still_waiting = [(berlin(2025, 3, 10, 11), None)]
    # when the due instant and the elapsed time are computed
    # then it cannot fall due while paused, and elapsed time stops at 2 h
    assert calendar.due_at(start, 8 * HOUR, still_waiting) is None
    assert calendar.threshold_at(start, 8 * HOUR, 50, still_waiting) is None
    assert calendar.business_seconds(start, berlin(2025, 3, 20), still_waiting) == 2 * HOUR


def test_open_ended_pause_starting_in_closed_hours_before_the_goal_still_means_no_due_date():
    # given a request on Fri 16:00 with a 2 h goal, paused since Saturday
    calendar = office()
    # when the due instant is computed
    # then the second hour never comes
    assert calendar.due_at(berlin(2025, 3, 7, 16), 2 * HOUR, [(berlin(2025, 3, 8, 10), None)]) is None


def test_open_ended_pause_starting_when_the_goal_is_reached_leaves_the_due_date():
    # given a 2 h goal from Mon 09:00 and an open-ended pause from 11:00 (exactly when it runs out) or later
    calendar = office()
    start = berlin(2025, 3, 10, 9)
    # when the due instant is computed
    # then it is 11:00 either way
    assert calendar.due_at(start, 2 * HOUR, [(berlin(2025, 3, 10, 11), None)]) == berlin(2025, 3, 10, 11)
    assert calendar.due_at(start, 2 * HOUR, [(berlin(2025, 3, 10, 15), None)]) == berlin(2025, 3, 10, 11)


def test_pause_ending_before_it_starts_is_rejected():
    # given a pause whose end precedes its start
    calendar = office()
    # when it is passed
    # then ValueError names the pause
    with pytest.raises(ValueError, match=r"pauses\[0\] ends before it starts"):
        calendar.business_seconds(MONDAY_NINE, MONDAY_FIVE, [(berlin(2025, 3, 10, 12), berlin(2025, 3, 10, 11))])


# -- Goals and thresholds -------------------------------------------------------------------------


def test_goal_zero_is_due_at_the_start_itself():
    # given a start outside working hours
    calendar = office()
    start = berlin(2025, 3, 8, 10, 15)
    # when a zero goal is counted
    # then it is due at the start, in UTC
    assert calendar.due_at(start, 0) == start
    assert calendar.due_at(start, 0).tzinfo is UTC


def test_thresholds_past_breach_and_exact_fractions():
    # given a request on Fri 2025-03-07 13:00 with an 8 h goal
    calendar = office()
    submitted = berlin(2025, 3, 7, 13)
    # when thresholds above 100 % and non-integer percentages are asked for
    # then 110 % is 8 h 48 min of business time, 12.5 % is exactly 1 h
    assert calendar.threshold_at(submitted, 8 * HOUR, 110) == berlin(2025, 3, 10, 13, 48)
    assert calendar.threshold_at(submitted, 8 * HOUR, Decimal("12.5")) == berlin(2025, 3, 7, 14)


def test_threshold_rounds_the_needed_seconds_up():
    # given a 7 s goal
    calendar = office()
    start = berlin(2025, 3, 10, 9)
    # when 50 % is asked for
    # then it needs ceil(3.5) = 4 s, because elapsed must be >= half the goal
    assert calendar.threshold_at(start, 7, 50) == berlin(2025, 3, 10, 9, 0, 4)


@pytest.mark.parametrize(
    ("goal", "percent", "error"),
    [
        pytest.param(-1, 50, ValueError, id="negative-goal"),
        pytest.param(3600.0, 50, TypeError, id="float-goal"),
        pytest.param(3600, 50.5, TypeError, id="float-percent"),
        pytest.param(3600, -5, ValueError, id="negative-percent"),
        pytest.param(3600, Decimal("NaN"), ValueError, id="nan-percent"),
    ],
)
def test_bad_goals_and_percentages_are_rejected(goal, percent, error):
    # given a bad goal or percentage
    calendar = office()
    # when a threshold is asked for
    # then it is refused
    with pytest.raises(error):
        calendar.threshold_at(berlin(2025, 3, 10, 9), goal, percent)


# -- Second resolution, naive datetimes, UTC results ----------------------------------------------


def test_microseconds_are_truncated_to_the_whole_second():
    # given instants carrying microseconds
    calendar = office()
    # when they are measured and used as starts
    # then each is read as its whole second (floored)
    assert calendar.business_seconds(berlin(2025, 3, 10, 9, 0, 0, 900_000), berlin(2025, 3, 10, 9, 0, 1, 100_000)) == 1
    assert calendar.business_seconds(berlin(2025, 3, 10, 9, 0, 0, 100), berlin(2025, 3, 10, 9, 0, 0, 999_999)) == 0
    due = calendar.due_at(berlin(2025, 3, 10, 9, 0, 0, 999_999), HOUR)
    assert due == berlin(2025, 3, 10, 10)
    assert due.microsecond == 0
    assert calendar.due_at(berlin(2025, 3, 10, 9, 0, 0, 999_999), 0) == berlin(2025, 3, 10, 9)


def test_a_reply_within_the_due_second_is_met():
    # given example 8, due Mon 17:00
    calendar = office()
    # when a reply comes at 17:00:00.500 or at Tue 09:00:00.999
    # then both count exactly the goal (met); the breach starts at the next whole second
    assert calendar.business_seconds(berlin(2025, 3, 10, 13), berlin(2025, 3, 10, 17, 0, 0, 500_000)) == 4 * HOUR
    assert calendar.business_seconds(berlin(2025, 3, 10, 13), berlin(2025, 3, 11, 9, 0, 0, 999_999)) == 4 * HOUR


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.business_seconds(NAIVE, MONDAY_FIVE), id="start"),
        pytest.param(lambda c: c.business_seconds(MONDAY_NINE, NAIVE), id="end"),
        pytest.param(lambda c: c.business_seconds(MONDAY_NINE, MONDAY_FIVE, [(NAIVE, None)]), id="pause-start"),
        pytest.param(lambda c: c.due_at(MONDAY_NINE, HOUR, [(MONDAY_NINE, NAIVE)]), id="pause-end"),
        pytest.param(lambda c: c.due_at(NAIVE, HOUR), id="due-at"),
        pytest.param(lambda c: c.threshold_at(NAIVE, HOUR, 50), id="threshold-at"),
        pytest.param(lambda c: c.breakdown(NAIVE, MONDAY_FIVE), id="breakdown"),
        pytest.param(lambda c: c.is_open(NAIVE), id="is-open"),
        pytest.param(lambda c: c.next_opening(NAIVE), id="next-opening"),
    ],
)
def test_naive_datetimes_are_rejected(call):
    # given a naive datetime in some argument
    calendar = office()
    # when it is passed
    # then ValueError says it is naive
    with pytest.raises(ValueError, match="naive"):
        call(calendar)


def test_results_are_aware_utc():
    # given Berlin inputs
    calendar = office()
    # when instants are computed
    # then they come back in datetime.timezone.utc
    assert calendar.due_at(berlin(2025, 3, 10, 9), HOUR).tzinfo is UTC
    assert calendar.threshold_at(berlin(2025, 3, 10, 9), HOUR, 50).tzinfo is UTC
    assert calendar.next_opening(berlin(2025, 3, 8, 9)).tzinfo is UTC
    assert calendar.next_opening(berlin(2025, 3, 10, 10)).tzinfo is UTC


def test_span_ending_before_it_starts_measures_nothing():
    # given an end before the start (e.g. a clock read with a skewed "now")
    calendar = office()
    start, end = berlin(2025, 3, 10, 12), berlin(2025, 3, 10, 10)
    # when it is measured
    # then it is the empty span: 0 business seconds, a breakdown of zeros
    assert calendar.business_seconds(start, end) == 0
    assert calendar.breakdown(start, end) == Breakdown(business=0, paused=0, closed=0, actual=0)


# -- Breakdown ------------------------------------------------------------------------------------


def test_breakdown_splits_real_time_into_business_paused_and_closed():
    # given example 4's pause, measured from Mon 09:00 to Wed 12:00 (51 real hours)
    calendar = office()
    pause = [(berlin(2025, 3, 10, 11), berlin(2025, 3, 11, 14))]
    # when the span is broken down
    result = calendar.breakdown(berlin(2025, 3, 10, 9), berlin(2025, 3, 12, 12), pause)
    # then 8 h counted, 11 h of working time were paused (Mon 6 h, Tue 5 h), 32 h were closed hours
    assert result == Breakdown(business=8 * HOUR, paused=11 * HOUR, closed=32 * HOUR, actual=51 * HOUR)
    assert result.business + result.paused + result.closed == result.actual


def test_breakdown_counts_a_pause_in_closed_hours_as_closed_not_paused():
    # given a pause covering a whole weekend
    calendar = office()
    # when Friday 16:00 to Monday 10:00 is broken down
    result = calendar.breakdown(
        berlin(2025, 3, 7, 16), berlin(2025, 3, 10, 10), [(berlin(2025, 3, 7, 18), berlin(2025, 3, 10, 9))]
    )
    # then nothing is "paused"; the weekend is closed time
    assert result.paused == 0
    assert result.business == 2 * HOUR
    assert result.closed == result.actual - 2 * HOUR


# -- is_open / next_opening -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(berlin(2025, 3, 10, 8, 59, 59), False, id="08:59:59"),
        pytest.param(berlin(2025, 3, 10, 9), True, id="09:00:00"),
        pytest.param(berlin(2025, 3, 10, 16, 59, 59), True, id="16:59:59"),
        pytest.param(berlin(2025, 3, 10, 17), False, id="17:00:00"),
        pytest.param(berlin(2025, 3, 8, 12), False, id="saturday"),
    ],
)
def test_working_intervals_are_half_open(instant, expected):
    # given the reference calendar
    calendar = office()
    # when a boundary instant is probed
    # then it is open from 09:00:00 up to, not including, 17:00:00
    assert calendar.is_open(instant) is expected


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(berlin(2025, 3, 10, 9), berlin(2025, 3, 10, 9), id="at-opening"),
        pytest.param(berlin(2025, 3, 10, 12, 34, 56), berlin(2025, 3, 10, 12, 34, 56), id="while-open"),
        pytest.param(berlin(2025, 3, 10, 8, 59, 59), berlin(2025, 3, 10, 9), id="just-before-opening"),
        pytest.param(berlin(2025, 3, 7, 17), berlin(2025, 3, 10, 9), id="friday-closing"),
        pytest.param(berlin(2025, 3, 28, 17), utc(2025, 3, 31, 7), id="over-spring-forward"),
    ],
)
def test_next_opening_is_now_when_open_else_the_next_interval_start(instant, expected):
    # given the reference calendar
    calendar = office()
    # when the next opening is looked up
    # then it is the instant itself when open, else the next 09:00 (in UTC)
    assert calendar.next_opening(instant) == expected


def test_around_the_clock_calendar_is_always_open():
    # given a 24x7 calendar
    calendar = around_the_clock()
    # when midnight and the DST gap are probed
    # then it is open, and the next opening is the instant itself
    assert calendar.is_open(berlin(2025, 3, 10, 0))
    assert calendar.is_open(utc(2025, 3, 30, 1, 30))
    assert calendar.next_opening(berlin(2025, 3, 10, 0)) == berlin(2025, 3, 10, 0)


# -- No working time, bounded search, bounded cache -----------------------------------------------


def test_calendar_without_any_working_time_refuses_due_dates_and_openings():
    # given a calendar with an empty week and no exceptions
    calendar = Calendar.from_spec({"timezone": "Europe/Berlin", "week": {}})
    # when a due instant or an opening is asked for
    # then ValueError, not an endless loop; measuring still works and gives 0
    with pytest.raises(ValueError, match="no working time"):
        calendar.due_at(berlin(2025, 3, 10, 9), HOUR)
    with pytest.raises(ValueError, match="no working time"):
        calendar.next_opening(berlin(2025, 3, 10, 9))
    assert calendar.business_seconds(berlin(2025, 3, 10), berlin(2025, 4, 10)) == 0


def test_search_gives_up_after_20_years_without_enough_working_time():
    # given a calendar whose only working time is one exception day in 2020
    one_hour_in_2020 = {"2020-06-01": [["09:00", "10:00"]]}
    calendar = Calendar.from_spec({"timezone": "Europe/Berlin", "week": {}, "exceptions": one_hour_in_2020})
    started = time.perf_counter()
    # when a due instant or an opening after it is asked for
    # then ValueError mentions the 20-year bound, quickly
    with pytest.raises(ValueError, match="20 years"):
        calendar.due_at(berlin(2025, 3, 10, 9), HOUR)
    with pytest.raises(ValueError, match="20 years"):
        calendar.next_opening(berlin(2025, 3, 10, 9))
    assert time.perf_counter() - started < 2
    # and the one hour is found from before it
    assert calendar.due_at(berlin(2020, 5, 1), HOUR) == berlin(2020, 6, 1, 10)


def test_the_interval_cache_stays_bounded_over_decades():
    # given the reference calendar
    calendar = office()
    # when sixty years are measured
    worked = calendar.business_seconds(berlin(2000, 1, 1), berlin(2060, 1, 1))
    # then the answer is right and the per-week cache has not grown past its bound
    assert worked > 0
    from slas.clock import _SLOT_CACHE_SIZE

    assert len(calendar._slots) <= _SLOT_CACHE_SIZE


# -- The spec: validation, normalisation, immutability --------------------------------------------

VALID = {"timezone": "Europe/Berlin", "week": {"mon": [["09:00", "17:00"]]}}


def spec_with(**changes):
    return {**VALID, **changes}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param(["not", "a", "dict"], "spec", id="spec-not-a-dict"),
        pytest.param(spec_with(holiday=["2025-01-01"]), "spec", id="unknown-top-level-field"),
        pytest.param({"week": {}}, "timezone", id="missing-timezone"),
        pytest.param(spec_with(timezone="Mars/Olympus_Mons"), "timezone", id="unknown-zone"),
        pytest.param(spec_with(timezone=""), "timezone", id="empty-zone"),
        pytest.param(spec_with(timezone=1), "timezone", id="zone-not-a-string"),
        pytest.param({"timezone": "UTC"}, "week", id="missing-week"),
        pytest.param(spec_with(week=[["09:00", "17:00"]]), "week", id="week-not-a-dict"),
        pytest.param(spec_with(week={"monday": [["09:00", "17:00"]]}), "week.monday", id="unknown-weekday"),
        pytest.param(spec_with(week={"mon": "09:00-17:00"}), "week.mon", id="day-not-a-list"),
        pytest.param(spec_with(week={"mon": [["09:00"]]}), "week.mon[0]", id="interval-not-a-pair"),
        pytest.param(spec_with(week={"mon": [[9, 17]]}), "week.mon[0]", id="time-not-a-string"),
        pytest.param(spec_with(week={"mon": [["9:00", "17:00"]]}), "week.mon[0]", id="time-one-digit-hour"),
        pytest.param(spec_with(week={"mon": [["09:00", "25:00"]]}), "week.mon[0]", id="time-hour-25"),
        pytest.param(spec_with(week={"mon": [["09:60", "17:00"]]}), "week.mon[0]", id="time-minute-60"),
        pytest.param(spec_with(week={"mon": [["09:00:00", "17:00"]]}), "week.mon[0]", id="time-with-seconds"),
        pytest.param(spec_with(week={"mon": [["09:00\n", "17:00"]]}), "week.mon[0]", id="time-trailing-newline"),
        pytest.param(spec_with(week={"mon": [["\u0660\u0669:00", "17:00"]]}), "week.mon[0]", id="time-arabic-digits"),
        pytest.param(spec_with(week={"mon": [["24:00", "24:00"]]}), "week.mon[0]", id="24:00-as-start"),
        pytest.param(spec_with(week={"mon": [["17:00", "09:00"]]}), "week.mon[0]", id="end-before-start"),
        pytest.param(spec_with(week={"mon": [["09:00", "09:00"]]}), "week.mon[0]", id="end-equals-start"),
        pytest.param(
            spec_with(week={"tue": [["09:00", "13:00"], ["12:00", "17:00"]]}), "week.tue", id="overlapping-intervals"
        ),
        pytest.param(spec_with(holidays="2025-01-01"), "holidays", id="holidays-not-a-list"),
        pytest.param(spec_with(holidays=["2025-13-01"]), "holidays[0]", id="holiday-month-13"),
        pytest.param(spec_with(holidays=["2025-01-01", "01.05.2025"]), "holidays[1]", id="holiday-german-format"),
        pytest.param(spec_with(holidays=["20250101"]), "holidays[0]", id="holiday-compact-iso"),
        pytest.param(spec_with(holidays=["2025-01-01\n"]), "holidays[0]", id="holiday-trailing-newline"),
        pytest.param(spec_with(holidays=[20250101]), "holidays[0]", id="holiday-not-a-string"),
        pytest.param(spec_with(exceptions=[["2025-12-24"]]), "exceptions", id="exceptions-not-a-dict"),
        pytest.param(spec_with(exceptions={"2025-02-30": []}), "exceptions['2025-02-30']", id="exception-bad-date"),
        pytest.param(
            spec_with(exceptions={"2025-12-24": [["12:00", "09:00"]]}),
            "exceptions['2025-12-24'][0]",
            id="exception-end-before-start",
        ),
        pytest.param(spec_with(exceptions={"2025-12-24": None}), "exceptions['2025-12-24']", id="exception-not-a-list"),
    ],
)
def test_invalid_spec_raises_value_error_naming_the_field(spec, field):
    # given an invalid spec
    # when a calendar is built from it
    # then ValueError names the offending field
    with pytest.raises(ValueError, match=re.escape(field)):
        Calendar.from_spec(spec)


def test_to_spec_is_normalised_and_round_trips():
    # given a spec with unsorted intervals, duplicate and unsorted holidays, a closed day listed as []
    calendar = Calendar.from_spec(
        {
            "timezone": "Europe/Berlin",
            "week": {"tue": [["13:00", "17:00"], ["08:00", "12:00"]], "mon": [["09:00", "17:00"]], "sun": []},
            "holidays": ["2025-12-26", "2025-12-25", "2025-12-26"],
            "exceptions": {"2025-12-31": [], "2025-12-24": [["09:00", "12:00"]]},
        }
    )
    # when it is written back out
    spec = calendar.to_spec()
    # then it is sorted and minimal, and builds an equal calendar
    assert spec == {
        "timezone": "Europe/Berlin",
        "week": {"mon": [["09:00", "17:00"]], "tue": [["08:00", "12:00"], ["13:00", "17:00"]]},
        "holidays": ["2025-12-25", "2025-12-26"],
        "exceptions": {"2025-12-24": [["09:00", "12:00"]], "2025-12-31": []},
    }
    assert list(spec["exceptions"]) == ["2025-12-24", "2025-12-31"]
    assert Calendar.from_spec(spec) == calendar


def test_calendars_from_equivalent_specs_are_equal_hashable_and_immutable():
    # given two specs that differ only in order
    first = office(holidays=["2025-04-18", "2025-04-21"])
    second = office(holidays=["2025-04-21", "2025-04-18", "2025-04-21"])
    first.due_at(berlin(2025, 3, 10, 9), HOUR)  # warm one cache: caches take no part in equality
    # when compared, hashed and assigned to
    # then they are equal, hash alike, and refuse mutation
    assert first == second
    assert {first: "x"}[second] == "x"
    assert first != office()
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.timezone = "UTC"


def test_calendar_survives_pickling():
    # given a calendar with warm caches
    calendar = office(holidays=["2025-04-18"])
    calendar.due_at(berlin(2025, 3, 10, 9), 40 * HOUR)
    # when pickled and unpickled
    copy = pickle.loads(pickle.dumps(calendar))
    # then it is equal and computes the same
    assert copy == calendar
    assert copy.due_at(berlin(2025, 4, 17, 9), 16 * HOUR) == calendar.due_at(berlin(2025, 4, 17, 9), 16 * HOUR)


def test_holidays_and_exception_dates_may_be_date_objects():
    # given dates as datetime.date, as Django DateFields give them
    calendar = Calendar.from_spec(
        {**VALID, "holidays": [date(2025, 4, 21)], "exceptions": {date(2025, 4, 22): [["10:00", "12:00"]]}}
    )
    # when written back out
    # then they are ISO strings
    assert calendar.to_spec()["holidays"] == ["2025-04-21"]
    assert calendar.to_spec()["exceptions"] == {"2025-04-22": [["10:00", "12:00"]]}
