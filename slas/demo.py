"""The SLA set-up every installation starts with: Procurement's office hours and the standard promises.

`sla_defaults_ensure()` is called by the data migration `slas/0002_sla_defaults` and by the demo
seed; tests whose database is flushed (transactional tests) call it to get the same set-up back.
"""

from django.apps import apps as global_apps
from django.db import transaction
from django.utils import timezone

from requests_app.models import Priority

from .calendars import public_holiday_dates
from .clock import Calendar
from .policies import sla_policy_check

OFFICE_CALENDAR = "Procurement office hours"
STANDARD_POLICY = "Standard service"
CAPITAL_POLICY = "Capital equipment and contract renewals"

OFFICE_HOURS = [["08:00", "12:00"], ["13:00", "17:00"]]
SHORT_DAY = [["09:00", "12:00"]]  # 24 and 31 December


def office_calendar_spec(*, years) -> dict:
    """Mon–Fri 08:00–12:00 and 13:00–17:00 in Munich, Bavarian public holidays, short days at year end.

    Assumption Day (15 August) is a public holiday in most of Bavaria, Munich included; the
    `holidays` package files it under the "catholic" category, so it is asked for explicitly.
    """
    holidays = public_holiday_dates(country="DE", subdivision="BY", years=years, categories=("public", "catholic"))
    spec = {
        "timezone": "Europe/Berlin",
        "week": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), OFFICE_HOURS),
        "holidays": [day.isoformat() for day in holidays],
        "exceptions": {f"{year}-12-{day}": SHORT_DAY for year in years for day in (24, 31)},
    }
    return Calendar.from_spec(spec).to_spec()


STANDARD_DESCRIPTION = (
    "We answer urgent requests within one business hour and resolve them within one business day. "
    "High-priority requests get an answer within two business hours and are resolved within three business "
    "days; normal requests within four business hours and five business days; low-priority requests within "
    "one business day and ten business days. Business hours are Monday to Friday, 08:00–12:00 and "
    "13:00–17:00 (Munich time), except Bavarian public holidays; on 24 and 31 December we work 09:00–12:00. "
    "The clock stops while we wait for your answer or for your department head's approval."
)
CAPITAL_DESCRIPTION = (
    "Capital equipment and contract renewals need quotes, tenders or negotiation, so we take up to one "
    "business day to answer them. We complete capital equipment purchases within twenty business days and "
    "contract renewals within ten business days, counted in the same business hours as our standard service."
)

# (priority or None for the catch-all, first response minutes, resolution minutes); 480 min = 1 business day.
STANDARD_GOALS = [
    (Priority.URGENT, 60, 480),
    (Priority.HIGH, 120, 1440),
    (Priority.NORMAL, 240, 2400),
    (Priority.LOW, 480, 4800),
    (None, 240, 2400),
]
# (category name, first response minutes, resolution minutes)
CAPITAL_GOALS = [
    ("Capital equipment", 480, 9600),
    ("Contract renewal", 480, 4800),
]


@transaction.atomic
def sla_defaults_ensure(*, apps=None, now=None) -> dict:
    """Create the office calendar and the two default policies if missing (idempotent).

    Existing rows are left as they are, so edits made in the admin survive a second run. The capital
    policy is created only once both of its categories exist (requests_app's reference data).
    `apps` is the migration's app registry (historical models); by default the real models.
    Returns what was created, by name, for the caller to report.
    """
    apps = apps or global_apps
    BusinessCalendar = apps.get_model("slas", "BusinessCalendar")
    BusinessCalendarVersion = apps.get_model("slas", "BusinessCalendarVersion")
    SlaPolicy = apps.get_model("slas", "SlaPolicy")
    SlaGoal = apps.get_model("slas", "SlaGoal")
    Category = apps.get_model("requests_app", "Category")
    now = now or timezone.now()
    created = {"calendars": [], "policies": []}

    calendar, made = BusinessCalendar.objects.get_or_create(
        name=OFFICE_CALENDAR,
        defaults={"description": "Procurement's office in Munich: weekdays, Bavarian public holidays."},
    )
    if not BusinessCalendarVersion.objects.filter(calendar=calendar).exists():
        year = timezone.localdate(now).year
        BusinessCalendarVersion.objects.create(
            calendar=calendar,
            # The first version applies from the beginning of time (slas.clock.VersionedCalendar).
            effective_from=now,
            spec=office_calendar_spec(years=[year, year + 1]),
            note=f"Default office hours with the public holidays of {year} and {year + 1} (DE-BY).",
        )
    if made:
        created["calendars"].append(calendar.name)

    if not SlaPolicy.objects.filter(name=STANDARD_POLICY).exists():
        policy = SlaPolicy.objects.create(
            name=STANDARD_POLICY,
            description=STANDARD_DESCRIPTION,
            position=100,
            # An administrator may have made another policy the default: keep theirs.
            is_default=not SlaPolicy.objects.filter(is_default=True).exists(),
        )
        goals = [
            SlaGoal(
                policy=policy,
                position=position,
                priority=priority,
                first_response_minutes=first_response,
                resolution_minutes=resolution,
                calendar=calendar,
            )
            for position, (priority, first_response, resolution) in enumerate(STANDARD_GOALS, start=1)
        ]
        sla_policy_check(policy=policy, goals=goals)
        SlaGoal.objects.bulk_create(goals)
        created["policies"].append(policy.name)

    categories = {
        category.name: category for category in Category.objects.filter(name__in=[name for name, _, _ in CAPITAL_GOALS])
    }
    if len(categories) == len(CAPITAL_GOALS) and not SlaPolicy.objects.filter(name=CAPITAL_POLICY).exists():
        policy = SlaPolicy.objects.create(name=CAPITAL_POLICY, description=CAPITAL_DESCRIPTION, position=10)
        goals = [
            SlaGoal(
                policy=policy,
                position=position,
                category=categories[name],
                first_response_minutes=first_response,
                resolution_minutes=resolution,
                calendar=calendar,
            )
            for position, (name, first_response, resolution) in enumerate(CAPITAL_GOALS, start=1)
        ]
        sla_policy_check(policy=policy, goals=goals)
        SlaGoal.objects.bulk_create(goals)
        created["policies"].append(policy.name)
    return created
