"""Business-calendar maths for SLA clocks: pure functions over aware datetimes, no Django, no database.

The rules (the project's SLA semantics, restated here so this module stands on its own):

- A calendar has an IANA time zone, weekly working intervals in local wall time (several per day
  allowed), holiday dates (whole days off) and partial-day exceptions (an exception replaces that
  date's hours; an empty list closes the day). A 24x7 calendar is allowed.
- ``W`` is the set of working intervals converted from local wall time to UTC date by date; ``P`` is
  the union of the pause intervals. Elapsed business time is ``|([start, t] ∩ W) \\ P|`` in integer
  seconds of real time. Never add wall-clock hours.
- ``due_at`` is the earliest instant at which elapsed business time equals the goal. When the goal
  runs out exactly at the end of a working interval, ``due_at`` is that closing instant (17:00), not
  the next opening.
- A threshold's instant is the first ``t`` with ``elapsed >= p * goal``, compared in exact seconds.
- DST: each day's local intervals are converted to UTC for that date, so on a spring-forward day a
  00:00-06:00 window holds 5 hours and on a fall-back day 7. A local boundary that does not exist
  (02:30 on spring-forward day) is resolved with PEP 495 ``fold=0``, which zoneinfo interprets with
  the offset in force *before* the transition (02:30 CET = 01:30 UTC = 03:30 CEST); an ambiguous one
  takes the first occurrence (``fold=0``).
- Calendar changes are piecewise: each span is measured with the version in force during it.

Choices this module makes where the rules are silent:

- One-second resolution: every input instant is truncated to the whole second (microseconds
  dropped, i.e. floored) before any arithmetic, so 09:00:00.999 counts as 09:00:00; every returned
  instant is a whole second in UTC.
- ``business_seconds`` and ``breakdown`` over a span that ends before it starts measure the empty
  set: 0 (and a breakdown of zeros).
- A pause whose end is before its start is a ValueError; an end of ``None`` means "still paused".
- ``due_at`` with goal 0 is the start itself (to the second), pauses or not. If an open-ended pause
  begins before the goal is reached, ``due_at`` is ``None``: the clock cannot fall due while paused.
- A local interval whose UTC end is not after its UTC start once both ends are converted (possible
  only when a boundary lies in a DST gap, e.g. 02:30-03:00 on spring-forward day) holds no time.
- An exception on a date that is also a holiday wins: the exception is the more specific instruction.
- ``due_at``/``next_opening`` search at most 20 years ahead and raise ValueError beyond; a calendar
  with no working time at all raises ValueError at once.

How it stays fast: working time is cut into fixed UTC weeks ("slots"); each slot's merged UTC
intervals, with running totals, are computed once per calendar and kept in a bounded cache. A span
then costs one bisect at each end plus one addition per whole week in between, and ``due_at``
subtracts whole weeks' totals until the remaining goal fits inside a week. Holidays, exceptions and
DST changes need no special casing: they are already folded into each slot's intervals.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Breakdown", "Calendar", "VersionedCalendar"]

DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_YEARS = 20

_DAY = 86_400
_WEEK = 7 * _DAY
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Slots are UTC weeks starting on Monday 1970-01-05 00:00 UTC (epoch second 4 days in).
_SLOT_ORIGIN = 4 * _DAY
_SLOT_ORIGIN_ORDINAL = _EPOCH_ORDINAL + 4
_SLOT_CACHE_SIZE = 1024  # about 20 years of weeks per calendar: bounded memory, warm for any sweep
_SEARCH_SECONDS = SEARCH_YEARS * 36525 * _DAY // 100
_OPEN_END = 1 << 62  # an open-ended pause runs "forever": far past any representable datetime
_MIN_ORDINAL = date.min.toordinal() + 1
_MAX_ORDINAL = date.max.toordinal() - 1

# ASCII digits only, whole string (fullmatch): "٠٩:٠٠" or "09:00\n" are not times.
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00)")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Intervals = tuple[tuple[int, int], ...]  # local minutes of the day, [start, end), end may be 1440


@dataclass(frozen=True)
class Breakdown:
    """Where the real time of a span went, in integer seconds: business + paused + closed == actual."""

    business: int  # working and not paused: what counts against the goal
    paused: int  # paused during working hours
    closed: int  # outside working hours, paused or not
    actual: int  # end - start


class _Slot:
    """One UTC week of merged working intervals with running totals (epoch seconds)."""

    __slots__ = ("starts", "ends", "totals_at_end", "total")

    def __init__(self, intervals: list[tuple[int, int]]):
        self.starts = [start for start, _ in intervals]
        self.ends = [end for _, end in intervals]
        running = 0
        self.totals_at_end = []
        for start, end in intervals:
            running += end - start
            self.totals_at_end.append(running)
        self.total = running

    def worked_before(self, ts: int) -> int:
        """Working seconds in this slot before instant ts."""
        index = bisect_right(self.starts, ts) - 1
        if index < 0:
            return 0
        return self.totals_at_end[index] - max(0, self.ends[index] - ts)

    def instant_at(self, target: int) -> int:
        """Earliest instant by which `target` working seconds of this slot have passed (0 < target <= total)."""
        index = bisect_left(self.totals_at_end, target)
        return self.ends[index] - (self.totals_at_end[index] - target)


def _instant(value: Any, name: str) -> int:
    """Epoch seconds of an aware datetime, truncated to the whole second; naive ones are refused."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an aware datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime ({value.isoformat()}); pass an aware one")
    return (value - _EPOCH) // timedelta(seconds=1)


def _datetime(ts: int) -> datetime:
    return _EPOCH + timedelta(seconds=ts)


def _pause_spans(pauses: Iterable[Any]) -> list[tuple[int, int]]:
    """The union of the pauses as sorted, disjoint [start, end) epoch-second spans; open ends become _OPEN_END."""
    spans = []
    for number, pause in enumerate(pauses):
        try:
            pause_start, pause_end = pause
        except (TypeError, ValueError):
            raise ValueError(f"pauses[{number}] must be a (start, end) pair") from None
        start = _instant(pause_start, f"pauses[{number}] start")
        end = _OPEN_END if pause_end is None else _instant(pause_end, f"pauses[{number}] end")
        if end < start:
            raise ValueError(f"pauses[{number}] ends before it starts")
        if end > start:
            spans.append((start, end))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _goal(goal_seconds: Any) -> int:
    if isinstance(goal_seconds, bool) or not isinstance(goal_seconds, int):
        raise TypeError(f"goal_seconds must be an int, not {type(goal_seconds).__name__}")
    if goal_seconds < 0:
        raise ValueError(f"goal_seconds must not be negative, got {goal_seconds}")
    return goal_seconds


class _BusinessTime:
    """The public SLA maths, shared by Calendar and VersionedCalendar.

    Subclasses provide four primitives over epoch seconds: _working_seconds(a, b) = |[a, b] ∩ W|
    for a <= b; _advance(a, r, limit) = the earliest t <= limit with _working_seconds(a, t) == r
    (r > 0), else None; _is_open_at(ts); _next_open_at(ts, limit) (or None).
    """

    def business_seconds(self, start: datetime, end: datetime, pauses: Iterable[Any] = ()) -> int:
        """|([start, end] ∩ W) \\ P| in seconds; 0 when end is before start."""
        return self._measure(start, end, pauses)[0]

    def breakdown(self, start: datetime, end: datetime, pauses: Iterable[Any] = ()) -> Breakdown:
        """Split the real time of [start, end] into business, paused-in-working-hours and closed seconds."""
        business, paused, working, actual = self._measure(start, end, pauses)
        return Breakdown(business=business, paused=paused, closed=actual - working, actual=actual)

    def due_at(self, start: datetime, goal_seconds: int, pauses: Iterable[Any] = ()) -> datetime | None:
        """Earliest UTC instant at which goal_seconds of business time have elapsed; None if paused for good first."""
        begin = _instant(start, "start")
        goal = _goal(goal_seconds)
        spans = _pause_spans(pauses)
        if goal == 0:
            return _datetime(begin)
        if not self._has_working_time():
            raise ValueError("the calendar has no working time at all")
        limit = begin + _SEARCH_SECONDS
        remaining = goal
        cursor = begin
        for pause_start, pause_end in spans:
            if pause_end <= cursor:
                continue
            if pause_start > cursor:
                # The free stretch before this pause: the goal may run out inside it.
                found = self._advance(cursor, remaining, min(pause_start, limit))
                if found is not None:
                    return _datetime(found)
                if pause_start >= limit:
                    break
                remaining -= self._working_seconds(cursor, pause_start)
            if pause_end == _OPEN_END:
                return None
            cursor = pause_end
            if cursor >= limit:
                break
        else:
            found = self._advance(cursor, remaining, limit)
            if found is not None:
                return _datetime(found)
        raise ValueError(f"the goal is not reached within {SEARCH_YEARS} years of {_datetime(begin).isoformat()}")

    def threshold_at(
        self, start: datetime, goal_seconds: int, percent: int | Fraction | Decimal, pauses: Iterable[Any] = ()
    ) -> datetime | None:
        """First instant at which elapsed business time >= percent/100 of the goal (percent may exceed 100)."""
        goal = _goal(goal_seconds)
        if isinstance(percent, bool) or not isinstance(percent, int | Fraction | Decimal):
            raise TypeError(f"percent must be an int, Fraction or Decimal (exact), not {type(percent).__name__}")
        if (isinstance(percent, Decimal) and not percent.is_finite()) or percent < 0:
            raise ValueError(f"percent must be a finite number >= 0, got {percent}")
        needed = math.ceil(Fraction(goal) * Fraction(percent) / 100)
        return self.due_at(start, needed, pauses)

    def is_open(self, t: datetime) -> bool:
        """Whether t lies in working time (intervals are half-open: open at 09:00:00, closed at 17:00:00)."""
        return self._is_open_at(_instant(t, "t"))

    def next_opening(self, t: datetime) -> datetime:
        """t itself (to the second, in UTC) if open at t, else the start of the next working interval."""
        ts = _instant(t, "t")
        if not self._has_working_time():
            raise ValueError("the calendar has no working time at all")
        found = self._next_open_at(ts, ts + _SEARCH_SECONDS)
        if found is None:
            raise ValueError(f"no working time within {SEARCH_YEARS} years of {_datetime(ts).isoformat()}")
        return _datetime(found)

    def _measure(self, start: datetime, end: datetime, pauses: Iterable[Any]) -> tuple[int, int, int, int]:
        """(business, paused in working hours, working, actual) seconds of [start, end]."""
        begin = _instant(start, "start")
        finish = _instant(end, "end")
        spans = _pause_spans(pauses)
        if finish <= begin:
            return 0, 0, 0, 0
        working = self._working_seconds(begin, finish)
        paused = sum(
            self._working_seconds(max(pause_start, begin), min(pause_end, finish))
            for pause_start, pause_end in spans
            if pause_start < finish and pause_end > begin
        )
        return working - paused, paused, working, finish - begin

    # Primitives, provided by subclasses.
    def _has_working_time(self) -> bool:
        raise NotImplementedError

    def _working_seconds(self, a: int, b: int) -> int:
        raise NotImplementedError

    def _advance(self, a: int, remaining: int, limit: int) -> int | None:
        raise NotImplementedError

    def _is_open_at(self, ts: int) -> bool:
        raise NotImplementedError

    def _next_open_at(self, ts: int, limit: int) -> int | None:
        raise NotImplementedError


# -- Spec parsing ---------------------------------------------------------------------------------


def _parse_time(value: Any, where: str, *, is_end: bool) -> int:
    if not isinstance(value, str):
        raise ValueError(f"{where}: a time must be a string 'HH:MM', not {type(value).__name__}")
    match = _TIME_RE.fullmatch(value)
    if not match:
        raise ValueError(f"{where}: bad time format {value!r}, expected 'HH:MM' (00:00-23:59, or 24:00 as an end)")
    if match.group(3):
        if not is_end:
            raise ValueError(f"{where}: 24:00 can only end an interval")
        return 1440
    return int(match.group(1)) * 60 + int(match.group(2))


def _parse_intervals(value: Any, where: str) -> Intervals:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: must be a list of [start, end] pairs, not {type(value).__name__}")
    intervals = []
    for number, pair in enumerate(value):
        spot = f"{where}[{number}]"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{spot}: an interval must be a [start, end] pair")
        start = _parse_time(pair[0], spot, is_end=False)
        end = _parse_time(pair[1], spot, is_end=True)
        if end <= start:
            raise ValueError(f"{spot}: end {pair[1]} is not after start {pair[0]}")
        intervals.append((start, end))
    intervals.sort()
    for (_, previous_end), (next_start, _) in zip(intervals, intervals[1:], strict=False):
        if next_start < previous_end:
            overlap = f"{_format_minute(next_start)} starts before {_format_minute(previous_end)} ends"
            raise ValueError(f"{where}: overlapping intervals ({overlap})")
    return tuple(intervals)


def _parse_date(value: Any, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{where}: a date must be a string 'YYYY-MM-DD', not {type(value).__name__}")
    if not _DATE_RE.fullmatch(value):
        raise ValueError(f"{where}: bad date string {value!r}, expected 'YYYY-MM-DD'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: bad date string {value!r}, not a calendar date") from None


def _format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _resolve_zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone: must be a non-empty IANA zone name string, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name that is a directory, say
        raise ValueError(f"timezone: unknown time zone {name!r}") from None


# -- Calendar -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar(_BusinessTime):
    """A business calendar: time zone, weekly hours, holidays and exceptions. Build it with from_spec.

    Fields hold the normalised spec (minutes of the local day, dates); equal calendars compare
    equal and hash alike. The private caches are excluded from equality and hashing.
    """

    timezone: str
    week: tuple[Intervals, ...]  # seven entries, Monday first
    holidays: frozenset[date] = frozenset()
    exceptions: tuple[tuple[date, Intervals], ...] = ()  # sorted by date
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _exception_hours: dict[date, Intervals] = field(init=False, repr=False, compare=False)
    _open_somewhere: bool = field(init=False, repr=False, compare=False)
    _slots: dict[int, _Slot] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "_zone", _resolve_zone(self.timezone))
        object.__setattr__(self, "_open_somewhere", any(self.week) or any(hours for _, hours in self.exceptions))
        object.__setattr__(self, "_exception_hours", dict(self.exceptions))

    def __reduce__(self):
        # Rebuild from the spec: caches and the zone object are derived state.
        return (Calendar.from_spec, (self.to_spec(),))

    @classmethod
    def from_spec(cls, spec: dict) -> Calendar:
        """Validate and build a calendar from its spec dict; ValueError names the bad field."""
        if not isinstance(spec, dict):
            raise ValueError(f"spec: must be a dict, not {type(spec).__name__}")
        unknown = set(spec) - {"timezone", "week", "holidays", "exceptions"}
        if unknown:
            raise ValueError(f"spec: unknown field(s) {sorted(map(str, unknown))}")
        if "timezone" not in spec:
            raise ValueError("timezone: missing")
        _resolve_zone(spec["timezone"])
        if "week" not in spec:
            raise ValueError("week: missing (use {} for a calendar open only on exception dates)")
        week_spec = spec["week"]
        if not isinstance(week_spec, dict):
            raise ValueError(f"week: must be a dict of weekday -> intervals, not {type(week_spec).__name__}")
        for key in week_spec:
            if key not in DAY_KEYS:
                raise ValueError(f"week.{key}: unknown weekday key, expected one of {', '.join(DAY_KEYS)}")
        week = tuple(_parse_intervals(week_spec.get(key, ()), f"week.{key}") for key in DAY_KEYS)

        holiday_spec = spec.get("holidays", ())
        if not isinstance(holiday_spec, list | tuple | set | frozenset):
            raise ValueError(f"holidays: must be a list of 'YYYY-MM-DD' strings, not {type(holiday_spec).__name__}")
        holidays = frozenset(_parse_date(value, f"holidays[{n}]") for n, value in enumerate(holiday_spec))

        exception_spec = spec.get("exceptions", {})
        if not isinstance(exception_spec, dict):
            raise ValueError(f"exceptions: must be a dict of date -> intervals, not {type(exception_spec).__name__}")
        exceptions = {}
        for key, hours in exception_spec.items():
            day = _parse_date(key, f"exceptions[{key!r}]")
            if day in exceptions:
                raise ValueError(f"exceptions[{key!r}]: date listed twice")
            exceptions[day] = _parse_intervals(hours, f"exceptions[{key!r}]")
        return cls(
            timezone=spec["timezone"], week=week, holidays=holidays, exceptions=tuple(sorted(exceptions.items()))
        )

    def to_spec(self) -> dict:
        """The normalised spec: open days only, sorted intervals, sorted ISO dates; from_spec(to_spec()) == self."""

        def hours(intervals: Intervals) -> list[list[str]]:
            return [[_format_minute(start), _format_minute(end)] for start, end in intervals]

        return {
            "timezone": self.timezone,
            "week": {key: hours(intervals) for key, intervals in zip(DAY_KEYS, self.week, strict=True) if intervals},
            "holidays": [day.isoformat() for day in sorted(self.holidays)],
            "exceptions": {day.isoformat(): hours(intervals) for day, intervals in self.exceptions},
        }

    # -- primitives over epoch seconds

    def _has_working_time(self) -> bool:
        return self._open_somewhere

    def _working_seconds(self, a: int, b: int) -> int:
        first = (a - _SLOT_ORIGIN) // _WEEK
        last = (b - _SLOT_ORIGIN) // _WEEK
        slot = self._slot(first)
        if first == last:
            return slot.worked_before(b) - slot.worked_before(a)
        total = slot.total - slot.worked_before(a)
        for index in range(first + 1, last):
            total += self._slot(index).total
        return total + self._slot(last).worked_before(b)

    def _advance(self, a: int, remaining: int, limit: int) -> int | None:
        index = (a - _SLOT_ORIGIN) // _WEEK
        slot = self._slot(index)
        target = slot.worked_before(a) + remaining
        while target > slot.total:
            # The whole rest of this week is not enough: take all of it and move on a week.
            target -= slot.total
            index += 1
            if _SLOT_ORIGIN + index * _WEEK > limit:
                return None
            slot = self._slot(index)
        found = slot.instant_at(target)
        return found if found <= limit else None

    def _is_open_at(self, ts: int) -> bool:
        slot = self._slot((ts - _SLOT_ORIGIN) // _WEEK)
        index = bisect_right(slot.starts, ts) - 1
        return index >= 0 and ts < slot.ends[index]

    def _next_open_at(self, ts: int, limit: int) -> int | None:
        index = (ts - _SLOT_ORIGIN) // _WEEK
        slot = self._slot(index)
        position = bisect_right(slot.starts, ts) - 1
        if position >= 0 and ts < slot.ends[position]:
            return ts
        position += 1
        while position >= len(slot.starts):
            index += 1
            if _SLOT_ORIGIN + index * _WEEK > limit:
                return None
            slot = self._slot(index)
            position = 0
        found = slot.starts[position]
        return found if found <= limit else None

    # -- building the UTC working intervals

    def _slot(self, index: int) -> _Slot:
        slot = self._slots.get(index)
        if slot is None:
            slot = _Slot(self._slot_intervals(index))
            if len(self._slots) >= _SLOT_CACHE_SIZE:
                self._slots.pop(next(iter(self._slots)), None)  # evict the oldest entry: bounded memory
            self._slots[index] = slot
        return slot

    def _slot_intervals(self, index: int) -> list[tuple[int, int]]:
        """The union of W clipped to UTC week `index`, as sorted disjoint (start, end) epoch seconds."""
        slot_start = _SLOT_ORIGIN + index * _WEEK
        slot_end = slot_start + _WEEK
        first_ordinal = _SLOT_ORIGIN_ORDINAL + 7 * index
        pieces = []
        # UTC offsets are under 24 h, so a local date's intervals lie strictly within (midnight - 24 h,
        # midnight + 48 h), midnight read as UTC: only the dates from the day before the slot to the
        # day after it can reach into it.
        for ordinal in range(max(first_ordinal - 1, _MIN_ORDINAL), min(first_ordinal + 8, _MAX_ORDINAL)):
            for start, end in self._date_intervals(ordinal):
                if start < slot_end and end > slot_start:
                    pieces.append((max(start, slot_start), min(end, slot_end)))
        pieces.sort()
        merged: list[tuple[int, int]] = []
        for start, end in pieces:
            # Touching or overlapping intervals (24:00 then 00:00; DST-gap boundaries) are one stretch.
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def _date_intervals(self, ordinal: int) -> list[tuple[int, int]]:
        """One local date's working intervals in UTC epoch seconds (exception > holiday > weekday)."""
        day = date.fromordinal(ordinal)
        hours = self._exception_hours.get(day)
        if hours is None:
            if day in self.holidays:
                return []
            hours = self.week[day.weekday()]
        midnight = (ordinal - _EPOCH_ORDINAL) * _DAY  # local midnight read as if it were UTC
        converted = []
        for start, end in hours:
            utc_start = midnight + start * 60 - self._offset_at(day, start)
            utc_end = midnight + end * 60 - self._offset_at(day, end)
            if utc_end > utc_start:  # a DST gap can invert an interval; it then holds no time
                converted.append((utc_start, utc_end))
        return converted

    def _offset_at(self, day: date, minute: int) -> int:
        """The zone's UTC offset in seconds at local wall time `minute` of `day` (1440 = next midnight)."""
        if minute == 1440:
            day = day + timedelta(days=1)
            minute = 0
        # A naive datetime has fold=0: nonexistent times take the pre-transition offset, ambiguous ones the first.
        wall = datetime(day.year, day.month, day.day, minute // 60, minute % 60)  # noqa: DTZ001
        offset = self._zone.utcoffset(wall)
        return offset.days * _DAY + offset.seconds


# -- VersionedCalendar ----------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class VersionedCalendar(_BusinessTime):
    """Calendar versions by effective_from; each span is measured with the version in force during it.

    The first version (earliest effective_from) applies from the beginning of time; a version takes
    over at its effective_from instant (to the second), so the boundary instant belongs to it.
    """

    versions: tuple[tuple[datetime, Calendar], ...]
    _boundaries: tuple[int, ...] = field(repr=False, compare=False)
    _calendars: tuple[Calendar, ...] = field(repr=False, compare=False)

    def __init__(self, versions: Iterable[tuple[datetime, Calendar]]):
        checked = []
        for number, version in enumerate(versions):
            try:
                effective_from, calendar = version
            except (TypeError, ValueError):
                raise ValueError(f"versions[{number}] must be an (effective_from, Calendar) pair") from None
            ts = _instant(effective_from, f"versions[{number}] effective_from")
            if not isinstance(calendar, Calendar):
                raise ValueError(f"versions[{number}] calendar must be a Calendar, not {type(calendar).__name__}")
            checked.append((ts, effective_from, calendar))
        if not checked:
            raise ValueError("versions: at least one calendar version is needed")
        checked.sort(key=lambda item: item[0])
        for (earlier, _, _), (later, when, _) in zip(checked, checked[1:], strict=False):
            if earlier == later:
                raise ValueError(f"versions: two versions take effect at {when.isoformat()}")
        object.__setattr__(self, "versions", tuple((when, calendar) for _, when, calendar in checked))
        object.__setattr__(self, "_boundaries", tuple(ts for ts, _, _ in checked[1:]))
        object.__setattr__(self, "_calendars", tuple(calendar for _, _, calendar in checked))

    def calendar_at(self, t: datetime) -> Calendar:
        """The calendar version in force at instant t."""
        return self._calendars[bisect_right(self._boundaries, _instant(t, "t"))]

    def _segment_end(self, index: int) -> int | None:
        return self._boundaries[index] if index < len(self._boundaries) else None

    def _has_working_time(self) -> bool:
        return any(calendar._has_working_time() for calendar in self._calendars)

    def _working_seconds(self, a: int, b: int) -> int:
        index = bisect_right(self._boundaries, a)
        total = 0
        while True:
            segment_end = self._segment_end(index)
            if segment_end is None or b <= segment_end:
                return total + self._calendars[index]._working_seconds(a, b)
            total += self._calendars[index]._working_seconds(a, segment_end)
            a = segment_end
            index += 1

    def _advance(self, a: int, remaining: int, limit: int) -> int | None:
        index = bisect_right(self._boundaries, a)
        while True:
            calendar = self._calendars[index]
            segment_end = self._segment_end(index)
            if segment_end is None or segment_end >= limit:
                return calendar._advance(a, remaining, limit) if calendar._has_working_time() else None
            found = calendar._advance(a, remaining, segment_end) if calendar._has_working_time() else None
            if found is not None:
                return found
            remaining -= calendar._working_seconds(a, segment_end)
            a = segment_end
            index += 1

    def _is_open_at(self, ts: int) -> bool:
        return self._calendars[bisect_right(self._boundaries, ts)]._is_open_at(ts)

    def _next_open_at(self, ts: int, limit: int) -> int | None:
        index = bisect_right(self._boundaries, ts)
        while True:
            calendar = self._calendars[index]
            segment_end = self._segment_end(index)
            # The next version takes over at segment_end, so this one may only answer before it.
            last = limit if segment_end is None else min(limit, segment_end - 1)
            found = calendar._next_open_at(ts, last) if calendar._has_working_time() else None
            if found is not None:
                return found
            if segment_end is None or segment_end > limit:
                return None
            ts = segment_end
            index += 1
