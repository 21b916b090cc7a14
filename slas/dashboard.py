"""The SLA dashboards' figures: reads only, computed in SQL, a fixed number of queries whatever the data.

Every figure follows SLA-SEMANTICS: attainment counts *completed cycles* (each request's current
cycle of a metric, stopped with a verdict, `met` set) whose stop falls in the period; times are the
business seconds the clock counted (`elapsed_business`, frozen at the stop); "now" figures (open, at
risk, breached) read the SLA summary the services keep on the request (`sla_threshold`,
`sla_breached`), exactly as the queue's views do, so that a number and the queue it links to agree.

Medians and 90th percentiles are `percentile_cont` (linear interpolation between the two nearest
values) on PostgreSQL; on SQLite the same function is an aggregate registered on the connection.
"""

import functools
import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Aggregate, Case, Count, F, FloatField, Q, Value, When
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from requests_app.models import OPEN_STATUSES, Priority, ProcurementRequest

from .models import Metric, SlaClock

OPEN = sorted(OPEN_STATUSES)


# --- percentile_cont on both databases ----------------------------------------------------------------


class _SqlitePercentile:
    """percentile_cont for SQLite: the same linear interpolation PostgreSQL does (NULLs ignored)."""

    def __init__(self):
        self.values = []
        self.fraction = 0.5

    def step(self, value, fraction):
        if value is not None:
            self.values.append(value)
            self.fraction = fraction

    def finalize(self):
        return percentile_cont(self.values, self.fraction)


def percentile_cont(values, fraction):
    """PostgreSQL's percentile_cont over `values` (None for none): the value at position fraction·(n−1),
    interpolated linearly between its neighbours."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return float(ordered[lower] + (position - lower) * (ordered[upper] - ordered[lower]))


class PercentileCont(Aggregate):
    """`percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`, with `filter=` like any aggregate."""

    name = "PercentileCont"
    output_field = FloatField()

    def __init__(self, fraction, expression, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile's fraction is between 0 and 1.")
        self.fraction = float(fraction)
        super().__init__(expression, **extra)

    def _with_template(self, template):
        # On a copy, because Aggregate.as_sql() passes its own template= beside a FILTER clause.
        clone = self.copy()
        clone.template = template
        return clone

    def as_sql(self, compiler, connection, **extra_context):
        clone = self._with_template(f"percentile_cont({self.fraction!r}) WITHIN GROUP (ORDER BY %(expressions)s)")
        return super(PercentileCont, clone).as_sql(compiler, connection, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        connection.ensure_connection()
        # Registering again replaces the same function: cheap, and no connection hook (signal) needed.
        connection.connection.create_aggregate("dashboard_percentile_cont", 2, _SqlitePercentile)
        clone = self._with_template(f"dashboard_percentile_cont(%(expressions)s, {self.fraction!r})")
        return super(PercentileCont, clone).as_sql(compiler, connection, **extra_context)


@contextmanager
def one_reading():
    """A dashboard's reads in one transaction: on PostgreSQL a REPEATABLE READ one (all its queries see the
    same data), with memory enough to sort a period's completed cycles without spilling to disk (at
    1,000,000 requests a 90-day grouping sorts ~5 MB; work_mem is 4 MB), and without JIT: these queries
    are costed high enough to be compiled, and compiling them took longer (50–220 ms each) than running
    them (bench/README.md, "The SLA dashboard"). Both settings end with the transaction."""
    outermost = not connection.in_atomic_block  # else (a test's transaction) the isolation is already set
    # No savepoint inside another transaction: the settings are the outer transaction's to the end anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)")
        yield


# --- the scope of a dashboard: a period and optional dimensions ----------------------------------------


def local_midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class Period:
    """Whole days in the viewer's time zone, `first_day` to `last_day` included."""

    first_day: date
    last_day: date
    label: str

    @property
    def start(self):
        return local_midnight(self.first_day)

    @property
    def end(self):
        return local_midnight(self.last_day + timedelta(days=1))

    @property
    def days(self):
        return (self.last_day - self.first_day).days + 1

    @classmethod
    def last_days(cls, days, *, today=None):
        today = today or timezone.localdate()
        return cls(today - timedelta(days=days - 1), today, f"last {days} days")

    @classmethod
    def quarter(cls, year, number):
        first = date(year, 3 * number - 2, 1)
        last = date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1) - timedelta(days=1)
        return cls(first, last, f"Q{number} {year}")

    def weeks(self):
        """The Mondays of the weeks the period touches."""
        monday = self.first_day - timedelta(days=self.first_day.weekday())
        weeks = []
        while monday <= self.last_day:
            weeks.append(monday)
            monday += timedelta(days=7)
        return weeks


def quarter_of(day):
    return day.year, (day.month - 1) // 3 + 1


def recent_quarters(count, *, today=None):
    """[(year, quarter)], the current quarter first."""
    year, number = quarter_of(today or timezone.localdate())
    quarters = []
    for _ in range(count):
        quarters.append((year, number))
        year, number = (year - 1, 4) if number == 1 else (year, number - 1)
    return quarters


# A dashboard dimension: the request field it groups by, and the queue filter that narrows to one value.
@dataclass(frozen=True)
class Dimension:
    label: str
    field: str  # on ProcurementRequest
    names: tuple  # further fields read for the row's name
    queue_param: str


DIMENSIONS = {
    "department": Dimension("Department", "department_id", ("department__name",), "department"),
    "team": Dimension("Team", "team_id", ("team__name",), "team"),
    "buyer": Dimension(
        "Buyer", "assignee_id", ("assignee__first_name", "assignee__last_name", "assignee__username"), "assignee"
    ),
    "category": Dimension("Category", "category_id", ("category__name",), "category"),
    "priority": Dimension("Priority", "priority", (), "priority"),
}
PRIORITY_ORDER = [Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW]


@dataclass(frozen=True)
class Scope:
    """What a dashboard looks at: a period, and optionally one team, department, category, priority."""

    period: Period
    team_id: int | None = None
    department_id: int | None = None
    category_id: int | None = None
    priority: str | None = None

    def request_filter(self, prefix=""):
        """A Q over ProcurementRequest (or `prefix`-ed relation to it) for the chosen dimensions."""
        conditions = {
            "team_id": self.team_id,
            "department_id": self.department_id,
            "category_id": self.category_id,
            "priority": self.priority,
        }
        return Q(**{f"{prefix}{name}": value for name, value in conditions.items() if value not in (None, "")})

    def queue_params(self):
        params = {
            "team": self.team_id,
            "department": self.department_id,
            "category": self.category_id,
            "priority": self.priority,
        }
        return {name: value for name, value in params.items() if value not in (None, "")}


@functools.lru_cache(maxsize=64)
def _queue_url(view, script_prefix, urlconf):
    # reverse() costs ~0.1 ms and a dashboard builds hundreds of links to a handful of queue views; the
    # prefix and URLconf are in the key, so a request under another prefix or urlconf gets its own URL.
    return reverse("requests_app:queue", kwargs={"view": view}, urlconf=urlconf)


def queue_link(view, scope, **params):
    """The queue view and filters that list the requests behind a figure."""
    query = {**scope.queue_params(), **{name: value for name, value in params.items() if value is not None}}
    url = _queue_url(view, get_script_prefix(), get_urlconf())
    return f"{url}?{urlencode(query)}" if query else url


def completed_link(scope, **params):
    return queue_link("all", scope, completed_from=scope.period.first_day, completed_to=scope.period.last_day, **params)


def responded_link(scope, **params):
    return queue_link("all", scope, responded_from=scope.period.first_day, responded_to=scope.period.last_day, **params)


def created_link(scope, **params):
    return queue_link("all", scope, created_from=scope.period.first_day, created_to=scope.period.last_day, **params)


def open_link(scope, **params):
    return queue_link("all", scope, status="open", **params)


def hours(seconds):
    """Business seconds as business hours, one decimal (None stays None)."""
    return None if seconds is None else round(seconds / 3600, 1)


def percent(part, whole):
    return None if not whole else round(100 * part / whole, 1)


# --- the figures ----------------------------------------------------------------------------------------


def _completed_cycles(scope, prefix=""):
    """Current cycles stopped with a verdict inside the period (SLA-SEMANTICS: completed cycles).

    The dimensions are the clock's own copies of its request's (SlaClock.department and the rest, kept
    equal to the request's current values by the services), so the period's cycles are read from the
    partial covering index sla_clock_completed_dimensions alone, without joining the requests. Count them
    by a column the index holds (Count("metric"), never null): counting the pk reads the table."""
    return SlaClock.objects.filter(
        scope.request_filter(prefix),
        is_current=True,
        met__isnull=False,
        stopped_at__gte=scope.period.start,
        stopped_at__lt=scope.period.end,
    )


def _cycle_aggregates():
    """Count, met and percentiles of both metrics, as conditional aggregates of one GROUP BY."""
    first, resolution = Q(metric=Metric.FIRST_RESPONSE), Q(metric=Metric.RESOLUTION)
    return {
        "fr_count": Count("metric", filter=first),
        "fr_met": Count("metric", filter=first & Q(met=True)),
        "fr_median": PercentileCont(0.5, "elapsed_business", filter=first),
        "res_count": Count("metric", filter=resolution),
        "res_met": Count("metric", filter=resolution & Q(met=True)),
        "res_median": PercentileCont(0.5, "elapsed_business", filter=resolution),
        "res_p90": PercentileCont(0.9, "elapsed_business", filter=resolution),
    }


@dataclass
class Attainment:
    """Completed cycles of both metrics: how many, the share met, and business time taken."""

    fr_count: int = 0
    fr_met: int = 0
    fr_median: float | None = None
    res_count: int = 0
    res_met: int = 0
    res_median: float | None = None
    res_p90: float | None = None

    @property
    def fr_met_percent(self):
        return percent(self.fr_met, self.fr_count)

    @property
    def res_met_percent(self):
        return percent(self.res_met, self.res_count)

    @property
    def fr_median_hours(self):
        return hours(self.fr_median)

    @property
    def res_median_hours(self):
        return hours(self.res_median)

    @property
    def res_p90_hours(self):
        return hours(self.res_p90)


def attainment(scope):
    """Completed cycles in the period, both metrics (one query)."""
    row = _completed_cycles(scope).aggregate(**_cycle_aggregates())
    return Attainment(**row)


AGE_BUCKETS = (  # (label, from days, to days): the age of an open request since it was filed
    ("< 2 days", 0, 2),
    ("2–7 days", 2, 7),
    ("1–2 weeks", 7, 14),
    ("2–4 weeks", 14, 28),
    ("> 4 weeks", 28, None),
)


@dataclass
class Backlog:
    open: int
    at_risk: int
    breached: int
    ages: list  # [(label, count, link)]


def _backlog_aggregates(now):
    """The backlog's counts as conditional aggregates (additive: a sum of groups' counts is the whole's)."""
    aggregates = {
        "open": Count("pk"),
        # The queue's own definitions (requests_app.queue.QUEUE_VIEWS "at_risk" and "breached").
        "at_risk": Count("pk", filter=Q(sla_threshold__gt=0, sla_breached=False)),
        "breached": Count("pk", filter=Q(sla_breached=True)),
    }
    for index, (_label, low, high) in enumerate(AGE_BUCKETS):
        condition = Q(created_at__lte=now - timedelta(days=low))
        if high is not None:
            condition &= Q(created_at__gt=now - timedelta(days=high))
        aggregates[f"age_{index}"] = Count("pk", filter=condition)
    return aggregates


def _backlog(scope, now, row):
    """A Backlog of the counts _backlog_aggregates named, with the ages' queue links."""
    today = timezone.localdate(now)
    ages = []
    for index, (label, low, high) in enumerate(AGE_BUCKETS):
        # Filed-date bounds for the queue link (whole days: the link is as close as dates allow).
        created_to = today - timedelta(days=low)
        created_from = today - timedelta(days=high - 1) if high is not None else None
        link = open_link(scope, created_from=created_from, created_to=created_to if low else None)
        ages.append((label, row[f"age_{index}"], link))
    return Backlog(row["open"], row["at_risk"], row["breached"], ages)


def backlog(scope, *, now=None):
    """Open requests now: how many, at risk, breached, and by age (one query). The manager's dashboard
    reads the same counts with its early warning's (early_warning(...).backlog)."""
    now = now or timezone.now()
    aggregates = _backlog_aggregates(now)
    row = ProcurementRequest.objects.filter(scope.request_filter(), status__in=OPEN).aggregate(**aggregates)
    return _backlog(scope, now, row)


@dataclass
class Week:
    monday: date
    created: int = 0
    completed: int = 0
    fr_count: int = 0
    fr_met: int = 0
    res_met: int = 0

    @property
    def fr_met_percent(self):
        return percent(self.fr_met, self.fr_count)

    @property
    def res_met_percent(self):
        return percent(self.res_met, self.completed)


def weekly(scope):
    """Per week of the period: requests filed, resolution cycles completed, met % of both metrics (two queries)."""
    mondays = scope.period.weeks()
    weeks = [Week(monday) for monday in mondays]
    created = (
        ProcurementRequest.objects.filter(
            scope.request_filter(), created_at__gte=scope.period.start, created_at__lt=scope.period.end
        )
        .annotate(week=_span_of("created_at", mondays))
        .values("week")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for row in created:
        weeks[row["week"]].created = row["count"]
    first, resolution = Q(metric=Metric.FIRST_RESPONSE), Q(metric=Metric.RESOLUTION)
    cycles = (
        _completed_cycles(scope)
        .annotate(week=_span_of("stopped_at", mondays))
        .values("week")
        .annotate(
            completed=Count("metric", filter=resolution),
            res_met=Count("metric", filter=resolution & Q(met=True)),
            fr_count=Count("metric", filter=first),
            fr_met=Count("metric", filter=first & Q(met=True)),
        )
        .order_by()
    )
    for row in cycles:
        week = weeks[row["week"]]
        week.completed, week.res_met = row["completed"], row["res_met"]
        week.fr_count, week.fr_met = row["fr_count"], row["fr_met"]
    return weeks


def _span_of(field, first_days):
    """The index in `first_days` of the span (a week, a quarter) a moment of the period falls in, in the
    current time zone: the moment compared with each next span's start (its local midnight, which is what
    truncating the local time to its week or quarter counts from; a DST change at midnight included).
    Converting every row's moment to local time (TruncWeek) cost twice as much: at 1,000,000 requests 137
    against 82 ms for the 90 days' completed cycles."""
    starts = [local_midnight(day) for day in first_days[1:]]
    return Case(
        *(When(**{f"{field}__lt": start}, then=Value(index)) for index, start in enumerate(starts)),
        default=Value(len(first_days) - 1),
    )


@dataclass
class BreakdownRow:
    key: object
    name: str
    volume: int = 0
    open: int = 0
    breached: int = 0
    cycles: Attainment = field(default_factory=Attainment)
    links: dict = field(default_factory=dict)

    def csv(self):
        c = self.cycles
        return [
            self.name,
            self.volume,
            c.fr_count,
            _blank(c.fr_met_percent),
            c.res_count,
            _blank(c.res_met_percent),
            _blank(c.res_median_hours),
            _blank(c.res_p90_hours),
            self.open,
            self.breached,
        ]


BREAKDOWN_CSV_HEADER = [
    "Filed in period",
    "First responses completed",
    "First response met %",
    "Resolutions completed",
    "Resolution met %",
    "Median resolution (business h)",
    "p90 resolution (business h)",
    "Open now",
    "Breached now",
]


def _blank(value):
    return "" if value is None else value


def _row_name(dimension_name, values, key):
    if dimension_name == "priority":
        return Priority(key).label if key in Priority.values else str(key)
    if key is None:
        return {"buyer": "Unassigned", "team": "No team"}.get(dimension_name, "—")
    if dimension_name == "buyer":
        first, last, username = values
        return f"{first} {last}".strip() or username
    return values[0]


def _percentile_sql(connection, fraction, expression):
    """percentile_cont over `expression` (NULLs ignored) in this database's SQL."""
    if connection.vendor == "postgresql":
        return f"percentile_cont({float(fraction)!r}) WITHIN GROUP (ORDER BY {expression})"
    connection.ensure_connection()
    connection.connection.create_aggregate("dashboard_percentile_cont", 2, _SqlitePercentile)
    return f"dashboard_percentile_cont({expression}, {float(fraction)!r})"


def _dimension_columns(prefix=""):
    """Annotations naming each dimension's key (k_<name>) for a CTE. Keys only: the names are read after
    grouping (_grouped_each), so the rows sorted per grouping stay narrow (with the names joined in, a
    90-day period's rows were up to 1 KB wide and every grouping's sort spilled to disk)."""
    return {f"k_{name}": F(f"{prefix}{dimension.field}") for name, dimension in DIMENSIONS.items()}


def _name_source(key):
    """(table, its primary key column, [name columns]) a key column (k_<dimension>) is named from, or None
    (a priority is named in Python)."""
    dimension = DIMENSIONS[key.removeprefix("k_")]
    if not dimension.names:
        return None
    related = ProcurementRequest._meta.get_field(dimension.field.removesuffix("_id")).related_model
    columns = [related._meta.get_field(name.split("__", 1)[1]).column for name in dimension.names]
    return related._meta.db_table, related._meta.pk.column, columns


def _grouped_each(queryset, parts):
    """Aggregate the queryset's rows once per grouping, in one query. The rows are a CTE; each part keeps
    the rows its condition selects and groups them by each of its groupings: on PostgreSQL in
    one GROUP BY GROUPING SETS (the rows scanned once, and groupings along one chain, such as (department,
    category, priority) → (department) → (), share one sort), elsewhere one GROUP BY per grouping; all
    glued with UNION ALL. Each group's names (DIMENSIONS[...].names) are joined to its keys after grouping.

    `parts`: [(condition, aggregates, groupings)]: `condition` (sql, params) over the CTE's columns or None
    (every row); `aggregates` [(alias, sql, params)]; `groupings` {label: [key columns]} over the CTE's
    k_<dimension> columns (an empty list is the total). A label in several parts gets their aggregates
    merged per group (an alias no part computed for a group is None). Returns {label: [(keys, names,
    {alias: value})]}: keys in the grouping's order, as ints except priorities (k_priority); names are the
    name columns of the keys' dimensions, in the keys' order."""
    connection = connections[queryset.db]
    quote = connection.ops.quote_name
    base_sql, base_params = queryset.query.sql_with_params()
    keys_all = [f"k_{name}" for name in DIMENSIONS]
    aliases = list(
        dict.fromkeys(alias for _condition, aggregates, _groupings in parts for alias, _sql, _p in aggregates)
    )
    branches, selects, params = [], [], []  # branches: [(label, that part's aliases)], one per grouping
    for condition, aggregates, groupings in parts:
        computed = {alias: (sql, each) for alias, sql, each in aggregates}
        where = f" WHERE {condition[0]}" if condition else ""

        def head(grouped, first_branch, *, computed=computed):
            # UNION ALL matches the branches' types pairwise: a key or an aggregate a branch lacks is a typed NULL.
            columns = [str(first_branch)]
            columns += [
                key if key in grouped else f"CAST(NULL AS {_key_type(connection, key)}) AS {key}" for key in keys_all
            ]
            for alias in aliases:
                if alias in computed:
                    columns.append(f"{computed[alias][0]} AS {alias}")
                    params.extend(computed[alias][1])
                else:
                    columns.append(
                        f"CAST(NULL AS {'DOUBLE PRECISION' if _is_percentile(alias) else 'BIGINT'}) AS {alias}"
                    )
            return ", ".join(columns)

        if connection.vendor == "postgresql":
            used = [key for key in keys_all if any(key in keys for keys in groupings.values())]
            cases = []
            for label, keys in groupings.items():
                # GROUPING() sets a bit for each argument the row's grouping set does not group by.
                mask = sum(1 << (len(used) - 1 - position) for position, key in enumerate(used) if key not in keys)
                cases.append(f"WHEN {mask} THEN {len(branches)}")
                branches.append((label, set(computed)))
            which = f"CASE GROUPING({', '.join(used)}) {' '.join(cases)} END" if used else str(len(branches) - 1)
            sets = ", ".join(f"({', '.join(keys)})" for keys in groupings.values())
            selects.append(f"SELECT {head(used, which)} FROM dashboard_rows{where} GROUP BY GROUPING SETS ({sets})")
            params.extend(condition[1] if condition else [])
        else:
            for label, keys in groupings.items():
                group = f" GROUP BY {', '.join(keys)}" if keys else ""
                selects.append(f"SELECT {head(keys, len(branches))} FROM dashboard_rows{where}{group}")
                params.extend(condition[1] if condition else [])
                branches.append((label, set(computed)))
    # On PostgreSQL the rows are read again by each part rather than written once to a temporary store
    # (what a CTE used more than once is by default): each part's read keeps only its own rows, within
    # the index scan. At 1,000,000 requests the 90 days' cycle groupings went from ~660 to ~495 ms.
    inline = "NOT MATERIALIZED " if connection.vendor == "postgresql" else ""
    # Each key's names are joined to the grouped rows; name_at: key column -> slice of a row's name columns.
    names, joins, name_at = [], [], {}
    position = 1 + len(keys_all) + len(aliases)
    for key in keys_all:
        table, pk, columns = _name_source(key) or (None, None, [])
        if table:
            joins.append(f"LEFT JOIN {quote(table)} n_{key} ON n_{key}.{quote(pk)} = g.{key}")
            names += [f"n_{key}.{quote(column)}" for column in columns]
        name_at[key] = slice(position, position + len(columns))
        position += len(columns)
    sql = (
        f"WITH dashboard_rows AS {inline}({base_sql}) SELECT g.*, {', '.join(names)} FROM ("
        + " UNION ALL ".join(selects)
        + f") g {' '.join(joins)}"
    )
    groups = {label: {} for _condition, _aggregates, groupings in parts for label in groupings}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*base_params, *params])
        for row in cursor.fetchall():
            label, computed = branches[row[0]]
            key_columns = next(groupings[label] for _c, _a, groupings in parts if label in groupings)
            keys = tuple(
                value if value is None or key == "k_priority" else int(value)
                for key, value in ((key, row[1 + keys_all.index(key)]) for key in key_columns)
            )
            names = [name for key in key_columns for name in row[name_at[key]]]
            values = dict.fromkeys(aliases) if keys not in groups[label] else groups[label][keys][1]
            values.update(
                (alias, row[1 + len(keys_all) + index]) for index, alias in enumerate(aliases) if alias in computed
            )
            groups[label][keys] = (names, values)
    return {label: [(keys, names, values) for keys, (names, values) in rows.items()] for label, rows in groups.items()}


def _key_type(connection, key):
    """The SQL type of a key column (k_<dimension>): the request field's."""
    field = ProcurementRequest._meta.get_field(DIMENSIONS[key.removeprefix("k_")].field.removesuffix("_id"))
    return field.db_type(connection)


def _is_percentile(alias):
    return alias.endswith(("median", "p90"))


def _dimension_groupings():
    """Each dimension on its own, and the total (None)."""
    groupings = {name: [f"k_{name}"] for name in DIMENSIONS}
    groupings[None] = []
    return groupings


# Fairness compares departments within each (category, priority): cells, the desk per cell, and each
# department over all its cells (the breakdown's own grouping, same keys and aggregates: the dashboard,
# which asks for both at once, groups the cycles by department only once).
FAIRNESS_GROUPINGS = {
    "fair_cell": ["k_department", "k_category", "k_priority"],
    "fair_desk": ["k_category", "k_priority"],
    "department": ["k_department"],
}
# The groupings whose median first response is shown (fairness's): computed for them only (a percentile
# is a sort of every group's cycles); the other groupings' first responses are only counted.
FIRST_RESPONSE_MEDIANS = set(FAIRNESS_GROUPINGS)


def cycle_groups(scope, groupings):
    """The completed cycles in scope aggregated once per grouping ({label: [key columns]}), in one query.

    Each metric's cycles are grouped apart, so that a percentile sorts its own metric's cycles only (at
    1,000,000 requests a 90-day period holds 64k completed resolutions among 163k cycles), and the first
    responses' median is computed only for FIRST_RESPONSE_MEDIANS: the other groupings' first responses
    are counted without a sort (PostgreSQL hashes them)."""
    cycles = (
        _completed_cycles(scope)
        .annotate(**_dimension_columns())
        .values("metric", "met", "elapsed_business", "cycle", *_dimension_columns())
        .order_by()
    )
    connection = connections[cycles.db]
    first, resolution = Metric.FIRST_RESPONSE.value, Metric.RESOLUTION.value
    counts = [("count", "COUNT(*)", []), ("met", "SUM(CASE WHEN met THEN 1 ELSE 0 END)", [])]
    resolutions = [
        *((f"res_{alias}", sql, each) for alias, sql, each in counts),
        ("res_median", _percentile_sql(connection, 0.5, "elapsed_business"), []),
        ("res_p90", _percentile_sql(connection, 0.9, "elapsed_business"), []),
        ("res_reopened", "SUM(CASE WHEN cycle > 1 THEN 1 ELSE 0 END)", []),
    ]
    first_responses = [(f"fr_{alias}", sql, each) for alias, sql, each in counts]
    median = [("fr_median", _percentile_sql(connection, 0.5, "elapsed_business"), [])]
    with_median = {label: keys for label, keys in groupings.items() if label in FIRST_RESPONSE_MEDIANS}
    without = {label: keys for label, keys in groupings.items() if label not in FIRST_RESPONSE_MEDIANS}
    parts = [
        (("metric = %s", [resolution]), resolutions, groupings),
        (("metric = %s", [first]), first_responses + median, with_median),
        (("metric = %s", [first]), first_responses, without),
    ]
    return _grouped_each(cycles, [part for part in parts if part[2]])


REQUEST_SQL = [
    ("volume", "SUM(in_period)", []),
    ("open", "SUM(is_open)", []),
    ("breached", "SUM(CASE WHEN is_open = 1 AND sla_breached THEN 1 ELSE 0 END)", []),
]


def breakdowns(scope, *, cycles=None):
    """({dimension: [BreakdownRow]}, the totals' Attainment) in two queries whatever the data: one over
    the requests filed in the period or open now (volume, open, breached), one over the completed
    cycles (attainment and times), each grouped by every dimension at once."""
    in_period = Q(created_at__gte=scope.period.start, created_at__lt=scope.period.end)
    is_open = Q(status__in=OPEN)

    def rows(condition, *, filed, open_now):
        return (
            ProcurementRequest.objects.filter(scope.request_filter(), condition)
            .annotate(**_dimension_columns(), in_period=filed, is_open=Value(open_now))
            .values("sla_breached", "in_period", "is_open", *_dimension_columns())
            .order_by()
        )

    # Open ones and the closed ones filed in the period: two index-only reads glued together (the open
    # requests' covering index request_open_team_by_due, the filing date's request_created_dimensions),
    # rather than one scan of every request for "open or recent". Whether a row is open is a constant
    # of its branch: computed from the status, it would need the status, which the open index lacks.
    requests = rows(is_open, filed=Case(When(in_period, then=Value(1)), default=Value(0)), open_now=1).union(
        rows(in_period & ~is_open, filed=Value(1), open_now=0), all=True
    )
    by_requests = _grouped_each(requests, [(None, REQUEST_SQL, _dimension_groupings())])
    by_cycles = cycles if cycles is not None else cycle_groups(scope, _dimension_groupings())
    tables = {}
    for dimension_name in DIMENSIONS:
        rows = {}
        for (key,), names, values in by_requests[dimension_name]:
            rows[key] = BreakdownRow(key, _row_name(dimension_name, names, key), **_whole(values))
        for (key,), names, values in by_cycles[dimension_name]:
            row = rows.get(key)
            if row is None:
                row = rows[key] = BreakdownRow(key, _row_name(dimension_name, names, key))
            row.cycles = _attainment(values)
        for row in rows.values():
            _link_row(scope, dimension_name, row)
        tables[dimension_name] = sorted(rows.values(), key=lambda row: _row_order(dimension_name, row))
    (_key, _names, totals), *_ = by_cycles[None]
    return tables, _attainment(totals)


def _attainment(values):
    fields = {name: value for name, value in _whole(values).items() if name != "res_reopened"}
    return Attainment(**fields)


def _whole(values):
    """Counts as ints (SUM over no rows is NULL; PostgreSQL's SUM is a numeric), percentiles as floats."""
    return {
        alias: (float(value) if value is not None else None) if _is_percentile(alias) else int(value or 0)
        for alias, value in values.items()
    }


def _link_row(scope, dimension_name, row):
    if row.key is None and dimension_name != "buyer":
        return  # the queue cannot filter on "no team": these numbers stand without a link
    params = {DIMENSIONS[dimension_name].queue_param: "none" if row.key is None else row.key}
    row.links = {
        "volume": created_link(scope, **params),
        "responded": responded_link(scope, **params),
        "completed": completed_link(scope, **params),
        "open": open_link(scope, **params),
        "breached": queue_link("breached", scope, **params),
    }


def breakdown(scope, dimension_name):
    """One dimension's rows (the same two queries as every breakdown at once, read as the dashboard's)."""
    with one_reading():
        return breakdowns(scope)[0][dimension_name]


def _row_order(dimension_name, row):
    if dimension_name == "priority":
        return (PRIORITY_ORDER.index(row.key) if row.key in PRIORITY_ORDER else len(PRIORITY_ORDER), "")
    return (row.key is None, row.name.lower())


@dataclass
class ManagerDashboard:
    scope: Scope
    backlog: Backlog
    attainment: Attainment
    weeks: list
    breakdowns: dict  # dimension name -> [BreakdownRow]
    target_percent: int
    links: dict
    fairness: object = None
    warning: object = None
    as_of: datetime | None = None  # when the period figures come from a snapshot, its time
    fairness_as_of: datetime | None = None  # when only fairness comes from one (the unfiltered view's), its time

    @property
    def created(self):
        return sum(week.created for week in self.weeks)

    @property
    def completed(self):
        return sum(week.completed for week in self.weeks)

    @property
    def backlog_change(self):
        """Filed minus completed in the period: how the backlog moved (cancellations aside)."""
        return self.created - self.completed

    @property
    def breakdown_tables(self):
        """[(name, Dimension, rows)] in DIMENSIONS order."""
        return [(name, DIMENSIONS[name], self.breakdowns[name]) for name in DIMENSIONS]

    def chart_data(self):
        """What static/js/dashboard.js draws (json_script)."""
        return {
            "weeks": [week.monday.isoformat() for week in self.weeks],
            "created": [week.created for week in self.weeks],
            "completed": [week.completed for week in self.weeks],
            "fr_met": [week.fr_met_percent for week in self.weeks],
            "res_met": [week.res_met_percent for week in self.weeks],
            "target": self.target_percent,
            "ages": [label for label, _count, _link in self.backlog.ages],
            "age_counts": [count for _label, count, _link in self.backlog.ages],
            "age_links": [link for _label, _count, link in self.backlog.ages],
            "forecast": {
                "teams": [team.name for team in self.warning.teams],
                "open": [team.due_this_week for team in self.warning.teams],
                "capacity": [team.capacity_left for team in self.warning.teams],
            }
            if self.warning
            else None,
        }


@dataclass
class PeriodFigures:
    """The manager's dashboard's figures about the period (the costly part: they sort every completed cycle
    of the period for exact medians); a preset view may show them from a snapshot (slas/snapshots.py)."""

    attainment: Attainment
    weeks: list
    breakdowns: dict
    fairness: object
    team_pace: dict  # early warning: each team's resolutions in the four weeks before the period's last day


def period_figures(scope, *, today=None, fairness_figures=None):
    """Attainment, weekly series, breakdowns, fairness for the scope (unless given: `fairness_figures`), and
    the teams' pace up to `today` (the early warning's): seven queries (eight with a department chosen,
    five with `fairness_figures`)."""
    # Fairness compares every department: when no department is chosen, its groupings ride on the
    # breakdowns' scan of the completed cycles (one query instead of two).
    shared = None
    if scope.department_id is None and fairness_figures is None:
        shared = cycle_groups(scope, {**_dimension_groupings(), **FAIRNESS_GROUPINGS})
    tables, totals = breakdowns(scope, cycles=shared)
    return PeriodFigures(
        attainment=totals,
        weeks=weekly(scope),
        breakdowns=tables,
        fairness=fairness(scope, grouped=shared) if fairness_figures is None else fairness_figures,
        team_pace=team_pace(scope, today=today or timezone.localdate()),
    )


def manager_dashboard(scope, *, now=None, snapshot=None, fairness_snapshot=None):
    """Everything the procurement manager's dashboard shows, in 13 queries whatever the data size (14 with a
    department chosen; on PostgreSQL one more, one_reading()'s settings). With a `snapshot`
    (snapshots.Snapshot of this scope's PeriodFigures) the period figures (and the teams' pace) are the
    snapshot's and only the "now" figures (backlog and early warning, one pass over the open requests) are
    read: 6 queries. With a `fairness_snapshot` (snapshots.fairness_snapshot: the unfiltered view's, whose
    fairness is this view's, fairness ignoring the department filter), its fairness is shown: 3 queries
    fewer."""
    now = now or timezone.now()
    reused = fairness_snapshot.figures.fairness if fairness_snapshot and not snapshot else None
    with one_reading():
        if snapshot:
            figures = snapshot.figures
        else:
            figures = period_figures(scope, today=timezone.localdate(now), fairness_figures=reused)
        warning = early_warning(scope, now=now, pace=figures.team_pace)
    return ManagerDashboard(
        scope=scope,
        backlog=warning.backlog,
        attainment=figures.attainment,
        weeks=figures.weeks,
        breakdowns=figures.breakdowns,
        target_percent=settings.SLA_DASHBOARD_TARGET_PERCENT,
        links={
            "open": open_link(scope),
            "at_risk": queue_link("at_risk", scope),
            "breached": queue_link("breached", scope),
            "completed": completed_link(scope),
            "responded": responded_link(scope),
            "created": created_link(scope),
        },
        fairness=figures.fairness,
        warning=warning,
        as_of=snapshot.computed_at if snapshot else None,
        fairness_as_of=fairness_snapshot.computed_at if reused else None,
    )


# --- fairness across departments --------------------------------------------------------------------------

PRIORITY_RANK = {Priority.LOW: 1, Priority.NORMAL: 2, Priority.HIGH: 3, Priority.URGENT: 4}


@dataclass
class FairnessCell:
    """One department's completed resolution cycles in one (category, priority), beside everyone else's."""

    category: str
    priority: str
    count: int
    met: int
    median: float | None
    fr_median: float | None
    rest_count: int
    rest_met: int
    desk_median: float | None
    desk_fr_median: float | None
    link_to: tuple = ()  # (scope, department id): the link is built only if the evidence is shown

    @property
    def link(self):
        if not self.link_to:
            return ""
        scope, department_id = self.link_to
        return completed_link(scope, department=department_id)

    @property
    def met_percent(self):
        return percent(self.met, self.count)

    @property
    def rest_met_percent(self):
        return percent(self.rest_met, self.rest_count)

    @property
    def median_hours(self):
        return hours(self.median)

    @property
    def desk_median_hours(self):
        return hours(self.desk_median)


@dataclass
class FairnessRow:
    department_id: int
    name: str
    count: int = 0  # completed resolution cycles
    met: int = 0
    fr_median: float | None = None
    median: float | None = None
    reopened: int = 0
    filed: int = 0
    raised: int = 0
    raised_by: list = field(default_factory=list)  # [(name, count)]
    cells: list = field(default_factory=list)  # [FairnessCell]
    comparable: int = 0  # cycles in cells where other departments have cycles too
    rest_comparable: int = 0
    expected_met_percent: float | None = None  # the others' met %, weighted by this department's mix
    met_gap: float | None = None  # points: this department minus the others, same mix
    time_ratio: float | None = None  # this department's median / the desk's, same mix (1.0 = the same)
    fr_time_ratio: float | None = None
    flags: list = field(default_factory=list)
    links: dict = field(default_factory=dict)

    @property
    def met_percent(self):
        return percent(self.met, self.count)

    @property
    def comparable_met_percent(self):
        met = sum(cell.met for cell in self.cells if cell.rest_count)
        return percent(met, self.comparable)

    @property
    def reopen_percent(self):
        return percent(self.reopened, self.count)

    @property
    def raised_percent(self):
        return percent(self.raised, self.filed)

    @property
    def time_difference_percent(self):
        return None if self.time_ratio is None else round(100 * (self.time_ratio - 1), 1)

    @property
    def fr_time_difference_percent(self):
        return None if self.fr_time_ratio is None else round(100 * (self.fr_time_ratio - 1), 1)

    @property
    def median_hours(self):
        return hours(self.median)

    @property
    def fr_median_hours(self):
        return hours(self.fr_median)


@dataclass
class Fairness:
    rows: list
    margin: int
    min_volume: int

    @property
    def flagged(self):
        return [row for row in self.rows if row.flags]


def _weighted(pairs):
    """Σ weight·value / Σ weight over the pairs whose value is known, or None."""
    known = [(weight, value) for weight, value in pairs if value is not None and weight]
    total = sum(weight for weight, _ in known)
    return sum(weight * value for weight, value in known) / total if total else None


def fairness(scope, *, margin=None, min_volume=None, grouped=None):
    """Each department's service beside the other departments' for comparable requests (the same category
    and priority), in three queries (two when `grouped`, the cycles' groupings, is given). The
    department filter is ignored: fairness compares them all.

    - met %: the others' met % in each (category, priority) the department used, weighted by the
      department's own volume there (indirect standardisation), against the department's own;
    - times: the department's median in each cell over the median of every department's requests in
      that cell, averaged with the same weights (1.0 = as fast as everyone);
    - flagged when the met % differs by more than `margin` points or a time by more than `margin` %,
      and both the department and the others have at least `min_volume` comparable cycles.
    """
    margin = settings.SLA_FAIRNESS_MARGIN_PERCENT if margin is None else margin
    min_volume = settings.SLA_FAIRNESS_MIN_VOLUME if min_volume is None else min_volume
    scope = Scope(scope.period, team_id=scope.team_id, category_id=scope.category_id, priority=scope.priority)
    if grouped is None:
        grouped = cycle_groups(scope, FAIRNESS_GROUPINGS)
    desk = {keys: _fair(values) for keys, _names, values in grouped["fair_desk"]}
    overall = {keys[0]: _fair(values) for keys, _names, values in grouped["department"]}
    per_department = [
        {
            "procurement_request__department_id": keys[0],
            "procurement_request__department__name": names[0],
            "procurement_request__category_id": keys[1],
            "procurement_request__category__name": names[1],
            "procurement_request__priority": keys[2],
            **_fair(values),
        }
        # In key order (NULLs last, as ORDER BY): the weighted means below add floats up in this order.
        for keys, names, values in sorted(grouped["fair_cell"], key=lambda cell: _key_order(cell[0]))
    ]
    rows = {}
    for values in per_department:
        department_id = values["procurement_request__department_id"]
        row = rows.setdefault(
            department_id, FairnessRow(department_id, values["procurement_request__department__name"])
        )
        key = (values["procurement_request__category_id"], values["procurement_request__priority"])
        everyone = desk[key]
        row.count += values["count"]
        row.met += values["met"]
        row.reopened += values["reopened"]
        if values["count"]:
            cell_scope = Scope(scope.period, team_id=scope.team_id, category_id=key[0], priority=key[1])
            row.cells.append(
                FairnessCell(
                    category=values["procurement_request__category__name"],
                    priority=Priority(key[1]).label if key[1] in Priority.values else key[1],
                    count=values["count"],
                    met=values["met"],
                    median=values["median"],
                    fr_median=values["fr_median"],
                    rest_count=everyone["count"] - values["count"],
                    rest_met=everyone["met"] - values["met"],
                    desk_median=everyone["median"],
                    desk_fr_median=everyone["fr_median"],
                    link_to=(cell_scope, department_id),
                )
            )
    _raises(scope, rows)
    for row in rows.values():
        row.median = overall.get(row.department_id, {}).get("median")
        row.fr_median = overall.get(row.department_id, {}).get("fr_median")
        comparable = [cell for cell in row.cells if cell.rest_count]
        row.comparable = sum(cell.count for cell in comparable)
        row.rest_comparable = sum(cell.rest_count for cell in comparable)
        expected = _weighted((cell.count, cell.rest_met / cell.rest_count) for cell in comparable)
        row.expected_met_percent = None if expected is None else round(100 * expected, 1)
        if row.expected_met_percent is not None and row.comparable_met_percent is not None:
            row.met_gap = round(row.comparable_met_percent - row.expected_met_percent, 1)
        row.time_ratio = _weighted(
            (cell.count, cell.median / cell.desk_median if cell.median is not None and cell.desk_median else None)
            for cell in comparable
        )
        row.fr_time_ratio = _weighted(
            (
                cell.count,
                cell.fr_median / cell.desk_fr_median if cell.fr_median is not None and cell.desk_fr_median else None,
            )
            for cell in comparable
        )
        row.cells.sort(key=lambda cell: (-cell.count, cell.category, cell.priority))
        department_scope = Scope(scope.period, team_id=scope.team_id, category_id=scope.category_id)
        row.links = {
            "completed": completed_link(department_scope, department=row.department_id, priority=scope.priority),
            "filed": created_link(department_scope, department=row.department_id, priority=scope.priority),
        }
        if row.comparable >= min_volume and row.rest_comparable >= min_volume:
            if row.met_gap is not None and abs(row.met_gap) > margin:
                better = "higher" if row.met_gap > 0 else "lower"
                row.flags.append(f"met % {abs(row.met_gap)} points {better} than the others, same mix")
            for label, difference in (
                ("resolution", row.time_difference_percent),
                ("first response", row.fr_time_difference_percent),
            ):
                if difference is not None and abs(difference) > margin:
                    slower = "slower" if difference > 0 else "faster"
                    row.flags.append(f"{label} {abs(difference)} % {slower} than the desk, same mix")
    return Fairness(sorted(rows.values(), key=lambda row: row.name.lower()), margin, min_volume)


def _key_order(keys):
    return [(key is None, key) for key in keys]


def _fair(values):
    """Fairness's names for the cycle aggregates."""
    whole = _whole(values)
    return {
        "count": whole["res_count"],
        "met": whole["res_met"],
        "reopened": whole["res_reopened"],
        "median": whole["res_median"],
        "fr_median": whole["fr_median"],
    }


def _raises(scope, rows):
    """Requests filed in the period per department, those whose priority was raised, and who raised them
    (two queries)."""
    from requests_app.models import EventKind, RequestEvent

    raised_events = RequestEvent.objects.filter(kind=EventKind.REPRIORITISED, data__has_key="priority").annotate(
        old_rank=_rank("data__priority__0"), new_rank=_rank("data__priority__1")
    )
    raised_events = raised_events.filter(new_rank__gt=F("old_rank"))
    filed = (
        ProcurementRequest.objects.filter(
            scope.request_filter(), created_at__gte=scope.period.start, created_at__lt=scope.period.end
        )
        .values("department_id", "department__name")
        .annotate(
            filed=Count("pk"),
            # Not distinct: pk is unique, and COUNT(DISTINCT) would sort the period's requests instead of hashing them.
            raised=Count("pk", filter=Q(pk__in=raised_events.values("procurement_request_id"))),
        )
        .order_by()
    )
    for values in filed:
        row = rows.setdefault(values["department_id"], FairnessRow(values["department_id"], values["department__name"]))
        row.filed, row.raised = values["filed"], values["raised"]
    by_whom = (
        raised_events.filter(
            scope.request_filter("procurement_request__"),
            procurement_request__created_at__gte=scope.period.start,
            procurement_request__created_at__lt=scope.period.end,
        )
        .values("procurement_request__department_id", "actor__first_name", "actor__last_name", "actor__username")
        .annotate(count=Count("pk"))
        .order_by("-count")
    )
    for values in by_whom:
        row = rows.get(values["procurement_request__department_id"])
        if row is not None:
            name = f"{values['actor__first_name'] or ''} {values['actor__last_name'] or ''}".strip()
            row.raised_by.append((name or values["actor__username"] or "system", values["count"]))


def _rank(path):
    return Case(
        *(When(**{path: priority.value}, then=Value(rank)) for priority, rank in PRIORITY_RANK.items()),
        default=Value(0),
    )


# --- early warning: what breaches next, and which teams cannot keep up -------------------------------------

WARNING_HORIZON_SECONDS = 24 * 3600  # business time
CAPACITY_WEEKS = 4  # the recent completion rate is measured over this many weeks


@dataclass
class TeamForecast:
    team_id: int | None
    name: str
    horizon: datetime
    open: int = 0
    breached: int = 0
    due_soon: int = 0  # due within the next 24 business hours, not breached yet
    due_this_week: int = 0  # due before the week ends (breached ones included: already missed)
    completed_recently: int = 0  # resolution cycles completed in the last CAPACITY_WEEKS weeks
    week_left: float = 1.0  # share of the team's business time of this week still ahead
    links: dict = field(default_factory=dict)

    @property
    def weekly_rate(self):
        return round(self.completed_recently / CAPACITY_WEEKS, 1)

    @property
    def capacity_left(self):
        """What the team can still complete this week at its recent pace."""
        return round(self.weekly_rate * self.week_left, 1)

    @property
    def weeks_to_clear(self):
        return round(self.open / self.weekly_rate, 1) if self.weekly_rate else None

    @property
    def will_miss(self):
        """More work is due this week than the team completes in the rest of it at its recent pace."""
        return self.due_this_week > self.capacity_left


@dataclass
class BuyerWarning:
    buyer_id: int | None
    name: str
    due_soon: int
    open: int
    breached: int
    link: str = ""


@dataclass
class EarlyWarning:
    teams: list
    buyers: list
    horizon: datetime  # the desk's: 24 business hours from now in the default calendar
    backlog: Backlog | None = None  # the open requests' counts, read in the same pass

    @property
    def due_soon(self):
        return sum(team.due_soon for team in self.teams)

    @property
    def missing(self):
        return [team for team in self.teams if team.will_miss]


def _minute(moment):
    return moment.replace(second=0, microsecond=0)


def team_pace(scope, *, today):
    """Resolution cycles completed per team ({team id: count}) in the CAPACITY_WEEKS weeks before `today`:
    the early warning's measure of each team's pace (one query). Whole past days: it changes with the day,
    so a snapshot of the day may hold it."""
    recent = Period(today - timedelta(days=7 * CAPACITY_WEEKS), today - timedelta(days=1), "recent")
    rows = (
        _completed_cycles(replace(scope, period=recent))
        .filter(metric=Metric.RESOLUTION)
        .values("team_id")
        .annotate(count=Count("*"))
        .order_by()
    )
    return {row["team_id"]: row["count"] for row in rows}


def early_warning(scope, *, now=None, pace=None):
    """Requests that breach within the next 24 business hours unless worked (per team, in the team's
    calendar, and per buyer, in the desk's), and each team's backlog against its recent pace: seven
    queries whatever the data (six with `pace`, team_pace's counts for today). The period does not apply
    (this is about now); the other filters do."""
    from django.contrib.auth import get_user_model

    from requests_app.models import BuyerTeam

    from .models import BusinessCalendar, SlaGoal

    now = now or timezone.now()
    teams = list(BuyerTeam.objects.values("pk", "name", "calendar_id").order_by("name"))
    default_calendar_id = (
        SlaGoal.objects.filter(policy__is_default=True, category=None, priority=None, department=None)
        .order_by("-position")
        .values_list("calendar_id", flat=True)
        .first()
    )
    calendar_ids = {team["calendar_id"] for team in teams} | {default_calendar_id} - {None}
    calendars = {
        calendar.pk: calendar.to_clock()
        for calendar in BusinessCalendar.objects.with_versions().filter(pk__in=calendar_ids)
    }
    local_today = timezone.localdate(now)
    week_end = local_midnight(local_today + timedelta(days=7 - local_today.weekday()))
    week_start = week_end - timedelta(days=7)

    def horizon_of(calendar_id):
        calendar = calendars.get(calendar_id)
        due = calendar.due_at(now, WARNING_HORIZON_SECONDS) if calendar else None
        return _minute(due or now + timedelta(seconds=WARNING_HORIZON_SECONDS))

    def week_left(calendar_id):
        calendar = calendars.get(calendar_id)
        if calendar is None:
            return max(0.0, (week_end - now) / (week_end - week_start))
        whole = calendar.business_seconds(week_start, week_end)
        return calendar.business_seconds(now, week_end) / whole if whole else 0.0

    desk_horizon = horizon_of(default_calendar_id)
    forecasts = {team["pk"]: TeamForecast(team["pk"], team["name"], horizon_of(team["calendar_id"])) for team in teams}
    forecasts[None] = TeamForecast(None, "No team", desk_horizon, week_left=week_left(default_calendar_id))
    for team in teams:
        forecasts[team["pk"]].week_left = week_left(team["calendar_id"])
    not_breached = Q(sla_breached=False, sla_due_at__isnull=False)
    due_soon = Q(pk__in=[])
    for team_id, forecast in forecasts.items():
        due_soon |= (
            Q(team_id=team_id, sla_due_at__lte=forecast.horizon)
            if team_id
            else Q(team__isnull=True, sla_due_at__lte=forecast.horizon)
        )
    open_requests = ProcurementRequest.objects.filter(scope.request_filter(), status__in=OPEN)
    # Every open request read once, grouped by team and buyer: each team's and buyer's figures and the
    # backlog's are sums of these few hundred cells (at 1,000,000 requests, three reads of the 98,585
    # open ones cost more than the rest of the page).
    backlog_counts = _backlog_aggregates(now)
    cells = list(
        open_requests.values("team_id", "assignee_id")
        .annotate(
            **backlog_counts,
            team_due_soon=Count("pk", filter=not_breached & due_soon),
            due_this_week=Count("pk", filter=Q(sla_breached=True) | Q(sla_due_at__lt=week_end)),
            buyer_due_soon=Count("pk", filter=not_breached & Q(sla_due_at__lte=desk_horizon)),
        )
        .order_by()
    )
    for cell in cells:
        forecast = forecasts[cell["team_id"]]
        forecast.open += cell["open"]
        forecast.breached += cell["breached"]
        forecast.due_soon += cell["team_due_soon"]
        forecast.due_this_week += cell["due_this_week"]
    open_now = _backlog(scope, now, {name: sum(cell[name] for cell in cells) for name in backlog_counts})
    for team_id, count in (team_pace(scope, today=local_today) if pace is None else pace).items():
        forecast = forecasts.get(team_id)
        if forecast is not None:
            forecast.completed_recently = count
    for team_id, forecast in forecasts.items():
        if team_id is None:
            continue
        local_horizon = timezone.localtime(forecast.horizon).strftime("%Y-%m-%dT%H:%M")
        forecast.links = {
            "open": open_link(scope, team=team_id),
            "breached": queue_link("breached", scope, team=team_id),
            "due_soon": open_link(scope, team=team_id, due_by=local_horizon),
        }
    per_buyer = {}
    for cell in cells:
        if cell["assignee_id"] is not None:
            counts = per_buyer.setdefault(cell["assignee_id"], {"open": 0, "breached": 0, "due_soon": 0})
            counts["open"] += cell["open"]
            counts["breached"] += cell["breached"]
            counts["due_soon"] += cell["buyer_due_soon"]
    buyers = [{"assignee_id": pk, **counts} for pk, counts in per_buyer.items() if counts["due_soon"]]
    # Most due soon first, then by first name and username in the database's collation (as ORDER BY did).
    names = {
        user["pk"]: user
        for user in get_user_model()
        # "or pk is null" (never true): an empty IN would skip the query, and the count must not depend on the data.
        .objects.filter(Q(pk__in=[values["assignee_id"] for values in buyers]) | Q(pk__isnull=True))
        .order_by("first_name", "username")
        .values("pk", "first_name", "last_name", "username")
    }
    rank = {pk: position for position, pk in enumerate(names)}
    buyers.sort(key=lambda values: (-values["due_soon"], rank[values["assignee_id"]]))
    desk_local = timezone.localtime(desk_horizon).strftime("%Y-%m-%dT%H:%M")
    buyer_rows = [
        BuyerWarning(
            values["assignee_id"],
            _row_name(
                "buyer",
                [names[values["assignee_id"]][name] for name in ("first_name", "last_name", "username")],
                values["assignee_id"],
            ),
            values["due_soon"],
            values["open"],
            values["breached"],
            open_link(scope, assignee=values["assignee_id"], due_by=desk_local),
        )
        for values in buyers
    ]
    team_rows = [forecast for team_id, forecast in forecasts.items() if team_id is not None or forecast.open]
    return EarlyWarning(team_rows, buyer_rows, desk_horizon, backlog=open_now)


# --- the department head's scorecard ------------------------------------------------------------------------


@dataclass
class Promise:
    applies_to: str
    policy: str
    first_response: str
    resolution: str


@dataclass
class QuarterResult:
    label: str
    attainment: Attainment
    link: str


@dataclass
class Scorecard:
    department: object
    scope: Scope
    promises: list
    attainment: Attainment
    backlog: Backlog
    urgent: list  # [QueueRow-like (request, badge)], the most urgent open requests
    quarters: list  # [QuarterResult], oldest first
    links: dict
    filed: int = 0
    as_of: datetime | None = None  # when the period figures and quarters come from a snapshot, its time

    def chart_data(self):
        return {
            "trend": {
                "labels": [quarter.label for quarter in self.quarters],
                "fr_met": [quarter.attainment.fr_met_percent for quarter in self.quarters],
                "res_met": [quarter.attainment.res_met_percent for quarter in self.quarters],
            }
        }


SCORECARD_URGENT_ROWS = 15
SCORECARD_QUARTERS = 4


def promises_for(department):
    """The catalogue's goals that apply to this department's requests, in matching order (two queries)."""
    from .catalogue import _applies_to, business_day_seconds, target_words
    from .models import SlaGoal

    goals = (
        SlaGoal.objects.filter(policy__is_active=True)
        .filter(Q(department__isnull=True) | Q(department=department))
        .select_related("policy", "category", "department", "calendar")
        .prefetch_related("calendar__versions")
        .order_by("policy__is_default", "policy__position", "policy__name", "position", "id")
    )
    promises = []
    for goal in goals:
        per_day = business_day_seconds(goal.calendar.current_spec)
        promises.append(
            Promise(
                applies_to=_applies_to(goal),
                policy=goal.policy.name,
                first_response=target_words(goal.first_response_minutes * 60, per_day),
                resolution=target_words(goal.resolution_minutes * 60, per_day),
            )
        )
    return promises


def quarterly_attainment(scope, *, count=SCORECARD_QUARTERS, today=None):
    """Attainment in each of the last `count` quarters, the current one last (one query)."""
    quarters = list(reversed(recent_quarters(count, today=today)))
    first_year, first_number = quarters[0]
    last_year, last_number = quarters[-1]
    span = Period(
        Period.quarter(first_year, first_number).first_day, Period.quarter(last_year, last_number).last_day, ""
    )
    rows = (
        _completed_cycles(replace(scope, period=span))
        .annotate(quarter=_span_of("stopped_at", [Period.quarter(*quarter).first_day for quarter in quarters]))
        .values("quarter")
        .annotate(**_cycle_aggregates())
        .order_by()
    )
    by_quarter = {quarters[row.pop("quarter")]: Attainment(**row) for row in rows}
    results = []
    for year, number in quarters:
        period = Period.quarter(year, number)
        results.append(
            QuarterResult(
                f"Q{number} {year}",
                by_quarter.get((year, number), Attainment()),
                completed_link(replace(scope, period=period)),
            )
        )
    return results


@dataclass
class ScorecardFigures:
    """A scorecard's figures about the period and the last quarters (the part that reads every completed
    cycle of the department in a year); a preset view may show them from a snapshot (slas/snapshots.py)."""

    attainment: Attainment
    quarters: list
    filed: int


def scorecard_figures(department, period, *, quarters=None):
    """Attainment in the period, the last four quarters (unless given: they do not depend on the period),
    requests filed in the period: three queries (two with `quarters`)."""
    scope = Scope(period, department_id=department.pk)
    return ScorecardFigures(
        attainment=attainment(scope),
        quarters=quarterly_attainment(scope) if quarters is None else quarters,
        filed=ProcurementRequest.objects.filter(
            department=department, created_at__gte=period.start, created_at__lt=period.end
        ).count(),
    )


def department_scorecard(department, period, *, now=None, snapshot=None):
    """What a department head reads about their department: promises, delivery, open work and risk, the
    last four quarters (ten queries whatever the data; seven with a `snapshot`, a snapshots.Snapshot of
    this department's and period's ScorecardFigures)."""
    scope = Scope(period, department_id=department.pk)
    with one_reading():
        figures = snapshot.figures if snapshot else scorecard_figures(department, period)
        # Breached first, then the earliest due; paused and not yet started last.
        urgent = list(
            ProcurementRequest.objects.filter(department=department, status__in=OPEN)
            .with_list_relations()
            .order_by("-sla_breached", F("sla_due_at").asc(nulls_last=True), "id")[:SCORECARD_URGENT_ROWS]
        )
        open_now = backlog(scope, now=now)
    return Scorecard(
        department=department,
        scope=scope,
        promises=promises_for(department),
        attainment=figures.attainment,
        backlog=open_now,
        urgent=_badged(urgent),
        quarters=figures.quarters,
        filed=figures.filed,
        links={
            "completed": completed_link(scope),
            "created": created_link(scope),
        },
        as_of=snapshot.computed_at if snapshot else None,
    )


def _badged(procurement_requests):
    from .selectors import sla_badges

    badges = sla_badges(procurement_requests)
    return [(procurement_request, badges[procurement_request.pk]) for procurement_request in procurement_requests]


def csat_in_scope(scope):
    """Satisfaction (stakeholders/satisfaction.py) of the surveys sent in the period, about the requests
    the other filters choose: average, response rate and distribution, in one query."""
    from stakeholders.models import SatisfactionSurvey
    from stakeholders.satisfaction import csat_figures

    surveys = SatisfactionSurvey.objects.filter(
        scope.request_filter("procurement_request__"), sent_at__gte=scope.period.start, sent_at__lt=scope.period.end
    )
    return csat_figures(surveys)
