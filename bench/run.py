"""The buyer queue under load: server time and SQL queries of what buyers do all day.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sdbench1m .venv/bin/python manage.py seed_bench --requests 1000000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sdbench1m .venv/bin/python bench/run.py [--json] [--repeat 30]

It runs against the database DATABASE_URL names (migrated and seeded with `seed_bench`; with
--seed N it seeds an empty one first), drives the real views in-process through Django's test
client (middleware, permissions, templates and all: the server's share of a page load, without
the network), and prints the median and p95 in milliseconds and the number of SQL queries for:
My work, Unassigned, At risk, a filtered and searched list, the request page, the SLA dashboard and
a department scorecard for 90 days (computed live, then served from the snapshots the beat task
keeps, and the time of one refresh of every snapshot), submitting a request (routing and clock start included) and
claiming one. With --json it prints one JSON object instead.
Writes (submit, claim, the dashboard snapshots) really happen: run it on a bench database, never on live data.

Figures, not assertions: correctness lives in tests/, speed here.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# The issues' targets at 1,000,000 requests on PostgreSQL (median server time, ms). The dashboards' are met
# by the pages served from the beat task's snapshots; the *_live figures are the same pages computed cold.
TARGETS_MS = {
    "my_work": 50,
    "unassigned": 50,
    "at_risk": 50,
    "submit": 60,
    "dashboard_90d": 250,
    "scorecard_90d": 150,
}


def _setup(seed):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "servicedesk.settings.local")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    # Not setup_test_environment(): it makes every template render send a signal that the test client
    # answers by copying the context, work a server never does (it cost a queue page about 8 ms).
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    from requests_app.models import ProcurementRequest

    if seed and not ProcurementRequest.objects.exists():
        from bench.seed import seed_bench

        seed_bench(requests=seed, log=lambda line: print(line, file=sys.stderr))


def snapshots_cleared():
    """No dashboard snapshot: every dashboard view computes its figures live (the cold path)."""
    from slas.models import DashboardSnapshot

    DashboardSnapshot.objects.all().delete()


def snapshots_refreshed():
    """The beat task's work, timed: (ms, snapshots written). The preset dashboard views then show them."""
    from slas.snapshots import dashboard_snapshots_refresh

    started = time.perf_counter()
    written = dashboard_snapshots_refresh()
    return round((time.perf_counter() - started) * 1000, 1), written


def _measure(repeat, action):
    """(median ms, p95 ms, queries of the last run) of `repeat` runs of action() -> response."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = action()
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code not in (200, 302):
            raise SystemExit(f"{response.request['PATH_INFO']} answered {response.status_code}")
        queries = len(captured.captured_queries)
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    return {"median_ms": round(statistics.median(timings), 1), "p95_ms": round(p95, 1), "queries": queries}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--seed", type=int, default=0, help="seed this many requests first if the database is empty")
    parser.add_argument(
        "--only", default="", help="comma-separated figures to measure (e.g. filtered_search,submit); default: all"
    )
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    _setup(args.seed)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from requests_app.models import OPEN_STATUSES, Category, ProcurementRequest, Status
    from requests_app.permissions import is_buyer, is_manager

    users = get_user_model().objects.filter(is_active=True)
    buyer = next(user for user in users.filter(username__startswith="bench-buyer-") if is_buyer(user))
    manager = next(user for user in users.filter(username__startswith="bench-manager-") if is_manager(user))
    requester = users.filter(username__startswith="bench-staff-").first()
    busiest = (
        ProcurementRequest.objects.filter(status__in=OPEN_STATUSES, assignee__isnull=False)
        .values_list("assignee", flat=True)
        .first()
    )
    if busiest:
        buyer = users.get(pk=busiest)
    sample = ProcurementRequest.objects.filter(status=Status.IN_PROGRESS).order_by("-pk").first()
    category = Category.objects.active().first()

    buyer_client, manager_client, requester_client = Client(), Client(), Client()
    buyer_client.force_login(buyer)
    manager_client.force_login(manager)
    requester_client.force_login(requester)

    figures = {}
    pages = {
        "my_work": (buyer_client, reverse("requests_app:queue", kwargs={"view": "mine"})),
        "unassigned": (buyer_client, reverse("requests_app:queue", kwargs={"view": "unassigned"})),
        "at_risk": (buyer_client, reverse("requests_app:queue", kwargs={"view": "at_risk"})),
        "filtered_search": (
            manager_client,
            reverse("requests_app:queue", kwargs={"view": "all"}) + "?q=laptops&priority=high&status=in_progress",
        ),
        "request_page": (buyer_client, reverse("requests_app:detail", kwargs={"reference": sample.reference})),
        "dashboard_90d_live": (manager_client, reverse("slas:dashboard") + "?period=90"),
        "scorecard_90d_live": (
            manager_client,
            reverse("stakeholders:scorecard", kwargs={"code": requester.membership.department.code}) + "?period=90",
        ),
    }
    # The dashboards first computed live (no snapshot), then served from the beat task's snapshots.
    snapshots_cleared()
    for name, (client, url) in pages.items():
        if only and name not in only:
            continue
        client.get(url)  # warm: templates compiled, calendars memoised, as on a running server
        figures[name] = _measure(args.repeat, lambda client=client, url=url: client.get(url))
    refresh_ms, written = snapshots_refreshed()
    for name in ("dashboard_90d", "scorecard_90d"):
        client, url = pages[f"{name}_live"]
        figures[name] = _measure(args.repeat, lambda client=client, url=url: client.get(url))

    def submit():
        return requester_client.post(
            reverse("requests_app:create"),
            {
                "title": "Bench monitors",
                "description": "Two monitors for the bench.",
                "category": category.pk,
                "priority": "normal",
                "estimated_value": "300.00",
                "currency": "EUR",
                "submission_token": str(uuid.uuid4()),
            },
        )

    if not only or "submit" in only:
        submit()
        figures["submit"] = _measure(args.repeat, submit)

    claimable = list(
        ProcurementRequest.objects.filter(status=Status.SUBMITTED, assignee__isnull=True)
        .order_by("-pk")
        .values_list("reference", flat=True)[: args.repeat + 1]
    )

    def claim():
        return buyer_client.post(reverse("requests_app:claim", kwargs={"reference": claimable.pop()}))

    if not only or "claim" in only:
        claim()
        figures["claim"] = _measure(min(args.repeat, len(claimable)), claim)

    result = {
        "N": ProcurementRequest.objects.count(),
        "open": ProcurementRequest.objects.filter(status__in=OPEN_STATUSES).count(),
        "database": connection.vendor,
        "repeat": args.repeat,
        "figures": figures,
        "snapshot_refresh": {"ms": refresh_ms, "snapshots": written},
        "targets_ms": TARGETS_MS,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"database: {result['database']}, requests: {result['N']:,} ({result['open']:,} open), runs: {args.repeat}")
    print(f"{'':18} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'target ms':>10}")
    for name, figure in figures.items():
        target = TARGETS_MS.get(name, "")
        print(f"{name:18} {figure['median_ms']:10.1f} {figure['p95_ms']:8.1f} {figure['queries']:8d} {target:>10}")
    print(f"one refresh of the {written} dashboard snapshots (the beat task): {refresh_ms:,.1f} ms")


if __name__ == "__main__":
    main()
