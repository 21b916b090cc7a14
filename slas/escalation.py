"""Escalation: who is told what when a clock reaches a threshold or a request waits too long.

Each SLA policy has a ladder (`EscalationStep` rows, or `DEFAULT_LADDER` when it has none). A
clock's thresholds are its goal's warning thresholds, the breach at 100 % and the ladder's own
steps (percent steps, including past the breach, and "N business minutes before due"). Every
threshold is reached at the first instant at which the elapsed business time reaches its share of
the goal (SLA-SEMANTICS, "Warnings and escalation"), so its instant is stored on the clock and the
minute sweep finds it in SQL. When a crossing fires, `escalations_record` writes one
`EscalationEvent` per threshold (a unique constraint makes that exactly once), the notices (the
outbox, `stakeholders.Notification`) and a timeline line, all in the transaction of the change.

Who is told is one function, `recipients_for` (teams and team leads: `procurement_request.team` and its
`lead`). Each notice is written from its kind's template (templates/stakeholders/notifications/), in the
recipient's language and time zone (`stakeholders.services.notice_payload`); an approver's carries the
one-click Approve and Reject links (requests_app/approval_links.py).
"""

import functools
import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import lazy
from django.utils.text import format_lazy, get_text_list
from django.utils.translation import gettext, gettext_lazy

from .models import EscalationEvent, EscalationStep, EscalationSubject, Metric, StepKind

BREACH_PERCENT = 100
CLOCK_STEP_KINDS = (StepKind.PERCENT, StepKind.BEFORE_DUE)


@functools.cache
def default_ladder() -> tuple[EscalationStep, ...]:
    """The ladder of a policy that has no steps of its own (unsaved rows, never written)."""
    everyone_in_procurement = {"notify_assignee": True, "notify_team_lead": True, "notify_managers": True}
    return (
        EscalationStep(kind=StepKind.PERCENT, value=50, notify_assignee=True),
        EscalationStep(kind=StepKind.PERCENT, value=75, notify_assignee=True, notify_team_lead=True),
        EscalationStep(kind=StepKind.PERCENT, value=90, **everyone_in_procurement),
        EscalationStep(kind=StepKind.PERCENT, value=100, notify_department_head=True, **everyone_in_procurement),
        # Nobody claimed it: first the buyers, then whoever distributes the work.
        EscalationStep(kind=StepKind.UNCLAIMED, value=60, notify_buyers=True),
        EscalationStep(kind=StepKind.UNCLAIMED, value=240, notify_team_lead=True, notify_managers=True),
        # The approver is asked at once, reminded after a business day, and a manager joins after two.
        EscalationStep(kind=StepKind.APPROVAL, value=0, notify_department_head=True),
        EscalationStep(kind=StepKind.APPROVAL, value=480, notify_department_head=True),
        EscalationStep(kind=StepKind.APPROVAL, value=960, notify_department_head=True, notify_managers=True),
    )


def ladder_for(policy) -> tuple[EscalationStep, ...]:
    """The policy's steps (prefetched `escalation_steps` are used), or the default ladder; kept on the instance."""
    if policy is None:
        return default_ladder()
    ladder = getattr(policy, "_escalation_ladder", None)
    if ladder is None:
        ladder = policy._escalation_ladder = tuple(policy.escalation_steps.all()) or default_ladder()
    return ladder


# --- Thresholds of a clock ----------------------------------------------------------------------


def needed_seconds(goal_seconds, key):
    """Business seconds elapsed when threshold `key` is reached (percent > 0, minus minutes before due < 0)."""
    if key > 0:
        return math.ceil(goal_seconds * key / 100)  # exact: never rounded before comparing
    return goal_seconds + 60 * key


def clock_thresholds(clock) -> list[tuple[int, int]]:
    """(key, business seconds needed) of every threshold of the clock, in the order they are reached."""
    keys = {BREACH_PERCENT}
    if clock.goal is not None:
        keys.update(clock.goal.warning_thresholds)
        keys.update(
            step.threshold
            for step in ladder_for(clock.goal.policy)
            if step.kind in CLOCK_STEP_KINDS and step.applies_to(clock.metric)
        )
    # A "2 h before due" step on a one-hour goal never had a moment to fire: it is left out.
    reached_at = ((needed_seconds(clock.goal_seconds, key), key) for key in keys)
    return [(key, needed) for needed, key in sorted(reached_at) if needed > 0]


def thresholds_crossed(clock, *, goal_seconds_before, elapsed_before) -> tuple[int, ...]:
    """Thresholds the clock has reached now but had not as it was stored before (its old goal and elapsed).

    Comparing with the old goal too makes a goal change that jumps over thresholds one crossing.
    """
    return tuple(
        key
        for key, needed in clock_thresholds(clock)
        if clock.elapsed_business >= needed and elapsed_before < needed_seconds(goal_seconds_before, key)
    )


# --- Who is told --------------------------------------------------------------------------------


def users_with_permission(codename):
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__codename=codename, groups__permissions__content_type__app_label="requests_app")
            | Q(user_permissions__codename=codename, user_permissions__content_type__app_label="requests_app")
        )
        .distinct()
        .select_related("profile")  # notices are written in each person's language and time zone
        .order_by("pk")
    )


class Staff:
    """Procurement managers and buyers, each looked up at most once per batch of escalations."""

    @functools.cached_property
    def managers(self):
        return list(users_with_permission("assign_request"))

    @functools.cached_property
    def buyers(self):
        manager_ids = {manager.pk for manager in self.managers}
        return [user for user in users_with_permission("work_request") if user.pk not in manager_ids]


def _approvers(procurement_request, staff):
    from requests_app.permissions import head_can_approve

    if head_can_approve(procurement_request):
        return [procurement_request.department.head]
    return [manager for manager in staff.managers if manager.pk != procurement_request.requester_id]


def recipients_for(step, procurement_request, *, staff=None) -> list[tuple[object, str]]:
    """(user, role) pairs the step tells about this request: active people only.

    The team lead is the request's team's lead; the buyers are the team's members, or every buyer
    when the request has no team or its team has no members yet.
    """
    staff = staff or Staff()
    team = procurement_request.team
    pairs = []
    if step.notify_assignee and procurement_request.assignee_id:
        pairs.append((procurement_request.assignee, "assignee"))
    if step.notify_buyers:
        members = list(team.members.all()) if team is not None else []
        # A team nobody is in yet (the installation's default) must not silence the reminder: every buyer.
        buyers = members or staff.buyers
        pairs += [(buyer, "buyer") for buyer in buyers]
    if step.notify_team_lead:
        lead = team.lead if team is not None else None
        if lead is not None:
            pairs.append((lead, "team lead"))
    if step.notify_managers:
        pairs += [(manager, "procurement manager") for manager in staff.managers]
    if step.notify_department_head:
        if step.kind == StepKind.APPROVAL:
            pairs += [(approver, "approver") for approver in _approvers(procurement_request, staff)]
        elif procurement_request.department.head_id:
            pairs.append((procurement_request.department.head, "department head"))
    if step.notify_requester:
        pairs.append((procurement_request.requester, "requester"))
    return [(user, role) for user, role in pairs if user is not None and user.is_active]


# --- Recording ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crossing:
    """Thresholds one clock (or one reminder) reached at once, in the order reached."""

    procurement_request_id: int
    subject: str
    cycle: int
    thresholds: tuple[int, ...]
    policy: object = field(default=None, compare=False)
    calendar: object = field(default=None, compare=False, repr=False)  # the pure calendar (quiet hours)
    clock: object = field(default=None, compare=False, repr=False)
    cause: str = ""  # e.g. "goal changed": why several thresholds came at once


@dataclass
class _Audience:
    user: object
    roles: list = field(default_factory=list)
    in_app: bool = False
    by_email: bool = False
    held_until: object = None


def _notice_kind(subject, threshold):
    from stakeholders.models import NotificationKind

    if subject == EscalationSubject.UNCLAIMED:
        return NotificationKind.UNCLAIMED
    if subject == EscalationSubject.APPROVAL:
        return NotificationKind.APPROVAL
    return NotificationKind.SLA_BREACH if threshold >= BREACH_PERCENT else NotificationKind.SLA_WARNING


# The words of an escalation notice, lazy: written in each recipient's language (and, on the timeline, the desk's).
METRIC_TIME = {
    Metric.FIRST_RESPONSE: gettext_lazy("first response time"),
    Metric.RESOLUTION: gettext_lazy("resolution time"),
}
ROLE_LABELS = {
    "assignee": gettext_lazy("assignee"),
    "buyer": gettext_lazy("buyer"),
    "team lead": gettext_lazy("team lead"),
    "procurement manager": gettext_lazy("procurement manager"),
    "approver": gettext_lazy("approver"),
    "department head": gettext_lazy("department head"),
    "requester": gettext_lazy("requester"),
}
CAUSE_LABELS = {"goal changed": gettext_lazy("goal changed")}


def _and(words):
    return get_text_list([str(word) for word in words], gettext("and"))


# Joined only when rendered, in the language active then.
and_lazy = lazy(_and, str)


def threshold_label(subject, threshold):
    if subject in (EscalationSubject.UNCLAIMED, EscalationSubject.APPROVAL):
        return business_words(threshold * 60)
    if threshold > 0:
        return f"{threshold} %"
    return format_lazy(gettext_lazy("{minutes} min before due"), minutes=-threshold)


def business_words(seconds):
    from .services import business_duration

    return business_duration(seconds)


def notice_context(crossing, procurement_request, new_thresholds, roles=()):
    """What the kind's template (templates/stakeholders/notifications/<kind>.html) needs: numbers, the
    request, and lazy words; rendered per recipient in their language and time zone."""
    from requests_app.notifications import METRIC_LABELS, PRIORITY_LABELS, STATUS_LABELS, person

    threshold = new_thresholds[-1]
    clock = crossing.clock
    context = {
        "procurement_request": procurement_request,
        "reference": procurement_request.reference,
        "subject": crossing.subject,
        "threshold": threshold,
        "waited": business_words(max(threshold, 0) * 60),
        "priority": PRIORITY_LABELS.get(procurement_request.priority, procurement_request.priority),
        "status": STATUS_LABELS.get(procurement_request.status, procurement_request.status),
        "assignee_name": person(procurement_request.assignee) if procurement_request.assignee_id else "",
        "roles": and_lazy([ROLE_LABELS.get(role, role) for role in roles]),
        "approval_links": False,
    }
    if clock is not None:
        left = clock.goal_seconds - clock.elapsed_business
        context.update(
            clock=clock,
            metric_time=METRIC_TIME.get(clock.metric, clock.metric),
            metric_label=METRIC_LABELS.get(clock.metric, clock.metric),
            goal=business_words(clock.goal_seconds),
            used=math.floor(100 * clock.elapsed_business / clock.goal_seconds),
            left=business_words(max(left, 0)),
            overdue=business_words(max(-left, 0)),
        )
    if len(new_thresholds) > 1:
        context["passed"] = and_lazy([threshold_label(crossing.subject, key) for key in new_thresholds])
        context["cause"] = CAUSE_LABELS.get(crossing.cause, crossing.cause)
    return context


def headline(crossing, procurement_request, threshold):
    """The notice's one line, without the reference: '75 % of the resolution time used — 2 h left' (in the
    active language), from the kind's template."""
    from stakeholders.services import notice_headline

    kind = _notice_kind(crossing.subject, threshold)
    return notice_headline(kind, notice_context(crossing, procurement_request, (threshold,)))


def _payload(crossing, procurement_request, new_thresholds, audience, now):
    """The notice for this recipient, in their language and time zone; an approver also gets the one-click
    Approve and Reject links (requests_app/approval_links.py)."""
    from requests_app import permissions
    from requests_app.approval_links import approval_link_actions
    from stakeholders.services import notice_payload

    context = notice_context(crossing, procurement_request, new_thresholds, audience.roles)
    actions = []
    if crossing.subject == EscalationSubject.APPROVAL and permissions.can_perform(
        audience.user, "approve", procurement_request
    ):
        actions = approval_link_actions(procurement_request=procurement_request, approver=audience.user)
        context["approval_links"] = True
    path = reverse("requests_app:detail", kwargs={"reference": procurement_request.reference})
    payload = notice_payload(
        _notice_kind(crossing.subject, new_thresholds[-1]),
        context,
        audience.user,
        path=path,
        reference=procurement_request.reference,
        title=procurement_request.title,
        actions=actions,
        now=now,
    )
    return {
        **payload,
        "subject_kind": crossing.subject,
        "thresholds": list(new_thresholds),
        "written_at": now.isoformat(),
    }


def _local(moment, zone):
    return timezone.localtime(moment, ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M")


def _people(audiences):
    def channels(audience):
        ways = []
        if audience.by_email:
            held = audience.held_until
            ways.append("e-mail" + (f" held until {_local(held, settings.TIME_ZONE)}" if held else ""))
        if audience.in_app:
            ways.append("in the app")
        return " and ".join(ways)

    return _and(
        f"{audience.user.get_full_name() or audience.user.username} ({_and(audience.roles)}; {channels(audience)})"
        for audience in audiences
    )


@transaction.atomic
def escalations_record(*, crossings, now) -> list[EscalationEvent]:
    """Fire the crossings: one event per new threshold, one notice per person, one timeline line each.

    Callers hold the requests' row locks (the sweep, a lifecycle event), so that the check for
    thresholds already fired and the insert cannot interleave; the unique constraint is the
    backstop. Returns the events that carry notices (the highest threshold of each crossing).
    """
    from requests_app.models import EventKind, ProcurementRequest, RequestEvent
    from stakeholders.models import Channel, Notification, NotificationKind
    from stakeholders.services import email_wanted, notifications_create

    crossings = [crossing for crossing in crossings if crossing.thresholds]
    if not crossings:
        return []
    request_ids = {crossing.procurement_request_id for crossing in crossings}
    requests = ProcurementRequest.objects.select_related(
        "assignee", "requester", "department__head", "team__lead"
    ).in_bulk(request_ids)
    fired = set(
        EscalationEvent.objects.filter(procurement_request_id__in=request_ids).values_list(
            "procurement_request_id", "subject", "cycle", "threshold"
        )
    )
    plans = []
    for crossing in crossings:
        key = (crossing.procurement_request_id, crossing.subject, crossing.cycle)
        new = tuple(threshold for threshold in crossing.thresholds if (*key, threshold) not in fired)
        if not new:
            continue
        fired.update((*key, threshold) for threshold in new)
        top = EscalationEvent(
            procurement_request_id=crossing.procurement_request_id,
            subject=crossing.subject,
            cycle=crossing.cycle,
            threshold=new[-1],
            created_at=now,
        )
        plans.append((crossing, new, top))
    if not plans:
        return []
    EscalationEvent.objects.bulk_create([top for _, _, top in plans])
    EscalationEvent.objects.bulk_create(
        [
            EscalationEvent(
                procurement_request_id=top.procurement_request_id,
                subject=top.subject,
                cycle=top.cycle,
                threshold=threshold,
                collapsed_into=top,
                created_at=now,
            )
            for _, new, top in plans
            for threshold in new[:-1]
        ]
    )

    staff = Staff()
    audiences_by_plan = []
    for crossing, new, _top in plans:
        procurement_request = requests[crossing.procurement_request_id]
        audiences = {}
        for step in ladder_for(crossing.policy):
            if not step.applies_to(crossing.subject) or step.threshold not in new:
                continue
            for user, role in recipients_for(step, procurement_request, staff=staff):
                audience = audiences.setdefault(user.pk, _Audience(user))
                if role not in audience.roles:
                    audience.roles.append(role)
                audience.in_app |= step.in_app
                audience.by_email |= step.by_email
        audiences_by_plan.append(list(audiences.values()))

    kinds = {_notice_kind(crossing.subject, new[-1]) for crossing, new, _ in plans}
    recipients = {audience.user.pk for audiences in audiences_by_plan for audience in audiences}
    wants_email = email_wanted(user_ids=recipients, kinds=kinds)
    manager_ids = {manager.pk for manager in staff.managers} if NotificationKind.SLA_BREACH in kinds else set()

    notifications, timeline = [], []
    for (crossing, new, top), audiences in zip(plans, audiences_by_plan, strict=True):
        procurement_request = requests[crossing.procurement_request_id]
        kind = _notice_kind(crossing.subject, new[-1])
        quiet = crossing.calendar is not None and not crossing.calendar.is_open(now)
        held_until = crossing.calendar.next_opening(now) if quiet else None
        for audience in audiences:
            audience.by_email &= bool(audience.user.email) and wants_email(audience.user.pk, kind)
            payload = _payload(crossing, procurement_request, new, audience, now)
            common = {
                "recipient": audience.user,
                "kind": kind,
                "procurement_request": procurement_request,
                "escalation": top,
                "payload": payload,
            }
            if audience.in_app:
                notifications.append(Notification(channel=Channel.IN_APP, **common))
            if audience.by_email:
                # Quiet hours: the e-mail waits for the next opening; a breach reaches managers at once.
                breach_to_manager = kind == NotificationKind.SLA_BREACH and audience.user.pk in manager_ids
                audience.held_until = None if breach_to_manager else held_until
                notifications.append(Notification(channel=Channel.EMAIL, not_before=audience.held_until, **common))
        if crossing.subject == EscalationSubject.APPROVAL and new == (0,):
            continue  # asking the approver is no escalation: the status line already says who decides
        told = [audience for audience in audiences if audience.in_app or audience.by_email]
        # The timeline is written once, for everyone: in the desk's language, like its other lines.
        with translation.override(settings.LANGUAGE_CODE):
            line = headline(crossing, procurement_request, new[-1])
            if len(new) > 1:
                passed = _and(threshold_label(crossing.subject, threshold) for threshold in new)
                line += f" ({passed} passed at once{', ' + crossing.cause if crossing.cause else ''}: one notice)"
            note = f"{line}: told {_people(told)}." if told else f"{line}: nobody to tell."
        timeline.append(
            RequestEvent(
                procurement_request=procurement_request,
                kind=EventKind.ESCALATION,
                actor=None,
                note=note,
                is_internal=True,
                data={"subject": crossing.subject, "cycle": crossing.cycle, "thresholds": list(new)},
                created_at=now,
            )
        )
    notifications_create(notifications=notifications, now=now)
    RequestEvent.objects.bulk_create(timeline)
    _breaches_announce(plans, requests, now)
    return [top for _, _, top in plans]


def _breaches_announce(plans, requests, now):
    """Webhooks: one request.breached per clock cycle whose breach (100 %) fired now, alone or collapsed."""
    from webhooks.models import EventType
    from webhooks.services import WebhookEvent, webhook_deliveries_enqueue

    breaches = []
    for crossing, new, _top in plans:
        if crossing.subject not in Metric.values or BREACH_PERCENT not in new:
            continue
        procurement_request = requests[crossing.procurement_request_id]
        clock = crossing.clock
        data = {"metric": crossing.subject, "cycle": crossing.cycle}
        if clock is not None:
            data["breached_at"] = clock.breached_at.isoformat() if clock.breached_at else None
            data["goal_seconds"] = clock.goal_seconds
        key = f"request-{procurement_request.pk}-{crossing.subject}-cycle-{crossing.cycle}-breached"
        breaches.append(WebhookEvent(EventType.REQUEST_BREACHED, procurement_request, key, now, data=data))
    webhook_deliveries_enqueue(events=breaches)
