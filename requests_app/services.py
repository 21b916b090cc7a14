"""Every write to a procurement request. Views, tasks, the admin and the API call these."""

import logging
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from slas import services as sla_services

from . import permissions
from .attachments import attachment_validate, clean_filename
from .models import (
    Attachment,
    Comment,
    EventKind,
    Priority,
    ProcurementRequest,
    ReferenceCounter,
    RequestEvent,
    Status,
)

logger = logging.getLogger(__name__)


class ActionNotAllowed(Exception):
    """The request's status does not allow this action now; nothing was changed."""


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
    _attachments_add(procurement_request=procurement_request, uploader=requester, files=files)
    if not needs_approval:
        changes = sla_services.sla_clocks_start(procurement_request=procurement_request, at=now)
        sla_services.sla_changes_record(procurement_request=procurement_request, changes=changes)
        sla_services.sla_reminder_start(procurement_request=procurement_request, subject="unclaimed", at=now)
    else:
        head = procurement_request.department.head
        approver = (
            f"{head.get_full_name() or head.username}, head of {procurement_request.department}"
            if permissions.head_can_approve(procurement_request)
            else "a procurement manager"
        )
        procurement_request = _transition(
            procurement_request,
            to_status=Status.PENDING_APPROVAL,
            actor=None,
            note=(
                f"{category} requests above {category.approval_threshold:,.2f} "
                f"{settings.PROCUREMENT_BASE_CURRENCY} need approval; waiting for {approver}."
            ),
        )
        # The approver is asked now (the ladder's step at 0 minutes) and reminded while it waits.
        sla_services.sla_reminder_start(procurement_request=procurement_request, subject="approval", at=now)
    return procurement_request, True


def _transition(procurement_request, *, to_status, actor, note="", kind=EventKind.STATUS_CHANGED, **changes):
    """Move a locked request to `to_status`, apply `changes`, and write the event. Caller is atomic."""
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
    locked.save(update_fields=["status", "updated_at", "completed_at", *changes])
    _event(
        locked,
        kind=kind,
        actor=actor,
        from_status=from_status,
        to_status=to_status,
        note=note,
        assignee=changes.get("assignee"),
        created_at=now,
    )
    clock_changes = sla_services.sla_clocks_on_status_change(
        procurement_request=locked, from_status=from_status, to_status=to_status, at=now
    )
    if to_status == Status.WAITING_FOR_REQUESTER:
        # The question is a reply the requester sees: it answers the first-response promise.
        clock_changes += sla_services.sla_clocks_on_public_reply(procurement_request=locked, at=now)
    sla_services.sla_changes_record(procurement_request=locked, changes=clock_changes)
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


def _locked_for(actor, action, procurement_request):
    """Lock the request's row, then check the actor may take the action and the status allows it."""
    locked = ProcurementRequest.objects.select_for_update().get(pk=procurement_request.pk)
    label = ACTION_LABELS[action]
    if not permissions.can_perform(actor, action, locked):
        raise PermissionDenied(f"You cannot {label} {locked.reference}.")
    if not permissions.action_is_legal(action, locked):
        raise ActionNotAllowed(
            f"You cannot {label} {locked.reference} while it is {locked.get_status_display().lower()}."
        )
    return locked


def _require_note(note, *, field="note", what="a reason"):
    note = (note or "").strip()
    if not note:
        raise ValidationError({field: f"Please give {what}."})
    return note


@transaction.atomic
def procurement_request_approve(*, procurement_request, actor, note=""):
    procurement_request = _locked_for(actor, "approve", procurement_request)
    approved = _transition(
        procurement_request, to_status=Status.APPROVED, actor=actor, note=note.strip(), kind=EventKind.APPROVED
    )
    # Now Procurement's wait begins: nobody claiming it is reminded like a fresh submission.
    sla_services.sla_reminder_start(procurement_request=approved, subject="unclaimed", at=timezone.now())
    return approved


@transaction.atomic
def procurement_request_reject(*, procurement_request, actor, note):
    procurement_request = _locked_for(actor, "reject", procurement_request)
    note = _require_note(note, what="the reason for rejecting")
    return _transition(procurement_request, to_status=Status.REJECTED, actor=actor, note=note, kind=EventKind.REJECTED)


@transaction.atomic
def procurement_request_claim(*, procurement_request, actor):
    procurement_request = _locked_for(actor, "claim", procurement_request)
    return _transition(
        procurement_request,
        to_status=Status.ASSIGNED,
        actor=actor,
        kind=EventKind.ASSIGNED,
        assignee=actor,
    )


@transaction.atomic
def procurement_request_assign(*, procurement_request, actor, assignee, note=""):
    """Give the request to a buyer; from an unworked status this also moves it to Assigned."""
    procurement_request = _locked_for(actor, "assign", procurement_request)
    if not permissions.is_buyer(assignee):
        raise ValidationError({"assignee": f"{assignee} is not a buyer."})
    locked = procurement_request
    if locked.assignee_id == assignee.id:
        raise ValidationError({"assignee": f"{locked.reference} is already assigned to {assignee}."})
    if locked.can_move_to(Status.ASSIGNED):
        return _transition(
            locked,
            to_status=Status.ASSIGNED,
            actor=actor,
            kind=EventKind.ASSIGNED,
            assignee=assignee,
            note=note.strip(),
        )
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    _event(locked, kind=EventKind.ASSIGNED, actor=actor, assignee=assignee, note=note.strip())
    return locked


@transaction.atomic
def procurement_request_start(*, procurement_request, actor, note=""):
    procurement_request = _locked_for(actor, "start", procurement_request)
    return _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_wait_for_requester(*, procurement_request, actor, note):
    """Ask the requester something; the question is on the public timeline and pauses the wait."""
    procurement_request = _locked_for(actor, "wait_for_requester", procurement_request)
    note = _require_note(note, what="the question for the requester")
    updated = _transition(procurement_request, to_status=Status.WAITING_FOR_REQUESTER, actor=actor, note=note)
    return updated


@transaction.atomic
def procurement_request_wait_for_supplier(*, procurement_request, actor, note=""):
    procurement_request = _locked_for(actor, "wait_for_supplier", procurement_request)
    return _transition(procurement_request, to_status=Status.WAITING_FOR_SUPPLIER, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_resume(*, procurement_request, actor, note=""):
    procurement_request = _locked_for(actor, "resume", procurement_request)
    return _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_mark_ordered(*, procurement_request, actor, po_number, note=""):
    procurement_request = _locked_for(actor, "mark_ordered", procurement_request)
    po_number = _require_note(po_number, field="po_number", what="the purchase order number")
    return _transition(
        procurement_request,
        to_status=Status.ORDERED,
        actor=actor,
        kind=EventKind.PO_RECORDED,
        note=note.strip() or f"PO {po_number}",
        po_number=po_number,
    )


@transaction.atomic
def procurement_request_complete(*, procurement_request, actor, note=""):
    procurement_request = _locked_for(actor, "complete", procurement_request)
    return _transition(procurement_request, to_status=Status.COMPLETED, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_close(*, procurement_request, actor, note=""):
    procurement_request = _locked_for(actor, "close", procurement_request)
    return _transition(procurement_request, to_status=Status.CLOSED, actor=actor, note=note.strip())


@transaction.atomic
def procurement_request_cancel(*, procurement_request, actor, note):
    procurement_request = _locked_for(actor, "cancel", procurement_request)
    note = _require_note(note, what="the reason for cancelling")
    return _transition(procurement_request, to_status=Status.CANCELLED, actor=actor, note=note)


@transaction.atomic
def procurement_request_reopen(*, procurement_request, actor, note):
    procurement_request = _locked_for(actor, "reopen", procurement_request)
    note = _require_note(note, what="what is still missing")
    return _transition(procurement_request, to_status=Status.IN_PROGRESS, actor=actor, note=note)


@transaction.atomic
def procurement_request_reprioritise(*, procurement_request, actor, note, priority=None, category=None):
    """Change an open request's priority and/or category, with a reason; the SLA clocks re-match the goal."""
    locked = _locked_for(actor, "reprioritise", procurement_request)
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
    now = timezone.now()  # one instant for the event and the clock changes (replay relies on it)
    locked.save(update_fields=[*data, "updated_at"])
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
    return locked


@transaction.atomic
def procurement_request_set_expected_date(*, procurement_request, actor, expected_on, note=""):
    """Record when the buyer expects to deliver; the requester is told (in the app, and by e-mail if they wish)."""
    from stakeholders.models import NotificationKind
    from stakeholders.services import notify

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
    who = actor.get_full_name() or actor.username
    notify(
        recipient=locked.requester,
        kind=NotificationKind.EXPECTED_DATE,
        procurement_request=locked,
        headline=f"Expected by {expected_on:%a %d %b %Y}",
        lines=[f"{who} expects to deliver {locked.reference} — {locked.title} by {expected_on:%A %d %B %Y}."]
        + ([f"Previously expected by {previous:%a %d %b %Y}."] if previous else [])
        + ([f"Their note: {note}"] if note else []),
    )
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
    return comment


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
