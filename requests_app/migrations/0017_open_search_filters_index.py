# PostgreSQL only (SQLite searches with icontains): a GIN index over the open requests' search
# documents together with the queue's filter columns. btree_gin lets one GIN index hold plain
# columns, so a search narrowed by status, priority, team, department, category or buyer is answered
# inside the index: at N = 1,000,000, "laptops" in progress and high went from 62,323 matching
# documents handed over by the whole-table index (then 34,345 ids from the status index, then 390
# rows kept) to the 390 ids straight from this one (bench/README.md). btree_gin is a trusted
# extension (PostgreSQL 13+): the database owner may create it.

from django.db import migrations

OPEN_STATUSES = (
    "approved",
    "assigned",
    "in_progress",
    "ordered",
    "pending_approval",
    "submitted",
    "waiting_for_requester",
    "waiting_for_supplier",
)

FORWARDS = [
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX IF NOT EXISTS request_open_search_filters ON requests_app_procurementrequest USING gin "
    "(search_document, status, priority, team_id, department_id, category_id, assignee_id) "
    "WHERE status IN ({})".format(", ".join(f"'{status}'" for status in OPEN_STATUSES)),
]
BACKWARDS = ["DROP INDEX IF EXISTS request_open_search_filters"]


def _on_postgres(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0016_scorecard_urgent_index")]

    operations = [migrations.RunPython(_on_postgres(FORWARDS), _on_postgres(BACKWARDS))]
