"""Realistic bench data, fast: `manage.py seed_bench --requests 1000000 --departments 12 --buyers 60`.

Two years of requests from every department, about 10 % open, with their timeline events, public
replies and SLA clocks in every state (running, at risk, breached, paused, met, missed, cancelled),
computed with the real calendar maths so that the stored values are the ones the services would
have written. Rows go in with PostgreSQL's COPY (executemany on SQLite), in chunks, with ids
assigned here so that every table is written in one pass; sequences and the reference counter are
moved past them at the end, so that the desk keeps working normally on the seeded database.

Deterministic for a given --seed. Not for tests' correctness (they use the services); for
benchmarks' volume.
"""

import csv
import io
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

DEPARTMENT_NAMES = [
    "Sales",
    "Marketing",
    "Finance",
    "Operations",
    "Manufacturing",
    "Quality Assurance",
    "Research & Development",
    "Logistics",
    "Engineering",
    "IT",
    "Executive Management",
    "Facilities",
]
THINGS = [
    "laptops",
    "monitors",
    "safety shoes",
    "lab reagents",
    "trade fair booth",
    "CAD licences",
    "forklift service",
    "packaging material",
    "consulting days",
    "office chairs",
    "server rack",
    "calibration service",
    "translation services",
    "cleaning contract",
    "pallet wrap",
    "test equipment",
]
PURPOSES = ["for the new team", "replacement", "Q3 campaign", "urgent repair", "annual renewal", "pilot project"]

OPEN_STATUS_WEIGHTS = {
    "submitted": 10,
    "pending_approval": 5,
    "approved": 3,
    "assigned": 15,
    "in_progress": 35,
    "waiting_for_requester": 12,
    "waiting_for_supplier": 10,
    "ordered": 10,
}
FINISHED_STATUS_WEIGHTS = {"closed": 80, "cancelled": 8, "rejected": 4, "completed": 8}
PRIORITY_WEIGHTS = {"low": 15, "normal": 60, "high": 18, "urgent": 7}
UNWORKED = {"submitted", "pending_approval", "approved"}
FIRST_RESPONSE_RUNNING = {"submitted", "approved", "assigned"}
CHUNK = 20_000


def _pick(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Writer:
    """Inserts plain rows into a model's table: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self, model, fields):
        self.table = model._meta.db_table
        self.columns = [model._meta.get_field(name).column for name in fields]
        # Columns where an empty field means NULL (text columns keep '' as '').
        self.nullable = [
            model._meta.get_field(name).column
            for name in fields
            if model._meta.get_field(name).get_internal_type() not in ("CharField", "TextField", "SlugField")
        ]
        self.rows = []

    def add(self, *values):
        self.rows.append(values)

    def flush(self, cursor):
        if not self.rows:
            return 0
        columns = ", ".join(connection.ops.quote_name(column) for column in self.columns)
        if connection.vendor == "postgresql":
            # CSV: None is written as an empty field, which FORCE_NULL turns into NULL where text is not expected.
            buffer = io.StringIO()
            csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(
                tuple(value if value is None or isinstance(value, int | float) else str(value) for value in row)
                for row in self.rows
            )
            buffer.seek(0)
            table = connection.ops.quote_name(self.table)
            force_null = ", ".join(connection.ops.quote_name(column) for column in self.nullable)
            cursor.copy_expert(
                f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NULL ({force_null}))", buffer
            )
        else:
            marks = ", ".join(["%s"] * len(self.columns))
            cursor.executemany(
                f"INSERT INTO {connection.ops.quote_name(self.table)} ({columns}) VALUES ({marks})",
                [tuple(_sqlite_value(value) for value in row) for row in self.rows],
            )
        written = len(self.rows)
        self.rows = []
        return written


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, Decimal):
        return str(value)
    return value


def _next_id(model):
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def _people(departments, buyers):
    from stakeholders.models import Department
    from stakeholders.roles import Role
    from stakeholders.services import department_upsert, person_upsert, roles_ensure

    roles_ensure()
    procurement = department_upsert(name="Procurement", code="PROCUREMENT", is_procurement=True)
    result = {"departments": [], "requesters": {}, "heads": {}, "buyers": [], "managers": []}
    for index in range(departments):
        name = DEPARTMENT_NAMES[index % len(DEPARTMENT_NAMES)]
        if index >= len(DEPARTMENT_NAMES):
            name = f"{name} {index // len(DEPARTMENT_NAMES) + 1}"
        # An existing department of that name (the demo's, say) is reused rather than duplicated.
        department = Department.objects.filter(name=name).first() or department_upsert(
            name=name, code=f"BENCH-{index + 1}"
        )
        head = person_upsert(username=f"bench-head-{index + 1}", department=department, roles=[Role.DEPARTMENT_HEAD])
        Department.objects.filter(pk=department.pk).update(head=head)
        result["departments"].append(department)
        result["heads"][department.pk] = head
        result["requesters"][department.pk] = [
            person_upsert(username=f"bench-staff-{index + 1}-{n + 1}", department=department, roles=[Role.REQUESTER])
            for n in range(20)
        ]
    result["buyers"] = [
        person_upsert(username=f"bench-buyer-{n + 1}", department=procurement, roles=[Role.BUYER])
        for n in range(buyers)
    ]
    result["managers"] = [
        person_upsert(username=f"bench-manager-{n + 1}", department=procurement, roles=[Role.PROCUREMENT_MANAGER])
        for n in range(2)
    ]
    # Four buyer teams share the buyers; each request belongs to the team of its category.
    from requests_app.services import buyer_team_upsert
    from slas.models import BusinessCalendar

    calendar = BusinessCalendar.objects.active().first()
    result["teams"] = [
        buyer_team_upsert(
            name=f"Bench team {n + 1}",
            calendar=calendar,
            lead=result["buyers"][n] if n < buyers else None,
            members=result["buyers"][n::4],
        )
        for n in range(4)
    ]
    return result


class _Goals:
    """The goal, its seconds and its pure calendar per (category, priority): looked up once."""

    def __init__(self):
        self.cache = {}

    def get(self, category_id, priority, department_id):
        from slas.policies import sla_goal_for

        key = (category_id, priority)
        if key not in self.cache:
            goal = sla_goal_for(category_id=category_id, priority=priority, department_id=department_id)
            calendar = goal.calendar.to_clock()
            thresholds = sorted({*goal.warning_thresholds, 100})
            self.cache[key] = (goal, calendar, thresholds)
        return self.cache[key]


def _running_state(calendar, start, goal_seconds, thresholds, now):
    """What clock_refresh stores for a running, unpaused clock measured at `now`."""
    elapsed = calendar.business_seconds(start, now)
    due = calendar.due_at(start, goal_seconds)
    reached = max((p for p in thresholds if elapsed * 100 >= p * goal_seconds), default=0)
    next_percent = next_at = None
    for percent in thresholds:
        if elapsed * 100 < percent * goal_seconds:
            instant = calendar.threshold_at(start, goal_seconds, percent)
            if instant > now:
                next_percent, next_at = percent, instant
                break
    breached = elapsed > goal_seconds
    return elapsed, due, reached, next_percent, next_at, breached


def seed_bench(*, requests, departments=12, buyers=60, seed=1, now=None, log=print):
    """Write `requests` requests with their history; return counts of what was written."""
    from requests_app.models import (
        Category,
        Comment,
        Currency,
        ProcurementRequest,
        ReferenceCounter,
        RequestEvent,
    )
    from requests_app.services import search_documents_refresh
    from slas.demo import sla_defaults_ensure
    from slas.models import SlaClock, SlaPause

    started = time.perf_counter()
    rng = random.Random(seed)
    now = now or timezone.now()
    sla_defaults_ensure()
    people = _people(departments, buyers)
    categories = list(Category.objects.active().values_list("pk", flat=True))
    currencies = dict(Currency.objects.values_list("code", "rate_to_base"))
    goals = _Goals()
    log(f"people and reference data ready ({time.perf_counter() - started:.1f} s)")

    request_writer = _Writer(
        ProcurementRequest,
        [
            "id",
            "reference",
            "title",
            "description",
            "category",
            "department",
            "requester",
            "priority",
            "estimated_value",
            "currency",
            "estimated_value_base",
            "cost_centre",
            "suggested_supplier",
            "is_confidential",
            "status",
            "assignee",
            "team",
            "po_number",
            "requires_approval",
            "submission_token",
            "created_at",
            "updated_at",
            "completed_at",
            "sla_due_at",
            "sla_threshold",
            "sla_breached",
            "version",
        ],
    )
    event_writer = _Writer(
        RequestEvent,
        ["procurement_request", "kind", "actor", "from_status", "to_status", "note", "assignee", "comment",
         "is_internal", "data", "created_at"],
    )  # fmt: skip
    comment_writer = _Writer(Comment, ["id", "procurement_request", "author", "body", "is_internal", "created_at"])
    clock_writer = _Writer(
        SlaClock,
        ["id", "procurement_request", "metric", "cycle", "is_current", "goal", "goal_seconds", "calendar",
         "started_at", "stopped_at", "paused_since", "elapsed_business", "computed_at", "due_at", "next_threshold",
         "next_threshold_at", "last_threshold", "breached", "ever_breached", "breached_at", "met", "created_at",
         "updated_at"],
    )  # fmt: skip
    pause_writer = _Writer(SlaPause, ["clock", "started_at", "ended_at", "reason", "created_at"])

    request_id = _next_id(ProcurementRequest)
    comment_id = _next_id(Comment)
    clock_id = _next_id(SlaClock)
    numbers = dict(ReferenceCounter.objects.values_list("year", "last_number"))
    span = timedelta(days=730)
    counts = dict.fromkeys(["requests", "open", "events", "comments", "clocks"], 0)
    department_ids = [department.pk for department in people["departments"]]
    buyer_ids = [buyer.pk for buyer in people["buyers"]]
    team_ids = [team.pk for team in people["teams"]]

    def clock(request_pk, metric, goal, goal_seconds, start, **state):
        nonlocal clock_id
        row_id = clock_id
        clock_id += 1
        clock_writer.add(
            row_id, request_pk, metric, 1, True, goal.pk, goal_seconds, goal.calendar_id, start,
            state.get("stopped_at"), state.get("paused_since"), state["elapsed"], state["computed_at"],
            state.get("due_at"), state.get("next_threshold"), state.get("next_threshold_at"),
            state.get("last_threshold", 0), state.get("breached", False), state.get("breached", False),
            state.get("breached_at"), state.get("met"), start, now,
        )  # fmt: skip
        counts["clocks"] += 1
        return row_id

    def finished(calendar, start, goal_seconds, thresholds, share):
        """A clock stopped after `share` of its goal (exact: the stop is where that much business time ends)."""
        elapsed = max(60, int(goal_seconds * share))
        stopped_at = calendar.due_at(start, elapsed)
        breached = elapsed > goal_seconds
        return {
            "stopped_at": stopped_at,
            "elapsed": elapsed,
            "computed_at": stopped_at,
            "due_at": calendar.due_at(start, goal_seconds),
            "last_threshold": max((p for p in thresholds if elapsed * 100 >= p * goal_seconds), default=0),
            "breached": breached,
            "breached_at": calendar.due_at(start, goal_seconds) if breached else None,
            "met": not breached,
        }

    total = requests
    for index in range(total):
        # Oldest first, spread over two years; recent requests are far more often still open.
        created_at = now - span + span * ((index + rng.random()) / total)
        age = now - created_at
        is_open = rng.random() < (0.7 if age < timedelta(days=60) else 0.045)
        status = _pick(rng, OPEN_STATUS_WEIGHTS if is_open else FINISHED_STATUS_WEIGHTS)
        priority = _pick(rng, PRIORITY_WEIGHTS)
        department_id = rng.choice(department_ids)
        requester = rng.choice(people["requesters"][department_id])
        category_id = rng.choice(categories)
        currency = "EUR" if rng.random() < 0.85 else rng.choice(list(currencies))
        value = Decimal(str(round(rng.lognormvariate(7, 1.4), 2)))
        value_base = (value * currencies[currency]).quantize(Decimal("0.01"))
        assignee_id = (
            None if status in UNWORKED or (status == "cancelled" and rng.random() < 0.5) else rng.choice(buyer_ids)
        )
        if status == "rejected":
            assignee_id = None
        year = timezone.localtime(created_at).year
        numbers[year] = numbers.get(year, 0) + 1
        thing = rng.choice(THINGS)
        pk = request_id
        request_id += 1

        events = [("created", requester.pk, "", "submitted", "", None, None, created_at)]
        goal, calendar, thresholds = goals.get(category_id, priority, department_id)
        fr_seconds, res_seconds = goal.first_response_minutes * 60, goal.resolution_minutes * 60
        sla_due_at, sla_threshold, sla_breached = None, 0, False
        completed_at = None
        clocks_start = status not in ("pending_approval", "rejected")
        if clocks_start:
            # First response: running until Procurement answers; answered within 10 %–160 % of its goal.
            if is_open and status in FIRST_RESPONSE_RUNNING:
                elapsed, due, reached, next_p, next_at, breached = _running_state(
                    calendar, created_at, fr_seconds, thresholds, now
                )
                clock(pk, "first_response", goal, fr_seconds, created_at, elapsed=elapsed, computed_at=now,
                      due_at=due, last_threshold=reached, next_threshold=next_p, next_threshold_at=next_at,
                      breached=breached, breached_at=due if breached else None)  # fmt: skip
                running = [(due, reached, breached)]
            else:
                state = finished(calendar, created_at, fr_seconds, thresholds, rng.uniform(0.1, 1.6) ** 1.5)
                clock(pk, "first_response", goal, fr_seconds, created_at, **state)
                comment_pk = comment_id
                comment_id += 1
                comment_writer.add(
                    comment_pk,
                    pk,
                    assignee_id or buyer_ids[0],
                    f"Thanks, we are on the {thing}.",
                    False,
                    state["stopped_at"],
                )
                events.append(
                    ("commented", assignee_id or buyer_ids[0], "", "", "", None, comment_pk, state["stopped_at"])
                )
                counts["comments"] += 1
                running = []
            # Resolution: running (or paused while waiting for the requester) when open, else finished.
            if is_open:
                if status == "waiting_for_requester":
                    paused_since = max(created_at, now - timedelta(hours=rng.uniform(1, 120)))
                    elapsed = calendar.business_seconds(created_at, paused_since)
                    reached = max((p for p in thresholds if elapsed * 100 >= p * res_seconds), default=0)
                    breached = elapsed > res_seconds
                    breached_at = calendar.due_at(created_at, res_seconds) if breached else None
                    row = clock(pk, "resolution", goal, res_seconds, created_at, elapsed=elapsed,
                                computed_at=paused_since, paused_since=paused_since, last_threshold=reached,
                                breached=breached, breached_at=breached_at)  # fmt: skip
                    pause_writer.add(row, paused_since, None, "waiting_for_requester", paused_since)
                    running.append((None, reached, breached))
                else:
                    elapsed, due, reached, next_p, next_at, breached = _running_state(
                        calendar, created_at, res_seconds, thresholds, now
                    )
                    clock(pk, "resolution", goal, res_seconds, created_at, elapsed=elapsed, computed_at=now,
                          due_at=due, last_threshold=reached, next_threshold=next_p, next_threshold_at=next_at,
                          breached=breached, breached_at=due if breached else None)  # fmt: skip
                    running.append((due, reached, breached))
                dues = [due for due, _, _ in running if due is not None]
                sla_due_at = min(dues) if dues else None
                sla_threshold = max(reached for _, reached, _ in running)
                sla_breached = any(breached for _, _, breached in running)
            elif status == "cancelled":
                state = finished(calendar, created_at, res_seconds, thresholds, rng.uniform(0.05, 0.6))
                state["met"] = None
                clock(pk, "resolution", goal, res_seconds, created_at, **state)
            else:
                # 85 % of requests are resolved within their goal.
                share = rng.uniform(0.15, 1.0) if rng.random() < 0.85 else rng.uniform(1.0, 2.5)
                state = finished(calendar, created_at, res_seconds, thresholds, share)
                clock(pk, "resolution", goal, res_seconds, created_at, **state)
                completed_at = state["stopped_at"]
        if assignee_id is not None:
            events.append(
                (
                    "assigned",
                    assignee_id,
                    "submitted",
                    "assigned",
                    "",
                    assignee_id,
                    None,
                    created_at + timedelta(minutes=5),
                )
            )
        if status not in ("submitted", "assigned"):
            moved_at = completed_at or min(now, created_at + timedelta(minutes=30))
            events.append(("status_changed", assignee_id or requester.pk, "", status, "", None, None, moved_at))
        for kind, actor, from_status, to_status, note, assignee, comment, at in events:
            event_writer.add(pk, kind, actor, from_status, to_status, note, assignee, comment, False, "{}", at)
        counts["events"] += len(events)
        request_writer.add(
            pk, f"PR-{year}-{numbers[year]:06d}", f"{thing.capitalize()} {rng.choice(PURPOSES)}",
            f"We need {thing} {rng.choice(PURPOSES)}. Budget approved by the cost centre owner.",
            category_id, department_id, requester.pk, priority, value, currency, value_base,
            f"CC-{department_id:03d}", "", rng.random() < 0.03, status, assignee_id,
            team_ids[category_id % len(team_ids)] if status != "pending_approval" else None,
            f"PO-{pk}" if status in ("ordered", "completed", "closed") else "", status == "pending_approval",
            uuid.UUID(int=rng.getrandbits(128), version=4), created_at, now, completed_at,
            sla_due_at, sla_threshold, sla_breached, 1,
        )  # fmt: skip
        counts["requests"] += 1
        counts["open"] += is_open
        if len(request_writer.rows) >= CHUNK or index == total - 1:
            with transaction.atomic(), connection.cursor() as cursor:
                # Parents before children: the foreign keys are checked row by row on SQLite.
                first_id = request_writer.rows[0][0]
                for writer in (request_writer, comment_writer, event_writer, clock_writer, pause_writer):
                    writer.flush(cursor)
                # The full-text search document, as the services keep it (PostgreSQL; a no-op elsewhere).
                search_documents_refresh(procurement_request_ids=range(first_id, request_id))
            log(f"{counts['requests']:,} requests written ({time.perf_counter() - started:.1f} s)")

    with transaction.atomic():
        for year, number in numbers.items():
            ReferenceCounter.objects.update_or_create(year=year, defaults={"last_number": number})
        _sequences_reset([ProcurementRequest, Comment, RequestEvent, SlaClock, SlaPause])
        _clock_dimensions_fill()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Fresh statistics and visibility map (index-only scans; the clocks were updated after COPY), as
            # autovacuum would give a live database.
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")  # no VACUUM in a test
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def _clock_dimensions_fill():
    """Every clock takes its request's department, team, category, priority and buyer, as the services
    write them (SlaClock.department and the rest): one statement after the bulk load, not one per row."""
    from django.db.models import OuterRef, Subquery

    from requests_app.models import ProcurementRequest
    from slas.models import SlaClock
    from slas.services import CLOCK_DIMENSIONS

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE slas_slaclock AS clock SET "
                + ", ".join(f"{name} = request.{name}" for name in CLOCK_DIMENSIONS)
                + " FROM requests_app_procurementrequest AS request WHERE request.id = clock.procurement_request_id"
            )
        return
    request = ProcurementRequest.objects.filter(pk=OuterRef("procurement_request_id"))
    SlaClock.objects.update(**{name: Subquery(request.values(name)[:1]) for name in CLOCK_DIMENSIONS})


def _sequences_reset(models):
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), models)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
