"""Benchmark: what webhooks add to an event, and what one delivery costs the worker.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/servicedesk_bench .venv/bin/python -m bench.webhooks
    .venv/bin/python -m bench.webhooks --deliveries 100        # SQLite file under var/bench/

It builds its own database (migrations, a department, a requester, a buyer, a manager), then times a
claim (`procurement_request_claim`: a status change) with 0, 1 and 5 active webhooks subscribed, with
its queries; then times `webhook_delivery_deliver` (claim the row, sign, POST to a receiver on
127.0.0.1 in this process, record the answer) for a batch of deliveries. Figures, not assertions.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=20, help="claims timed per webhook count")
    parser.add_argument("--deliveries", type=int, default=200, help="deliveries POSTed and timed")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings.test")
    os.environ["CELERY_BROKER_URL"] = "memory://"
    if "DATABASE_URL" not in os.environ:
        bench_db = ROOT / "var" / "bench" / "webhooks.sqlite3"
        bench_db.parent.mkdir(parents=True, exist_ok=True)
        bench_db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{bench_db}"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from requests_app import services
    from requests_app.routing import routing_defaults_ensure
    from slas.demo import sla_defaults_ensure
    from stakeholders.roles import Role
    from tests.factories import DepartmentFactory, file_request, person
    from tests.webhooks.receiver import Receiver
    from webhooks.models import EventType, Webhook, WebhookDelivery
    from webhooks.services import webhook_create, webhook_delivery_deliver

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    sla_defaults_ensure()
    routing_defaults_ensure()
    sales = DepartmentFactory(name="Sales", code="SALES")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    requester = person(Role.REQUESTER, sales, username="alice")
    buyer = person(Role.BUYER, procurement, username="bob")
    manager = person(Role.PROCUREMENT_MANAGER, procurement, username="maria")
    print(f"database: {connection.vendor}")

    with Receiver() as receiver:
        print("\nA claim (one status change), with active webhooks subscribed to it:")
        for webhooks in (0, 1, 5):
            while Webhook.objects.count() < webhooks:
                webhook_create(
                    actor=manager,
                    name=f"hook {Webhook.objects.count()}",
                    target_url=receiver.url,
                    events=EventType.values,
                )
            timings, queries = [], 0
            for _ in range(args.claims):
                procurement_request = file_request(requester)
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
                    timings.append((time.perf_counter() - started) * 1000)
                queries = len(captured)
            print(f"  {webhooks} webhooks: median {statistics.median(timings):.1f} ms, {queries} queries")

        pending = list(WebhookDelivery.objects.values_list("pk", flat=True)[: args.deliveries])
        timings = []
        for delivery_id in pending:
            started = time.perf_counter()
            outcome = webhook_delivery_deliver(delivery_id=delivery_id)
            timings.append((time.perf_counter() - started) * 1000)
            assert outcome == "delivered", outcome
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(
            f"\n{len(timings)} deliveries POSTed to a local receiver, one after another: "
            f"median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms each "
            f"({len(receiver.received)} received)"
        )


if __name__ == "__main__":
    main()
