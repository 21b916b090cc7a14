"""Writes for business calendars: create one, add a version, import public holidays.

A calendar changes only by adding a version in force from a moment on. Clocks that already counted
time under an earlier version keep it (SLA-SEMANTICS, "Calendar changes"), so a version may start in
the past only when the caller says so explicitly (`allow_retroactive=True`); the admin never does.
"""

from datetime import date

import holidays
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .clock import Calendar
from .models import BusinessCalendar, BusinessCalendarVersion, validate_calendar_spec

# The `holidays` package's category for statutory public holidays; others (e.g. "catholic" for
# Assumption Day in Bavaria's mostly Catholic municipalities) are opt-in.
PUBLIC = holidays.PUBLIC
EARLIEST_YEAR, LATEST_YEAR = 1950, 2100


def calendar_spec_normalise(spec) -> dict:
    """The spec in `slas.clock`'s canonical form; ValidationError on `spec` naming the bad field."""
    try:
        validate_calendar_spec(spec)
    except ValidationError as error:
        raise ValidationError({"spec": error.messages}) from error
    return Calendar.from_spec(spec).to_spec()


def _effective_from(effective_from, *, now):
    if effective_from is None:
        return now
    if timezone.is_naive(effective_from):
        raise ValidationError({"effective_from": "Give the moment with its time zone (an aware datetime)."})
    return effective_from


def _version_create(*, calendar, spec, effective_from, note, actor):
    if calendar.versions.filter(effective_from=effective_from).exists():
        raise ValidationError(
            {"effective_from": "This calendar already has a version starting at that moment; choose another."}
        )
    return BusinessCalendarVersion.objects.create(
        calendar=calendar, effective_from=effective_from, spec=spec, note=note, created_by=actor
    )


@transaction.atomic
def business_calendar_create(
    *, name, spec, description="", is_active=True, effective_from=None, note="", actor=None
) -> BusinessCalendar:
    """Create a calendar with its first version (any start: no clock has counted in it yet)."""
    spec = calendar_spec_normalise(spec)
    effective_from = _effective_from(effective_from, now=timezone.now())
    if BusinessCalendar.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A calendar named “{name}” already exists."})
    calendar = BusinessCalendar.objects.create(name=name, description=description, is_active=is_active)
    _version_create(
        calendar=calendar, spec=spec, effective_from=effective_from, note=note or "First version.", actor=actor
    )
    return calendar


@transaction.atomic
def business_calendar_version_add(
    *, calendar, spec, effective_from=None, note="", actor=None, allow_retroactive=False
) -> BusinessCalendarVersion:
    """Add a version in force from `effective_from` (default: now), never earlier than now unless
    `allow_retroactive`: time already counted is not rewritten by saving a calendar."""
    now = timezone.now()
    spec = calendar_spec_normalise(spec)
    effective_from = _effective_from(effective_from, now=now)
    # Serialises concurrent additions to one calendar, so the uniqueness check below holds.
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    if effective_from < now and not allow_retroactive and calendar.versions.exists():
        raise ValidationError(
            {
                "effective_from": (
                    f"{timezone.localtime(effective_from):%Y-%m-%d %H:%M} is in the past: a new version starts now or "
                    "later, so that time already counted is not rewritten."
                )
            }
        )
    return _version_create(calendar=calendar, spec=spec, effective_from=effective_from, note=note, actor=actor)


def public_holiday_dates(*, country, subdivision=None, years, categories=(PUBLIC,)) -> list[date]:
    """The public holidays of a country (and subdivision) in `years`, sorted, from the `holidays` package.

    ValidationError naming the field (`country`, `subdivision`, `years`, `categories`) for bad input.
    """
    code = (country or "").strip().upper()
    supported = holidays.list_supported_countries()
    if code not in supported:
        raise ValidationError(
            {"country": f"“{country}” is not a country the holidays package knows; give an ISO code such as DE."}
        )
    subdivision = (subdivision or "").strip() or None
    if subdivision is not None and subdivision.upper() in supported[code]:
        subdivision = subdivision.upper()
    years = sorted(set(years))
    if not years or any(
        isinstance(year, bool) or not isinstance(year, int) or not EARLIEST_YEAR <= year <= LATEST_YEAR
        for year in years
    ):
        raise ValidationError({"years": f"Give one or more years from {EARLIEST_YEAR} to {LATEST_YEAR}."})
    categories = tuple(categories) or (PUBLIC,)
    known_categories = holidays.country_holidays(code).supported_categories
    unknown = [category for category in categories if category not in known_categories]
    if unknown:
        raise ValidationError(
            {
                "categories": f"{code} has no holiday category {', '.join(unknown)}; "
                f"it has {', '.join(sorted(known_categories))}."
            }
        )
    try:
        calendar = holidays.country_holidays(code, subdiv=subdivision, years=years, categories=categories)
    except NotImplementedError as error:
        raise ValidationError(
            {
                "subdivision": f"{code} has no subdivision “{subdivision}”; "
                f"known: {', '.join(supported[code]) or 'none'}."
            }
        ) from error
    return sorted(calendar.keys())


@transaction.atomic
def business_calendar_holidays_import(
    *, calendar, country, subdivision=None, years, actor, effective_from=None, categories=(PUBLIC,)
) -> tuple[BusinessCalendarVersion, int]:
    """Add a version whose spec is the one in force then plus these public holidays; return it and how
    many dates it added. Nothing new to add: no version is written, and the one in force is returned."""
    dates = public_holiday_dates(country=country, subdivision=subdivision, years=years, categories=categories)
    starts = _effective_from(effective_from, now=timezone.now())
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    versions = list(calendar.versions.order_by("effective_from"))
    if not versions:
        raise ValidationError("This calendar has no version yet to add holidays to.")
    later = [version for version in versions if version.effective_from > starts]
    if later:
        # The later version would take over without these holidays: the import would look done, yet fade.
        raise ValidationError(
            {
                "effective_from": (
                    f"A version starting {timezone.localtime(later[0].effective_from):%Y-%m-%d %H:%M} is already "
                    "scheduled; import into a version starting after it."
                )
            }
        )
    base = versions[-1]
    existing = set(base.spec.get("holidays", []))
    imported = {day.isoformat() for day in dates}
    added = imported - existing
    if not added:
        return base, 0
    spec = {**base.spec, "holidays": sorted(existing | imported)}
    place = f"{country.strip().upper()}-{subdivision.strip()}" if subdivision else country.strip().upper()
    note = f"Public holidays {place} {', '.join(str(year) for year in sorted(set(years)))}: {len(added)} added."
    version = business_calendar_version_add(
        calendar=calendar, spec=spec, effective_from=effective_from, note=note[:255], actor=actor
    )
    return version, len(added)


@transaction.atomic
def business_calendar_import(
    *, name, spec, description=None, effective_from=None, note="", actor=None, allow_retroactive=False
) -> tuple[BusinessCalendar, BusinessCalendarVersion, bool]:
    """Create the calendar named `name` with this spec, or add the spec to it as a new version.

    Returns (calendar, version, created). `description`, when given, replaces the calendar's.
    """
    calendar = BusinessCalendar.objects.filter(name=name).first()
    if calendar is None:
        calendar = business_calendar_create(
            name=name, spec=spec, description=description or "", effective_from=effective_from, note=note, actor=actor
        )
        return calendar, calendar.versions.get(), True
    version = business_calendar_version_add(
        calendar=calendar,
        spec=spec,
        effective_from=effective_from,
        note=note,
        actor=actor,
        allow_retroactive=allow_retroactive,
    )
    if description is not None and description != calendar.description:
        calendar.description = description
        calendar.save(update_fields=["description"])
    return calendar, version, False
