"""Benchmark: what a request's notices cost the event that writes them, and what a coalesced e-mail costs delivery.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/servicedesk_bench .venv/bin/python -m bench.notifications
    .venv/bin/python -m bench.notifications --replies 50        # SQLite file under var/bench/

It builds its own database (migrations, one department, a requester, a buyer, a claimed request), then
for 0, 10 and 100 followers times a public reply by the buyer (`comment_add`: the comment, the clock,
the notices rendered from their template for every recipient, one bulk insert) and counts its queries;
then times the delivery of one e-mail carrying a burst of 1, 10 and 50 notices (lock, mark, render text
and HTML, hand to Django's in-memory e-mail backend). Figures, not assertions.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replies", type=int, default=20, help="replies timed per follower count")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings.test")
    os.environ["CELERY_BROKER_URL"] = "memory://"
    if "DATABASE_URL" not in os.environ:
        bench_db = ROOT / "var" / "bench" / "notifications.sqlite3"
        bench_db.parent.mkdir(parents=True, exist_ok=True)
        bench_db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{bench_db}"
    import django

    django.setup()
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from requests_app import services
    from requests_app.models import Watcher
    from stakeholders.models import Channel, Notification
    from stakeholders.roles import Role
    from stakeholders.services import notification_deliver
    from tests.factories import DepartmentFactory, file_request, person

    setup_test_environment()  # the in-memory e-mail backend
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    from requests_app.routing import routing_defaults_ensure
    from slas.demo import sla_defaults_ensure

    sla_defaults_ensure()
    routing_defaults_ensure()
    sales = DepartmentFactory(name="Sales", code="SALES")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    requester = person(Role.REQUESTER, sales, username="alice")
    buyer = person(Role.BUYER, procurement, username="bob")
    print(f"database: {connection.vendor}; {args.replies} replies per row")

    print("\nreply with notices     followers  queries  median ms  p90 ms")
    for followers in (0, 10, 100):
        request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
        names = [f"f{uuid.uuid4().hex[:8]}" for _ in range(followers)]
        Watcher.objects.bulk_create(
            Watcher(procurement_request=request, user=person(Role.REQUESTER, sales, username=name)) for name in names
        )
        services.comment_add(procurement_request=request, author=buyer, body="warm-up")
        timings = []
        for number in range(args.replies):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                services.comment_add(procurement_request=request, author=buyer, body=f"Reply {number}")
                timings.append((time.perf_counter() - started) * 1000)
        p90 = statistics.quantiles(timings, n=10)[-1]
        print(f"{'':22} {followers:9d}  {len(queries):7d}  {statistics.median(timings):9.1f}  {p90:6.1f}")

    print("\ncoalesced e-mail       notices  median ms")
    now = timezone.now()
    for burst in (1, 10, 50):
        timings = []
        for _ in range(5):
            request = services.procurement_request_claim(procurement_request=file_request(requester), actor=buyer)
            Notification.objects.filter(channel=Channel.EMAIL).update(status="sent")
            for number in range(burst):
                services.comment_add(procurement_request=request, author=buyer, body=f"Burst {number}")
            replies = Notification.objects.filter(channel=Channel.EMAIL, procurement_request=request, kind="reply")
            first = replies.order_by("pk")[0]
            mail.outbox = []
            reset_queries()
            started = time.perf_counter()
            outcome = notification_deliver(notification_id=first.pk, now=now + timedelta(minutes=10))
            timings.append((time.perf_counter() - started) * 1000)
            assert outcome == "sent" and len(mail.outbox) == 1, outcome
        print(f"{'':22} {burst:7d}  {statistics.median(timings):9.1f}")


if __name__ == "__main__":
    main()
