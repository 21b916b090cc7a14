"""The bench data generator writes what the services would have written, so benchmarks measure a
realistic database: clocks in every state, summaries that agree with the clocks, and a desk that
keeps working normally afterwards (references and ids continue past the seeded rows)."""

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from bench.seed import seed_bench
from requests_app.models import OPEN_STATUSES, ProcurementRequest
from slas.models import SlaClock
from slas.services import CLOCK_DIMENSIONS, sla_clocks_sweep, sla_summary_update
from tests.factories import file_request

pytestmark = pytest.mark.django_db
SUMMARY = ("sla_due_at", "sla_threshold", "sla_breached")


@pytest.fixture
def seeded():
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        counts = seed_bench(requests=600, departments=4, buyers=6, seed=7, now=now, log=lambda line: None)
    return counts, now


def test_about_a_tenth_of_the_seeded_requests_are_open_spread_over_every_department(seeded):
    counts, _ = seeded
    open_requests = ProcurementRequest.objects.filter(status__in=OPEN_STATUSES)
    assert counts["requests"] == ProcurementRequest.objects.count() == 600
    assert counts["open"] == open_requests.count()
    assert 0.05 < counts["open"] / 600 < 0.16
    assert ProcurementRequest.objects.values("department").distinct().count() == 4


def test_clocks_come_in_every_state(seeded):
    clocks = SlaClock.objects.all()
    assert clocks.filter(stopped_at__isnull=True, paused_since__isnull=True, breached=False).exists()  # running
    assert clocks.filter(stopped_at__isnull=True, paused_since__isnull=False).exists()  # paused
    assert clocks.filter(stopped_at__isnull=True, breached=True).exists()  # breached
    assert clocks.filter(met=True).exists() and clocks.filter(met=False).exists()  # met and missed
    assert clocks.filter(stopped_at__isnull=False, met__isnull=True).exists()  # cancelled


def test_every_seeded_clock_carries_its_requests_dimensions_as_the_services_write_them(seeded):
    requests = {row["pk"]: row for row in ProcurementRequest.objects.values("pk", *CLOCK_DIMENSIONS)}
    for clock in SlaClock.objects.values("procurement_request_id", *CLOCK_DIMENSIONS):
        expected = requests[clock.pop("procurement_request_id")]
        assert clock == {name: expected[name] for name in CLOCK_DIMENSIONS}


def test_each_request_summary_is_what_the_services_compute_from_its_clocks(seeded):
    for procurement_request in ProcurementRequest.objects.filter(status__in=OPEN_STATUSES):
        stored = [getattr(procurement_request, field) for field in SUMMARY]
        for field, blank in zip(SUMMARY, (None, 0, False), strict=True):
            setattr(procurement_request, field, blank)  # so that the service writes, and says, what it finds
        computed = sla_summary_update(procurement_request=procurement_request)
        assert stored == [computed[field] for field in SUMMARY], procurement_request.reference


def test_the_seeded_clocks_are_current_so_the_sweep_has_nothing_to_do_at_that_moment(seeded):
    _, now = seeded
    with time_machine.travel(now, tick=False):
        assert sla_clocks_sweep() == []


def test_the_desk_keeps_working_on_a_seeded_database(requester, seeded):
    # when someone files a request after seeding, it gets the next free reference and id
    latest = ProcurementRequest.objects.order_by("-pk").first()
    procurement_request = file_request(requester)
    assert procurement_request.pk > latest.pk
    year = timezone.localtime(procurement_request.created_at).year
    seeded_numbers = [
        int(reference.rsplit("-", 1)[1])
        for reference in ProcurementRequest.objects.filter(reference__startswith=f"PR-{year}-")
        .exclude(pk=procurement_request.pk)
        .values_list("reference", flat=True)
    ]
    assert int(procurement_request.reference.rsplit("-", 1)[1]) == max(seeded_numbers, default=0) + 1


def test_the_command_reports_what_it_wrote(capsys):
    call_command("seed_bench", "--requests", "50", "--departments", "2", "--buyers", "3")
    assert "50 requests" in capsys.readouterr().out
