"""Properties of slas.clock over random calendars, starts (many near DST changes) and pauses.

Derandomised (a fixed sequence of examples, no example database) so CI runs are repeatable.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from slas.clock import Calendar, VersionedCalendar

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "UTC"]
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# DST changes in 2025 (UTC) for the zones above; starts cluster around them.
TRANSITIONS = {
    "Europe/Berlin": [datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC)],
    "America/New_York": [datetime(2025, 3, 9, 7, tzinfo=UTC), datetime(2025, 11, 2, 6, tzinfo=UTC)],
    "Australia/Sydney": [datetime(2025, 4, 5, 16, tzinfo=UTC), datetime(2025, 10, 4, 16, tzinfo=UTC)],
}
ALL_TRANSITIONS = [instant for instants in TRANSITIONS.values() for instant in instants]
FIRST_DAY, LAST_DAY = date(2024, 12, 1), date(2026, 2, 28)
HOUR = 3600
SECOND = timedelta(seconds=1)

PROPERTY = settings(
    derandomize=True, database=None, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _shift(instant, seconds):
    """`seconds` of real time later, in the same zone (aware arithmetic in one zone is wall-clock arithmetic)."""
    return (instant.astimezone(UTC) + timedelta(seconds=seconds)).astimezone(instant.tzinfo)


def _hhmm(minute):
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day_hours(draw):
    """0-3 disjoint intervals on a 15-minute grid; 24:00 may end the last. Often around 01:00-04:00, the DST hours."""
    quarters = st.integers(0, 96) if draw(st.booleans()) else st.integers(4, 16)
    boundaries = sorted(draw(st.sets(quarters, max_size=6)))
    if len(boundaries) % 2:
        boundaries = boundaries[:-1]
    return [[_hhmm(15 * a), _hhmm(15 * b)] for a, b in zip(boundaries[::2], boundaries[1::2], strict=True)]


@st.composite
def calendar_specs(draw):
    around_the_clock = draw(st.integers(0, 7)) == 0
    if around_the_clock:
        week = {key: [["00:00", "24:00"]] for key in DAY_KEYS}
    else:
        week = {key: draw(day_hours()) for key in DAY_KEYS}
        assume(any(week.values()))  # a calendar with no weekly hours cannot fall due
    some_dates = st.dates(FIRST_DAY, LAST_DAY)
    return {
        "timezone": draw(st.sampled_from(ZONES)),
        "week": week,
        "holidays": [day.isoformat() for day in draw(st.lists(some_dates, max_size=12))],
        "exceptions": {day.isoformat(): draw(day_hours()) for day in draw(st.sets(some_dates, max_size=4))},
    }


calendars = calendar_specs().map(Calendar.from_spec)


@st.composite
def instants(draw, zone=None):
    """Aware instants in 2025, half of them within a week of a DST change (of `zone`, if it has any)."""
    if draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS.get(zone, ALL_TRANSITIONS)))
        instant = base + timedelta(seconds=draw(st.integers(-7 * 86400, 7 * 86400)))
    else:
        instant = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 365 * 86400)))
    if draw(st.integers(0, 4)) == 0:
        instant += timedelta(microseconds=draw(st.integers(0, 999_999)))
    return instant.astimezone(ZoneInfo(draw(st.sampled_from(ZONES))))


@st.composite
def pause_lists(draw, around):
    """Up to 4 pauses near `around`: overlapping, in closed hours, before it; rarely one open-ended."""
    pauses = []
    for _ in range(draw(st.integers(0, 4))):
        start = _shift(around, draw(st.integers(-2 * 86400, 20 * 86400)))
        if draw(st.integers(0, 9)) == 0:
            pauses.append((start, None))
        else:
            pauses.append((start, _shift(start, draw(st.integers(0, 3 * 86400)))))
    return pauses


@st.composite
def clock_cases(draw):
    """(calendar, start, pauses, goal in seconds); the start is often near the calendar zone's DST change."""
    spec = draw(calendar_specs())
    start = draw(instants(spec["timezone"]))
    goal = draw(st.one_of(st.integers(0, 3 * HOUR), st.integers(0, 120 * HOUR)))
    return Calendar.from_spec(spec), start, draw(pause_lists(start)), goal


def _whole(instant):
    """The instant truncated to its second, in UTC."""
    return instant.astimezone(UTC).replace(microsecond=0)


def _reference_business_seconds(spec, start, end, pauses):
    """The rule written out plainly: per-date local intervals to UTC with fold=0, union, minus pauses."""
    zone = ZoneInfo(spec["timezone"])
    start, end = _whole(start), _whole(end)
    if end <= start:
        return 0
    intervals = []
    day = start.date() - timedelta(days=2)
    while day <= end.date() + timedelta(days=2):
        iso = day.isoformat()
        if iso in spec["exceptions"]:
            hours = spec["exceptions"][iso]
        elif iso in spec["holidays"]:
            hours = []
        else:
            hours = spec["week"].get(DAY_KEYS[day.weekday()], [])
        for opens, closes in hours:
            intervals.append((_local(zone, day, opens), _local(zone, day, closes)))
        day += timedelta(days=1)
    working = _union((max(a, start), min(b, end)) for a, b in intervals)
    paused = _union((max(_whole(a), start), end if b is None else min(end, _whole(b))) for a, b in pauses)
    total = sum((b - a).total_seconds() for a, b in working)
    overlap = sum(max(0, (min(b, d) - max(a, c)).total_seconds()) for a, b in working for c, d in paused)
    return int(total - overlap)


def _local(zone, day, hhmm):
    if hhmm == "24:00":
        day, hhmm = day + timedelta(days=1), "00:00"
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=0).astimezone(UTC)


def _union(spans):
    merged = []
    for a, b in sorted(span for span in spans if span[1] > span[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _later_or_never(due):
    return datetime.max.replace(tzinfo=UTC) if due is None else due


@PROPERTY
@given(spec=calendar_specs(), days=st.integers(0, 40), data=st.data())
def test_business_seconds_matches_the_rule_written_out_plainly(spec, days, data):
    # given a random calendar, span (often across that zone's DST change) and pauses
    calendar = Calendar.from_spec(spec)
    start = data.draw(instants(spec["timezone"]))
    end = _shift(start, days * 86400 + data.draw(st.integers(0, 86400)))
    pauses = data.draw(pause_lists(start))
    # when business seconds are computed
    # then they equal a plain date-by-date evaluation of |([start, end] ∩ W) \ P|
    assert calendar.business_seconds(start, end, pauses) == _reference_business_seconds(spec, start, end, pauses)


@st.composite
def dst_hours(draw):
    """0-3 disjoint intervals with boundaries between 01:00 and 04:00, where the DST changes happen."""
    boundaries = sorted(draw(st.sets(st.integers(4, 16), max_size=6)))
    if len(boundaries) % 2:
        boundaries = boundaries[:-1]
    return [[_hhmm(15 * a), _hhmm(15 * b)] for a, b in zip(boundaries[::2], boundaries[1::2], strict=True)]


@PROPERTY
@given(zone=st.sampled_from(sorted(TRANSITIONS)), data=st.data())
def test_dst_change_days_match_the_rule_written_out_plainly(zone, data):
    # given windows in the small hours of a DST-change Sunday, some ends falling in the gap or the repeated hour
    change = data.draw(st.sampled_from(TRANSITIONS[zone])).astimezone(ZoneInfo(zone))
    spec = {"timezone": zone, "week": {"sun": data.draw(dst_hours())}}
    calendar = Calendar.from_spec(spec)
    midnight = change.replace(hour=0, minute=0)
    end = _shift(midnight, 2 * 86400)
    # when that day is measured and its working time counted down
    worked = calendar.business_seconds(midnight, end)
    # then it matches the plain evaluation, and due_at inverts it
    assert worked == _reference_business_seconds({**spec, "holidays": [], "exceptions": {}}, midnight, end, [])
    if worked:
        due = calendar.due_at(midnight, worked)
        assert calendar.business_seconds(midnight, due) == worked
        assert calendar.business_seconds(midnight, due - SECOND) == worked - 1


@PROPERTY
@given(case=clock_cases())
def test_due_at_is_the_earliest_instant_with_exactly_the_goal_elapsed(case):
    # given a random clock
    calendar, start, pauses, goal = case
    # when its due instant is computed
    due = calendar.due_at(start, goal, pauses)
    if due is None:
        # then "never" only happens behind an open-ended pause that starts before the goal is reached
        open_starts = [a for a, b in pauses if b is None]
        assert open_starts
        assert calendar.business_seconds(start, _shift(start, 3650 * 86400), pauses) < goal
        return
    # then exactly the goal has elapsed at it, and one second earlier less than the goal
    assert due >= _whole(start)
    assert due.tzinfo is UTC
    assert due.microsecond == 0
    assert calendar.business_seconds(start, due, pauses) == goal
    if goal > 0:
        assert calendar.business_seconds(start, due - SECOND, pauses) < goal


@PROPERTY
@given(case=clock_cases(), percent=st.integers(0, 150))
def test_threshold_is_the_first_instant_reaching_the_exact_fraction(case, percent):
    # given a random clock and a percentage
    calendar, start, pauses, goal = case
    # when the threshold instant is computed
    instant = calendar.threshold_at(start, goal, percent, pauses)
    assume(instant is not None)
    # then elapsed * 100 >= percent * goal there, and not one second earlier (unless at the start)
    assert calendar.business_seconds(start, instant, pauses) * 100 >= percent * goal
    if instant > _whole(start):
        assert calendar.business_seconds(start, instant - SECOND, pauses) * 100 < percent * goal


@PROPERTY
@given(calendar=calendars, start=instants(), seconds=st.integers(0, 60 * 86400), data=st.data())
def test_business_seconds_never_exceed_real_seconds(calendar, start, seconds, data):
    # given a random span and pauses
    end = _shift(start, seconds)
    pauses = data.draw(pause_lists(start))
    # when it is measured
    # then business time is between 0 and the real time of the span
    assert 0 <= calendar.business_seconds(start, end, pauses) <= (_whole(end) - _whole(start)).total_seconds()


@PROPERTY
@given(calendar=calendars, start=instants(), first=st.integers(0, 30 * 86400), second=st.integers(0, 30 * 86400))
def test_business_seconds_grow_with_the_end(calendar, start, first, second):
    # given two ends, the second no earlier than the first
    nearer, farther = sorted((first, second))
    # when both spans are measured
    # then the longer span has at least as many business seconds
    assert calendar.business_seconds(start, _shift(start, nearer)) <= calendar.business_seconds(
        start, _shift(start, farther)
    )


@PROPERTY
@given(case=clock_cases(), data=st.data())
def test_adding_a_pause_never_brings_the_due_date_forward(case, data):
    # given a random clock and one more pause
    calendar, start, pauses, goal = case
    extra = data.draw(pause_lists(start).filter(bool))[:1]
    # when the due instant is computed with and without it
    # then the extra pause can only keep it or push it later (None meaning never)
    assert _later_or_never(calendar.due_at(start, goal, pauses + extra)) >= _later_or_never(
        calendar.due_at(start, goal, pauses)
    )


@PROPERTY
@given(calendar=calendars, a=instants(), ab=st.integers(0, 20 * 86400), bc=st.integers(0, 20 * 86400), data=st.data())
def test_splitting_a_span_adds_up(calendar, a, ab, bc, data):
    # given a <= b <= c and pauses
    b = _shift(a, ab)
    c = _shift(b, bc)
    pauses = data.draw(pause_lists(a))
    # when [a, c] and its two halves are measured
    # then the halves add up to the whole
    whole = calendar.business_seconds(a, c, pauses)
    assert whole == calendar.business_seconds(a, b, pauses) + calendar.business_seconds(b, c, pauses)


@PROPERTY
@given(calendar=calendars, start=instants(), seconds=st.integers(-86400, 40 * 86400), data=st.data())
def test_breakdown_parts_add_up_to_the_real_time(calendar, start, seconds, data):
    # given a random span (possibly reversed) and pauses
    end = _shift(start, seconds)
    pauses = data.draw(pause_lists(start))
    # when it is broken down
    parts = calendar.breakdown(start, end, pauses)
    # then business + paused + closed == actual, none negative, and business is business_seconds
    assert parts.business + parts.paused + parts.closed == parts.actual
    assert min(parts.business, parts.paused, parts.closed) >= 0
    assert parts.business == calendar.business_seconds(start, end, pauses)
    assert parts.actual == max(0, (_whole(end) - _whole(start)).total_seconds())


@PROPERTY
@given(case=clock_cases(), effective=instants(), probe=instants(), days=st.integers(0, 30))
def test_a_single_version_calendar_behaves_exactly_like_its_calendar(case, effective, probe, days):
    # given a calendar and a VersionedCalendar holding only it (effective whenever: the first applies always)
    calendar, start, pauses, goal = case
    versioned = VersionedCalendar([(effective, calendar)])
    end = _shift(start, days * 86400)
    # when every method is called on both
    # then the answers are identical
    assert versioned.business_seconds(start, end, pauses) == calendar.business_seconds(start, end, pauses)
    assert versioned.breakdown(start, end, pauses) == calendar.breakdown(start, end, pauses)
    assert versioned.due_at(start, goal, pauses) == calendar.due_at(start, goal, pauses)
    assert versioned.threshold_at(start, goal, 75, pauses) == calendar.threshold_at(start, goal, 75, pauses)
    assert versioned.is_open(probe) == calendar.is_open(probe)
    assert versioned.next_opening(probe) == calendar.next_opening(probe)


@PROPERTY
@given(calendar=calendars, probe=instants())
def test_next_opening_is_open_and_nothing_before_it_is(calendar, probe):
    # given a random calendar and instant
    # when the next opening is looked up
    opening = calendar.next_opening(probe)
    # then it is open there; if it is later than the probe, the second before it is closed
    assert calendar.is_open(opening)
    assert opening >= _whole(probe)
    if opening > _whole(probe):
        assert not calendar.is_open(opening - SECOND)
        assert calendar.business_seconds(probe, opening) == 0


@PROPERTY
@given(spec=calendar_specs())
def test_spec_round_trips(spec):
    # given a random valid spec
    calendar = Calendar.from_spec(spec)
    # when it is written out and read back
    # then the calendar is equal and hashes alike
    again = Calendar.from_spec(calendar.to_spec())
    assert again == calendar
    assert hash(again) == hash(calendar)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@PROPERTY
@given(spec=calendar_specs(), path=st.lists(st.integers(0, 10), min_size=1, max_size=4), junk=json_values)
def test_a_damaged_spec_is_refused_with_value_error_only(spec, path, junk):
    # given a valid spec with one value somewhere replaced by arbitrary JSON
    damaged = _replace_somewhere(spec, path, junk)
    # when a calendar is built from it
    # then it either builds or raises ValueError, never anything else (callers catch exactly that)
    try:
        Calendar.from_spec(damaged)
    except ValueError as error:
        assert str(error)


def _replace_somewhere(value, path, junk):
    """A copy of `value` with the element reached by following `path` (indices modulo sizes) set to junk."""
    if not path or not isinstance(value, dict | list) or not value:
        return junk
    if isinstance(value, dict):
        key = sorted(value)[path[0] % len(value)]
        return {**value, key: _replace_somewhere(value[key], path[1:], junk)}
    index = path[0] % len(value)
    return [*value[:index], _replace_somewhere(value[index], path[1:], junk), *value[index + 1 :]]
