"""Explainable breaches: where a missed clock's time went — per status, paused, outside working hours,
waiting for a buyer and after reassignments — on the reference calendar (Mon–Fri 09:00–17:00 Berlin)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse

from requests_app.models import Status
from slas.clock import Calendar
from slas.models import Metric
from slas.selectors import breach_explanation
from tests.slas.factories import BusinessCalendarFactory, clock, office_spec, request_without_clocks

HOUR = 3600


def berlin(day, hour):
    """10 to 12 March 2025 are in CET (UTC+1)."""
    return datetime(2025, 3, day, hour - 1, tzinfo=UTC)


def test_the_time_of_a_missed_clock_is_split_by_status_pause_closed_hours_and_handovers():
    calendar = Calendar.from_spec(office_spec())
    start, end = berlin(10, 9), berlin(12, 12)  # Monday 09:00 to Wednesday 12:00
    alice, bob, betty = 1, 2, 3
    history = [
        (start, Status.SUBMITTED, None, alice),
        (berlin(10, 11), Status.ASSIGNED, bob, 9),  # a manager assigns Bob
        (berlin(11, 10), "", betty, 9),  # … and hands it to Betty the next morning
        (berlin(11, 13), Status.IN_PROGRESS, None, betty),  # Betty starts at 13:00
        (berlin(11, 15), Status.WAITING_FOR_REQUESTER, None, betty),
        (berlin(12, 10), Status.IN_PROGRESS, None, alice),
    ]
    pauses = [(berlin(11, 15), berlin(12, 10))]
    result = breach_explanation(SimpleNamespace(started_at=start), calendar, pauses, end, history)
    seconds = {segment.label: segment.seconds for segment in result.segments}
    assert seconds == {
        "Submitted": 2 * HOUR,  # Mon 09–11
        "Assigned": 10 * HOUR,  # Mon 11–17, Tue 09–13
        "In progress": 4 * HOUR,  # Tue 13–15, Wed 10–12
        "Paused": 3 * HOUR,  # Tue 15–17, Wed 09–10 (waiting for the requester)
        "Outside working hours": 32 * HOUR,  # nights
    }
    assert result.total == (end - start).total_seconds() == 51 * HOUR
    assert (result.unassigned, result.reassignments, result.handovers) == (2 * HOUR, 1, 3 * HOUR)
    assert sum(width for _, width in result.widths()) == pytest.approx(100, abs=0.05)


@pytest.mark.django_db
def test_a_missed_clock_shows_its_explanation_on_the_request_page(client, manager, requester):
    calendar = BusinessCalendarFactory()
    missed = request_without_clocks(requester, title="Late chairs")
    stopped = datetime.now(UTC) - timedelta(days=1)
    clock(
        missed,
        calendar=calendar,
        metric=Metric.RESOLUTION,
        started_at=stopped - timedelta(days=5),
        stopped_at=stopped,
        elapsed_business=30 * HOUR,
        goal_seconds=8 * HOUR,
        met=False,
        breached=True,
        ever_breached=True,
    )
    on_time = request_without_clocks(requester, title="Quick pens")
    clock(
        on_time,
        calendar=calendar,
        metric=Metric.RESOLUTION,
        started_at=stopped - timedelta(hours=2),
        stopped_at=stopped,
        met=True,
    )
    client.force_login(manager)
    page = client.get(reverse("requests_app:detail", kwargs={"reference": missed.reference})).content.decode()
    assert 'data-breach="resolution"' in page and "Why it was missed" in page
    assert "Outside working hours" in page
    page = client.get(reverse("requests_app:detail", kwargs={"reference": on_time.reference})).content.decode()
    assert "Why it was missed" not in page
