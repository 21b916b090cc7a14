"""Every write to a procurement request. Views, tasks, the admin and the API call these."""

import dataclasses
import logging
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone

from slas import services as sla_services
from stakeholders import surveys
from stakeholders.models import NotificationKind, Profile
from webhooks.models import EventType
from webhooks.services import WebhookEvent, webhook_deliveries_enqueue

from . import permissions, routing
from .attachments import attachment_validate, clean_filename
from .models import (
    SEARCH_CONFIG,
    Attachment,
    BuyerTeam,
    Comment,
    EventKind,
    Priority,
    ProcurementRequest,
    ReferenceCounter,
    RequestEvent,
    RoutingRule,
    RoutingStrategy,
    SavedQueueView,
    Status,
    TeamMembership,
    Watcher,
)
from .notifications import METRIC_LABELS, Event, buyer_away_notices_write, notices_write
from .queue import BULK_MAX

logger = logging.getLogger(__name__)


class ActionNotAllowed(Exception):
    """The request's status does not allow this action now; nothing was changed.

    `reason` says why in a few words, for lists of results ("PR-… is closed").
    """

    def __init__(self, message, *, reason=""):
        super().__init__(message)
        self.reason = reason or message


class ClaimConflict(ActionNotAllowed):
    """Someone else claimed the request first."""


class StaleRequest(ActionNotAllowed):
    """The request changed since the form was rendered; acting on it could overwrite what the user has not seen."""


def _next_reference(year):
    ReferenceCounter.objects.get_or_create(year=year)
    # The UPDATE takes a row lock held until commit, so concurrent submissions get distinct numbers.
    ReferenceCounter.objects.filter(year=year).update(last_number=F("last_number") + 1)
    number = ReferenceCounter.objects.get(year=year).last_number
    return f"PR-{year}-{number:06d}"


def value_in_base_currency(*, amount, currency):
    return (Decimal(amount) * currency.rate_to_base).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def approval_required(*, category, value_base):
    return category.approval_threshold is not None and value_base > category.approval_threshold


def _event(procurement_request, *, kind, actor, **fields):
    return RequestEvent.objects.create(procurement_request=procurement_request, kind=kind, actor=actor, **fields)


def _attachments_add(*, procurement_request, uploader, files, comment=None, is_internal=False):
    added = []
    for uploaded in files:
        content_type = attachment_validate(uploaded)
        attachment = Attachment(
            procurement_request=procurement_request,
            comment=comment,
            uploaded_by=uploader,
            original_name=clean_filename(uploaded.name),
            content_type=content_type,
            size=uploaded.size,
            is_internal=is_internal,
        )
        attachment.file.save(uploaded.name, uploaded, save=False)
        attachment.save()
        _event(
            procurement_request,
            kind=EventKind.ATTACHMENT_ADDED,
            actor=uploader,
            attachment=attachment,
            is_internal=is_internal,
        )
        added.append(attachment)
    return added


@transaction.atomic
def attachments_add(*, procurement_request, uploader, files, is_internal=False) -> list[Attachment]:
    """Attach files to a request on their own (the API; the portal sends files with a reply).

    The same people as may reply, the same checks as every upload; internal files are Procurement's.
    Each file is a line on the timeline; nobody is notified (a reply that mentions them is).
    """
    procurement_request = ProcurementRequest.objects.select_for_update().get(pk=procurement_request.pk)
    if not permissions.can_reply(uploader, procurement_request):
        raise PermissionDenied("You cannot add files to this request.")
    if is_internal and not permissions.can_view_internal(uploader):
        raise PermissionDenied("Only Procurement can add internal files.")
    if not files:
        raise ValidationError({"files": "Choose at least one file."})
    if len(files) > settings.ATTACHMENTS_PER_UPLOAD:
        raise ValidationError({"files": f"Attach at most {settings.ATTACHMENTS_PER_UPLOAD} files at a time."})
    for uploaded in files:
        attachment_validate(uploaded)  # refuse before anything is written
    added = _attachments_add(
        procurement_request=procurement_request, uploader=uploader, files=files, is_internal=is_internal
    )
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(updated_at=timezone.now())
    return added


@transaction.atomic
def procurement_request_submit(
    *,
    requester,
    title,
    description,
    category,
    priority,
    estimated_value,
    currency,
    submission_token,
    cost_centre="",
    needed_by=None,
    suggested_supplier="",
    is_confidential=False,
    files=(),
) -> tuple[ProcurementRequest, bool]:
    """File a request for the requester's department. Returns (request, created).

    The same submission token returns the request it first created, so a double click or a
    resubmitted form never files twice.
    """
    if not permissions.can_submit(requester):
        raise PermissionDenied("You cannot file procurement requests.")
    existing = ProcurementRequest.objects.filter(submission_token=submission_token).first()
    if existing is not None:
        if existing.requester_id != requester.id:
            raise PermissionDenied("This form belongs to someone else.")
        return existing, False
    department_id = permissions.user_department_id(requester)
    if department_id is None:
        raise ValidationError("Your account is not a member of any department; ask an administrator.")
    if needed_by is not None and needed_by < timezone.localdate():
        raise ValidationError({"needed_by": "The needed-by date cannot be in the past."})
    for uploaded in files:
        attachment_validate(uploaded)  # refuse before anything is written

    now = timezone.now()
    value_base = value_in_base_currency(amount=estimated_value, currency=currency)
    needs_approval = approval_required(category=category, value_base=value_base)
    try:
        with transaction.atomic():
            procurement_request = ProcurementRequest.objects.create(
                reference=_next_reference(timezone.localtime(now).year),
                title=title,
                description=description,
                category=category,
                department_id=department_id,
                requester=requester,
                priority=priority,
                estimated_value=estimated_value,
                currency=currency,
                estimated_value_base=value_base,
                cost_centre=cost_centre,
                needed_by=needed_by,
                suggested_supplier=suggested_supplier,
                is_confidential=is_confidential,
                requires_approval=needs_approval,
                submission_token=submission_token,
                created_at=now,
            )
    except IntegrityError:
        # A concurrent submission of the same form won the race: answer with its request.
        existing = ProcurementRequest.objects.filter(submission_token=submission_token, requester=requester).first()
        if existing is None:
            raise
        return existing, False

    _event(procurement_request, kind=EventKind.CREATED, actor=requester, to_status=Status.SUBMITTED)
    search_documents_refresh(procurement_request_ids=[procurement_request.pk])
    _attachments_add(procurement_request=procurement_request, uploader=requester, files=files)
    events = []
    if not needs_approval:
        changes = sla_services.sla_clocks_start(procurement_request=procurement_request, at=now)
        sla_services.sla_changes_record(procurement_request=procurement_request, changes=changes)
        procurement_request, _ = _route(procurement_request, actor=None, announce=False)
        if procurement_request.assignee_id is None:
            # Routed to a team queue: reminders start if nobody claims it.
            sla_services.sla_reminder_start(procurement_request=procurement_request, subject="unclaimed", at=now)
        # The receipt names the buyer: the requester needs no separate "assigned" notice.
        events = [e for e in _routing_events(procurement_request, actor=None) if e.kind != NotificationKind.ASSIGNED]
    else:
        procurement_request = _transition(
            procurement_request,
            to_status=Status.PENDING_APPROVAL,
            actor=None,
            note=_approval_note(procurement_request),
            announce=False,
        )
        # The approver is asked now (the ladder's step at 0 minutes) and reminded while it waits.
        sla_services.sla_reminder_start(procurement_request=procurement_request, subject="approval", at=now)
    receipt = Event(NotificationKind.RECEIVED, requester, _receipt(procurement_request, needs_approval=needs_approval))
    confidential = Event(NotificationKind.CONFIDENTIAL_FILED, requester)
    notices_write(procurement_request=procurement_request, events=[receipt, confidential, *events], now=now)
    # Webhooks: one request.created, with the status and SLA due times filing gave it (the status changes
    # made while filing, routing or asking for approval, are part of it, not status_changed events).
    created = WebhookEvent(
        EventType.REQUEST_CREATED, procurement_request, f"request-{procurement_request.pk}-created", now
    )
    webhook_deliveries_enqueue(events=[created])
    return procurement_request, True


def _receipt(procurement_request, *, needs_approval):
    """What the requester's receipt promises: each clock's target and due time, or who approves first."""
    from slas.models import Metric, SlaClock

    context = {"needs_approval": needs_approval}
    if needs_approval:
        context["approver"] = _approver_name(procurement_request)
        return context
    clocks = SlaClock.objects.filter(procurement_request=procurement_request, is_current=True).order_by("metric")
    context["clocks"] = [
        {
            "label": METRIC_LABELS.get(clock.metric, Metric(clock.metric).label),
            "goal": sla_services.business_duration(clock.goal_seconds),
            "due_at": clock.due_at,
        }
        for clock in clocks
    ]
    if procurement_request.assignee_id:
        context["assignee_name"] = _person(procurement_request.assignee)
    elif procurement_request.team_id:
        context["team_name"] = procurement_request.team.name
    return context


def _routing_events(routed, *, actor, previous=None, note=""):
    """The notices a routing decision calls for: the new buyer (and the requester), or the team's lead."""
    if routed.assignee_id and routed.assignee_id != getattr(previous, "pk", None):
        name = _person(routed.assignee)
        events = [
            Event(NotificationKind.ASSIGNED, actor, {"assignee_name": name}),
            Event(NotificationKind.ASSIGNED_TO_YOU, actor, {"note": note}),
        ]
        if previous is not None:
            events.append(
                Event(
                    NotificationKind.REASSIGNED,
                    actor,
                    {"previous_assignee": previous, "assignee_name": name, "note": note},
                )
            )
        return events
    if routed.assignee_id is None and routed.team_id:
        return [Event(NotificationKind.TEAM_QUEUE, actor, {"team_name": routed.team.name})]
    return []


def _approver_name(procurement_request):
    head = procurement_request.department.head
    return (
        f"{head.get_full_name() or head.username}, head of {procurement_request.department}"
        if permissions.head_can_approve(procurement_request)
        else "a procurement manager"
    )


def _approval_note(procurement_request):
    """'Capital equipment requests above 10,000.00 EUR need approval; waiting for Hannah Head, head of Sales.'"""
    category = procurement_request.category
    approver = _approver_name(procurement_request)
    return (
        f"{category} requests above {category.approval_threshold:,.2f} "
        f"{settings.PROCUREMENT_BASE_CURRENCY} need approval; waiting for {approver}."
    )


# The request fields its SLA clocks carry for the dashboards (SlaClock.department and the rest).
CLOCK_DIMENSIONS = {"department", "team", "category", "priority", "assignee"}


def _clock_dimensions_follow(locked, *, changed):
    """After saving `changed` fields of a locked request: its clocks take the new values if one is a dimension."""
    if CLOCK_DIMENSIONS.intersection(changed):
        sla_services.sla_clocks_dimensions_sync(procurement_request=locked)


def _transition(
    procurement_request,
    *,
    to_status,
    actor,
    note="",
    kind=EventKind.STATUS_CHANGED,
    data=None,
    announce=True,
    **changes,
):
    """Move a locked request to `to_status`, apply `changes`, and write the event. Caller is atomic.

    `announce`: tell webhooks (request.status_changed); the submission announces itself as created instead.
    """
    locked = ProcurementRequest.objects.select_for_update().get(pk=procurement_request.pk)
    if not locked.can_move_to(to_status):
        raise ActionNotAllowed(
            f"{locked.reference} is {locked.get_status_display().lower()}; "
            f"it cannot become {Status(to_status).label.lower()}."
        )
    from_status = locked.status
    locked.status = to_status
    for field, value in changes.items():
        setattr(locked, field, value)
    now = timezone.now()  # one instant for the status, its event and the clock changes (replay relies on it)
    if to_status == Status.COMPLETED:
        locked.completed_at = now
    _version_bump(locked)
    locked.save(update_fields=["status", "updated_at", "completed_at", "version", *changes])
    _clock_dimensions_follow(locked, changed=changes)
    event = _event(
        locked,
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        assignee=changes.get("assignee"),
        data=data or {},
        created_at=now,
    )
    clock_changes = sla_services.sla_clocks_on_status_change(
        procurement_request=locked, from_status=from_status, to_status=to_status, at=now
    )
    if to_status == Status.WAITING_FOR_REQUESTER:
        # The question is a reply the requester sees: it answers the first-response promise.
        clock_changes += sla_services.sla_clocks_on_public_reply(procurement_request=locked, at=now)
    sla_services.sla_changes_record(procurement_request=locked, changes=clock_changes)
    if announce:
        # After the clocks moved, so that the payload's SLA due times are the new ones.
        changed = WebhookEvent(
            EventType.REQUEST_STATUS_CHANGED, locked, f"request-event-{event.pk}", now, previous_status=from_status
        )
        webhook_deliveries_enqueue(events=[changed])
    return locked


@transaction.atomic
def procurement_request_transition(*, procurement_request, to_status, actor, note="", kind=EventKind.STATUS_CHANGED):
    """The one way to change a request's status: locks it, checks the table, records the event."""
    return _transition(procurement_request, to_status=to_status, actor=actor, note=note, kind=kind)


ACTION_LABELS = {
    "approve": "approve",
    "reject": "reject",
    "claim": "claim",
    "assign": "assign",
    "reroute": "re-route",
    "start": "start work on",
    "wait_for_requester": "ask the requester about",
    "wait_for_supplier": "put on hold for the supplier",
    "resume": "resume",
    "mark_ordered": "record the order for",
    "complete": "complete",
    "close": "close",
    "cancel": "cancel",
    "reopen": "reopen",
    "reprioritise": "change the priority or category of",
}


def _version_bump(locked):
    # The row is locked until commit: a plain increment is safe, and the caller's instance stays current.
    locked.version += 1


def _holder(user):
    return user.get_full_name() or user.username


def _locked_for(actor, action, procurement_request, *, expected_version=None):
    """Lock the request's row, then check the actor may take the action, that nobody changed the request
    since the actor's form was rendered (`expected_version`, when the form sent one), and that the
    status allows it."""
    locked = ProcurementRequest.objects.select_for_update().get(pk=procurement_request.pk)
    label = ACTION_LABELS[action]
    status = locked.get_status_display().lower()
    if not permissions.can_perform(actor, action, locked):
        raise PermissionDenied(f"You cannot {label} {locked.reference}.")
    if action == "claim" and locked.assignee_id is not None:
        # Checked before the version: for two buyers racing for one request, this is the news.
        if locked.assignee_id == actor.id:
            raise ClaimConflict(f"{locked.reference} is already yours.", reason="is already yours")
        holder = _holder(locked.assignee)
        raise ClaimConflict(f"{locked.reference} was just claimed by {holder}.", reason=f"was claimed by {holder}")
    if expected_version is not None and expected_version != locked.version:
        assignee = f"assigned to {_holder(locked.assignee)}" if locked.assignee_id else "unassigned"
        raise StaleRequest(
            f"{locked.reference} changed since you opened it (now: {status}, {assignee}); reload.",
            reason=f"changed since you opened it (now {status}, {assignee})",
        )
    if not permissions.action_is_legal(action, locked):
        raise ActionNotAllowed(f"You cannot {label} {locked.reference} while it is {status}.", reason=f"is {status}")
    return locked


def _require_note(note, *, field="note", what="a reason"):
    note = (note or "").strip()
    if not note:
        raise ValidationError({field: f"Please give {what}."})
    return note


@transaction.atomic
def procurement_request_approve(*, procurement_request, actor, note="", expected_version=None):
    """Approve a pending request; routing then gives it to a team (and maybe a buyer), as on submission.

    A request a buyer already had (approval asked for mid-flight by a category change) goes straight
    back to them instead.
    """
    procurement_request = _locked_for(actor, "approve", procurement_request, expected_version=expected_version)
    approval = Event(NotificationKind.APPROVED, actor, {"note": note.strip()})
    if procurement_request.assignee_id:
        back = _transition(
            procurement_request, to_status=Status.ASSIGNED, actor=actor, note=note.strip(), kind=EventKind.APPROVED
        )
        notices_write(procurement_request=back, events=[approval])
        return back
    approved = _transition(
        procurement_request, to_status=Status.APPROVED, actor=actor, note=note.strip(), kind=EventKind.APPROVED
    )
    routed, _ = _route(approved, actor=None)
    if routed.assignee_id is None:
        # Now Procurement's wait begins: nobody claiming it is reminded like a fresh submission.
        sla_services.sla_reminder_start(procurement_request=routed, subject="unclaimed", at=timezone.now())
    notices_write(procurement_request=routed, events=[approval, *_routing_events(routed, actor=None)])
    return routed


@transaction.atomic
def procurement_request_reject(*, procurement_request, actor, note, expected_version=None):
    procurement_request = _locked_for(actor, "reject", procurement_request, expected_version=expected_version)
    note = _require_note(note, what="the reason for rejecting")
    rejected = _transition(
        procurement_request, to_status=Status.REJECTED, actor=actor, note=note, kind=EventKind.REJECTED
    )
    notices_write(procurement_request=rejected, events=[Event(NotificationKind.REJECTED, actor, {"note": note})])
    return rejected


@transaction.atomic
def procurement_request_claim(*, procurement_request, actor, expected_version=None):
    procurement_request = _locked_for(actor, "claim", procurement_request, expected_version=expected_version)
    claimed = _transition(
        procurement_request,
        to_status=Status.ASSIGNED,
        actor=actor,
        kind=EventKind.ASSIGNED,
        assignee=actor,
    )
    notices_write(procurement_request=claimed, events=_routing_events(claimed, actor=actor))
    return claimed


def _person(user):
    return user.get_full_name() or user.username


@transaction.atomic
def procurement_request_assign(*, procurement_request, actor, assignee, note="", expected_version=None):
    """Give the request to a buyer; from an unworked status this also moves it to Assigned.

    Managers assign to any buyer; the lead of the request's team to the team's members. Taking a
    request away from its buyer needs a reason.
    """
    locked = _locked_for(actor, "assign", procurement_request, expected_version=expected_version)
    if not permissions.is_buyer(assignee):
        raise ValidationError({"assignee": f"{assignee} is not a buyer."})
    if locked.assignee_id == assignee.id:
        raise ValidationError({"assignee": f"{locked.reference} is already assigned to {assignee}."})
    note = note.strip()
    if locked.assignee_id is not None:
        note = _require_note(note, what="the reason for reassigning")
    in_team = TeamMembership.objects.filter(team_id=locked.team_id, user=assignee).exists()
    if not in_team and not permissions.is_manager(actor):
        raise ValidationError(
            {"assignee": f"{_person(assignee)} is not in {locked.team}; only a procurement manager assigns outside it."}
        )
    previous = locked.assignee
    if locked.can_move_to(Status.ASSIGNED):
        locked = _transition(
            locked,
            to_status=Status.ASSIGNED,
            actor=actor,
            kind=EventKind.ASSIGNED,
            assignee=assignee,
            note=note,
        )
    else:
        locked.assignee = assignee
        _version_bump(locked)
        locked.save(update_fields=["assignee", "updated_at", "version"])
        _clock_dimensions_follow(locked, changed=["assignee"])
        _event(locked, kind=EventKind.ASSIGNED, actor=actor, assignee=assignee, note=note)
    notices_write(procurement_request=locked, events=_routing_events(locked, actor=actor, previous=previous, note=note))
    return locked


def _route(procurement_request, *, actor, note="", announce=True):
    """Run the routing rules on the request and apply the decision; returns (request, decision).

    Assigning goes through `_transition` when the status allows it, so the clocks and the timeline
    follow; otherwise (re-routing work in hand) the buyer changes and the status stays. The caller is
    atomic and passes the request as it just locked (or created) it.
    """
    locked = procurement_request
    decision = routing.routing_decide(locked, lock=True)
    if decision is None:
        # Only a flushed test database or an administrator deleting rows by hand gets here.
        logger.warning("No routing rule, not even a default: %s stays without a team.", locked.reference)
        return locked, None
    buyer = decision.buyer
    text = " ".join(part for part in (decision.summary(current_assignee=locked.assignee), note) if part)
    routed = {"team": decision.team, "routed_by": decision.rule}
    if buyer is not None:
        if decision.strategy == RoutingStrategy.ROUND_ROBIN:
            # The rotation's place, written under the team's row lock that routing_decide took.
            BuyerTeam.objects.filter(pk=decision.team.pk).update(last_assigned=buyer)
        if locked.can_move_to(Status.ASSIGNED):
            routed_request = _transition(
                locked,
                to_status=Status.ASSIGNED,
                actor=actor,
                kind=EventKind.ROUTED,
                note=text,
                data=decision.data(),
                assignee=buyer,
                announce=announce,
                **routed,
            )
            return routed_request, decision
        if buyer.pk != locked.assignee_id:
            routed["assignee"] = buyer
    for field, value in routed.items():
        setattr(locked, field, value)
    if actor is not None:
        # A person re-routed it: forms rendered before are stale. Routing inside the submission is not a change.
        _version_bump(locked)
    locked.save(update_fields=[*routed, "updated_at", "version"])
    _clock_dimensions_follow(locked, changed=routed)
    _event(locked, kind=EventKind.ROUTED, actor=actor, note=text, data=decision.data(), assignee=routed.get("assignee"))
    return locked, decision


@transaction.atomic
def procurement_request_reroute(*, procurement_request, actor, note, expected_version=None):
    """Run the routing rules again (managers, the team's lead); reassigns only when the strategy picks someone."""
    locked = _locked_for(actor, "reroute", procurement_request, expected_version=expected_version)
    note = _require_note(note, what="the reason for re-routing")
    previous = locked.assignee
    rerouted, decision = _route(locked, actor=actor, note=f"Reason: {note}")
    if decision is None:
        raise ValidationError("There is no routing rule to apply; ask an administrator to restore the default rule.")
    events = _routing_events(rerouted, actor=actor, previous=previous, note=note)
    notices_write(procurement_request=rerouted, events=events)
    return rerouted


@transaction.atomic
def procurement_request_start(*, procurement_request, actor, note="", expected_version=None):
    procurement_request = _locked_for(actor, "start", procurement_request, expected_version=expected_version)
    return _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_wait_for_requester(*, procurement_request, actor, note, expected_version=None):
    """Ask the requester something; the question is on the public timeline and pauses the wait."""
    procurement_request = _locked_for(
        actor, "wait_for_requester", procurement_request, expected_version=expected_version
    )
    note = _require_note(note, what="the question for the requester")
    updated = _transition(procurement_request, to_status=Status.WAITING_FOR_REQUESTER, actor=actor, note=note)
    notices_write(
        procurement_request=updated, events=[Event(NotificationKind.WAITING_FOR_YOU, actor, {"question": note})]
    )
    return updated


@transaction.atomic
def procurement_request_wait_for_supplier(*, procurement_request, actor, note="", expected_version=None):
    procurement_request = _locked_for(
        actor, "wait_for_supplier", procurement_request, expected_version=expected_version
    )
    return _transition(procurement_request, to_status=Status.WAITING_FOR_SUPPLIER, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_resume(*, procurement_request, actor, note="", expected_version=None):
    procurement_request = _locked_for(actor, "resume", procurement_request, expected_version=expected_version)
    return _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_mark_ordered(*, procurement_request, actor, po_number, note="", expected_version=None):
    procurement_request = _locked_for(actor, "mark_ordered", procurement_request, expected_version=expected_version)
    po_number = _require_note(po_number, field="po_number", what="the purchase order number")
    ordered = _transition(
        procurement_request,
        to_status=Status.ORDERED,
        actor=actor,
        kind=EventKind.PO_RECORDED,
        note=note.strip() or f"PO {po_number}",
        po_number=po_number,
    )
    context = {"po_number": po_number, "expected_on": ordered.expected_on}
    notices_write(procurement_request=ordered, events=[Event(NotificationKind.ORDERED, actor, context)])
    return ordered


@transaction.atomic
def procurement_request_complete(*, procurement_request, actor, note="", expected_version=None):
    procurement_request = _locked_for(actor, "complete", procurement_request, expected_version=expected_version)
    completed = _transition(procurement_request, to_status=Status.COMPLETED, actor=actor, note=note.strip())
    context = {"note": note.strip(), "reopen_days": settings.REOPEN_WINDOW_DAYS}
    notices_write(procurement_request=completed, events=[Event(NotificationKind.COMPLETED, actor, context)])
    # Satisfaction (stakeholders/surveys.py): the requester is asked how it went, once per request.
    surveys.survey_send(procurement_request=completed, now=completed.completed_at)
    return completed


@transaction.atomic
def procurement_request_close(*, procurement_request, actor, note="", expected_version=None):
    procurement_request = _locked_for(actor, "close", procurement_request, expected_version=expected_version)
    return _transition(procurement_request, to_status=Status.CLOSED, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_cancel(*, procurement_request, actor, note, expected_version=None):
    procurement_request = _locked_for(actor, "cancel", procurement_request, expected_version=expected_version)
    note = _require_note(note, what="the reason for cancelling")
    cancelled = _transition(procurement_request, to_status=Status.CANCELLED, actor=actor, note=note)
    notices_write(procurement_request=cancelled, events=[Event(NotificationKind.CANCELLED, actor, {"note": note})])
    return cancelled


@transaction.atomic
def procurement_request_reopen(*, procurement_request, actor, note, expected_version=None):
    procurement_request = _locked_for(actor, "reopen", procurement_request, expected_version=expected_version)
    note = _require_note(note, what="what is still missing")
    reopened = _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=actor, note=note)
    notices_write(procurement_request=reopened, events=[Event(NotificationKind.REOPENED, actor, {"note": note})])
    return reopened


@transaction.atomic
def procurement_request_reprioritise(
    *, procurement_request, actor, note, priority=None, category=None, expected_version=None
):
    """Change an open request's priority and/or category, with a reason; the SLA clocks re-match the goal."""
    locked = _locked_for(actor, "reprioritise", procurement_request, expected_version=expected_version)
    note = _require_note(note, what="the reason for the change")
    data, words = {}, []
    if priority and priority != locked.priority:
        data["priority"] = [locked.priority, priority]
        words.append(f"Priority {Priority(locked.priority).label} → {Priority(priority).label}")
        locked.priority = priority
    if category is not None and category.pk != locked.category_id:
        data["category"] = [locked.category_id, category.pk]
        words.append(f"category {locked.category} → {category}")
        locked.category = category
    if not data:
        raise ValidationError("Choose a priority or category different from the current one.")
    needs_approval = "category" in data and _approval_newly_needed(locked)
    now = timezone.now()  # one instant for the event and the clock changes (replay relies on it)
    _version_bump(locked)
    locked.save(update_fields=[*data, "updated_at", "version"])
    _clock_dimensions_follow(locked, changed=data)
    summary = ", ".join(words)
    _event(
        locked,
        kind=EventKind.REPRIORITISED,
        actor=actor,
        note=f"{summary[0].upper()}{summary[1:]}: {note}",
        data=data,
        created_at=now,
    )
    changes = sla_services.sla_clocks_rematch(procurement_request=locked, at=now)
    sla_services.sla_changes_record(procurement_request=locked, changes=changes)
    if needs_approval:
        # A new category must not skip the department head's approval its value now calls for.
        locked = _transition(locked, to_status=Status.PENDING_APPROVAL, actor=None, note=_approval_note(locked))
    return locked


def _approval_newly_needed(procurement_request):
    """Whether the request's (new) category needs approval for its value, and it was never approved.

    Raises ValidationError when approval would be needed but can no longer be asked for here.
    """
    if not approval_required(
        category=procurement_request.category, value_base=procurement_request.estimated_value_base
    ):
        return False
    if procurement_request.events.filter(kind=EventKind.APPROVED).exists():
        return False
    if not procurement_request.can_move_to(Status.PENDING_APPROVAL):
        status = procurement_request.get_status_display().lower()
        raise ValidationError(
            {
                "category": (
                    f"{procurement_request.category} requests of this value need the department head's approval, "
                    f"which cannot be asked for while the request is {status}."
                )
            }
        )
    return True


@transaction.atomic
def procurement_request_set_expected_date(*, procurement_request, actor, expected_on, note=""):
    """Record when the buyer expects to deliver; the requester (and followers) are told."""
    locked = ProcurementRequest.objects.select_for_update().select_related("requester").get(pk=procurement_request.pk)
    if not permissions.can_set_expected_date(actor, locked):
        raise PermissionDenied(f"You cannot set the expected date of {locked.reference}.")
    if expected_on < timezone.localdate():
        raise ValidationError({"expected_on": "The expected date cannot be in the past."})
    if expected_on == locked.expected_on:
        raise ValidationError({"expected_on": "That is already the expected date."})
    previous, locked.expected_on = locked.expected_on, expected_on
    locked.save(update_fields=["expected_on", "updated_at"])
    note = (note or "").strip()
    words = f"Expected by {expected_on:%a %d %b %Y}" + (f" (was {previous:%a %d %b %Y})" if previous else "")
    _event(
        locked,
        kind=EventKind.EXPECTED_DATE,
        actor=actor,
        note=words + (f": {note}" if note else "."),
        data={"expected_on": [previous.isoformat() if previous else None, expected_on.isoformat()]},
    )
    context = {"expected_on": expected_on, "previous": previous, "note": note}
    notices_write(procurement_request=locked, events=[Event(NotificationKind.EXPECTED_DATE, actor, context)])
    return locked


@transaction.atomic
def comment_add(*, procurement_request, author, body, is_internal=False, files=()):
    """Post a public reply or an internal note, with attachments.

    A requester's reply to a request waiting for them hands it back to Procurement.
    """
    # Lock and re-read: whether a reply resumes the request depends on the stored status, not the caller's copy.
    procurement_request = ProcurementRequest.objects.select_for_update().get(pk=procurement_request.pk)
    if not permissions.can_reply(author, procurement_request):
        raise PermissionDenied("You cannot reply to this request.")
    if is_internal and not permissions.can_view_internal(author):
        raise PermissionDenied("Only Procurement can write internal notes.")
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write a message."})
    for uploaded in files:
        attachment_validate(uploaded)
    now = timezone.now()  # one instant for the comment, its event and any clock change (replay relies on it)
    comment = Comment.objects.create(
        procurement_request=procurement_request, author=author, body=body, is_internal=is_internal, created_at=now
    )
    _event(
        procurement_request,
        kind=EventKind.NOTE_ADDED if is_internal else EventKind.COMMENTED,
        actor=author,
        comment=comment,
        is_internal=is_internal,
        created_at=now,
    )
    _attachments_add(
        procurement_request=procurement_request, uploader=author, files=files, comment=comment, is_internal=is_internal
    )
    if (
        not is_internal
        and procurement_request.status == Status.WAITING_FOR_REQUESTER
        and permissions.is_requester_side(author, procurement_request)
    ):
        _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=author, note="The requester replied.")
    elif not is_internal and permissions.is_procurement_staff(author):
        # Procurement's first reply the requester can see answers the first-response promise.
        changes = sla_services.sla_clocks_on_public_reply(procurement_request=procurement_request, at=now)
        sla_services.sla_changes_record(procurement_request=procurement_request, changes=changes)
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(updated_at=timezone.now())
    search_documents_refresh(procurement_request_ids=[procurement_request.pk])
    if not is_internal:
        context = {"body": body, "attachments": [clean_filename(uploaded.name) for uploaded in files]}
        notices_write(procurement_request=procurement_request, events=[Event(NotificationKind.REPLY, author, context)])
    return comment


def search_documents_refresh(*, procurement_request_ids=None, using="default"):
    """Rebuild the full-text search document (title, description, every comment) of these requests, or
    of all of them. PostgreSQL only; elsewhere the search reads the text columns and this does nothing.

    Called by the services that write a request's text (submission, comments) in their transaction; the
    whole document is rebuilt, so an edit of any part can call it too.
    """
    if connections[using].vendor != "postgresql":
        return 0
    from django.contrib.postgres.aggregates import StringAgg
    from django.contrib.postgres.search import SearchVector

    comments = (
        Comment.objects.filter(procurement_request=OuterRef("pk"))
        .order_by()
        .values("procurement_request")
        .annotate(text=StringAgg("body", delimiter=" "))
        .values("text")
    )
    requests = ProcurementRequest.objects.using(using)
    if procurement_request_ids is not None:
        requests = requests.filter(pk__in=procurement_request_ids)
    return requests.update(
        search_document=SearchVector("title", "description", Subquery(comments), config=SEARCH_CONFIG)
    )


# The actions a bulk change may apply: assignment, and the status moves that need no per-request input
# (a PO number, say, is never the same for two requests).
BULK_ACTIONS = ("assign", "start", "wait_for_supplier", "resume", "complete", "close", "cancel")
BULK_DONE = {
    "assign": "assigned",
    "start": "started",
    "wait_for_supplier": "put on hold for the supplier",
    "resume": "resumed",
    "complete": "completed",
    "close": "closed",
    "cancel": "cancelled",
}


@dataclasses.dataclass
class BulkOutcome:
    """What a bulk action did: the requests it changed, and the ones it skipped with the reason."""

    action: str
    done: list = dataclasses.field(default_factory=list)  # the updated requests
    skipped: list = dataclasses.field(default_factory=list)  # (reference, reason)

    def summary(self):
        """'12 assigned, 2 skipped: PR-… is closed; PR-… changed since you opened it'."""
        text = f"{len(self.done)} {BULK_DONE[self.action]}"
        if self.skipped:
            text += f", {len(self.skipped)} skipped: " + "; ".join(f"{ref} {why}" for ref, why in self.skipped)
        return text


def procurement_request_bulk_act(*, actor, action, versions, **arguments) -> BulkOutcome:
    """Apply one action to several requests: `versions` maps each reference to the version the actor saw
    (None: unchecked). Each request goes through the action's own service, under its own lock and in its
    own transaction, so one refusal skips that request only and no lock is held for the whole batch.
    """
    if action not in BULK_ACTIONS:
        raise ValueError(f"{action} is not a bulk action")
    if len(versions) > BULK_MAX:
        raise ValidationError(f"Choose at most {BULK_MAX} requests at a time.")
    service = globals()[f"procurement_request_{action}"]
    found = {
        procurement_request.reference: procurement_request
        for procurement_request in ProcurementRequest.objects.visible_to(actor).filter(reference__in=list(versions))
    }
    outcome = BulkOutcome(action)
    for reference, version in versions.items():
        procurement_request = found.get(reference)
        if procurement_request is None:
            outcome.skipped.append((reference, "was not found"))
            continue
        try:
            outcome.done.append(
                service(procurement_request=procurement_request, actor=actor, expected_version=version, **arguments)
            )
        except ActionNotAllowed as refused:
            outcome.skipped.append((reference, refused.reason))
        except PermissionDenied:
            outcome.skipped.append((reference, "is not yours to change"))
        except ValidationError as invalid:
            outcome.skipped.append((reference, " ".join(invalid.messages).rstrip(".")))
    return outcome


@transaction.atomic
def watcher_add(*, procurement_request, actor, user) -> Watcher:
    """Follow a request (user is the actor), or add a colleague as a follower (the requester, the buyer).

    Only people who can see the request may follow it; following twice changes nothing.
    """
    if user.pk == actor.pk:
        if not permissions.can_watch(actor, procurement_request):
            raise PermissionDenied(f"You cannot follow {procurement_request.reference}.")
    else:
        if not permissions.can_add_watchers(actor, procurement_request):
            raise PermissionDenied(f"You cannot add followers to {procurement_request.reference}.")
        if not permissions.can_view(user, procurement_request):
            raise ValidationError(
                {"user": f"{_person(user)} cannot see {procurement_request.reference}, so cannot follow it."}
            )
    watcher, _ = Watcher.objects.get_or_create(
        procurement_request=procurement_request, user=user, defaults={"added_by": actor}
    )
    return watcher


@transaction.atomic
def watcher_remove(*, procurement_request, actor, user) -> bool:
    """Stop following (yourself), or remove a follower (whoever may add them); returns whether one was removed."""
    if user.pk != actor.pk and not permissions.can_add_watchers(actor, procurement_request):
        raise PermissionDenied(f"You cannot remove followers of {procurement_request.reference}.")
    deleted, _ = Watcher.objects.filter(procurement_request=procurement_request, user=user).delete()
    return bool(deleted)


@transaction.atomic
def saved_queue_view_save(*, user, name, view, query) -> SavedQueueView:
    """Save the user's filters under a name; saving again under the same name replaces them."""
    name = _require_note(name, field="name", what="a name")
    saved, _ = SavedQueueView.objects.update_or_create(user=user, name=name, defaults={"view": view, "query": query})
    return saved


@transaction.atomic
def saved_queue_view_delete(*, saved_view, actor):
    if saved_view.user_id != actor.id:
        raise PermissionDenied("This saved view belongs to someone else.")
    saved_view.delete()


def completed_requests_close(*, now=None, batch_size=500):
    """Close completed requests whose reopen window has passed; returns how many were closed.

    Selects by state in bounded batches, so a second run finds nothing left to do.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.REOPEN_WINDOW_DAYS)
    closed = 0
    while True:
        with transaction.atomic():
            batch = list(
                ProcurementRequest.objects.select_for_update(skip_locked=True)
                .filter(status=Status.COMPLETED, completed_at__lt=cutoff)
                .order_by("completed_at")[:batch_size]
            )
            for procurement_request in batch:
                _transition(
                    procurement_request,
                    to_status=Status.CLOSED,
                    actor=None,
                    note=f"Closed automatically {settings.REOPEN_WINDOW_DAYS} days after completion.",
                )
        closed += len(batch)
        if len(batch) < batch_size:
            return closed


# --- routing set-up -------------------------------------------------------------------------------


@transaction.atomic
def buyer_availability_set(*, buyer, actor, away_until):
    """Mark a buyer out of office up to and including `away_until` (None: available again).

    A buyer sets their own, a team lead their members', a manager anyone's. Routing gives an absent
    buyer nothing new; their open requests stay with them, flagged for the lead.
    """
    if not permissions.can_set_availability(actor, buyer):
        raise PermissionDenied(f"You cannot set {_person(buyer)}'s out-of-office date.")
    if not permissions.is_buyer(buyer):
        raise ValidationError({"buyer": f"{_person(buyer)} is not a buyer."})
    if away_until is not None and away_until < timezone.localdate():
        raise ValidationError({"away_until": "This date is in the past; leave it empty to mark them available."})
    profile, _ = Profile.objects.update_or_create(user=buyer, defaults={"away_until": away_until})
    if away_until is not None:
        open_count = ProcurementRequest.objects.open().filter(assignee=buyer).count()
        if open_count:
            buyer_away_notices_write(buyer=buyer, actor=actor, away_until=away_until, open_count=open_count)
    return profile


RULE_FIELDS = frozenset(
    {
        "name",
        "is_active",
        "category",
        "department",
        "currency",
        "min_value",
        "max_value",
        "title_keywords",
        "team",
        "strategy",
    }
)


def _routing_manager_required(actor):
    if not permissions.is_manager(actor):
        raise PermissionDenied("Only procurement managers change the routing rules.")


def _rule_save(rule, fields):
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise TypeError(f"Not a routing rule field: {', '.join(sorted(unknown))}")
    for field, value in fields.items():
        setattr(rule, field, value)
    rule.title_keywords = ", ".join(rule.keywords)  # one spelling: "a, b", no empty entries
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def routing_rule_create(*, actor, **fields) -> RoutingRule:
    """Add a rule after the others (before the default)."""
    _routing_manager_required(actor)
    last = RoutingRule.objects.filter(is_default=False).aggregate(last=Max("position"))["last"] or 0
    return _rule_save(RoutingRule(position=last + 10), fields)


@transaction.atomic
def routing_rule_update(*, rule, actor, **fields) -> RoutingRule:
    """Change a rule's conditions, team or strategy; the default rule keeps no conditions."""
    _routing_manager_required(actor)
    return _rule_save(RoutingRule.objects.select_for_update().get(pk=rule.pk), fields)


@transaction.atomic
def routing_rule_delete(*, rule, actor):
    """Delete a rule; requests it routed keep their team. The default rule cannot be deleted."""
    _routing_manager_required(actor)
    rule = RoutingRule.objects.select_for_update().get(pk=rule.pk)
    if rule.is_default:
        raise ValidationError("The default rule cannot be deleted; change its team or strategy instead.")
    rule.delete()


@transaction.atomic
def routing_rule_move(*, rule, actor, direction):
    """Move a rule one place "up" (tried earlier) or "down"; positions are renumbered 10, 20, …"""
    _routing_manager_required(actor)
    if direction not in ("up", "down"):
        raise ValidationError(f"Move up or down, not {direction!r}.")
    rules = list(RoutingRule.objects.select_for_update().filter(is_default=False).order_by("position", "id"))
    index = next((i for i, candidate in enumerate(rules) if candidate.pk == rule.pk), None)
    if index is None:
        raise ValidationError("The default rule is always tried last.")
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    for position, candidate in enumerate(rules, start=1):
        candidate.position = position * 10
    RoutingRule.objects.bulk_update(rules, ["position"])


@transaction.atomic
def buyer_team_upsert(*, name, calendar, lead=None, description="", members=(), is_active=True) -> BuyerTeam:
    """Create or update a team with exactly these members (the demo seed and tests; the admin edits teams too)."""
    team, _ = BuyerTeam.objects.update_or_create(
        name=name,
        defaults={"calendar": calendar, "lead": lead, "description": description, "is_active": is_active},
    )
    TeamMembership.objects.filter(team=team).exclude(user__in=members).delete()
    for member in members:
        TeamMembership.objects.get_or_create(team=team, user=member)
    return team
