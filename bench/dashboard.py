"""The SLA dashboard under load: server time and SQL queries of the managers' dashboard.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sd_dashbench .venv/bin/python manage.py seed_bench --requests 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sd_dashbench .venv/bin/python -m bench.dashboard [--json]

Drives the real view in-process through Django's test client (as bench/run.py does) for the last
7 / 30 / 90 days, a 90-day period narrowed to one department, one breakdown's CSV export, and a
department's scorecard for 90 days: first every one computed live (no snapshot: the cold path), then
the preset views (the unfiltered 7 / 30 / 90 days and the scorecard) served from the snapshots the beat
task keeps (slas/snapshots.py), the 90 days narrowed to a department with fairness from the unfiltered
snapshot, and the time one refresh of every snapshot takes.
Writes only the snapshots. Figures, not assertions: correctness lives in tests/slas/test_dashboard.py.
"""

import argparse
import json

from bench.run import _measure, _setup, snapshots_cleared, snapshots_refreshed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    _setup(0)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from requests_app.models import OPEN_STATUSES, ProcurementRequest
    from requests_app.permissions import is_manager
    from stakeholders.models import Department

    users = get_user_model().objects.filter(is_active=True, username__startswith="bench-manager-")
    manager = next(user for user in users if is_manager(user))
    client = Client()
    client.force_login(manager)
    department = Department.objects.filter(is_procurement=False).order_by("pk").first()
    url = reverse("slas:dashboard")
    pages = {
        "dashboard_7d": f"{url}?period=7",
        "dashboard_30d": f"{url}?period=30",
        "dashboard_90d": f"{url}?period=90",
        "dashboard_90d_department": f"{url}?period=90&department={department.pk}",
        "export_buyer_90d": reverse("slas:dashboard_export", kwargs={"dimension": "buyer"}) + "?period=90",
        "scorecard_90d": reverse("stakeholders:scorecard", kwargs={"code": department.code}) + "?period=90",
    }
    figures = {}
    snapshots_cleared()
    for name, page in pages.items():
        client.get(page)  # warm, as on a running server
        figures[f"{name}_live"] = _measure(args.repeat, lambda page=page: client.get(page))
    refresh_ms, written = snapshots_refreshed()
    # (the 90 days narrowed to a department: its own figures live, fairness the unfiltered snapshot's)
    for name in ("dashboard_7d", "dashboard_30d", "dashboard_90d", "dashboard_90d_department", "scorecard_90d"):
        page = pages[name]
        client.get(page)
        figures[f"{name}_snapshot"] = _measure(args.repeat, lambda page=page: client.get(page))
    result = {
        "N": ProcurementRequest.objects.count(),
        "open": ProcurementRequest.objects.filter(status__in=OPEN_STATUSES).count(),
        "database": connection.vendor,
        "repeat": args.repeat,
        "figures": figures,
        "snapshot_refresh": {"ms": refresh_ms, "snapshots": written},
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"database: {result['database']}, requests: {result['N']:,} ({result['open']:,} open), runs: {args.repeat}")
    print(f"{'':32} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for name, figure in figures.items():
        print(f"{name:32} {figure['median_ms']:10.1f} {figure['p95_ms']:8.1f} {figure['queries']:8d}")
    print(f"one refresh of the {written} dashboard snapshots (the beat task): {refresh_ms:,.1f} ms")


if __name__ == "__main__":
    main()
