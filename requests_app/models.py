import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import connections, models
from django.db.models import Case, Exists, F, OuterRef, Prefetch, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone


class Status(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_FOR_REQUESTER = "waiting_for_requester", "Waiting for requester"
    WAITING_FOR_SUPPLIER = "waiting_for_supplier", "Waiting for supplier"
    ORDERED = "ordered", "Ordered"
    COMPLETED = "completed", "Completed"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# The lifecycle, declared once: every allowed move from each status. Nothing else moves a request.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SUBMITTED: frozenset({Status.PENDING_APPROVAL, Status.ASSIGNED, Status.CANCELLED}),
    # → assigned: approval asked for mid-flight (a category change) returns the request to its buyer.
    Status.PENDING_APPROVAL: frozenset({Status.APPROVED, Status.ASSIGNED, Status.REJECTED, Status.CANCELLED}),
    Status.APPROVED: frozenset({Status.ASSIGNED, Status.CANCELLED}),
    Status.REJECTED: frozenset(),
    # → pending approval, from here on: a category change made the request need approval it never had.
    Status.ASSIGNED: frozenset(
        {
            Status.IN_PROGRESS,
            Status.WAITING_FOR_REQUESTER,
            Status.WAITING_FOR_SUPPLIER,
            Status.PENDING_APPROVAL,
            Status.CANCELLED,
        }
    ),
    Status.IN_PROGRESS: frozenset(
        {
            Status.WAITING_FOR_REQUESTER,
            Status.WAITING_FOR_SUPPLIER,
            Status.ORDERED,
            Status.COMPLETED,
            Status.PENDING_APPROVAL,
            Status.CANCELLED,
        }
    ),
    Status.WAITING_FOR_REQUESTER: frozenset({Status.IN_PROGRESS, Status.CANCELLED}),
    Status.WAITING_FOR_SUPPLIER: frozenset(
        {Status.IN_PROGRESS, Status.ORDERED, Status.PENDING_APPROVAL, Status.CANCELLED}
    ),
    Status.ORDERED: frozenset({Status.COMPLETED, Status.IN_PROGRESS, Status.CANCELLED}),
    Status.COMPLETED: frozenset({Status.CLOSED, Status.IN_PROGRESS}),  # → in progress is "reopen"
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}

OPEN_STATUSES = frozenset(
    {
        Status.SUBMITTED,
        Status.PENDING_APPROVAL,
        Status.APPROVED,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
        Status.WAITING_FOR_REQUESTER,
        Status.WAITING_FOR_SUPPLIER,
        Status.ORDERED,
    }
)
# Procurement has not taken the request yet: a buyer may claim it.
CLAIMABLE_STATUSES = frozenset({Status.SUBMITTED, Status.APPROVED})


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Currency(models.Model):
    """A currency requests may be valued in, with its rate to the base currency (managed in admin)."""

    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=50)
    rate_to_base = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="Value of one unit in the base currency (EUR).",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "currencies"
        constraints = [models.CheckConstraint(condition=Q(rate_to_base__gt=0), name="currency_rate_positive")]

    def __str__(self):
        return self.code


class CategoryQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class Category(models.Model):
    """What is being asked for; it sets whether department-head approval is needed."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    approval_threshold = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Requests valued above this amount (in EUR) need the department head's approval. Empty: never.",
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    objects = CategoryQuerySet.as_manager()

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class BuyerTeamQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class BuyerTeam(models.Model):
    """Buyers who work one kind of request together; routing rules send requests to a team."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_buyer_teams",
        help_text="Re-routes and reassigns the team's requests, and sets the members' out-of-office dates.",
    )
    calendar = models.ForeignKey(
        "slas.BusinessCalendar",
        on_delete=models.PROTECT,
        related_name="buyer_teams",
        help_text="The team's working hours.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="buyer_teams", blank=True
    )
    is_active = models.BooleanField(default=True, help_text="Rules that name an inactive team are skipped.")
    # Round robin's place in the rotation: the member it assigned last (changed under the row lock).
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = BuyerTeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(BuyerTeam, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")

    class Meta:
        ordering = ["team__name", "user__first_name", "user__last_name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique")]

    def __str__(self):
        return f"{self.user} in {self.team}"


class RoutingStrategy(models.TextChoices):
    LEAST_LOADED = "least_loaded", "Least loaded"
    ROUND_ROBIN = "round_robin", "Round robin"
    TEAM_QUEUE = "team_queue", "Team queue"


# The condition fields of a rule; the default rule has none of them set.
RULE_CONDITIONS = ("category", "department", "currency", "min_value", "max_value", "title_keywords")


class RoutingRule(models.Model):
    """Where requests that meet every set condition go: a team, and how a buyer in it is picked.

    Rules are tried in position order and the first match wins; the default rule has no conditions
    and is tried last (requests_app/routing.py).
    """

    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(
        "stakeholders.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.ForeignKey(
        Currency,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only requests valued in this currency.",
    )
    min_value = models.DecimalField(
        "minimum value (EUR)",
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The estimated value in EUR is at least this.",
    )
    max_value = models.DecimalField(
        "maximum value (EUR)",
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The estimated value in EUR is at most this.",
    )
    title_keywords = models.CharField(
        max_length=500,
        blank=True,
        help_text="Comma-separated; the title contains any of them at the start of a word, in any case.",
    )
    team = models.ForeignKey(BuyerTeam, on_delete=models.PROTECT, related_name="routing_rules")
    strategy = models.CharField(max_length=20, choices=RoutingStrategy.choices, default=RoutingStrategy.LEAST_LOADED)
    is_default = models.BooleanField(default=False, editable=False)

    class Meta:
        # The default rule last: evaluation order is display order.
        ordering = ["is_default", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="routing_rule_one_default",
                violation_error_message="There is already a default rule.",
            ),
            models.CheckConstraint(
                condition=Q(is_default=False)
                | Q(
                    is_active=True,
                    category__isnull=True,
                    department__isnull=True,
                    currency__isnull=True,
                    min_value__isnull=True,
                    max_value__isnull=True,
                    title_keywords="",
                ),
                name="routing_default_rule_active_and_unconditional",
                violation_error_message="The default rule is always active and has no conditions.",
            ),
            models.CheckConstraint(
                condition=Q(min_value__isnull=True) | Q(max_value__isnull=True) | Q(min_value__lte=F("max_value")),
                name="routing_rule_value_range",
                violation_error_message="The minimum value is above the maximum value.",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        conditions = [field for field in RULE_CONDITIONS if getattr(self, field) not in (None, "")]
        if self.is_default:
            errors = dict.fromkeys(conditions, "The default rule matches every request: leave this empty.")
            if not self.is_active:
                errors["is_active"] = "The default rule is always active."
            if errors:
                raise ValidationError(errors)
        elif not conditions:
            # A rule without conditions would shadow every rule after it, the default included.
            raise ValidationError("Set at least one condition; the default rule already takes everything else.")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValidationError({"max_value": "The maximum must not be below the minimum."})

    @property
    def keywords(self):
        return [word.strip() for word in self.title_keywords.split(",") if word.strip()]

    def matches(self, procurement_request):
        """Whether every condition set on this rule holds for the request (the default: always)."""
        value = procurement_request.estimated_value_base
        return (
            (self.category_id is None or self.category_id == procurement_request.category_id)
            and (self.department_id is None or self.department_id == procurement_request.department_id)
            and (self.currency_id is None or self.currency_id == procurement_request.currency_id)
            and (self.min_value is None or value >= self.min_value)
            and (self.max_value is None or value <= self.max_value)
            and (not self.keywords or any(_starts_a_word(word, procurement_request.title) for word in self.keywords))
        )


def _starts_a_word(keyword, text):
    # At a word start, so that "laptop" finds "Laptops" but "kit" does not find "toolkit".
    return re.search(rf"(?<!\w){re.escape(keyword)}", text or "", flags=re.IGNORECASE) is not None


class ReferenceCounter(models.Model):
    """The last reference number handed out per year, incremented under a row lock."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class SearchDocumentField(models.Field):
    """A request's full-text search document: PostgreSQL's `tsvector`; elsewhere an unused text column.

    Our own field rather than `django.contrib.postgres`'s SearchVectorField, so that the model loads
    and migrates on SQLite too; only the PostgreSQL code path (`ProcurementRequestQuerySet.text_search`,
    `services.search_documents_refresh`) reads or writes it.
    """

    description = "Full-text search document"

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else "text"


@SearchDocumentField.register_lookup
class SearchDocumentMatches(models.Lookup):
    """`search_document__matches=SearchQuery(...)`: PostgreSQL's `@@` operator."""

    lookup_name = "matches"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @@ {rhs}", (*lhs_params, *rhs_params)


# The text search configuration: "simple" (no stemming, no stop words) because requests are written in
# several languages; every word the user types is matched as a prefix instead.
SEARCH_CONFIG = "simple"
SEARCH_WORDS_MAX = 8
REFERENCE_START = re.compile(r"PR-[\d-]*", re.IGNORECASE)
# A search with fewer matches than this is sorted after it is found (see queue_order_for_search).
SEARCH_SORT_MAX = 2_000
NO_DUE_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def search_words(text):
    """The words of a search, lower-cased, at most SEARCH_WORDS_MAX of them (letters and digits only)."""
    return re.findall(r"[^\W_]+", (text or "").lower())[:SEARCH_WORDS_MAX]


class ProcurementRequestQuerySet(models.QuerySet):
    def open(self):
        # Sorted, so that the SQL is the same in every process (and matches the partial indexes' predicate).
        return self.filter(status__in=sorted(OPEN_STATUSES))

    def with_list_relations(self):
        """What every list row shows, fetched in the same query (without the long description)."""
        return self.select_related("category", "department", "requester", "assignee").defer("description")

    def awaiting_approval_by(self, user):
        """Pending requests this user decides: their department's (not their own), and, for a
        procurement manager, those whose head cannot decide (none, inactive, or the requester)."""
        from .permissions import headed_department_ids, is_manager

        rule = Q(department_id__in=headed_department_ids(user)) & ~Q(requester=user)
        if is_manager(user):
            rule |= (
                Q(department__head__isnull=True)
                | Q(department__head__is_active=False)
                | Q(department__head=F("requester"))
            ) & ~Q(requester=user)
        return self.filter(rule, status=Status.PENDING_APPROVAL)

    def visible_to(self, user):
        """Requests the user may see; everything else is a 404, exactly like a missing row."""
        from .permissions import visible_requests_filter

        return self.filter(visible_requests_filter(user))

    def in_team_queue(self, team=None):
        """Routed to a team and waiting for a buyer: nobody assigned yet, not taken by Procurement."""
        queue = self.filter(team__isnull=False, assignee__isnull=True, status__in=CLAIMABLE_STATUSES)
        return queue if team is None else queue.filter(team=team)

    def with_assignee_away(self, on=None):
        """Annotate `assignee_away_until` (the date, or None) and `assignee_is_away` (out of office on `on`)."""
        on = on or timezone.localdate()
        return self.annotate(
            assignee_away_until=F("assignee__profile__away_until"),
            assignee_is_away=Case(
                When(assignee__profile__away_until__gte=on, then=Value(True)),
                default=Value(False),
                output_field=models.BooleanField(),
            ),
        )

    def assigned_to_absent(self, on=None):
        """Open requests whose buyer is out of office on `on` (the desk's today by default)."""
        return self.open().filter(assignee__profile__away_until__gte=on or timezone.localdate())

    def search(self, text):
        text = (text or "").strip()
        if not text:
            return self
        return self.filter(Q(reference__icontains=text) | Q(title__icontains=text) | Q(description__icontains=text))

    def text_search(self, text):
        """Requests whose reference contains the text (or starts with it, for "PR-…"), or whose title,
        description or comments (internal notes included: Procurement's search) contain every word of it
        as a word prefix (PostgreSQL) or substring (elsewhere). PostgreSQL answers from GIN and btree
        indexes (migration 0008); order the result with queue_order_for_search()."""
        text = (text or "").strip()
        if not text:
            return self
        words = search_words(text)
        if REFERENCE_START.fullmatch(text):
            # "PR-2026-0001…" is a reference, read as a range of the reference index (its trigrams are
            # in every reference, and its words, "pr" and numbers, in many documents).
            return self.filter(reference__startswith=text.upper())
        # A fragment of a reference, through a trigram index on UPPER(reference); shorter texts, which no
        # trigram can find, are matched as words only.
        rule = Q(reference__icontains=text) if len(text) >= 3 else Q(pk__in=[])
        if not words:
            return self.filter(rule)
        if connections[self.db].vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery

            # Each word is letters and digits only, so the raw tsquery holds no operator of the user's.
            query = SearchQuery(" & ".join(f"{word}:*" for word in words), search_type="raw", config=SEARCH_CONFIG)
            return self.filter(rule | Q(search_document__matches=query))
        every_word = Q()
        for word in words:
            in_comments = Comment.objects.filter(procurement_request=OuterRef("pk"), body__icontains=word)
            every_word &= Q(title__icontains=word) | Q(description__icontains=word) | Q(Exists(in_comments))
        return self.filter(rule | every_word)

    def with_queue_relations(self):
        """What a queue row shows; the department head decides who may approve.

        People are joined; the small reference tables (categories, departments, teams) are prefetched
        instead: each joined one multiplies the orders PostgreSQL's planner weighs, and with all of them
        joined, planning the page took ten times longer than running it (bench/README.md)."""
        from stakeholders.models import Department

        return (
            self.select_related("requester", "assignee")
            .prefetch_related(
                "category", Prefetch("department", queryset=Department.objects.select_related("head")), "team"
            )
            .with_assignee_away()
            .defer("description")
        )

    def queue_order(self):
        """Most urgent first: the earliest SLA due time, requests with none (paused, not started) last."""
        return self.order_by(F("sla_due_at").asc(nulls_last=True), "id")

    def search_matches_in_queue_order(self):
        """A searched queryset's matching ids in queue order, or None when there are SEARCH_SORT_MAX or more.

        A search matching many requests is best read down the queue's due-order index, keeping the
        matches; one matching few is best found through the search indexes, then sorted. PostgreSQL
        cannot tell the two apart from its statistics (a rare word is estimated like a common one), and
        walking the index for a rare word reads the whole table. So one capped read of the matches
        decides: below SEARCH_SORT_MAX, they are the result, sorted here (their due times come with
        them, read from the rows the search had to visit anyway); otherwise keep the index order.
        """
        matches = list(self.order_by().values_list("pk", "sla_due_at")[:SEARCH_SORT_MAX])
        if len(matches) >= SEARCH_SORT_MAX:
            return None
        # The same order as queue_order(): no due time sorts after every real one.
        matches.sort(key=lambda match: (match[1] or NO_DUE_TIME, match[0]))
        return [pk for pk, _ in matches]

    def queue_order_for_search(self, matches=None):
        """The searched queryset in queue order, read the way that stays fast (see above); `matches`:
        search_matches_in_queue_order() when the caller has already read them."""
        matches = self.search_matches_in_queue_order() if matches is None else matches
        if matches is None:
            return self.queue_order()
        return self.model.objects.filter(pk__in=matches).order_by(Coalesce("sla_due_at", Value(NO_DUE_TIME)), "id")

    def in_queue_view(self, name, user):
        """The requests of queue view `name` (see requests_app.queue.QUEUE_VIEWS) as `user` sees them."""
        from .queue import QUEUE_VIEWS

        view = QUEUE_VIEWS[name]
        requests = self.visible_to(user)
        if view.open_only:
            requests = requests.open()
        return requests.filter(view.rows(user)).queue_order()

    def queue_counts(self, user, *, with_follow_ups=False):
        """{view name: number of requests, at most QUEUE_COUNT_CAP + 1} for every open-only view the user
        may open, in one query: one capped count per view, each read from that view's partial index, so
        the cost does not grow with the number of open requests.

        `with_follow_ups`: also "follow_ups", the user's open follow-ups of low satisfaction scores, in
        the same query (the queue page lists them only when there are some, so it costs nothing more).
        """
        from .queue import QUEUE_COUNT_CAP, QUEUE_VIEWS

        connection = connections[self.db]
        names, selects, params = [], [], []
        visible_open = self.visible_to(user).open().order_by().values("pk")  # built once: each view narrows it
        for name, view in QUEUE_VIEWS.items():
            if not (view.open_only and view.may_open(user)):
                continue
            rows = visible_open.filter(view.rows(user))[: QUEUE_COUNT_CAP + 1]
            sql, row_params = rows.query.get_compiler(using=self.db).as_sql()
            names.append(name)
            selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted) AS {connection.ops.quote_name(name)}")
            params.extend(row_params)
        if not names:
            return {}
        if with_follow_ups:
            from stakeholders.models import SurveyFollowUp

            rows = SurveyFollowUp.objects.using(self.db).open().owned_by(user).order_by().values("pk")
            sql, row_params = rows[: QUEUE_COUNT_CAP + 1].query.get_compiler(using=self.db).as_sql()
            names.append("follow_ups")
            selects.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted) AS {connection.ops.quote_name('follow_ups')}")
            params.extend(row_params)
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(selects), params)
            return dict(zip(names, cursor.fetchone(), strict=True))


class ProcurementRequestManager(models.Manager.from_queryset(ProcurementRequestQuerySet)):
    def get_queryset(self):
        # The search document is written and read in SQL only: never carry it into Python.
        return super().get_queryset().defer("search_document")


class ProcurementRequest(models.Model):
    reference = models.CharField(max_length=20, unique=True, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField()
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="requests")
    # The department, requester, assignee and team are each indexed by the first column of a composite
    # index in Meta.indexes, not by one of their own: every index on this table is one more for each
    # write to maintain and for the planner to weigh on each read (bench/README.md).
    department = models.ForeignKey(
        "stakeholders.Department", on_delete=models.PROTECT, related_name="requests", db_index=False
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="procurement_requests", db_index=False
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    estimated_value = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    # The value in EUR at submission, so that approval, routing and reports compare like with like.
    estimated_value_base = models.DecimalField(max_digits=16, decimal_places=2, editable=False)
    cost_centre = models.CharField(max_length=30, blank=True)
    needed_by = models.DateField(null=True, blank=True)
    suggested_supplier = models.CharField(max_length=200, blank=True)
    is_confidential = models.BooleanField(
        default=False, help_text="Only you, your department head and Procurement can see it."
    )
    # Indexed by request_status_by_due (status first).
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.SUBMITTED)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_procurement_requests",
        db_index=False,
    )
    team = models.ForeignKey(
        BuyerTeam,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="requests",
        help_text="Who owns it.",
        db_index=False,
    )
    routed_by = models.ForeignKey(
        RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    po_number = models.CharField("PO number", max_length=40, blank=True)
    expected_on = models.DateField(
        null=True, blank=True, editable=False, help_text="When the buyer expects to deliver; the requester is told."
    )
    requires_approval = models.BooleanField(default=False, editable=False)
    # One per form rendering: a resubmitted or double-clicked form returns the first request.
    submission_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The SLA state of the request's running clocks, copied here by slas.services whenever a clock
    # changes (events and the minute sweep), so that queues sort and filter on one table.
    sla_due_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="The earliest due time of the running, unpaused clocks."
    )
    sla_threshold = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Percent: the highest threshold a running clock has reached."
    )
    sla_breached = models.BooleanField(default=False, editable=False, help_text="A running clock is past its goal.")
    # Counts the changes to what actions decide on (status, assignee, priority, category, PO number): a
    # form carries the version it was rendered with, and an action on a newer version is refused as
    # stale. Comments and attachments only append, so they do not count. Services change it under the
    # row lock.
    version = models.PositiveIntegerField(default=1, editable=False)
    # Title, description and every comment, for PostgreSQL's full-text search; written only by
    # services.search_documents_refresh (empty on other databases).
    search_document = SearchDocumentField(null=True, blank=True, editable=False)

    objects = ProcurementRequestManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("submit_request", "Can file procurement requests"),
            ("approve_request", "Can approve the department's requests"),
            ("work_request", "Can work requests as a buyer"),
            ("view_all_requests", "Can see every department's requests"),
            ("view_internal_notes", "Can read and write internal notes"),
            ("assign_request", "Can assign requests to any buyer"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(estimated_value__gte=0), name="request_value_not_negative"),
            models.CheckConstraint(condition=Q(status__in=Status.values), name="request_status_valid"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="request_newest_first"),
            models.Index(fields=["department", "status"]),
            models.Index(fields=["requester", "-created_at"]),
            models.Index(fields=["assignee", "status"]),
            # Queues: open requests in SLA due order (PostgreSQL's ascending order puts the paused and
            # not-yet-started requests, with no due time, last).
            models.Index(
                fields=["sla_due_at", "id"], condition=Q(status__in=sorted(OPEN_STATUSES)), name="request_open_by_due"
            ),
            models.Index(fields=["team", "status"]),
            # The managers' "All" queue: every request in the same order (closed ones have no due time),
            # and any queue filtered to one status (a closed status would otherwise be read from the end).
            models.Index(fields=["sla_due_at", "id"], name="request_by_due"),
            models.Index(fields=["status", "sla_due_at", "id"], name="request_status_by_due"),
            # One partial index per queue view (requests_app.queue.QUEUE_VIEWS), in the queue's order: a page
            # reads the first rows of its index, and the view's capped count reads no further.
            models.Index(
                fields=["assignee", "sla_due_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="request_open_assignee_by_due",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES - {Status.PENDING_APPROVAL}), assignee__isnull=True),
                name="request_unassigned_by_due",
            ),
            # Also the SLA dashboards' "now" figures (backlog, early warning, open and breached per
            # dimension): every open request read from this index alone, without the table.
            models.Index(
                fields=["team", "sla_due_at", "id"],
                include=[
                    "assignee",
                    "department",
                    "category",
                    "priority",
                    "sla_breached",
                    "sla_threshold",
                    "created_at",
                ],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="request_open_team_by_due",
            ),
            # A department's scorecard: its most urgent open requests (breached first, then by due time) are
            # the first rows of this index, not a sort of all its open ones.
            models.Index(
                fields=["department", "-sla_breached", "sla_due_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="request_open_department_urgent",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES), sla_threshold__gt=0, sla_breached=False),
                name="request_at_risk_by_due",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES), sla_breached=True),
                name="request_breached_by_due",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=sorted([Status.WAITING_FOR_REQUESTER, Status.WAITING_FOR_SUPPLIER])),
                name="request_waiting_by_due",
            ),
            models.Index(fields=["estimated_value_base"], name="request_value_base"),
            # The SLA dashboard's reads of the requests filed in a period (the breakdowns' closed ones, the
            # weekly filed counts, fairness's filed and raised counts): from this index alone, without the
            # table (at 1,000,000 requests each was a parallel scan of the whole table).
            models.Index(
                fields=["created_at"],
                include=["id", "department", "team", "category", "priority", "assignee", "status", "sla_breached"],
                name="request_created_dimensions",
            ),
            # PostgreSQL only, created in migration 0008 (SQLite has no GIN): a GIN index on
            # search_document, a trigram GIN index on UPPER(reference), and reference with
            # varchar_pattern_ops for "PR-2026-0001…" prefixes whatever the database's collation.
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    def can_move_to(self, status):
        return status in TRANSITIONS[self.status]

    @property
    def is_in_team_queue(self):
        """Routed to a team, waiting for one of its buyers to claim it."""
        return self.team_id is not None and self.assignee_id is None and self.status in CLAIMABLE_STATUSES


class EventKind(models.TextChoices):
    CREATED = "created", "Submitted"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assigned"
    COMMENTED = "commented", "Replied"
    NOTE_ADDED = "note_added", "Internal note"
    ATTACHMENT_ADDED = "attachment_added", "Attachment added"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    PO_RECORDED = "po_recorded", "PO recorded"
    SLA = "sla", "SLA clock"
    REPRIORITISED = "reprioritised", "Priority or category changed"
    ROUTED = "routed", "Routed"
    ESCALATION = "escalation", "Escalation"
    EXPECTED_DATE = "expected_date", "Expected date set"


class RequestEventQuerySet(models.QuerySet):
    def for_timeline(self, *, include_internal):
        # Files sent with a reply are shown under the reply, not again as their own line.
        events = (
            self.exclude(kind=EventKind.ATTACHMENT_ADDED, attachment__comment__isnull=False)
            .select_related("actor", "comment", "attachment", "assignee")
            .prefetch_related("comment__attachments")
        )
        return events if include_internal else events.filter(is_internal=False)


class RequestEvent(models.Model):
    """One line of a request's timeline: who did what, when. Append-only."""

    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    from_status = models.CharField(max_length=30, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=30, choices=Status.choices, blank=True)
    note = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.ForeignKey("Comment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    attachment = models.ForeignKey("Attachment", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    is_internal = models.BooleanField(default=False, help_text="Shown to Procurement only.")
    # Structured facts the note only tells in words, e.g. {"priority": [old, new]}; replay reads them.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = RequestEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["procurement_request", "created_at"]),
            # The SLA dashboard's fairness section counts priority raises: few rows, read often.
            models.Index(
                fields=["procurement_request"],
                condition=Q(kind="reprioritised"),
                name="event_reprioritised",
            ),
        ]

    def __str__(self):
        return f"{self.procurement_request_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"


class Comment(models.Model):
    """A public reply (the requester sees it) or an internal note (Procurement only)."""

    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment {self.pk} on {self.procurement_request_id}"


def attachment_upload_to(instance, filename):
    # Random stored names: the original name is kept in a field, never trusted as a path.
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=attachment_upload_to)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    is_internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.original_name


class SavedQueueViewQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(user=user)


class SavedQueueView(models.Model):
    """A queue view with filters, saved by one user under a name of their choosing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_views")
    name = models.CharField(max_length=60)
    view = models.CharField(max_length=30, help_text="A name in requests_app.queue.QUEUE_VIEWS.")
    query = models.CharField(max_length=1000, blank=True, help_text="The filters, as a URL query string.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = SavedQueueViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="saved_queue_view_unique_name")]

    def __str__(self):
        return f"{self.name} ({self.user})"


class Watcher(models.Model):
    """Someone who follows a request and hears of its public events (they must be able to see it)."""

    procurement_request = models.ForeignKey(ProcurementRequest, on_delete=models.CASCADE, related_name="watchers")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watching")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["procurement_request", "user"], name="watcher_once_per_request")]

    def __str__(self):
        return f"{self.user} follows {self.procurement_request}"
