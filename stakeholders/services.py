"""Writes for departments, people, and what people are told (notifications)."""

import logging
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.html import linebreaks
from django.utils.translation import gettext, ngettext

from .models import (
    OUTSTANDING_STATUSES,
    Channel,
    DeliveryStatus,
    Department,
    Membership,
    Notification,
    NotificationKind,
    NotificationPreference,
    Profile,
    profile_for,
)
from .roles import Role, roles_sync

logger = logging.getLogger(__name__)


def roles_ensure():
    """Create the role groups with their permissions if anything removed them (idempotent)."""
    roles_sync(group_model=Group, permission_model=Permission, content_type_model=ContentType)


@transaction.atomic
def person_upsert(*, username, department, roles, first_name="", last_name="", email="", password=None, job_title=""):
    """Create or update a user with one department membership and exactly the given roles."""
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first_name, "last_name": last_name, "email": email}
    )
    if created and password:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(user=user, defaults={"department": department, "job_title": job_title})
    user.groups.set(Group.objects.filter(name__in=[Role(role).value for role in roles]))
    return user


@transaction.atomic
def department_upsert(*, name, code, is_procurement=False):
    department, _ = Department.objects.get_or_create(
        code=code, defaults={"name": name, "is_procurement": is_procurement}
    )
    return department


UNCHANGED = object()


@transaction.atomic
def profile_update(*, user, actor, time_zone=UNCHANGED, away_until=UNCHANGED, language=UNCHANGED) -> Profile:
    """Change a person's own settings; only they, or someone allowed to change profiles, may.

    Fields left out stay as they are; the profile is created on first change.
    """
    if actor.pk != user.pk and not actor.has_perm("stakeholders.change_profile"):
        raise PermissionDenied("You can only change your own settings.")
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    changes = {
        field: value
        for field, value in (("time_zone", time_zone), ("away_until", away_until), ("language", language))
        if value is not UNCHANGED
    }
    for field, value in changes.items():
        setattr(profile, field, value if field == "away_until" else (value or "").strip())
    if changes:
        profile.full_clean()
        profile.save(update_fields=list(changes))
    return profile


# --- Notifications: the outbox -------------------------------------------------------------------
#
# A notice is a `Notification` row per person and channel, written in the transaction of the event
# that caused it. In-app rows are delivered by existing. E-mail rows are sent by the
# `stakeholders.deliver_notification` task, enqueued when that transaction commits; when the broker
# is down the rows simply wait, and the minute sweep (`notifications_requeue`) enqueues again every
# e-mail whose task may have been lost. Delivery claims the row with a lease before sending, so a
# redelivered or duplicated task never sends twice; see `notification_deliver` for the one edge.


def email_wanted(*, user_ids, kinds):
    """A predicate (user_id, kind) -> whether that person wants that kind by e-mail (yes unless they said no)."""
    refused = set(
        NotificationPreference.objects.filter(user_id__in=user_ids, kind__in=kinds, by_email=False).values_list(
            "user_id", "kind"
        )
    )
    return lambda user_id, kind: (user_id, kind) not in refused


@transaction.atomic
def notifications_create(*, notifications, now=None) -> list[Notification]:
    """Store unsaved notices; in-app ones are delivered by this, e-mails are enqueued when the transaction commits."""
    now = now or timezone.now()
    for notification in notifications:
        notification.created_at = now
        if notification.channel == Channel.IN_APP:
            notification.status, notification.sent_at = DeliveryStatus.SENT, now
        else:
            held = notification.not_before is not None and notification.not_before > now
            notification.status = DeliveryStatus.HELD if held else DeliveryStatus.PENDING
            notification.queued_at = now
    created = Notification.objects.bulk_create(notifications)
    notifications_enqueue(
        ids=[n.pk for n in created if n.channel == Channel.EMAIL and n.status == DeliveryStatus.PENDING]
    )
    return created


def _notice_render(template, context):
    """(headline, summary text, summary HTML) of one notice, in the active language and time zone.

    The template is rendered with autoescaping, once for the headline and once for the summary: the
    HTML keeps the escaped text (with line breaks), the plain text unescapes it.
    """
    headline = notice_headline(template, context)
    summary = render_to_string(f"stakeholders/notifications/{template}.html", {**context, "part": "summary"})
    summary = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in summary.strip().splitlines()))
    return headline, unescape(summary), linebreaks(summary)


def notice_headline(template, context) -> str:
    """A notice's one line in the active language, e.g. for a timeline note written alongside it."""
    headline = render_to_string(f"stakeholders/notifications/{template}.html", {**context, "part": "headline"})
    return unescape(" ".join(headline.split()))


def notice_payload(template, context, recipient, *, path, reference="", title="", actions=(), now=None) -> dict:
    """One person's notice, written from `template` (templates/stakeholders/notifications/<name>.html) in
    their language and time zone, whoever caused it. Their profile should come with them (select_related).

    `actions` are (label, path) pairs, e.g. one-click approval links: buttons in the HTML e-mail, lines
    in the text, links under the in-app line. Labels are lazy strings, written in the same language.
    """
    now = now or timezone.now()
    profile = profile_for(recipient)
    zone, language = profile.zone, profile.language_code
    url = site_url(path)
    with timezone.override(zone), translation.override(language):
        headline, summary, summary_html = _notice_render(template, {**context, "recipient": recipient, "url": url})
        links = [{"label": str(label), "path": link, "url": site_url(link)} for label, link in actions]
        lines = [f"{link['label']}: {link['url']}" for link in links] + [gettext("Open: %(url)s") % {"url": url}]
        when = formats.date_format(timezone.localtime(now, zone), "D d M Y, H:i T")
    return {
        "subject": f"[{reference}] {headline}" if reference else headline,
        "headline": headline,
        "body": "\n".join([summary, "", *lines]),
        "summary": summary,
        "summary_html": summary_html,
        "actions": links,
        "path": path,
        "url": url,
        "reference": reference,
        "title": title,
        "time_zone": zone.key,
        "language": language,
        "when": when,
    }


def site_url(path):
    return settings.SITE_URL.rstrip("/") + path


def request_notices(
    *, recipient, kind, procurement_request, template=None, context=None, path=None, not_before=None, now=None
):
    """Unsaved notices to one person about a request, written from the kind's template (or `template`) in
    their language: in the app, and by e-mail if they have an address and want that kind. They open `path`
    (the request's page unless given); the e-mail waits until `not_before` when given (quiet hours)."""
    path = path or reverse("requests_app:detail", kwargs={"reference": procurement_request.reference})
    context = {
        "procurement_request": procurement_request,
        "reference": procurement_request.reference,
        **(context or {}),
    }
    payload = notice_payload(
        template or kind,
        context,
        recipient,
        path=path,
        reference=procurement_request.reference,
        title=procurement_request.title,
        now=now,
    )
    common = {"recipient": recipient, "kind": kind, "procurement_request": procurement_request, "payload": payload}
    notifications = [Notification(channel=Channel.IN_APP, **common)]
    if recipient.email and email_wanted(user_ids=[recipient.pk], kinds=[kind])(recipient.pk, kind):
        notifications.append(Notification(channel=Channel.EMAIL, not_before=not_before, **common))
    return notifications


def notify(*, recipient, kind, procurement_request, template=None, context=None, now=None) -> list[Notification]:
    """Tell one person about a request: in the app, and by e-mail if they have an address and want that kind."""
    notices = request_notices(
        recipient=recipient,
        kind=kind,
        procurement_request=procurement_request,
        template=template,
        context=context,
        now=now,
    )
    return notifications_create(notifications=notices, now=now)


def notifications_enqueue(*, ids):
    """Enqueue the delivery of these e-mails once the current transaction commits (never inside it)."""
    from servicedesk.celery import publish_on_commit

    from .tasks import deliver_notification

    publish_on_commit(deliver_notification, ids, what="e-mail deliveries")


def _retry_delay(attempts):
    """Exponential back-off after the n-th failed attempt: base, 2 × base, 4 × base …"""
    return timedelta(seconds=settings.NOTIFICATION_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))


def _email_message(notification, coalesced=()):
    """The e-mail for a notice, with the notices it carries (same person, same request) listed after it.

    A request's notices thread in mail clients: each message's Message-ID is its own, and In-Reply-To /
    References name the request (`<PR-2026-000123@host>`), the same for every e-mail about it.
    """
    payload = notification.payload
    domain = urlsplit(settings.SITE_URL).hostname or "servicedesk.invalid"
    headers = {
        # The same Message-ID on every attempt: a rare second copy (see notification_deliver) is
        # recognisably the same message, and mail clients that de-duplicate show it once.
        "Message-ID": f"<notification-{notification.pk}@{domain}>",
        "X-Servicedesk-Notification": str(notification.pk),
    }
    reference = payload.get("reference")
    if reference:
        headers["In-Reply-To"] = headers["References"] = f"<{reference}@{domain}>"
    entries = [payload, *(other.payload for other in coalesced)]
    subject, body, html = payload.get("subject", ""), payload.get("body", ""), None
    if coalesced or "summary" in payload:
        entries = [_as_entry(entry) for entry in entries]
        # Written from the kind's template (requests_app/notifications.py): text and HTML, one or a digest.
        context = {
            "entries": entries,
            "reference": reference,
            "title": payload.get("title", ""),
            "url": payload.get("url", ""),
            "preferences_url": settings.SITE_URL.rstrip("/") + reverse("stakeholders:preferences"),
        }
        # The recipient's language, the one their notices were written in (older rows: their profile's).
        language = payload.get("language") or profile_for(notification.recipient).language_code
        with translation.override(language):
            if len(entries) > 1:
                count = len(entries)
                updates = ngettext("%(count)d update", "%(count)d updates", count) % {"count": count}
                subject = f"[{reference}] {updates}: {context['title']}"
            context["subject"] = subject
            body = render_to_string("stakeholders/email/notice.txt", context)
            html = render_to_string("stakeholders/email/notice.html", context)
    message = EmailMultiAlternatives(
        # A title with a line break must not break the header (nor fail every attempt).
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient.email],
        headers=headers,
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message


def _as_entry(payload):
    """A payload as a digest entry: notices written without a kind's template (`notify`) keep their text."""
    if "summary" in payload:
        return payload
    return {
        **payload,
        "headline": payload.get("headline", payload.get("subject", "")),
        "summary": payload.get("body", ""),
        "summary_html": linebreaks(payload.get("body", ""), autoescape=True),
        "when": "",
    }


def _coalesces(notification):
    """A request's own news is coalesced per person; escalations (with their quiet hours) go alone."""
    return notification.procurement_request_id is not None and notification.escalation_id is None


def _same_thread(notification):
    return Notification.objects.filter(
        recipient_id=notification.recipient_id,
        procurement_request_id=notification.procurement_request_id,
        channel=Channel.EMAIL,
        escalation__isnull=True,
    )


def _burst_leader(notification):
    """An earlier outstanding e-mail of the same person about the same request whose window (until its
    `not_before`) covers this one: that e-mail will carry this notice."""
    return (
        _same_thread(notification)
        .filter(status__in=OUTSTANDING_STATUSES, not_before__gte=notification.created_at)
        .filter(
            Q(created_at__lt=notification.created_at) | Q(created_at=notification.created_at, pk__lt=notification.pk)
        )
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )


def _burst(notification):
    """The later notices this e-mail carries: outstanding, of the same person and request, written within its
    window (up to its `not_before`). Locked; rows another worker holds are left to it."""
    until = max(notification.not_before or notification.created_at, notification.created_at)
    return list(
        _same_thread(notification)
        .select_for_update(skip_locked=True)
        .filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.HELD], created_at__gte=notification.created_at)
        .filter(created_at__lte=until)
        .exclude(pk=notification.pk)
        .order_by("created_at", "pk")
    )


def _commit_without_waiting_for_the_disk():
    # The "sent" mark commits a moment after the e-mail left: waiting for the WAL flush (milliseconds)
    # would widen the window in which a killed worker leaves a sent e-mail unmarked. The price is a
    # database crash within the WAL writer's delay losing the mark: the same at-least-once edge.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def notification_deliver(*, notification_id, now=None) -> str:
    """Send one e-mail notice, at most once per claim; returns what happened.

    1. Claim: lock the row (skipping it when another worker holds it), check it still needs sending
       and is not held, then mark it `sending` with a lease and count the attempt, and commit.
       A task delivered twice, or redelivered after a crash, finds the claim and leaves the row.
    2. Send: lock the row again, mark it `sent`, hand the e-mail to the backend, commit. A failure
       rolls the mark back; the row gets a back-off, or `failed` after the last attempt.

    The at-least-once edge: a worker killed after the e-mail left but before the second commit
    leaves the row `sending`; when its lease has expired the sweep sends it again. That is the
    only way a second copy (with the same Message-ID) can go out.

    Coalescing: a request's own news (not escalations) waits NOTIFICATION_COALESCE_SECONDS (its
    `not_before`). When it is sent, it carries every later outstanding notice of the same person about
    the same request written by then (`_burst`), marked sent with it (`sent_with`) in the same
    transaction. A notice inside an earlier one's window defers to it (`_burst_leader`), so the burst
    goes out once whichever task runs first. Only active people with an address are e-mailed: anyone
    else's e-mail is marked failed with the reason.
    """
    now = now or timezone.now()
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, channel=Channel.EMAIL)
            .first()
        )
        if notification is None:
            return "skipped: missing or being sent"
        if notification.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            return f"skipped: {notification.status}"
        leased = notification.lease_until is not None and notification.lease_until > now
        if notification.status == DeliveryStatus.SENDING and leased:
            return "skipped: claimed by another attempt"
        if notification.not_before is not None and notification.not_before > now:
            if notification.status != DeliveryStatus.HELD:
                notification.status = DeliveryStatus.HELD
                notification.save(update_fields=["status"])
            return "held"
        if _coalesces(notification):
            leader = _burst_leader(notification)
            if leader is not None:
                return f"deferred: goes with notification {leader}"
        notification.status = DeliveryStatus.SENDING
        notification.lease_until = now + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
        notification.attempts += 1
        notification.save(update_fields=["status", "lease_until", "attempts"])
        claim = notification.attempts
    try:
        with transaction.atomic():
            notification = (
                Notification.objects.select_for_update(of=("self",))
                .select_related("recipient__profile")
                .get(pk=notification_id)
            )
            if notification.status != DeliveryStatus.SENDING or notification.attempts != claim:
                return "skipped: the claim was taken over"
            recipient = notification.recipient
            if not (recipient.is_active and recipient.email):
                notification.status, notification.lease_until = DeliveryStatus.FAILED, None
                notification.last_error = "Not sent: the recipient is inactive or has no e-mail address."
                notification.save(update_fields=["status", "lease_until", "last_error"])
                return f"failed: {notification.last_error}"
            coalesced = _burst(notification) if _coalesces(notification) else []
            notification.status, notification.sent_at = DeliveryStatus.SENT, timezone.now()
            notification.lease_until, notification.last_error = None, ""
            notification.save(update_fields=["status", "sent_at", "lease_until", "last_error"])
            if coalesced:
                Notification.objects.filter(pk__in=[other.pk for other in coalesced]).update(
                    status=DeliveryStatus.SENT, sent_at=notification.sent_at, sent_with=notification, lease_until=None
                )
            _commit_without_waiting_for_the_disk()
            _email_message(notification, coalesced).send()
    except Exception as error:
        # Any failure to send (SMTP refused, timeout, bad address): recorded on the row, retried later.
        return _delivery_failed(notification_id, claim=claim, error=error)
    return "sent"


@transaction.atomic
def _delivery_failed(notification_id, *, claim, error):
    notification = Notification.objects.select_for_update().get(pk=notification_id)
    if notification.status != DeliveryStatus.SENDING or notification.attempts != claim:
        return "skipped: the claim was taken over"
    notification.last_error = f"{type(error).__name__}: {error}"[:2000]
    notification.lease_until = None
    if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
        notification.status = DeliveryStatus.FAILED
        logger.error("Notification %s failed after %s attempts: %s", notification_id, claim, notification.last_error)
    else:
        notification.status = DeliveryStatus.PENDING
        notification.not_before = timezone.now() + _retry_delay(notification.attempts)
    notification.save(update_fields=["status", "last_error", "lease_until", "not_before"])
    return f"{notification.status}: {notification.last_error}"


def notifications_requeue(*, now=None, batch_size=500) -> int:
    """Enqueue again the e-mails whose delivery task may be lost; returns how many.

    Run by the minute sweep. An e-mail qualifies when its last enqueueing is older than
    NOTIFICATION_REQUEUE_AFTER_SECONDS and it is pending (the broker was down, the message was lost
    with a worker, a back-off ended), held until a moment now past (quiet hours), or `sending` with
    an expired lease (its worker died). Bounded batches; rows another sweep holds are skipped.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.NOTIFICATION_REQUEUE_AFTER_SECONDS)
    due = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.HELD]) & (
        Q(not_before__isnull=True) | Q(not_before__lte=now)
    ) | Q(status=DeliveryStatus.SENDING, lease_until__lte=now)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Notification.objects.select_for_update(skip_locked=True)
                .filter(due, channel=Channel.EMAIL, queued_at__lte=cutoff)
                .order_by("queued_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                Notification.objects.filter(pk__in=ids).update(queued_at=now)
                notifications_enqueue(ids=ids)
        total += len(ids)
        if len(ids) < batch_size:
            return total


@transaction.atomic
def notifications_retry(*, ids, now=None) -> int:
    """Send again (admin action): failed or stuck e-mails start over with fresh attempts."""
    now = now or timezone.now()
    ids = list(
        Notification.objects.select_for_update()
        .filter(pk__in=list(ids), channel=Channel.EMAIL)
        .exclude(status=DeliveryStatus.SENT)
        .values_list("pk", flat=True)
    )
    Notification.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING, attempts=0, last_error="", not_before=None, lease_until=None, queued_at=now
    )
    notifications_enqueue(ids=ids)
    return len(ids)


@transaction.atomic
def notification_mark_read(*, notification, user, now=None) -> Notification:
    """Mark one of the user's in-app notices read (someone else's: PermissionDenied)."""
    if notification.recipient_id != user.pk:
        raise PermissionDenied("This is not your notification.")
    if notification.read_at is None:
        notification.read_at = now or timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=notification.read_at)
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user, now=None) -> int:
    return Notification.objects.in_app_for(user).unread().update(read_at=now or timezone.now())


@transaction.atomic
def notification_preferences_save(*, user, email_kinds):
    """Which kinds of notice the user also wants by e-mail; every other kind only in the app."""
    email_kinds = set(email_kinds)
    for kind in NotificationKind.values:
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"by_email": kind in email_kinds}
        )
