"""Reads for the internal customer directory: the list of departments and one department's page."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Case, Count, OuterRef, Prefetch, Q, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import (
    ActionItem,
    Department,
    Meeting,
    MeetingSchedule,
    SatisfactionSurvey,
    ServiceAgreement,
    SurveyFollowUp,
)

VOLUME_DAYS = 365
OPEN_REQUESTS_SHOWN = 10
PUBLISHED_OUTCOMES_SHOWN = 3


def directory(*, user, now=None):
    """The departments the user may read (not Procurement itself), each with what the list shows, in one query."""
    from requests_app.models import ProcurementRequest

    now = now or timezone.now()
    today = timezone.localdate(now)
    per_department = {"department": OuterRef("pk")}
    open_requests = (
        ProcurementRequest.objects.open()
        .filter(**per_department)
        .order_by()
        .values("department")
        .annotate(n=Count("pk"))
        .values("n")
    )
    overdue_items = (
        ActionItem.objects.overdue(today)
        .filter(meeting__department=OuterRef("pk"))
        .order_by()
        .values("meeting__department")
        .annotate(n=Count("pk"))
        .values("n")
    )
    next_meeting = Meeting.objects.filter(**per_department, starts_at__gte=now).order_by("starts_at")
    agreement = ServiceAgreement.objects.filter(**per_department).order_by("-version")
    return (
        Department.objects.visible_to(user)
        .filter(is_active=True, is_procurement=False)
        .select_related("head")
        .annotate(
            open_requests=Coalesce(Subquery(open_requests[:1]), 0),
            overdue_action_items=Coalesce(Subquery(overdue_items[:1]), 0),
            next_meeting_at=Subquery(next_meeting.values("starts_at")[:1]),
            agreement_version=Subquery(agreement.values("version")[:1]),
            agreement_review_on=Subquery(agreement.values("review_on")[:1]),
        )
        .order_by("name")
    )


@dataclass
class Volume:
    category: str
    count: int
    value: object
    share: int  # percent of the department's requests in the period, for the bar


@dataclass
class DepartmentPage:
    department: Department
    contacts: list
    volumes: list[Volume]
    volume_total: int
    catalogue: list  # (policy, [GoalRow]) that apply to the department
    agreement: ServiceAgreement | None
    agreement_history: list
    open_requests: list
    open_request_count: int
    last_meeting: Meeting | None
    next_meeting: Meeting | None
    outcomes: list
    open_action_items: list
    schedule: object = None
    today: object = None
    overdue_action_items: int = field(default=0)


def request_volumes(*, department, now=None, days=VOLUME_DAYS) -> list[Volume]:
    """What the department requested per category over the period, most requested first, in one query.

    Cancelled and rejected requests count: they are demand too. Values are in EUR (the base currency).
    """
    from requests_app.models import ProcurementRequest

    now = now or timezone.now()
    rows = list(
        ProcurementRequest.objects.filter(department=department, created_at__gte=now - timedelta(days=days))
        .order_by()
        .values("category__name")
        .annotate(count=Count("pk"), value=Sum("estimated_value_base"))
        .order_by("-count", "category__name")
    )
    total = sum(row["count"] for row in rows)
    return [
        Volume(row["category__name"], row["count"], row["value"], round(100 * row["count"] / total)) for row in rows
    ]


def applicable_catalogue(*, department, agreement):
    """The SLA catalogue entries that apply to this department: the agreed policies (every active one
    when there is no agreement, or it names none), each with the goals open to every department or to
    this one."""
    from slas.catalogue import catalogue

    entries, _calendars = catalogue()
    agreed = {policy.pk for policy in agreement.policies.all()} if agreement is not None else set()
    result = []
    for policy, rows in entries:
        if agreed and policy.pk not in agreed:
            continue
        rows = [row for row in rows if row.goal.department_id in (None, department.pk)]
        if rows:
            result.append((policy, rows))
    return result


def department_page(*, department, user, now=None) -> DepartmentPage:
    """Everything the department's directory page shows; the open requests are those the user may see."""
    from requests_app.models import ProcurementRequest
    from slas.selectors import sla_badges

    now = now or timezone.now()
    today = timezone.localdate(now)
    agreements = list(
        ServiceAgreement.objects.filter(department=department)
        .select_related("created_by", "signed_off_by")
        .prefetch_related("policies")
        .order_by("-version")
    )
    agreement = agreements[0] if agreements else None
    open_requests = (
        ProcurementRequest.objects.visible_to(user)
        .open()
        .filter(department=department)
        .select_related("category", "requester", "assignee")
        .defer("description", "search_document")
        # Most at risk first: breached, then the nearest due time (the queue's order), then filing order.
        .order_by("-sla_breached", "sla_due_at", "created_at")
    )
    shown = list(open_requests[:OPEN_REQUESTS_SHOWN])
    badges = sla_badges(shown, now=now)
    for procurement_request in shown:
        procurement_request.sla_badge = badges[procurement_request.pk]
    meetings = Meeting.objects.filter(department=department)
    volumes = request_volumes(department=department, now=now)
    open_items = list(
        ActionItem.objects.open()
        .filter(meeting__department=department)
        .select_related("owner", "meeting")
        .order_by("due_on", "pk")
    )
    return DepartmentPage(
        department=department,
        contacts=list(department.contacts.select_related("membership").order_by("last_name", "username")),
        volumes=volumes,
        volume_total=sum(volume.count for volume in volumes),
        catalogue=applicable_catalogue(department=department, agreement=agreement),
        agreement=agreement,
        agreement_history=agreements,
        open_requests=shown,
        open_request_count=open_requests.count() if len(shown) == OPEN_REQUESTS_SHOWN else len(shown),
        last_meeting=meetings.past(now).first(),
        next_meeting=meetings.upcoming(now).prefetch_related("attendees").first(),
        outcomes=list(
            meetings.published()
            .select_related("published_by")
            .prefetch_related(Prefetch("action_items", queryset=ActionItem.objects.select_related("owner")))
            .order_by("-starts_at")[:PUBLISHED_OUTCOMES_SHOWN]
        ),
        open_action_items=open_items,
        schedule=MeetingSchedule.objects.filter(department=department).first(),
        today=today,
        overdue_action_items=sum(1 for item in open_items if item.due_on < today),
    )


def meeting_detail(meeting):
    """The meeting with its attendees and action items, for its page."""
    return (
        Meeting.objects.filter(pk=meeting.pk)
        .select_related("department", "published_by")
        .prefetch_related(
            "attendees",
            Prefetch("action_items", queryset=ActionItem.objects.select_related("owner").order_by("due_on")),
        )
        .get()
    )


# --- Scheduled digests (stakeholders/digests.py sends them) ----------------------------------------

# How many requests a manager's summary names per list (the counts are complete).
SUMMARY_LISTED = 10


@dataclass(frozen=True)
class DigestRequest:
    reference: str
    title: str
    status: str  # the status's label
    expected_on: object  # a date, or None
    question: str | None  # what the buyer asked, while the request waits for its requester


def weekly_digests(*, requester_ids) -> dict[int, list[DigestRequest]]:
    """{requester id: their open requests, oldest first} with status, expected date and, for a request
    waiting on them, the question asked: one query for the whole batch."""
    from requests_app.models import ProcurementRequest, RequestEvent, Status

    question = (
        RequestEvent.objects.filter(procurement_request=OuterRef("pk"), to_status=Status.WAITING_FOR_REQUESTER)
        .order_by("-created_at", "-id")
        .values("note")[:1]
    )
    rows = (
        ProcurementRequest.objects.open()
        .filter(requester_id__in=requester_ids)
        # Only a waiting request looks its question up.
        .annotate(question=Case(When(status=Status.WAITING_FOR_REQUESTER, then=Subquery(question))))
        .order_by("requester_id", "created_at", "id")
        .values_list("requester_id", "reference", "title", "status", "expected_on", "question")
    )
    digests = {}
    for requester_id, reference, title, status, expected_on, asked in rows:
        waiting = status == Status.WAITING_FOR_REQUESTER
        digests.setdefault(requester_id, []).append(
            DigestRequest(reference, title, Status(status).label, expected_on, (asked or "") if waiting else None)
        )
    return digests


@dataclass(frozen=True)
class MetricOutcome:
    metric: str  # the metric's label
    measured: int  # clocks that stopped in the period with a verdict
    met: int

    @property
    def percent(self):
        return round(100 * self.met / self.measured) if self.measured else None


@dataclass
class Scorecard:
    """One department's month: what was promised (SLA goals met per metric) and delivered, what is open
    and at risk now, satisfaction, and the open action items."""

    department: Department
    outcomes: list  # [MetricOutcome] in Metric order
    delivered: int  # requests completed in the period
    open_requests: int = 0
    at_risk: int = 0  # a warning threshold reached, not breached
    breached: int = 0
    csat: object = None  # satisfaction.CsatFigures of the surveys sent in the period
    action_items: list = field(default_factory=list)  # open ones, earliest due first


def department_scorecards(*, head_ids, start, end) -> dict[int, list[Scorecard]]:
    """{head id: the scorecards of the active departments they head} for the period [start, end), with
    the open figures as of now: five aggregate queries for the whole batch."""
    from requests_app.models import OPEN_STATUSES, ProcurementRequest
    from slas.models import Metric, SlaClock

    from .satisfaction import RATING_VALUES, CsatFigures, csat_by_department

    departments = list(
        Department.objects.active().filter(head_id__in=head_ids, is_procurement=False).order_by("name", "pk")
    )
    ids = [department.pk for department in departments]
    clocks = (
        SlaClock.objects.filter(procurement_request__department_id__in=ids, met__isnull=False)
        .filter(stopped_at__gte=start, stopped_at__lt=end)
        .order_by()
        .values_list("procurement_request__department_id", "metric")
        .annotate(measured=Count("pk"), met=Count("pk", filter=Q(met=True)))
    )
    verdicts = {(department_id, metric): (measured, met) for department_id, metric, measured, met in clocks}
    is_open = Q(status__in=sorted(OPEN_STATUSES))
    requests = {
        row["department_id"]: row
        for row in ProcurementRequest.objects.filter(department_id__in=ids)
        .filter(is_open | Q(completed_at__gte=start, completed_at__lt=end))
        .order_by()
        .values("department_id")
        .annotate(
            open_requests=Count("pk", filter=is_open),
            at_risk=Count("pk", filter=is_open & Q(sla_threshold__gt=0, sla_breached=False)),
            breached=Count("pk", filter=is_open & Q(sla_breached=True)),
            delivered=Count("pk", filter=Q(completed_at__gte=start, completed_at__lt=end)),
        )
    }
    csat = csat_by_department(
        SatisfactionSurvey.objects.filter(department_id__in=ids, sent_at__gte=start, sent_at__lt=end)
    )
    items = {}
    for item in ActionItem.objects.open().filter(meeting__department_id__in=ids).select_related("owner", "meeting"):
        items.setdefault(item.meeting.department_id, []).append(item)
    no_surveys = CsatFigures(sent=0, answered=0, average=None, distribution=dict.fromkeys(RATING_VALUES, 0))
    scorecards = {}
    for department in departments:
        counts = requests.get(department.pk, {})
        scorecards.setdefault(department.head_id, []).append(
            Scorecard(
                department=department,
                outcomes=[
                    MetricOutcome(metric.label, *verdicts.get((department.pk, metric.value), (0, 0)))
                    for metric in Metric
                ],
                delivered=counts.get("delivered", 0),
                open_requests=counts.get("open_requests", 0),
                at_risk=counts.get("at_risk", 0),
                breached=counts.get("breached", 0),
                csat=csat.get(department.pk, no_surveys),
                action_items=items.get(department.pk, []),
            )
        )
    return scorecards


@dataclass
class ManagerSummary:
    """Procurement's week for its managers: breached and at-risk work now, low scores and follow-ups."""

    breached: int
    at_risk: int
    breached_requests: list  # the first SUMMARY_LISTED, the longest overdue first
    at_risk_requests: list  # the first SUMMARY_LISTED, the earliest due first
    low_scores: list  # [SatisfactionSurvey] answered since `since` at or below the follow-up threshold
    open_follow_ups: int
    overdue_follow_ups: int
    follow_ups: list  # the open ones opened since `since`, the earliest due first


def manager_summary(*, now, since, low_at) -> ManagerSummary:
    """The managers' weekly summary as of `now`, the week's news since `since`; ratings at or below
    `low_at` are low: six queries, whatever the volume."""
    from requests_app.models import ProcurementRequest

    open_requests = ProcurementRequest.objects.open()
    is_breached, is_at_risk = Q(sla_breached=True), Q(sla_threshold__gt=0, sla_breached=False)
    counts = open_requests.aggregate(breached=Count("pk", filter=is_breached), at_risk=Count("pk", filter=is_at_risk))
    listed = open_requests.select_related("assignee").only("reference", "title", "sla_due_at", "assignee")
    follow_ups = SurveyFollowUp.objects.open()
    follow_up_counts = follow_ups.aggregate(open=Count("pk"), overdue=Count("pk", filter=Q(due_at__lte=now)))
    return ManagerSummary(
        breached=counts["breached"],
        at_risk=counts["at_risk"],
        breached_requests=list(listed.filter(is_breached).order_by("sla_due_at", "pk")[:SUMMARY_LISTED]),
        at_risk_requests=list(listed.filter(is_at_risk).order_by("sla_due_at", "pk")[:SUMMARY_LISTED]),
        low_scores=list(
            SatisfactionSurvey.objects.answered()
            .filter(answered_at__gte=since, answered_at__lt=now, rating__lte=low_at)
            .select_related("procurement_request", "department", "buyer")
            .order_by("answered_at", "pk")
        ),
        open_follow_ups=follow_up_counts["open"],
        overdue_follow_ups=follow_up_counts["overdue"],
        follow_ups=list(
            follow_ups.filter(opened_at__gte=since)
            .select_related("owner", "survey__procurement_request")
            .order_by("due_at", "pk")
        ),
    )
