"""Writes for the scheduled digests (Celery beat): the weekly digest to requesters, the monthly scorecard
to department heads, the weekly summary to procurement managers.

`digests_send(kind=…, now=…)` sends one digest for the period `now` falls in (the week's Monday, the
month's first day, as desk calendar dates). It follows the reminder sweeps' pattern: recipients are
read in bounded batches, locked (skipping those another run holds), and for each one a
`ScheduledSend` row under a unique key (kind, person, period) is written in the transaction of the
notices, so a second run for the same period, or two at once, send nothing twice. The content comes
from one selector per digest (stakeholders/selectors.py), aggregate queries for the whole batch.

Every digest is an in-app line always, and an e-mail for people with an address who did not turn that
kind off; an e-mail written while the desk is closed waits for the next opening (quiet hours).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from slas.dashboard import Period, Scope, fairness

from .models import Channel, Department, Notification, NotificationKind, ScheduledSend, ScheduledSendKind
from .relations import desk_calendar, email_held_until
from .selectors import department_scorecards, manager_summary, weekly_digests
from .services import email_wanted, notice_payload, notifications_create


def period_start(kind, today: date) -> date:
    """The first day of the period `today` falls in: the month's first for the scorecard, else the week's Monday."""
    if kind == ScheduledSendKind.DEPARTMENT_SCORECARD:
        return today.replace(day=1)
    return today - timedelta(days=today.weekday())


@dataclass(frozen=True)
class Digest:
    """What one person is sent: what the digest's template (templates/stakeholders/notifications/<kind>.html)
    needs, and the page it opens. Written in each person's language and time zone."""

    context: dict
    path: str


def digests_send(*, kind, now=None, batch_size=200) -> int:
    """Send the `kind` digest for the period `now` falls in to everyone due it who has not had it; returns
    how many people it reached (0 on a second run for the same period)."""
    kind = ScheduledSendKind(kind)
    now = now or timezone.now()
    start = period_start(kind, timezone.localdate(now))
    already = ScheduledSend.objects.filter(kind=kind, period_start=start, recipient_id=OuterRef("pk"))
    due = _RECIPIENTS[kind](now).filter(~Exists(already))
    reached, pure_calendar = 0, None
    while True:
        candidates = list(due.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not candidates:
            break
        with transaction.atomic():
            # Read again under the lock: a person another run reached meanwhile is left out. No-key
            # locks: other writes that merely refer to these people (their notices) are not blocked.
            # Their profiles come along (not locked): the digests are written in each one's language.
            people = list(
                due.select_for_update(skip_locked=True, no_key=True, of=("self",))
                .filter(pk__in=candidates)
                .select_related("profile")
            )
            digests = _CONTENT[kind](people=people, now=now, period_start=start)
            pure_calendar = pure_calendar or desk_calendar()
            _send(kind, digests, people=people, now=now, period_start=start, pure_calendar=pure_calendar)
            reached += len(digests)
        if len(candidates) < batch_size or not people:
            break
    return reached


def _send(kind, digests, *, people, now, period_start, pure_calendar):
    """The ScheduledSend rows and the notices of one batch, in the caller's transaction."""
    if not digests:
        return
    ScheduledSend.objects.bulk_create(
        [
            ScheduledSend(kind=kind, recipient_id=user_id, period_start=period_start, created_at=now)
            for user_id in digests
        ]
    )
    notification_kind = NotificationKind(kind.value)
    wants_email = email_wanted(user_ids=list(digests), kinds=[notification_kind])
    held = email_held_until(now, pure_calendar)
    notices = []
    for user in people:
        digest = digests.get(user.pk)
        if digest is None:
            continue
        payload = notice_payload(notification_kind, digest.context, user, path=digest.path, now=now)
        common = {"recipient": user, "kind": notification_kind, "payload": payload}
        notices.append(Notification(channel=Channel.IN_APP, **common))
        if user.email and wants_email(user.pk, notification_kind):
            notices.append(Notification(channel=Channel.EMAIL, not_before=held, **common))
    notifications_create(notifications=notices, now=now)


def _people():
    return get_user_model().objects.filter(is_active=True)


# --- 1. The weekly digest to requesters -----------------------------------------------------------


def _requesters(now):
    from requests_app.models import ProcurementRequest

    return _people().filter(Exists(ProcurementRequest.objects.open().filter(requester_id=OuterRef("pk"))))


def _weekly_digests(*, people, now, period_start):
    requests = weekly_digests(requester_ids=[user.pk for user in people])
    return {
        user_id: Digest(
            {"rows": rows, "waiting": [row for row in rows if row.question is not None]}, reverse("requests_app:mine")
        )
        for user_id, rows in requests.items()
    }


# --- 2. The monthly scorecard to department heads ------------------------------------------------


def _heads(now):
    departments = Department.objects.active().filter(is_procurement=False, head_id=OuterRef("pk"))
    return _people().filter(Exists(departments))


def scorecard_path(department):
    """The department's SLA scorecard page."""
    return reverse("stakeholders:scorecard", kwargs={"code": department.code})


def _scorecards(*, people, now, period_start):
    # The month before the period's: the scorecard of the 1st of April is March's.
    end = period_start
    start = (end - timedelta(days=1)).replace(day=1)
    scorecards = department_scorecards(
        head_ids=[user.pk for user in people], start=_midnight(start), end=_midnight(end)
    )
    today = timezone.localdate(now)
    digests = {}
    for head_id, cards in scorecards.items():
        context = {
            "month": start,
            "names": ", ".join(card.department.name for card in cards),
            "cards": [_scorecard_card(card, today=today) for card in cards],
        }
        digests[head_id] = Digest(context, scorecard_path(cards[0].department))
    return digests


def _scorecard_card(card, *, today):
    return {
        "department": card.department,
        "outcomes": card.outcomes,
        "delivered": card.delivered,
        "open_requests": card.open_requests,
        "at_risk": card.at_risk,
        "breached": card.breached,
        "csat": card.csat,
        "items": [
            {"title": item.title, "owner": _name(item.owner), "due_on": item.due_on, "overdue": item.due_on < today}
            for item in card.action_items
        ],
        "url": settings.SITE_URL.rstrip("/") + scorecard_path(card.department),
    }


def _midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))


# --- 3. The weekly summary to procurement managers -------------------------------------------------
#
# With the dashboard's fairness flags (slas/dashboard.py), over the last FAIRNESS_DAYS.
FAIRNESS_DAYS = 30


def _managers(now):
    from slas.escalation import users_with_permission

    return _people().filter(pk__in=users_with_permission("assign_request").values("pk"))


def _manager_summaries(*, people, now, period_start):
    since = now - timedelta(days=7)
    summary = manager_summary(now=now, since=since, low_at=settings.SURVEY_FOLLOW_UP_AT)
    # Fairness over the dashboard's default period: a week is too few requests to compare departments.
    flagged = fairness(Scope(Period.last_days(FAIRNESS_DAYS, today=timezone.localdate(now)))).flagged
    context = {
        "summary": summary,
        "breached": [_request_row(request) for request in summary.breached_requests],
        "at_risk": [_request_row(request) for request in summary.at_risk_requests],
        "low_scores": [
            {
                "reference": survey.procurement_request.reference,
                "department": survey.department.name,
                "buyer": _name(survey.buyer) if survey.buyer else "",
                "rating": survey.rating,
                "comment": survey.comment,
            }
            for survey in summary.low_scores
        ],
        "days": FAIRNESS_DAYS,
        "flagged": flagged,
        "follow_ups": [
            {
                "reference": follow_up.survey.procurement_request.reference,
                "owner": _name(follow_up.owner),
                "due_at": follow_up.due_at,
                "overdue": follow_up.due_at <= now,
            }
            for follow_up in summary.follow_ups
        ],
    }
    path = reverse("requests_app:queue", kwargs={"view": "breached"})
    return {user.pk: Digest(context, path) for user in people}


def _request_row(procurement_request):
    assignee = procurement_request.assignee
    return {
        "reference": procurement_request.reference,
        "title": procurement_request.title,
        "assignee": _name(assignee) if assignee else "",
    }


def _name(user):
    return user.get_full_name() or user.username


_RECIPIENTS = {
    ScheduledSendKind.WEEKLY_DIGEST: _requesters,
    ScheduledSendKind.DEPARTMENT_SCORECARD: _heads,
    ScheduledSendKind.MANAGER_SUMMARY: _managers,
}
_CONTENT = {
    ScheduledSendKind.WEEKLY_DIGEST: _weekly_digests,
    ScheduledSendKind.DEPARTMENT_SCORECARD: _scorecards,
    ScheduledSendKind.MANAGER_SUMMARY: _manager_summaries,
}
