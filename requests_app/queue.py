"""The buyer queue, declared once: its views, the SLA states it filters on, and the shape of a page.

Pages, counts, the CSV export and saved views all read `QUEUE_VIEWS`; adding a view (e.g. "My team",
once requests have a team) is one entry here, plus a partial index in the queue's order beside the
others in `ProcurementRequest.Meta.indexes` so that its page and count stay cheap.
"""

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from . import permissions
from .models import OPEN_STATUSES, Status


def team_ids_of(user):
    """The teams a person is a member or the lead of, as a subquery (no query of its own)."""
    from .models import BuyerTeam

    return BuyerTeam.objects.filter(Q(memberships__user=user) | Q(lead=user)).values("pk")


@dataclass(frozen=True)
class QueueView:
    label: str
    rows: Callable[..., Q]  # rows(user): which requests belong to the view, for this user
    may_open: Callable[..., bool]  # may_open(user)
    icon: str
    open_only: bool = True  # open requests only (and counted in the sidebar, from the partial index)


# Sorted, as the partial indexes name them (the SQL must match their predicates).
WAITING_STATUSES = sorted([Status.WAITING_FOR_REQUESTER, Status.WAITING_FOR_SUPPLIER])
UNASSIGNED_STATUSES = sorted(OPEN_STATUSES - {Status.PENDING_APPROVAL})

QUEUE_VIEWS: dict[str, QueueView] = {
    "mine": QueueView("My work", lambda user: Q(assignee=user), permissions.is_procurement_staff, "person-check"),
    # The teams I belong to or lead: their unclaimed requests and my colleagues' work (a lead sees who is away).
    "team": QueueView(
        "My team", lambda user: Q(team_id__in=team_ids_of(user)), permissions.is_procurement_staff, "people"
    ),
    # Past approval and nobody has it: what a buyer can claim.
    "unassigned": QueueView(
        "Unassigned",
        lambda user: Q(assignee__isnull=True, status__in=UNASSIGNED_STATUSES),
        permissions.is_procurement_staff,
        "inbox",
    ),
    # sla_threshold is the highest warning reached (0: none yet), whatever the goal's own thresholds.
    "at_risk": QueueView(
        "At risk",
        lambda user: Q(sla_threshold__gt=0, sla_breached=False),
        permissions.is_procurement_staff,
        "exclamation-triangle",
    ),
    "breached": QueueView("Breached", lambda user: Q(sla_breached=True), permissions.is_procurement_staff, "fire"),
    "waiting": QueueView(
        "Waiting", lambda user: Q(status__in=WAITING_STATUSES), permissions.is_procurement_staff, "hourglass-split"
    ),
    "all": QueueView("All requests", lambda user: Q(), permissions.is_manager, "collection", open_only=False),
}
# Names used by other queue URLs (queue/bulk/, queue/saved/ …) cannot be views.
assert not {"bulk", "saved", "actions"} & set(QUEUE_VIEWS)

# The SLA filter's states, from the summary the SLA services keep on the request.
SLA_STATES: dict[str, tuple[str, Q]] = {
    "running": ("On track", Q(sla_due_at__isnull=False, sla_threshold=0, sla_breached=False)),
    "at_risk": ("At risk", Q(sla_threshold__gt=0, sla_breached=False)),
    "breached": ("Breached", Q(sla_breached=True)),
    # Every running clock paused (waiting for the requester): open, no due time, and past approval.
    "paused": (
        "Paused",
        Q(sla_due_at__isnull=True, sla_breached=False, status__in=sorted(OPEN_STATUSES))
        & ~Q(status=Status.PENDING_APPROVAL),
    ),
}

# A view's count stops here ("999+"): past it the number tells nobody anything, and counting on would
# cost as much as there are open requests.
QUEUE_COUNT_CAP = 999
PAGE_SIZES = (25, 50, 100)
# Deeper than this, a queue needs a filter, not another page: OFFSET costs grow with the depth.
MAX_OFFSET = 5_000
# The most rows a bulk action takes at once (the largest page).
BULK_MAX = max(PAGE_SIZES)


def count_label(count):
    """'12', '1,234' or, past the cap, '999+'."""
    return f"{QUEUE_COUNT_CAP:,}+" if count > QUEUE_COUNT_CAP else f"{count:,}"


def views_for(user):
    """The queue views this user may open, in order."""
    return {name: view for name, view in QUEUE_VIEWS.items() if view.may_open(user)}


def default_view_for(user):
    """Where a Procurement user's day starts: managers hand out work, buyers do theirs."""
    return "unassigned" if permissions.is_manager(user) else "mine"


@dataclass(frozen=True)
class QueueRow:
    """One row of a queue page: the request, its SLA badge, the actions the user can take on it, and
    its links (worked out once per page, not once per row: see `queue_rows`)."""

    procurement_request: object
    badge: object
    actions: tuple
    links: dict

    @property
    def can_claim(self):
        return "claim" in self.actions


# A stand-in reference: each row link is its URL pattern, reversed once per page, with the row's own
# reference in its place. Reversing three URLs on each of 100 rows costs more than the rest of a row.
_REFERENCE_SLOT = "REFERENCE-SLOT"
ROW_LINKS = {"detail": "requests_app:detail", "claim": "requests_app:claim", "actions": "requests_app:queue_actions"}


def _row_link_patterns():
    return {name: reverse(url_name, args=[_REFERENCE_SLOT]) for name, url_name in ROW_LINKS.items()}


def queue_rows(user, procurement_requests):
    """Rows for a page of requests (loaded with `with_queue_relations()`), in two queries for the SLA
    badges whatever the page size; the actions are worked out from the row itself."""
    from slas.selectors import sla_badges

    badges = sla_badges(procurement_requests)
    patterns = _row_link_patterns()
    return [
        QueueRow(
            procurement_request,
            badges[procurement_request.pk],
            tuple(permissions.available_actions(user, procurement_request)),
            {
                name: pattern.replace(_REFERENCE_SLOT, quote(procurement_request.reference))
                for name, pattern in patterns.items()
            },
        )
        for procurement_request in procurement_requests
    ]


@dataclass(frozen=True)
class QueuePage:
    rows: list
    number: int
    size: int
    has_next: bool
    total: int | None  # known without counting when the view is unfiltered (the sidebar's count)

    @property
    def has_previous(self):
        return self.number > 1

    @property
    def first_index(self):
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def last_index(self):
        return (self.number - 1) * self.size + len(self.rows)

    @property
    def page_count(self):
        return max(1, -(-self.total // self.size)) if self.total is not None else None


def _whole_number(text, default):
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return default


def _page_number_and_size(page, size):
    """The page size asked for if it is offered (else the first), and the page number, at least 1 and at
    most the deepest page MAX_OFFSET allows."""
    size = _whole_number(size, PAGE_SIZES[0])
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    deepest = MAX_OFFSET // size + 1
    return min(max(_whole_number(page, 1), 1), deepest), size, deepest


def queue_page(queryset, *, page, size, known_total=None):
    """One page by offset over the queue's index order, without counting the rows: one row more than
    the page tells whether there is a next one. A page number that is not one, below 1, or past the
    end shows the nearest page; past the end costs a count, unless the total is known."""
    number, size, deepest = _page_number_and_size(page, size)
    rows = list(queryset[(number - 1) * size : number * size + 1])
    if not rows and number > 1:
        total = known_total if known_total is not None else queryset.count()
        number = min(max(1, -(-total // size)), deepest)
        rows = list(queryset[(number - 1) * size : number * size + 1])
    return QueuePage(rows[:size], number, size, len(rows) > size and number < deepest, known_total)


def queue_page_of_ids(ids, queryset, *, page, size):
    """One page of requests whose ids are already in queue order (a search's matches): only the page's
    rows are read from `queryset`, and the total is known, so the page says "of 390"."""
    number, size, deepest = _page_number_and_size(page, size)
    number = min(number, max(1, -(-len(ids) // size)))
    window = ids[(number - 1) * size : number * size]
    by_pk = queryset.in_bulk(window)
    rows = [by_pk[pk] for pk in window if pk in by_pk]
    return QueuePage(rows, number, size, number * size < len(ids) and number < deepest, len(ids))


# A cell a spreadsheet would read as a formula (or a command, after a tab or line break) starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """The cell's text, with a leading apostrophe where a spreadsheet would otherwise run it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _when(moment):
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


EXPORT_COLUMNS = (
    ("Reference", lambda pr: pr.reference),
    ("Title", lambda pr: pr.title),
    ("Status", lambda pr: pr.get_status_display()),
    ("Priority", lambda pr: pr.get_priority_display()),
    ("Department", lambda pr: pr.department.name),
    ("Category", lambda pr: pr.category.name),
    ("Requester", lambda pr: pr.requester.get_full_name() or pr.requester.username),
    ("Buyer", lambda pr: (pr.assignee.get_full_name() or pr.assignee.username) if pr.assignee else ""),
    ("Estimated value", lambda pr: pr.estimated_value),
    ("Currency", lambda pr: pr.currency_id),
    ("Value (EUR)", lambda pr: pr.estimated_value_base),
    ("Filed", lambda pr: _when(pr.created_at)),
    ("SLA due", lambda pr: _when(pr.sla_due_at)),
    ("SLA warning reached (%)", lambda pr: pr.sla_threshold),
    ("SLA breached", lambda pr: "yes" if pr.sla_breached else "no"),
    ("Confidential", lambda pr: "yes" if pr.is_confidential else "no"),
)
EXPORT_CHUNK = 2_000


def export_rows(requests):
    """The header, then one row per request, read in chunks (one query, however many rows)."""
    yield [label for label, _ in EXPORT_COLUMNS]
    for procurement_request in requests.with_list_relations().iterator(chunk_size=EXPORT_CHUNK):
        yield [csv_safe(value(procurement_request)) for _, value in EXPORT_COLUMNS]
