"""Who hears what when something happens to a request.

`RECIPIENTS` maps each kind of notice to one small recipients function: given the request and the
event, the people it concerns, as (user id, role) pairs. `notices_write` then
- adds the request's watchers for its public events (`PUBLIC_KINDS`),
- drops the actor (nobody hears of their own action), inactive people, and anyone who cannot see the
  request (`permissions.viewers_filter`: a confidential request never reaches a colleague),
- renders each notice from its template (templates/stakeholders/notifications/<kind>.html) in the
  recipient's language and time zone (their profiles come with them, in the one query), and
- stores it in the outbox (stakeholders.Notification) in the caller's transaction: in the app
  always, by e-mail when the person is active, has an address and wants that kind. E-mails wait
  NOTIFICATION_COALESCE_SECONDS, so that a burst on one request becomes one e-mail (the delivery
  task decides, see `stakeholders.services.notification_deliver`).

The request's own receipt (`received`) is the desk's acknowledgement to the requester who filed it:
the one notice that goes to the actor.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from stakeholders.models import Channel, Notification, NotificationKind
from stakeholders.services import email_wanted, notice_payload, notifications_create

from . import permissions
from .models import Watcher

Kind = NotificationKind


@dataclass
class Event:
    """Something that happened to a request: its kind of notice, who did it (None: the desk) and what the
    template needs beyond the request (a reason, a PO number, the previous buyer …)."""

    kind: str
    actor: object = None
    context: dict = field(default_factory=dict)


# --- Who hears each kind ---------------------------------------------------------------------------


def requester(procurement_request, event):
    """The person who filed it."""
    return [(procurement_request.requester_id, "requester")]


def buyer(procurement_request, event):
    """The buyer working it, if anyone is."""
    return [(procurement_request.assignee_id, "buyer")] if procurement_request.assignee_id else []


def requester_and_buyer(procurement_request, event):
    """Both sides of the conversation (the actor among them is left out later)."""
    return requester(procurement_request, event) + buyer(procurement_request, event)


def head_if_confidential(procurement_request, event):
    """The department head hears of every confidential request of the department."""
    if not procurement_request.is_confidential:
        return []
    head_id = procurement_request.department.head_id
    return [(head_id, "department head")] if head_id else []


def previous_buyer(procurement_request, event):
    """The buyer whose work someone else gave away."""
    previous = event.context.get("previous_assignee")
    return [(previous.pk, "previous buyer")] if previous is not None else []


def team_lead_if_unassigned(procurement_request, event):
    """The team lead, when a request waits in the team's queue with nobody assigned."""
    team = procurement_request.team
    if team is None or procurement_request.assignee_id or not team.lead_id:
        return []
    return [(team.lead_id, "team lead")]


# Who hears each kind of notice, on one screen (followers come on top for PUBLIC_KINDS).
RECIPIENTS = {
    Kind.RECEIVED: requester,
    Kind.APPROVED: requester,
    Kind.REJECTED: requester,
    Kind.ASSIGNED: requester,
    Kind.REPLY: requester_and_buyer,
    Kind.WAITING_FOR_YOU: requester,
    Kind.ORDERED: requester,
    Kind.COMPLETED: requester,
    Kind.REOPENED: requester_and_buyer,
    Kind.CANCELLED: requester_and_buyer,
    Kind.EXPECTED_DATE: requester,
    Kind.CONFIDENTIAL_FILED: head_if_confidential,
    Kind.ASSIGNED_TO_YOU: buyer,
    Kind.REASSIGNED: previous_buyer,
    Kind.TEAM_QUEUE: team_lead_if_unassigned,
}

# What a follower of the request hears: what the requester sees on the public timeline.
PUBLIC_KINDS = frozenset(
    {
        Kind.APPROVED,
        Kind.REJECTED,
        Kind.ASSIGNED,
        Kind.REPLY,
        Kind.ORDERED,
        Kind.COMPLETED,
        Kind.REOPENED,
        Kind.CANCELLED,
        Kind.EXPECTED_DATE,
    }
)


# --- Writing them ----------------------------------------------------------------------------------

# The words a notice takes from the models, in the recipient's language. The models' own labels stay
# untranslated: they are also written into timeline notes, which must not follow the actor's language.
METRIC_LABELS = {"first_response": gettext_lazy("First response"), "resolution": gettext_lazy("Resolution")}
STATUS_LABELS = {
    "submitted": gettext_lazy("Submitted"),
    "pending_approval": gettext_lazy("Pending approval"),
    "approved": gettext_lazy("Approved"),
    "rejected": gettext_lazy("Rejected"),
    "assigned": gettext_lazy("Assigned"),
    "in_progress": gettext_lazy("In progress"),
    "waiting_for_requester": gettext_lazy("Waiting for requester"),
    "waiting_for_supplier": gettext_lazy("Waiting for supplier"),
    "ordered": gettext_lazy("Ordered"),
    "completed": gettext_lazy("Completed"),
    "closed": gettext_lazy("Closed"),
    "cancelled": gettext_lazy("Cancelled"),
}
PRIORITY_LABELS = {
    "low": gettext_lazy("Low"),
    "normal": gettext_lazy("Normal"),
    "high": gettext_lazy("High"),
    "urgent": gettext_lazy("Urgent"),
}


def person(user):
    # Lazy: rendered in the recipient's language, like the template around it.
    return (user.get_full_name() or user.username) if user is not None else gettext_lazy("the service desk")


def request_link(procurement_request):
    path = reverse("requests_app:detail", kwargs={"reference": procurement_request.reference})
    return path, settings.SITE_URL.rstrip("/") + path


def _outbox(planned, *, kinds, procurement_request, now):
    """Store the notices: [(recipient, kind, payload)] → in the app, and e-mails (held for coalescing)."""
    wants_email = email_wanted(user_ids={user.pk for user, _, _ in planned}, kinds=kinds)
    window = settings.NOTIFICATION_COALESCE_SECONDS
    not_before = now + timedelta(seconds=window) if window > 0 else None
    rows = []
    for user, kind, payload in planned:
        common = {"recipient": user, "kind": kind, "procurement_request": procurement_request, "payload": payload}
        rows.append(Notification(channel=Channel.IN_APP, **common))
        if user.is_active and user.email and wants_email(user.pk, kind):
            rows.append(Notification(channel=Channel.EMAIL, not_before=not_before, **common))
    return notifications_create(notifications=rows, now=now)


def notices_write(*, procurement_request, events, now=None) -> list[Notification]:
    """Tell everyone each event concerns (see the module's docstring); the caller is atomic."""
    events = [event for event in events if event is not None]
    if not events:
        return []
    now = now or timezone.now()
    wanted = {}  # user id → [(event, role)]
    for event in events:
        for user_id, role in RECIPIENTS[event.kind](procurement_request, event):
            if user_id is not None:
                wanted.setdefault(user_id, []).append((event, role))
    public = any(event.kind in PUBLIC_KINDS for event in events)
    if not wanted and not public:
        return []
    watchers = Watcher.objects.filter(procurement_request=procurement_request.pk, user=OuterRef("pk"))
    candidates = get_user_model().objects.filter(
        Q(pk__in=list(wanted)) | Exists(watchers) if public else Q(pk__in=list(wanted))
    )
    # One query: the people among them who may see the request, with their time zone and whether they follow it.
    people = (
        candidates.filter(permissions.viewers_filter(procurement_request))
        .annotate(follows=Exists(watchers))
        .select_related("profile")
        .order_by("pk")
    )
    path, url = request_link(procurement_request)
    base = {
        "procurement_request": procurement_request,
        "url": url,
        "reference": procurement_request.reference,
        "priority": PRIORITY_LABELS.get(procurement_request.priority, procurement_request.priority),
    }
    planned = []
    for user in people:
        for event in events:
            if event.actor is not None and event.actor.pk == user.pk and event.kind != Kind.RECEIVED:
                continue  # nobody hears of their own action
            roles = [role for told, role in wanted.get(user.pk, []) if told is event]
            if not roles and user.follows and event.kind in PUBLIC_KINDS:
                roles = ["follower"]
            if not roles:
                continue
            context = {**base, **event.context, "actor": event.actor, "actor_name": person(event.actor)}
            payload = notice_payload(
                event.kind,
                {**context, "role": roles[0]},
                user,
                path=path,
                reference=procurement_request.reference,
                title=procurement_request.title,
                now=now,
            )
            planned.append((user, event.kind, payload))
    if not planned:
        return []
    return _outbox(planned, kinds={kind for _, kind, _ in planned}, procurement_request=procurement_request, now=now)


def buyer_away_notices_write(*, buyer, actor, away_until, open_count, now=None) -> list[Notification]:
    """Tell the leads of a buyer's teams that the buyer is out of office with open work (not the actor)."""
    from .models import BuyerTeam

    now = now or timezone.now()
    leads = (
        get_user_model()
        .objects.filter(
            pk__in=BuyerTeam.objects.filter(memberships__user=buyer, lead__isnull=False).values("lead_id"),
            is_active=True,
        )
        .exclude(pk__in=[buyer.pk, actor.pk])
        .select_related("profile")
        .order_by("pk")
    )
    path = reverse("requests_app:queue", kwargs={"view": "team"}) + f"?assignee={buyer.pk}"
    url = settings.SITE_URL.rstrip("/") + path
    context = {
        "buyer": buyer,
        "buyer_name": person(buyer),
        "actor_name": person(actor),
        "away_until": away_until,
        "open_count": open_count,
        "url": url,
    }
    planned = [
        (
            lead,
            Kind.BUYER_AWAY,
            notice_payload(Kind.BUYER_AWAY, {**context, "role": "team lead"}, lead, path=path, now=now),
        )
        for lead in leads
    ]
    if not planned:
        return []
    return _outbox(planned, kinds={Kind.BUYER_AWAY}, procurement_request=None, now=now)
