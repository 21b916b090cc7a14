"""Benchmark: how fast the SLA clock maths (slas/clock.py) answers, per call.

    .venv/bin/python -m bench.clock                 # default: 2000 timed calls per start instant
    .venv/bin/python -m bench.clock --repeat 200    # quicker

The calendar is Mon-Fri 09:00-17:00 Europe/Berlin with the Bavarian public holidays 2025-2035 (from
the `holidays` package). Each case is timed from several start instants (a Monday morning, a Friday
afternoon, the Friday before the spring-forward weekend, the Thursday before Easter, the week of the
fall-back change, a Saturday) and prints the median and minimum microseconds per call, warm (the
calendar's per-week cache already filled, as in a running process) and cold (the first call on a
fresh calendar). Figures, not assertions: correctness is in tests/slas/, speed is here.
"""

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import holidays  # noqa: E402

from slas.clock import Calendar, VersionedCalendar  # noqa: E402

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600
STARTS = [
    datetime(2025, 3, 10, 9, 0, tzinfo=BERLIN),  # Monday morning
    datetime(2025, 3, 7, 15, 30, tzinfo=BERLIN),  # Friday afternoon
    datetime(2025, 3, 28, 16, 0, tzinfo=BERLIN),  # Friday before the spring-forward Sunday
    datetime(2025, 4, 17, 15, 0, tzinfo=BERLIN),  # Thursday before Easter (two holidays)
    datetime(2025, 10, 22, 11, 15, tzinfo=BERLIN),  # the week of the fall-back change
    datetime(2025, 11, 29, 10, 0, tzinfo=BERLIN),  # Saturday
]


def bavarian_spec():
    bavaria = holidays.country_holidays("DE", subdiv="BY", years=range(2025, 2036))
    return {
        "timezone": "Europe/Berlin",
        "week": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": sorted(day.isoformat() for day in bavaria),
    }


def versioned(spec):
    """Three versions: 09-17 until April 2025, 08-16 until July, then 08-12 and 13-17."""
    later = {**spec, "week": {day: [["08:00", "16:00"]] for day in spec["week"]}}
    split = {**spec, "week": {day: [["08:00", "12:00"], ["13:00", "17:00"]] for day in spec["week"]}}
    return VersionedCalendar(
        [
            (datetime(2020, 1, 1, tzinfo=BERLIN), Calendar.from_spec(spec)),
            (datetime(2025, 4, 1, tzinfo=BERLIN), Calendar.from_spec(later)),
            (datetime(2025, 7, 1, tzinfo=BERLIN), Calendar.from_spec(split)),
        ]
    )


def cases():
    """(label, make calendar, call) triples; call(calendar, start) is what gets timed."""
    spec = bavarian_spec()

    def calendar():
        return Calendar.from_spec(spec)

    def versions():
        return versioned(spec)

    return [
        ("due_at, goal 1 h", calendar, lambda c, s: c.due_at(s, HOUR)),
        ("due_at, goal 8 h (1 business day)", calendar, lambda c, s: c.due_at(s, 8 * HOUR)),
        ("due_at, goal 160 h (20 business days)", calendar, lambda c, s: c.due_at(s, 160 * HOUR)),
        (
            "due_at, goal 8 h, one pause",
            calendar,
            lambda c, s: c.due_at(s, 8 * HOUR, [(s + timedelta(hours=1), s + timedelta(hours=20))]),
        ),
        ("threshold_at 75 %, goal 40 h", calendar, lambda c, s: c.threshold_at(s, 40 * HOUR, 75)),
        ("business_seconds, 1 day", calendar, lambda c, s: c.business_seconds(s, s + timedelta(days=1))),
        ("business_seconds, 20 days", calendar, lambda c, s: c.business_seconds(s, s + timedelta(days=20))),
        ("business_seconds, 1 year", calendar, lambda c, s: c.business_seconds(s, s + timedelta(days=365))),
        (
            "breakdown, 20 days, one pause",
            calendar,
            lambda c, s: c.breakdown(s, s + timedelta(days=20), [(s, s + timedelta(days=2))]),
        ),
        ("is_open", calendar, lambda c, s: c.is_open(s)),
        ("next_opening", calendar, lambda c, s: c.next_opening(s)),
        ("3 versions: due_at, 160 h", versions, lambda c, s: c.due_at(s, 160 * HOUR)),
        ("3 versions: business_seconds, 1 year", versions, lambda c, s: c.business_seconds(s, s + timedelta(days=365))),
    ]


def time_warm(make, call, repeat):
    """Microseconds per call on one calendar whose cache is warm."""
    calendar = make()
    for start in STARTS:
        call(calendar, start)  # fill the cache, as a long-running process would have
    timings = []
    for _ in range(repeat):
        for start in STARTS:
            began = time.perf_counter_ns()
            call(calendar, start)
            timings.append((time.perf_counter_ns() - began) / 1000)
    return timings


def time_cold(make, call, count):
    """Microseconds for the first call on fresh calendars (built before timing starts)."""
    timings = []
    for start in STARTS:
        fresh = [make() for _ in range(count)]
        for calendar in fresh:
            began = time.perf_counter_ns()
            call(calendar, start)
            timings.append((time.perf_counter_ns() - began) / 1000)
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2000, help="timed warm calls per start instant")
    parser.add_argument("--cold", type=int, default=50, help="fresh calendars per start instant for the cold figures")
    args = parser.parse_args()

    spec = bavarian_spec()
    print(
        f"Python {sys.version.split()[0]}; calendar Mon-Fri 09:00-17:00 Europe/Berlin, {len(spec['holidays'])} holidays"
    )
    print(f"{len(STARTS)} start instants; warm: {args.repeat} calls each; cold: {args.cold} fresh calendars each")
    print(f"{'case':40} {'warm median µs':>15} {'warm min µs':>12} {'cold median µs':>15}")
    for label, make, call in cases():
        warm = time_warm(make, call, args.repeat)
        cold = time_cold(make, call, args.cold)
        print(f"{label:40} {statistics.median(warm):15.1f} {min(warm):12.1f} {statistics.median(cold):15.1f}")


if __name__ == "__main__":
    main()
