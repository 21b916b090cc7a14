"""EXPLAIN ANALYZE of the queue's own queries, as a page really sends them, for bench/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sdbench1m .venv/bin/python bench/plans.py

For My work, Unassigned, At risk and the filtered + searched list, it loads the page once (warm),
captures the SQL of the second load, and prints the plan of every query that reads the requests
table, trimmed to its scans, conditions and timings (planning included: on a table with many
indexes, planning can cost more than running).
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import _setup

KEEP = re.compile(r"Scan|Cond|Limit|Aggregate|Sort|Planning Time|Execution Time|Filter:")


def main():
    _setup(0)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from requests_app.models import OPEN_STATUSES, ProcurementRequest
    from requests_app.permissions import is_manager

    users = get_user_model().objects.filter(is_active=True)
    buyer = users.get(
        pk=ProcurementRequest.objects.filter(status__in=OPEN_STATUSES, assignee__isnull=False)
        .values_list("assignee", flat=True)
        .first()
    )
    manager = next(user for user in users.filter(username__startswith="bench-manager-") if is_manager(user))
    pages = {
        "My work": (buyer, reverse("requests_app:queue", kwargs={"view": "mine"})),
        "Unassigned": (buyer, reverse("requests_app:queue", kwargs={"view": "unassigned"})),
        "At risk": (buyer, reverse("requests_app:queue", kwargs={"view": "at_risk"})),
        "Filtered + searched": (
            manager,
            reverse("requests_app:queue", kwargs={"view": "all"}) + "?q=laptops&priority=high&status=in_progress",
        ),
    }
    for title, (user, url) in pages.items():
        client = Client()
        client.force_login(user)
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        print(f"#### {title} (`{url}`)\n")
        for query in captured.captured_queries:
            sql = query["sql"]
            if "requests_app_procurementrequest" not in sql or not sql.startswith("SELECT"):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, SUMMARY) " + sql)
                plan = [row[0] for row in cursor.fetchall()]
            print("```")
            print(re.sub(r"\s+", " ", sql)[:160] + ("…" if len(sql) > 160 else ""))
            print("\n".join(line for line in plan if KEEP.search(line)))
            print("```\n")


if __name__ == "__main__":
    main()
