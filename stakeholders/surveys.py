"""Writes for request satisfaction: the survey a completed request sends its requester, the answer,
the follow-up a low score opens (the closed loop), and the sweep that reminds about both.

- **One survey per request.** The first completion sends it; a request reopened and completed again
  keeps that survey (its answer may still change for `SURVEY_CHANGE_DAYS` after the first answer), so
  a request never counts twice in CSAT figures and a requester is never asked twice about one request.
- **The answer** is the requester's alone (anyone else: PermissionDenied; the page is a 404). A
  rating at or below `settings.SURVEY_FOLLOW_UP_AT` opens one follow-up for the request's team lead,
  or a procurement manager when the team has no (active) lead; a later, better answer leaves an open
  follow-up open: someone should still talk to the requester.
- **The follow-up** is due `FOLLOW_UP_BUSINESS_DAYS` business days later on the team's calendar (the
  desk's calendar when the request has no team) and is closed with a note the requester sees.
- **Reminders** follow the relation reminders' pattern (`relations.relations_reminders_sweep`): select
  by stored times in bounded batches, lock, and write one `RelationReminder` per key under a unique
  constraint. An unanswered survey reminds once, `SURVEY_REMIND_AFTER_DAYS` after it was sent; an
  overdue follow-up reminds its owner once.
"""

import functools
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from requests_app.models import Status

from .models import (
    RELATIONSHIP_INTERVALS,
    RELATIONSHIP_QUESTIONS,
    SURVEY_CHANGE_DAYS,
    NotificationKind,
    RelationReminder,
    RelationReminderSubject,
    RelationshipAnswer,
    RelationshipSurvey,
    RelationshipSurveySchedule,
    SatisfactionSurvey,
    SurveyFollowUp,
)
from .permissions import can_close_follow_up, can_manage_relations
from .relations import add_months, department_staff, desk_calendar, email_held_until, relation_notices
from .services import notifications_create, request_notices

SURVEY_REMIND_AFTER_DAYS = 3
FOLLOW_UP_BUSINESS_DAYS = 2
RATINGS = {
    1: gettext_lazy("Very poor"),
    2: gettext_lazy("Poor"),
    3: gettext_lazy("OK"),
    4: gettext_lazy("Good"),
    5: gettext_lazy("Excellent"),
}


def survey_path(procurement_request, *, rating=None):
    path = reverse("stakeholders:survey", kwargs={"reference": procurement_request.reference})
    return f"{path}?rating={rating}" if rating else path


def follow_up_path(follow_up):
    return reverse("stakeholders:follow_up", kwargs={"pk": follow_up.pk})


def _absolute(path):
    return settings.SITE_URL.rstrip("/") + path


def _name(user):
    return user.get_full_name() or user.username


def _rating_links(procurement_request):
    # One link per rating: the page opens with that rating chosen, one click to send it.
    return [
        {"value": value, "label": label, "url": _absolute(survey_path(procurement_request, rating=value))}
        for value, label in RATINGS.items()
    ]


# --- The survey -----------------------------------------------------------------------------------


@transaction.atomic
def survey_send(*, procurement_request, now=None) -> SatisfactionSurvey | None:
    """Ask the requester of a just-completed request how it went (in the app, and by e-mail on commit).

    Once per request: a request completed again after a reopen keeps its first survey (None then).
    """
    now = now or timezone.now()
    if SatisfactionSurvey.objects.filter(procurement_request_id=procurement_request.pk).exists():
        return None
    survey = SatisfactionSurvey.objects.create(
        procurement_request=procurement_request,
        requester_id=procurement_request.requester_id,
        buyer_id=procurement_request.assignee_id,
        department_id=procurement_request.department_id,
        sent_at=now,
    )
    if not procurement_request.requester.is_active:
        return survey
    notifications_create(
        notifications=request_notices(
            recipient=procurement_request.requester,
            kind=NotificationKind.SURVEY,
            procurement_request=procurement_request,
            context={"ratings": _rating_links(procurement_request), "change_days": SURVEY_CHANGE_DAYS},
            path=survey_path(procurement_request),
            now=now,
        ),
        now=now,
    )
    return survey


def _clean_rating(rating):
    try:
        value = int(str(rating))
    except (TypeError, ValueError):
        value = None
    if value not in RATINGS:
        raise ValidationError({"rating": "Choose a rating from 1 to 5."})
    return value


@transaction.atomic
def survey_answer(*, survey, actor, rating, comment="", now=None) -> SatisfactionSurvey:
    """The requester's rating (1–5) and comment: changeable for 7 days after the first answer.

    A rating at or below SURVEY_FOLLOW_UP_AT opens a follow-up, once per survey.
    """
    now = now or timezone.now()
    survey = (
        SatisfactionSurvey.objects.select_for_update(of=("self",))
        .select_related("procurement_request__team__lead", "procurement_request__requester")
        .get(pk=survey.pk)
    )
    if survey.requester_id != actor.pk:
        raise PermissionDenied("Only the requester answers this survey.")
    rating = _clean_rating(rating)
    if not survey.is_changeable(now):
        raise ValidationError(
            f"Your answer can no longer change: answers are open for {SURVEY_CHANGE_DAYS} days after the first one."
        )
    if survey.answered_at is None:
        survey.answered_at = now
    else:
        survey.changed_at = now
    survey.rating, survey.comment = rating, comment.strip()
    survey.save(update_fields=["rating", "comment", "answered_at", "changed_at"])
    threshold = settings.SURVEY_FOLLOW_UP_AT
    if rating <= threshold and not SurveyFollowUp.objects.filter(survey=survey).exists():
        _follow_up_open(survey, now=now)
    return survey


# --- The closed loop ------------------------------------------------------------------------------


def follow_up_owner(procurement_request):
    """The request's team lead; a procurement manager when there is no active lead (None: nobody)."""
    from slas.escalation import Staff

    team = procurement_request.team
    if team is not None and team.lead_id is not None and team.lead.is_active:
        return team.lead
    managers = sorted((manager for manager in Staff().managers if manager.is_active), key=lambda user: user.pk)
    return managers[0] if managers else None


def _calendar_of(procurement_request):
    from slas.models import SlaGoal

    if procurement_request.team is not None:
        return procurement_request.team.calendar
    desk = SlaGoal.objects.filter(policy__is_default=True, category=None, priority=None, department=None)
    goal = desk.select_related("calendar").first()
    return goal.calendar if goal is not None else None


def follow_up_due_at(procurement_request, *, now):
    """FOLLOW_UP_BUSINESS_DAYS business days on the team's calendar (the desk's without a team)."""
    from slas.catalogue import business_day_seconds

    calendar = _calendar_of(procurement_request)
    due = None
    if calendar is not None:
        day = business_day_seconds(calendar.current_spec)
        due = calendar.to_clock().due_at(now, FOLLOW_UP_BUSINESS_DAYS * day)
    # No calendar, or one without working time: plain days.
    return due or now + timedelta(days=FOLLOW_UP_BUSINESS_DAYS)


def _follow_up_open(survey, *, now):
    procurement_request = survey.procurement_request
    owner = follow_up_owner(procurement_request)
    if owner is None:
        return None
    follow_up = SurveyFollowUp.objects.create(
        survey=survey, owner=owner, opened_at=now, due_at=follow_up_due_at(procurement_request, now=now)
    )
    notifications_create(
        notifications=request_notices(
            recipient=owner,
            kind=NotificationKind.SURVEY_FOLLOW_UP,
            procurement_request=procurement_request,
            context={
                **_follow_up_context(survey, follow_up),
                "rating_label": RATINGS[survey.rating],
                "comment": survey.comment,
            },
            path=follow_up_path(follow_up),
            now=now,
        ),
        now=now,
    )
    return follow_up


def _follow_up_context(survey, follow_up):
    return {
        "rating": survey.rating,
        "requester_name": _name(survey.procurement_request.requester),
        "due_at": follow_up.due_at,
    }


@transaction.atomic
def follow_up_close(*, follow_up, actor, note, now=None) -> SurveyFollowUp:
    """Close the loop: its owner (or a procurement manager) says what was done; the requester is told."""
    now = now or timezone.now()
    follow_up = (
        SurveyFollowUp.objects.select_for_update(of=("self",))
        .select_related("survey__procurement_request__requester")
        .get(pk=follow_up.pk)
    )
    if not can_close_follow_up(actor, follow_up):
        raise PermissionDenied("Only the follow-up's owner or a procurement manager closes it.")
    if follow_up.closed_at is not None:
        raise ValidationError("This follow-up is already closed.")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Write what was done before closing the follow-up."})
    follow_up.closed_at, follow_up.closed_by, follow_up.note = now, actor, note
    follow_up.save(update_fields=["closed_at", "closed_by", "note"])
    procurement_request = follow_up.survey.procurement_request
    notifications_create(
        notifications=request_notices(
            recipient=procurement_request.requester,
            kind=NotificationKind.SURVEY,
            procurement_request=procurement_request,
            template="survey_followed_up",
            context={"actor_name": _name(actor), "note": note},
            path=survey_path(procurement_request),
            now=now,
        ),
        now=now,
    )
    return follow_up


# --- The reminder sweep ---------------------------------------------------------------------------


@dataclass
class SurveySweepResult:
    surveys: int = 0
    follow_ups: int = 0


def survey_reminders_sweep(*, now=None, batch_size=200) -> SurveySweepResult:
    """Remind unanswered surveys' requesters once, and overdue follow-ups' owners once.

    Periodic (Celery beat). Idempotent: one `RelationReminder` per key under a unique constraint, rows
    locked before acting and rows another sweep holds skipped. Idle, it is two queries.
    """
    now = now or timezone.now()
    # The desk calendar is read only when something is due: an idle sweep stays at two queries.
    held = functools.cache(lambda: email_held_until(now, desk_calendar()))
    survey_reminded = RelationReminder.objects.filter(
        subject=RelationReminderSubject.SURVEY_UNANSWERED, survey=OuterRef("pk")
    )
    # Only requests still completed or closed: one reopened is being worked on again.
    unanswered = SatisfactionSurvey.objects.unanswered().filter(
        ~Exists(survey_reminded),
        procurement_request__status__in=[Status.COMPLETED, Status.CLOSED],
        sent_at__lte=now - timedelta(days=SURVEY_REMIND_AFTER_DAYS),
        requester__is_active=True,
    )
    follow_up_reminded = RelationReminder.objects.filter(
        subject=RelationReminderSubject.FOLLOW_UP_OVERDUE, follow_up=OuterRef("pk")
    )
    overdue = SurveyFollowUp.objects.overdue(now).filter(~Exists(follow_up_reminded))
    return SurveySweepResult(
        surveys=_in_locked_batches(
            unanswered,
            order=("sent_at", "pk"),
            related=("procurement_request", "requester__profile"),
            act=lambda rows: _remind_surveys(rows, now=now, held=held()),
            batch_size=batch_size,
        ),
        follow_ups=_in_locked_batches(
            overdue,
            order=("due_at", "pk"),
            related=("owner__profile", "survey__procurement_request__requester"),
            act=lambda rows: _remind_follow_ups(rows, now=now, held=held()),
            batch_size=batch_size,
        ),
    )


def _in_locked_batches(pending, *, order, related, act, batch_size):
    """Act on the rows of `pending` in bounded batches; returns how many were acted on.

    The candidates are read outside a transaction (an idle sweep opens none), then locked and read
    again under the lock, skipping rows another sweep holds: a row reminded meanwhile drops out.
    """
    total = 0
    while True:
        candidates = list(pending.order_by(*order).values_list("pk", flat=True)[:batch_size])
        if not candidates:
            return total
        with transaction.atomic():
            rows = list(
                pending.select_for_update(skip_locked=True, of=("self",))
                .filter(pk__in=candidates)
                .select_related(*related)
            )
            if rows:
                act(rows)
            total += len(rows)
        if len(candidates) < batch_size or not rows:
            return total


def _remind_surveys(surveys, *, now, held):
    if not surveys:
        return
    RelationReminder.objects.bulk_create(
        [
            RelationReminder(
                subject=RelationReminderSubject.SURVEY_UNANSWERED,
                survey=survey,
                due_on=timezone.localdate(now),
                created_at=now,
            )
            for survey in surveys
        ]
    )
    notices = []
    for survey in surveys:
        procurement_request = survey.procurement_request
        notices += request_notices(
            recipient=survey.requester,
            kind=NotificationKind.SURVEY,
            procurement_request=procurement_request,
            template="survey_reminder",
            context={"ratings": _rating_links(procurement_request)},
            path=survey_path(procurement_request),
            not_before=held,
            now=now,
        )
    notifications_create(notifications=notices, now=now)


def _remind_follow_ups(follow_ups, *, now, held):
    if not follow_ups:
        return
    RelationReminder.objects.bulk_create(
        [
            RelationReminder(
                subject=RelationReminderSubject.FOLLOW_UP_OVERDUE,
                follow_up=follow_up,
                due_on=timezone.localdate(follow_up.due_at),
                created_at=now,
            )
            for follow_up in follow_ups
        ]
    )
    notices = []
    for follow_up in follow_ups:
        survey = follow_up.survey
        procurement_request = survey.procurement_request
        notices += request_notices(
            recipient=follow_up.owner,
            kind=NotificationKind.SURVEY_FOLLOW_UP,
            procurement_request=procurement_request,
            template="survey_follow_up_overdue",
            context=_follow_up_context(survey, follow_up),
            path=follow_up_path(follow_up),
            not_before=held,
            now=now,
        )
    notifications_create(notifications=notices, now=now)


# --- The periodic relationship survey -------------------------------------------------------------
#
# A department's staff (members and head) are asked a few fixed questions about Procurement as a
# partner, every 3, 6 or 12 months (RelationshipSurveySchedule). The beat job opens each round that is
# due, once (a unique (department, day) key; schedules locked, skipping those another run holds), and
# tells the staff. Each person answers once per round and may change it while the round is open.

RELATIONSHIP_ROUND_DAYS = 21


def relationship_survey_path(survey):
    return reverse("stakeholders:relationship_survey", kwargs={"code": survey.department.code, "pk": survey.pk})


@transaction.atomic
def relationship_survey_schedule_set(*, department, actor, every_months, next_on) -> RelationshipSurveySchedule:
    """How often the department's staff are asked, and the day of the next round (procurement managers)."""
    if not can_manage_relations(actor):
        raise PermissionDenied("Only procurement managers schedule relationship surveys.")
    if every_months not in {months for months, _ in RELATIONSHIP_INTERVALS}:
        raise ValidationError({"every_months": "Choose quarterly, twice a year or yearly."})
    schedule, _ = RelationshipSurveySchedule.objects.update_or_create(
        department=department, defaults={"every_months": every_months, "next_on": next_on}
    )
    return schedule


def relationship_surveys_open(*, now=None, batch_size=100) -> int:
    """Open every relationship survey round that is due and tell the department's staff; returns how many.

    Periodic (Celery beat). Idempotent: the schedule moves on in the same transaction, rows another run
    holds are skipped, and a round is unique per department and day.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = RelationshipSurveySchedule.objects.filter(next_on__lte=today, department__is_active=True)
    opened = 0
    while True:
        with transaction.atomic():
            schedules = list(
                due.select_for_update(skip_locked=True, of=("self",)).select_related("department")[:batch_size]
            )
            for schedule in schedules:
                survey, created = RelationshipSurvey.objects.get_or_create(
                    department=schedule.department,
                    opened_on=today,
                    defaults={"closes_on": today + timedelta(days=RELATIONSHIP_ROUND_DAYS), "created_at": now},
                )
                next_on = schedule.next_on
                while next_on <= today:
                    next_on = add_months(next_on, schedule.every_months)
                schedule.next_on = next_on
                schedule.save(update_fields=["next_on"])
                if not created:
                    continue
                opened += 1
                notifications_create(
                    notifications=relation_notices(
                        recipients=department_staff(schedule.department),
                        kind=NotificationKind.RELATIONSHIP_SURVEY,
                        context={"survey": survey, "question_count": len(RELATIONSHIP_QUESTIONS)},
                        path=relationship_survey_path(survey),
                        now=now,
                    ),
                    now=now,
                )
        if len(schedules) < batch_size:
            return opened


@transaction.atomic
def relationship_survey_answer(*, survey, actor, answers, comment="", now=None) -> RelationshipAnswer:
    """One staff member's answers (1–5 per question), once per round, changeable while it is open."""
    now = now or timezone.now()
    if actor not in department_staff(survey.department):
        raise PermissionDenied("Only the department's staff answer its relationship survey.")
    if not survey.is_open(timezone.localdate(now)):
        raise ValidationError(f"This survey closed on {survey.closes_on:%d %b %Y}.")
    errors = {}
    ratings = {}
    for name, _ in RELATIONSHIP_QUESTIONS:
        try:
            ratings[name] = _clean_rating(answers.get(name))
        except ValidationError:
            errors[name] = "Choose from 1 to 5."
    if errors:
        raise ValidationError(errors)
    answer, _ = RelationshipAnswer.objects.update_or_create(
        survey=survey, respondent=actor, defaults={**ratings, "comment": comment.strip(), "answered_at": now}
    )
    return answer
