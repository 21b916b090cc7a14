"""Benchmark: how fast the portal's list and detail pages answer with many requests in the database.

    .venv/bin/python -m bench.lists --requests 20000            # SQLite file under var/bench/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/servicedesk_bench .venv/bin/python -m bench.lists

It builds its own database (migrations, then bulk-inserted rows: fast, and the rows are what the
services would write), then times each page through Django's test client and prints the median and
p95 in milliseconds with the number of SQL queries per page. Figures, not assertions: correctness is
in tests/, speed is here.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000, help="rows of ProcurementRequest to create")
    parser.add_argument("--repeat", type=int, default=30, help="timed GETs per page")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings.test")
    if "DATABASE_URL" not in os.environ:
        bench_db = ROOT / "var" / "bench" / "bench.sqlite3"
        bench_db.parent.mkdir(parents=True, exist_ok=True)
        bench_db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{bench_db}"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.DEBUG = True  # count queries
    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    people = _seed(args.requests)

    client = Client()
    pages = [
        ("alice", "My requests", "/requests/mine/"),
        ("alice", "My department", "/requests/department/"),
        ("hannah", "Approvals", "/requests/approvals/"),
        ("bob", "Work list", "/requests/all/"),
        ("bob", "Work list, open, page 40", "/requests/all/?status=open&page=40"),
        ("bob", "Work list, text search", "/requests/all/?q=laptop"),
        ("bob", "Request page", f"/requests/{people['sample_reference']}/"),
    ]
    print(f"database: {connection.vendor}, requests: {args.requests:,}, repeats: {args.repeat}")
    print(f"{'page':32} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for username, label, url in pages:
        client.force_login(people[username])
        timings = []
        for _ in range(args.repeat):
            reset_queries()
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        queries = len(connection.queries)
        timings.sort()
        p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
        print(f"{label:32} {statistics.median(timings):10.1f} {p95:8.1f} {queries:8d}")


def _seed(count):
    from django.utils import timezone

    from requests_app.models import Category, Currency, ProcurementRequest, RequestEvent, Status
    from stakeholders.models import Department
    from stakeholders.roles import Role
    from stakeholders.services import department_upsert, person_upsert, roles_ensure

    roles_ensure()
    departments = [department_upsert(name=f"Department {n}", code=f"D{n}") for n in range(12)]
    procurement = department_upsert(name="Procurement", code="PROC", is_procurement=True)
    people = {
        "alice": person_upsert(username="alice", department=departments[0], roles=[Role.REQUESTER]),
        "hannah": person_upsert(username="hannah", department=departments[0], roles=[Role.DEPARTMENT_HEAD]),
        "bob": person_upsert(username="bob", department=procurement, roles=[Role.BUYER]),
    }
    Department.objects.filter(pk=departments[0].pk).update(head=people["hannah"])
    requesters = [people["alice"]] + [
        person_upsert(username=f"staff{n}", department=departments[n % 12], roles=[Role.REQUESTER]) for n in range(60)
    ]
    categories = list(Category.objects.all())
    euro = Currency.objects.get(code="EUR")
    statuses = [Status.SUBMITTED, Status.PENDING_APPROVAL, Status.IN_PROGRESS, Status.COMPLETED, Status.CLOSED]
    now = timezone.now()
    rows = []
    for n in range(count):
        requester = requesters[n % len(requesters)]
        rows.append(
            ProcurementRequest(
                reference=f"PR-2026-{n + 1:06d}",
                title=("Laptop" if n % 50 == 0 else "Office supplies") + f" batch {n}",
                description="Bench row.",
                category=categories[n % len(categories)],
                department_id=requester.membership.department_id,
                requester=requester,
                priority="normal",
                estimated_value=Decimal(100 + n % 9000),
                currency=euro,
                estimated_value_base=Decimal(100 + n % 9000),
                status=statuses[n % len(statuses)],
                assignee=people["bob"] if n % 3 == 0 else None,
                submission_token=uuid.uuid4(),
                created_at=now - timedelta(minutes=n),
            )
        )
    ProcurementRequest.objects.bulk_create(rows, batch_size=2000)
    sample = ProcurementRequest.objects.order_by("id").first()
    RequestEvent.objects.bulk_create(
        [RequestEvent(procurement_request=sample, kind="created", actor=sample.requester) for _ in range(30)]
    )
    people["sample_reference"] = sample.reference
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would give a live database
    return people


if __name__ == "__main__":
    main()
