"""The SLA dashboards' figures: reads only, computed in SQL, a fixed number of queries whatever the data.

Every figure follows SLA-SEMANTICS: attainment counts *completed cycles* (each request's current
cycle of a metric, stopped with a verdict, `met` set) whose stop falls in the period; times are the
business seconds the clock counted (`elapsed_business`, frozen at the stop); "now" figures (open, at
risk, breached) read the SLA summary the services keep on the request (`sla_threshold`,
`sla_breached`), exactly as the queue's views do, so that a number and the queue it links to agree.

Medians and 90th percentiles are `percentile_cont` (linear interpolation between the two nearest
values) on PostgreSQL; on SQLite the same function is an aggregate registered on the connection.
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Aggregate, Count, FloatField, Q
from django.db.models.functions import TruncWeek
from django.urls import reverse
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


def queue_link(view, scope, **params):
    """The queue view and filters that list the requests behind a figure."""
    query = {**scope.queue_params(), **{name: value for name, value in params.items() if value is not None}}
    url = reverse("requests_app:queue", kwargs={"view": view})
    return f"{url}?{urlencode(query)}" if query else url


def completed_link(scope, **params):
    return queue_link("all", scope, completed_from=scope.period.first_day, completed_to=scope.period.last_day, **params)


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


def _completed_cycles(scope, prefix="procurement_request__"):
    """Current cycles stopped with a verdict inside the period (SLA-SEMANTICS: completed cycles)."""
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
        "fr_count": Count("pk", filter=first),
        "fr_met": Count("pk", filter=first & Q(met=True)),
        "fr_median": PercentileCont(0.5, "elapsed_business", filter=first),
        "res_count": Count("pk", filter=resolution),
        "res_met": Count("pk", filter=resolution & Q(met=True)),
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


def backlog(scope, *, now=None):
    """Open requests now: how many, at risk, breached, and by age (one query)."""
    now = now or timezone.now()
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
    row = ProcurementRequest.objects.filter(scope.request_filter(), status__in=OPEN).aggregate(**aggregates)
    today = timezone.localdate(now)
    ages = []
    for index, (label, low, high) in enumerate(AGE_BUCKETS):
        # Filed-date bounds for the queue link (whole days: the link is as close as dates allow).
        created_to = today - timedelta(days=low)
        created_from = today - timedelta(days=high - 1) if high is not None else None
        link = open_link(scope, created_from=created_from, created_to=created_to if low else None)
        ages.append((label, row[f"age_{index}"], link))
    return Backlog(row["open"], row["at_risk"], row["breached"], ages)


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
    weeks = {monday: Week(monday) for monday in scope.period.weeks()}
    tz = timezone.get_current_timezone()
    created = (
        ProcurementRequest.objects.filter(
            scope.request_filter(), created_at__gte=scope.period.start, created_at__lt=scope.period.end
        )
        .annotate(week=TruncWeek("created_at", tzinfo=tz))
        .values("week")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for row in created:
        weeks[_as_date(row["week"])].created = row["count"]
    first, resolution = Q(metric=Metric.FIRST_RESPONSE), Q(metric=Metric.RESOLUTION)
    cycles = (
        _completed_cycles(scope)
        .annotate(week=TruncWeek("stopped_at", tzinfo=tz))
        .values("week")
        .annotate(
            completed=Count("pk", filter=resolution),
            res_met=Count("pk", filter=resolution & Q(met=True)),
            fr_count=Count("pk", filter=first),
            fr_met=Count("pk", filter=first & Q(met=True)),
        )
        .order_by()
    )
    for row in cycles:
        week = weeks[_as_date(row["week"])]
        week.completed, week.res_met = row["completed"], row["res_met"]
        week.fr_count, week.fr_met = row["fr_count"], row["fr_met"]
    return list(weeks.values())


def _as_date(value):
    return timezone.localtime(value).date() if isinstance(value, datetime) else value


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


def breakdown(scope, dimension_name):
    """One row per value of the dimension (two queries): volume filed in the period, completed cycles'
    attainment and times, open and breached now."""
    dimension = DIMENSIONS[dimension_name]
    columns = [dimension.field, *dimension.names]
    in_period = Q(created_at__gte=scope.period.start, created_at__lt=scope.period.end)
    is_open = Q(status__in=OPEN)
    requests = (
        ProcurementRequest.objects.filter(scope.request_filter())
        .filter(in_period | is_open)
        .values(*columns)
        .annotate(
            volume=Count("pk", filter=in_period),
            open=Count("pk", filter=is_open),
            breached=Count("pk", filter=is_open & Q(sla_breached=True)),
        )
        .order_by()
    )
    rows = {}
    for values in requests:
        key = values[dimension.field]
        rows[key] = BreakdownRow(
            key,
            _row_name(dimension_name, [values[name] for name in dimension.names], key),
            volume=values["volume"],
            open=values["open"],
            breached=values["breached"],
        )
    prefixed = [f"procurement_request__{column}" for column in columns]
    cycles = _completed_cycles(scope).values(*prefixed).annotate(**_cycle_aggregates()).order_by()
    for values in cycles:
        key = values[prefixed[0]]
        row = rows.get(key)
        if row is None:
            names = [values[f"procurement_request__{name}"] for name in dimension.names]
            row = rows[key] = BreakdownRow(key, _row_name(dimension_name, names, key))
        row.cycles = Attainment(**{name: values[name] for name in _cycle_aggregates()})
    for row in rows.values():
        if row.key is None and dimension_name != "buyer":
            continue  # the queue cannot filter on "no team": these numbers stand without a link
        params = {dimension.queue_param: "none" if row.key is None else row.key}
        row.links = {
            "volume": created_link(scope, **params),
            "completed": completed_link(scope, **params),
            "open": open_link(scope, **params),
            "breached": queue_link("breached", scope, **params),
        }
    return sorted(rows.values(), key=lambda row: _row_order(dimension_name, row))


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
        }


def manager_dashboard(scope, *, now=None):
    """Everything the procurement manager's dashboard shows, in 14 queries whatever the data size."""
    return ManagerDashboard(
        scope=scope,
        backlog=backlog(scope, now=now),
        attainment=attainment(scope),
        weeks=weekly(scope),
        breakdowns={name: breakdown(scope, name) for name in DIMENSIONS},
        target_percent=settings.SLA_DASHBOARD_TARGET_PERCENT,
        links={
            "open": open_link(scope),
            "at_risk": queue_link("at_risk", scope),
            "breached": queue_link("breached", scope),
            "completed": completed_link(scope),
            "created": created_link(scope),
        },
    )
