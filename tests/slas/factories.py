"""Factories for calendars, policies, goals and clocks, and the reference calendar's spec."""

from datetime import UTC, datetime

import factory
from django.utils import timezone

from slas.models import BusinessCalendar, BusinessCalendarVersion, Metric, SlaClock, SlaGoal, SlaPolicy
from slas.services import CLOCK_DIMENSIONS
from tests.factories import file_request

# The rules' reference calendar (SLA-SEMANTICS, worked examples): Mon–Fri 09:00–17:00 in Berlin.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def office_spec(*, hours=(("09:00", "17:00"),), holidays=(), exceptions=None, zone="Europe/Berlin"):
    return {
        "timezone": zone,
        "week": {day: [list(interval) for interval in hours] for day in WEEKDAYS},
        "holidays": list(holidays),
        "exceptions": exceptions or {},
    }


class BusinessCalendarFactory(factory.django.DjangoModelFactory):
    """A calendar with one version (the reference spec, in force since long ago) unless `spec=None`."""

    class Meta:
        model = BusinessCalendar
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Calendar {n}")

    @factory.post_generation
    def spec(calendar, create, extracted, **kwargs):
        if create and extracted is not False:
            BusinessCalendarVersion.objects.create(
                calendar=calendar, effective_from=LONG_AGO, spec=extracted or office_spec(), note="Factory."
            )


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")
    description = "We answer within a day."
    position = factory.Sequence(lambda n: n)


class SlaGoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaGoal

    policy = factory.SubFactory(SlaPolicyFactory)
    position = factory.Sequence(lambda n: n)
    first_response_minutes = 240
    resolution_minutes = 2400
    calendar = factory.SubFactory(BusinessCalendarFactory)


def request_without_clocks(requester, **overrides):
    """A submitted request with no SLA clocks (whatever submission started is removed), for schema tests."""
    procurement_request = file_request(requester, **overrides)
    SlaClock.objects.filter(procurement_request=procurement_request).delete()
    return procurement_request


def clock(procurement_request, *, calendar, metric=Metric.RESOLUTION, cycle=1, is_current=True, **fields):
    """A clock row written directly (the services are tested elsewhere)."""
    started_at = fields.pop("started_at", timezone.now())
    return SlaClock.objects.create(
        procurement_request=procurement_request,
        metric=metric,
        cycle=cycle,
        is_current=is_current,
        goal_seconds=fields.pop("goal_seconds", 8 * 3600),
        calendar=calendar,
        started_at=started_at,
        computed_at=fields.pop("computed_at", started_at),
        # The request's dimensions as stored, as the services copy them onto every clock (SlaClock.department …).
        **type(procurement_request).objects.filter(pk=procurement_request.pk).values(*CLOCK_DIMENSIONS).get(),
        **fields,
    )
