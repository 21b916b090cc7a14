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
from .services import email_wanted, notifications_create


def period_start(kind, today: date) -> date:
    """The first day of the period `today` falls in: the month's first for the scorecard, else the week's Monday."""
    if kind == ScheduledSendKind.DEPARTMENT_SCORECARD:
        return today.replace(day=1)
    return today - timedelta(days=today.weekday())


@dataclass(frozen=True)
class Digest:
    """What one person is sent: a subject, the lines of the text, and the page it opens."""

    subject: str
    lines: list
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
            people = list(due.select_for_update(skip_locked=True, no_key=True).filter(pk__in=candidates))
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
        url = settings.SITE_URL.rstrip("/") + digest.path
        body = [digest.subject + ".", "", *digest.lines, "", f"Open it: {url}"]
        payload = {
            "subject": digest.subject,
            "headline": digest.subject,
            "body": "\n".join(body),
            "path": digest.path,
            "url": url,
        }
        common = {"recipient": user, "kind": notification_kind, "payload": payload}
        notices.append(Notification(channel=Channel.IN_APP, **common))
        if user.email and wants_email(user.pk, notification_kind):
            notices.append(Notification(channel=Channel.EMAIL, not_before=held, **common))
    notifications_create(notifications=notices, now=now)


def _people():
    return get_user_model().objects.filter(is_active=True)


def _day(value):
    return f"{value:%a %d %b %Y}"


# --- 1. The weekly digest to requesters -----------------------------------------------------------


def _requesters(now):
    from requests_app.models import ProcurementRequest

    return _people().filter(Exists(ProcurementRequest.objects.open().filter(requester_id=OuterRef("pk"))))


def _weekly_digests(*, people, now, period_start):
    requests = weekly_digests(requester_ids=[user.pk for user in people])
    digests = {}
    for user_id, rows in requests.items():
        waiting = [row for row in rows if row.question is not None]
        lines = []
        if waiting:
            lines.append("Waiting for you:")
            for row in waiting:
                lines.append(f"- {row.reference} {row.title}")
                lines.append(f"  Question: {row.question or '(see the request)'}")
            lines.append("")
        lines.append("Your open requests:")
        for row in rows:
            expected = f", expected {_day(row.expected_on)}" if row.expected_on else ""
            lines.append(f"- {row.reference} {row.title}: {row.status}{expected}")
        count = len(rows)
        subject = f"Your week: {count} open request{'s' if count != 1 else ''}"
        if waiting:
            subject += f", {len(waiting)} waiting for you"
        digests[user_id] = Digest(subject, lines, reverse("requests_app:mine"))
    return digests


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
    month = f"{start:%B %Y}"
    scorecards = department_scorecards(
        head_ids=[user.pk for user in people], start=_midnight(start), end=_midnight(end)
    )
    digests = {}
    for head_id, cards in scorecards.items():
        lines = []
        for card in cards:
            lines += _scorecard_lines(card, month=month, today=timezone.localdate(now))
        names = ", ".join(card.department.name for card in cards)
        digests[head_id] = Digest(f"{names}: scorecard for {month}", lines[:-1], scorecard_path(cards[0].department))
    return digests


def _scorecard_lines(card, *, month, today):
    lines = [f"{card.department.name}, {month}", "Promised and delivered (SLA goals met):"]
    for outcome in card.outcomes:
        if outcome.measured:
            lines.append(f"- {outcome.metric}: {outcome.met} of {outcome.measured} met ({outcome.percent} %)")
        else:
            lines.append(f"- {outcome.metric}: nothing measured")
    lines.append(f"Requests completed: {card.delivered}")
    lines.append(f"Open now: {card.open_requests}, {card.at_risk} at risk, {card.breached} breached")
    csat = card.csat
    if csat.answered:
        lines.append(
            f"Satisfaction: {csat.average:.1f} of 5 from {csat.answered} answer{'s' if csat.answered != 1 else ''}"
            f" ({csat.response_percent} % of {csat.sent} surveys answered)"
        )
    else:
        lines.append(f"Satisfaction: no answer ({csat.sent} surveys sent)")
    lines.append(f"Open action items: {len(card.action_items)}")
    for item in card.action_items:
        overdue = " (overdue)" if item.due_on < today else ""
        lines.append(f"- {item.title}: {_name(item.owner)}, due {_day(item.due_on)}{overdue}")
    lines += [f"Scorecard: {settings.SITE_URL.rstrip('/')}{scorecard_path(card.department)}", ""]
    return lines


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
    lines = [f"Breached now: {summary.breached}"]
    lines += [_request_line(request) for request in summary.breached_requests]
    lines.append(f"At risk now: {summary.at_risk}")
    lines += [_request_line(request) for request in summary.at_risk_requests]
    lines.append(f"Low scores this week: {len(summary.low_scores)}")
    for survey in summary.low_scores:
        buyer = _name(survey.buyer) if survey.buyer else "no buyer"
        comment = f": “{survey.comment}”" if survey.comment else ""
        lines.append(
            f"- {survey.procurement_request.reference} ({survey.department.name}, {buyer})"
            f" rated {survey.rating}{comment}"
        )
    # Fairness over the dashboard's default period: a week is too few requests to compare departments.
    flagged = fairness(Scope(Period.last_days(FAIRNESS_DAYS, today=timezone.localdate(now)))).flagged
    lines.append(f"Departments treated differently (last {FAIRNESS_DAYS} days): {len(flagged)}")
    lines += [f"- {row.name}: {'; '.join(row.flags)}" for row in flagged]
    lines.append(f"Follow-ups open: {summary.open_follow_ups}, {summary.overdue_follow_ups} overdue")
    for follow_up in summary.follow_ups:
        overdue = " (overdue)" if follow_up.due_at <= now else ""
        lines.append(
            f"- {follow_up.survey.procurement_request.reference}: {_name(follow_up.owner)}, "
            f"due {_day(timezone.localtime(follow_up.due_at))}{overdue}"
        )
    subject = (
        f"Procurement this week: {summary.breached} breached, {summary.at_risk} at risk,"
        f" {len(summary.low_scores)} low score{'s' if len(summary.low_scores) != 1 else ''}"
    )
    path = reverse("requests_app:queue", kwargs={"view": "breached"})
    return {user.pk: Digest(subject, lines, path) for user in people}


def _request_line(procurement_request):
    assignee = _name(procurement_request.assignee) if procurement_request.assignee else "unassigned"
    return f"- {procurement_request.reference} {procurement_request.title} ({assignee})"


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
