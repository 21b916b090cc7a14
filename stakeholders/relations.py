"""Writes for the relationship with internal customers: service agreements, stakeholder meetings,
their action items, and the reminders the periodic sweep sends about them.

Every write is one atomic service (`<entity>_<verb>`), checked for who may make it. Notices go
through the outbox (`stakeholders.Notification`): in-app at once, e-mails enqueued on commit. The
sweep (`relations_reminders_sweep`, Celery beat) follows the SLA reminders' pattern: it selects by
stored dates in bounded batches, locks the rows it acts on (skipping those another sweep holds),
and writes one `RelationReminder` per key under a unique constraint, so a second sweep, or two at
once, send nothing twice.
"""

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from .models import (
    ActionItem,
    ActionItemStatus,
    Channel,
    Department,
    Meeting,
    MeetingSchedule,
    Notification,
    NotificationKind,
    RelationReminder,
    RelationReminderSubject,
    ServiceAgreement,
)
from .permissions import can_manage_relations, can_sign_off, can_update_action_item
from .services import email_wanted, notice_payload, notifications_create


def _require_manager(actor):
    if not can_manage_relations(actor):
        raise PermissionDenied("Only procurement managers manage the relationship with departments.")


def department_url(department, *, absolute=False):
    path = reverse("stakeholders:department", kwargs={"code": department.code})
    return settings.SITE_URL.rstrip("/") + path if absolute else path


# --- Notices ------------------------------------------------------------------------------------


def relation_notices(
    *, recipients, kind, context, path, template=None, not_before=None, now=None
) -> list[Notification]:
    """Unsaved in-app and e-mail notices about a department (no request): one each per person, written from
    the kind's template (or `template`) in their language and time zone.

    The e-mail is left out for people without an address or who turned that kind off. Their profiles
    should come with them (select_related), not one query each.
    """
    recipients = list({user.pk: user for user in recipients if user.is_active}.values())
    wants_email = email_wanted(user_ids=[user.pk for user in recipients], kinds=[kind])
    notices = []
    for user in recipients:
        payload = notice_payload(template or kind, context, user, path=path, now=now)
        notices.append(Notification(recipient=user, kind=kind, channel=Channel.IN_APP, payload=payload))
        if user.email and wants_email(user.pk, kind):
            notices.append(
                Notification(recipient=user, kind=kind, channel=Channel.EMAIL, payload=payload, not_before=not_before)
            )
    return notices


# --- Service agreements ---------------------------------------------------------------------------


@transaction.atomic
def service_agreement_create(
    *, department, actor, review_on, policies=(), deviations="", notes="", change_note="", now=None
) -> ServiceAgreement:
    """Record a new version of the department's agreement (the earlier ones stay as its history)."""
    _require_manager(actor)
    now = now or timezone.now()
    # The department's row serialises versions: two managers saving at once get 1 and 2, not 1 twice.
    Department.objects.select_for_update().only("pk").get(pk=department.pk)
    latest = ServiceAgreement.objects.filter(department=department).aggregate(latest=Max("version"))["latest"]
    agreement = ServiceAgreement.objects.create(
        department=department,
        version=(latest or 0) + 1,
        deviations=deviations.strip(),
        notes=notes.strip(),
        review_on=review_on,
        change_note=change_note.strip(),
        created_by=actor,
        created_at=now,
    )
    agreement.policies.set(policies)
    return agreement


@transaction.atomic
def service_agreement_sign_off(*, agreement, actor, now=None) -> ServiceAgreement:
    """Sign off the department's current version: its head (or a procurement manager), once."""
    agreement = ServiceAgreement.objects.select_for_update().select_related("department").get(pk=agreement.pk)
    if not can_sign_off(actor, agreement.department):
        raise PermissionDenied("Only the department head or a procurement manager signs off the agreement.")
    if ServiceAgreement.objects.filter(department=agreement.department, version__gt=agreement.version).exists():
        raise ValidationError("A newer version exists: sign off that one.")
    if agreement.signed_off_at is not None:
        raise ValidationError(f"Version {agreement.version} is already signed off.")
    agreement.signed_off_by, agreement.signed_off_at = actor, now or timezone.now()
    agreement.save(update_fields=["signed_off_by", "signed_off_at"])
    return agreement


# --- Meetings -------------------------------------------------------------------------------------


def add_months(moment, months):
    """The same day `months` later (the month's last day when it has no such day)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, month_calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@transaction.atomic
def meeting_schedule_set(*, department, actor, every_months, title, first_at=None, now=None) -> MeetingSchedule:
    """How often the department is reviewed; plans the first meeting at `first_at` when none is upcoming."""
    _require_manager(actor)
    now = now or timezone.now()
    schedule, _ = MeetingSchedule.objects.update_or_create(
        department=department, defaults={"every_months": every_months, "title": title.strip()}
    )
    schedule.full_clean()
    if first_at is not None and not Meeting.objects.filter(department=department).upcoming(now).exists():
        meeting_plan(department=department, actor=actor, title=schedule.title, starts_at=first_at, now=now)
    return schedule


@transaction.atomic
def meeting_plan(*, department, actor, title, starts_at, agenda="", attendees=(), now=None) -> Meeting:
    """Put a stakeholder meeting in the calendar, with its agenda and who is invited."""
    _require_manager(actor)
    meeting = Meeting.objects.create(
        department=department,
        title=title.strip(),
        starts_at=starts_at,
        agenda=agenda.strip(),
        created_at=now or timezone.now(),
    )
    meeting.attendees.set(attendees)
    return meeting


def _locked_meeting(meeting):
    return Meeting.objects.select_for_update().select_related("department").get(pk=meeting.pk)


@transaction.atomic
def meeting_update(*, meeting, actor, title, starts_at, agenda, minutes, decisions, attendees) -> Meeting:
    """Change a meeting's date, agenda, attendees, minutes and decisions (its summary is published separately)."""
    _require_manager(actor)
    meeting = _locked_meeting(meeting)
    meeting.title, meeting.starts_at = title.strip(), starts_at
    meeting.agenda, meeting.minutes, meeting.decisions = agenda.strip(), minutes.strip(), decisions.strip()
    meeting.save(update_fields=["title", "starts_at", "agenda", "minutes", "decisions"])
    meeting.attendees.set(attendees)
    return meeting


def department_staff(department):
    """The department's active people: its members and its head."""
    people = get_user_model().objects.filter(is_active=True)
    return list(
        people.filter(Q(membership__department=department) | Q(headed_departments=department))
        .distinct()
        .select_related("profile")
        .order_by("pk")
    )


@transaction.atomic
def meeting_outcomes_publish(*, meeting, actor, summary, now=None) -> Meeting:
    """Publish the meeting's outcome: shown on the department page, and sent to the department's staff
    (in the app, and by e-mail on commit). Once published it stays; the next meeting is planned by the
    department's schedule when none is upcoming."""
    _require_manager(actor)
    now = now or timezone.now()
    meeting = _locked_meeting(meeting)
    if meeting.published_at is not None:
        raise ValidationError("These outcomes are already published.")
    summary = summary.strip()
    if not summary:
        raise ValidationError({"summary": "Write the outcome in a few lines before publishing it."})
    if meeting.starts_at > now:
        raise ValidationError("This meeting has not taken place yet.")
    meeting.summary, meeting.published_at, meeting.published_by = summary, now, actor
    meeting.save(update_fields=["summary", "published_at", "published_by"])

    department = meeting.department
    items = list(meeting.action_items.select_related("owner").order_by("due_on", "pk"))
    for item in items:
        item.owner_name = _name(item.owner)
    notifications_create(
        notifications=relation_notices(
            recipients=department_staff(department),
            kind=NotificationKind.MEETING_OUTCOMES,
            context={"department": department, "meeting": meeting, "items": items},
            path=department_url(department),
            now=now,
        ),
        now=now,
    )
    _plan_next(meeting, actor=actor, now=now)
    return meeting


def _plan_next(meeting, *, actor, now):
    schedule = MeetingSchedule.objects.filter(department=meeting.department).first()
    if schedule is None or Meeting.objects.filter(department=meeting.department).upcoming(now).exists():
        return None
    starts_at = add_months(meeting.starts_at, schedule.every_months)
    while starts_at < now:
        starts_at = add_months(starts_at, schedule.every_months)
    return meeting_plan(department=meeting.department, actor=actor, title=schedule.title, starts_at=starts_at, now=now)


def _name(user):
    return user.get_full_name() or user.username


# --- Action items ---------------------------------------------------------------------------------


@transaction.atomic
def action_item_add(*, meeting, actor, title, owner, due_on, now=None) -> ActionItem:
    _require_manager(actor)
    if not owner.is_active:
        raise ValidationError({"owner": "This person's account is inactive."})
    return ActionItem.objects.create(
        meeting=meeting, title=title.strip(), owner=owner, due_on=due_on, created_at=now or timezone.now()
    )


@transaction.atomic
def action_item_set_status(*, item, actor, status, now=None) -> ActionItem:
    """Close an action item (done or dropped) or open it again: its owner or a procurement manager."""
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if not can_update_action_item(actor, item):
        raise PermissionDenied("Only the owner or a procurement manager changes this action item.")
    if status not in ActionItemStatus.values:
        raise ValidationError({"status": "Choose open, done or dropped."})
    item.status = status
    item.closed_at = None if status == ActionItemStatus.OPEN else (now or timezone.now())
    item.save(update_fields=["status", "closed_at"])
    return item


@transaction.atomic
def action_item_reschedule(*, item, actor, due_on) -> ActionItem:
    """A new due date; an overdue reminder then fires again for the new date, once."""
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if not can_update_action_item(actor, item):
        raise PermissionDenied("Only the owner or a procurement manager changes this action item.")
    item.due_on = due_on
    item.save(update_fields=["due_on"])
    return item


# --- The reminder sweep ---------------------------------------------------------------------------


def desk_calendar():
    """The desk's business calendar (the default policy's catch-all goal's), for quiet hours; None if unset."""
    from slas.models import SlaGoal

    goal = (
        SlaGoal.objects.filter(policy__is_default=True, category=None, priority=None, department=None)
        .select_related("calendar")
        .first()
    )
    return goal.calendar.to_clock() if goal is not None else None


def email_held_until(now, pure_calendar):
    """Quiet hours: an e-mail written while the desk is closed waits for the next opening."""
    if pure_calendar is None or pure_calendar.is_open(now):
        return None
    return pure_calendar.next_opening(now)


@dataclass
class SweepResult:
    action_items: int = 0
    agreement_reviews: int = 0


def relations_reminders_sweep(*, now=None, batch_size=200) -> SweepResult:
    """Remind owners of overdue action items and managers of passed agreement review dates, once each.

    Periodic (Celery beat). Idempotent: a reminder's key (item and due date; department and review
    date) is unique, rows are locked before the check, and rows another sweep holds are skipped.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    result = SweepResult()
    pure_calendar = None
    # The candidates are read outside a transaction: an idle sweep is two queries and opens none.
    item_reminded = RelationReminder.objects.filter(action_item=OuterRef("pk"), due_on=OuterRef("due_on"))
    while True:
        overdue = ActionItem.objects.overdue(today).filter(~Exists(item_reminded))
        candidates = list(overdue.order_by("due_on", "pk").values_list("pk", flat=True)[:batch_size])
        if not candidates:
            break
        with transaction.atomic():
            # Read again under the lock: an item another sweep reminded meanwhile is left out.
            items = list(
                overdue.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=candidates)
                .select_related("owner__profile", "meeting__department")
            )
            pure_calendar = pure_calendar or desk_calendar()
            _remind_action_items(items, now=now, pure_calendar=pure_calendar)
            result.action_items += len(items)
        if len(candidates) < batch_size or not items:
            break
    review_reminded = RelationReminder.objects.filter(
        subject=RelationReminderSubject.AGREEMENT_REVIEW,
        department=OuterRef("department"),
        due_on=OuterRef("review_on"),
    )
    while True:
        passed = ServiceAgreement.objects.review_passed(today).filter(
            ~Exists(review_reminded), department__is_active=True
        )
        candidates = list(passed.order_by("review_on", "pk").values_list("department_id", flat=True)[:batch_size])
        if not candidates:
            break
        with transaction.atomic():
            # Agreement versions are written under the department's lock: hold it while reminding.
            locked = list(
                Department.objects.select_for_update(skip_locked=True)
                .filter(pk__in=candidates)
                .values_list("pk", flat=True)
            )
            agreements = list(passed.filter(department_id__in=locked).select_related("department"))
            pure_calendar = pure_calendar or desk_calendar()
            _remind_agreement_reviews(agreements, now=now, pure_calendar=pure_calendar)
            result.agreement_reviews += len(agreements)
        if len(candidates) < batch_size or not locked:
            break
    return result


def _remind_action_items(items, *, now, pure_calendar):
    if not items:
        return
    RelationReminder.objects.bulk_create(
        [
            RelationReminder(
                subject=RelationReminderSubject.ACTION_ITEM_OVERDUE,
                action_item=item,
                due_on=item.due_on,
                created_at=now,
            )
            for item in items
        ]
    )
    held = email_held_until(now, pure_calendar)
    notices = []
    for item in items:
        meeting = item.meeting
        notices += relation_notices(
            recipients=[item.owner],
            kind=NotificationKind.ACTION_ITEM,
            context={"item": item, "meeting": meeting},
            path=reverse("stakeholders:meeting", kwargs={"code": meeting.department.code, "pk": meeting.pk}),
            not_before=held,
            now=now,
        )
    notifications_create(notifications=notices, now=now)


def _remind_agreement_reviews(agreements, *, now, pure_calendar):
    if not agreements:
        return
    from slas.escalation import Staff

    RelationReminder.objects.bulk_create(
        [
            RelationReminder(
                subject=RelationReminderSubject.AGREEMENT_REVIEW,
                department=agreement.department,
                due_on=agreement.review_on,
                created_at=now,
            )
            for agreement in agreements
        ]
    )
    managers = Staff().managers
    held = email_held_until(now, pure_calendar)
    notices = []
    for agreement in agreements:
        department = agreement.department
        notices += relation_notices(
            recipients=managers,
            kind=NotificationKind.AGREEMENT_REVIEW,
            context={"agreement": agreement},
            path=department_url(department),
            not_before=held,
            now=now,
        )
    notifications_create(notifications=notices, now=now)


def next_review_default(today: date | None = None) -> date:
    """A year from today: the usual review cycle of an agreement."""
    return add_months(today or timezone.localdate(), 12)
