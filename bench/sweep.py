"""Benchmark: the minute sweep's cost follows the clocks that are due, not the requests that are open.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/servicedesk_bench .venv/bin/python -m bench.sweep
    .venv/bin/python -m bench.sweep --requests 20000            # SQLite file under var/bench/

It builds its own database (migrations, then bulk-inserted requests with a first-response and a
resolution clock each, on a 24×7 calendar, all assigned to one buyer, under the default escalation
ladder), then makes a share of them due (their first response past 50 %) and times one tick of the
periodic task (`slas.sweep_clocks`: clocks, reminders, outbox) at that moment. Each tick does the whole
work of escalating: refreshed clocks and request summaries, one event per threshold, an in-app and an
e-mail notice to the assignee, the timeline line. Enqueueing goes to an in-memory broker (the e-mails
are not sent). Figures, not assertions.
"""

import argparse
import os
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST_RESPONSE_MINUTES = 100
ROUND_THE_CLOCK = {
    "timezone": "UTC",
    "week": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000, help="open requests (two running clocks each)")
    parser.add_argument("--due", default="0,0.01,0.10", help="shares of the requests due at a tick, comma-separated")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings.test")
    os.environ["CELERY_BROKER_URL"] = "memory://"  # count the sweep, not a broker (and pollute none)
    if "DATABASE_URL" not in os.environ:
        bench_db = ROOT / "var" / "bench" / "sweep.sqlite3"
        bench_db.parent.mkdir(parents=True, exist_ok=True)
        bench_db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{bench_db}"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from slas.tasks import sweep_clocks

    setup_test_environment()
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)  # a second run starts from nothing too
    started = time.perf_counter()
    requests, clocks = _seed(args.requests)
    print(
        f"database: {connection.vendor}; {args.requests:,} open requests, {len(clocks):,} running clocks "
        f"(seeded in {time.perf_counter() - started:.0f} s)"
    )
    print(f"{'due':>8} {'due clocks':>10} {'ms per tick':>12} {'ms per due clock':>17} {'queries':>8} {'notices':>8}")
    settings.DEBUG = True  # count queries
    for share in (float(value) for value in args.due.split(",")):
        now = timezone.now().replace(microsecond=0)
        due = _make_due(requests, share, now)
        reset_queries()
        tick = time.perf_counter()
        crossings = sweep_clocks.run()
        elapsed_ms = (time.perf_counter() - tick) * 1000
        queries = len(connection.queries)
        notices = _clear_escalations()
        assert crossings == due, (crossings, due)
        per_clock = f"{elapsed_ms / due:17.2f}" if due else f"{'-':>17}"
        print(f"{share:8.1%} {due:10,} {elapsed_ms:12.0f} {per_clock} {queries:8,} {notices:8,}")
        settings.DEBUG = True


def _seed(count):
    from django.utils import timezone

    from requests_app.models import Category, Currency, ProcurementRequest, Status
    from slas.models import BusinessCalendar, BusinessCalendarVersion, Metric, SlaClock, SlaGoal, SlaPolicy
    from slas.services import clock_refresh
    from stakeholders.roles import Role
    from stakeholders.services import department_upsert, person_upsert, roles_ensure

    roles_ensure()
    department = department_upsert(name="Sales", code="SALES")
    procurement = department_upsert(name="Procurement", code="PROC", is_procurement=True)
    alice = person_upsert(username="alice", department=department, roles=[Role.REQUESTER], email="alice@example.com")
    bob = person_upsert(username="bob", department=procurement, roles=[Role.BUYER], email="bob@example.com")
    calendar = BusinessCalendar.objects.create(name="Round the clock")
    BusinessCalendarVersion.objects.create(
        calendar=calendar, effective_from=timezone.now() - timedelta(days=3650), spec=ROUND_THE_CLOCK
    )
    category = Category.objects.create(name="Bench", approval_threshold=None)
    policy = SlaPolicy.objects.create(name="Bench", description="Bench.", position=0)
    goal = SlaGoal.objects.create(
        policy=policy,
        category=category,
        first_response_minutes=FIRST_RESPONSE_MINUTES,
        resolution_minutes=10_000,
        calendar=calendar,
    )
    euro, _ = Currency.objects.get_or_create(code="EUR", defaults={"name": "Euro", "rate_to_base": Decimal(1)})
    started = timezone.now().replace(microsecond=0) - timedelta(minutes=10)  # 10 % used: nothing due
    # Every clock starts alike: compute each metric's stored state once, then copy it.
    state = {}
    for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
        template = SlaClock(
            metric=metric,
            goal=goal,
            goal_seconds=goal.goal_seconds(metric),
            calendar=calendar,
            started_at=started,
            computed_at=started,
        )
        clock_refresh(template, now=started)
        state[metric] = {
            field: getattr(template, field)
            for field in ("goal_seconds", "elapsed_business", "due_at", "next_threshold", "next_threshold_at")
        }
    requests, clocks = [], []
    for chunk in range(0, count, 5000):
        batch = ProcurementRequest.objects.bulk_create(
            ProcurementRequest(
                reference=f"PR-B{uuid.uuid4().hex[:12].upper()}",
                title=f"Bench request {n}",
                description="Bench row.",
                category=category,
                department=department,
                requester=alice,
                estimated_value=Decimal(100),
                currency=euro,
                estimated_value_base=Decimal(100),
                status=Status.IN_PROGRESS,
                assignee=bob,
                created_at=started,
            )
            for n in range(chunk, min(chunk + 5000, count))
        )
        rows = [
            SlaClock(
                procurement_request=procurement_request,
                metric=metric,
                goal=goal,
                calendar=calendar,
                started_at=started,
                computed_at=started,
                **state[metric],
            )
            for procurement_request in batch
            for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION)
        ]
        clocks += SlaClock.objects.bulk_create(rows)
        requests += batch
    return requests, clocks


def _make_due(requests, share, now):
    """Put the first response of `share` of the requests past 50 % at `now` (stored state as of its start)."""
    from slas.models import Metric, SlaClock

    due_ids = [request.pk for request in requests[: int(len(requests) * share)]]
    started = now - timedelta(minutes=FIRST_RESPONSE_MINUTES * 55 // 100)
    for chunk in range(0, len(due_ids), 5000):
        SlaClock.objects.filter(
            procurement_request_id__in=due_ids[chunk : chunk + 5000], metric=Metric.FIRST_RESPONSE
        ).update(
            cycle=1,
            started_at=started,
            computed_at=started,
            elapsed_business=0,
            last_threshold=0,
            next_threshold=50,
            next_threshold_at=started + timedelta(minutes=FIRST_RESPONSE_MINUTES // 2),
            due_at=started + timedelta(minutes=FIRST_RESPONSE_MINUTES),
        )
    return len(due_ids)


def _clear_escalations():
    """Remove what a tick wrote, so the next share starts from the same state; returns the notices written."""
    from requests_app.models import EventKind, RequestEvent
    from slas.models import EscalationEvent
    from stakeholders.models import Notification

    notices = Notification.objects.count()
    Notification.objects.all().delete()
    EscalationEvent.objects.all().delete()
    RequestEvent.objects.filter(kind=EventKind.ESCALATION).delete()
    return notices


if __name__ == "__main__":
    main()
