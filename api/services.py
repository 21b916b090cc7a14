"""Writes of the API app: personal tokens, and the idempotent filing of requests."""

import hashlib
import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from .models import PREFIX_SHOWN, TOKEN_PREFIX, ApiToken, IdempotencyKey, token_hash

# A person rarely needs more; a cap keeps a script that creates tokens in a loop from filling the table.
MAX_ACTIVE_TOKENS = 20
# How often a token's "last used" is written: the page shows it to the minute, and a write per call
# would turn every GET into an UPDATE.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def api_token_create(*, user, name, expires_at=None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and the secret, which is shown once and never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. what will use it."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future (or empty: until revoked)."})
    if ApiToken.objects.filter(user=user).usable().count() >= MAX_ACTIVE_TOKENS:
        raise ValidationError(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[:PREFIX_SHOWN], key_hash=token_hash(raw), expires_at=expires_at
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, token, actor) -> ApiToken:
    """Revoke a token at once (its owner only); revoking twice changes nothing."""
    if token.user_id != actor.pk:
        raise PermissionDenied("This token belongs to someone else.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


def api_token_touch(token, *, now=None):
    """Record that the token was used (at most once a minute)."""
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def body_fingerprint(data) -> str:
    """SHA-256 of a request body, independent of key order and spacing."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeyReused(Exception):
    """The key was first sent with another body: replaying its answer would answer a different question."""


def idempotency_keys_expire(*, now=None, batch_size=5_000) -> int:
    """Forget the keys older than API_IDEMPOTENCY_HOURS (a retry that late files anew), a batch at a
    time so that a large backlog never holds one long transaction. Returns how many went."""
    stale_before = (now or timezone.now()) - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
    stale = IdempotencyKey.objects.filter(created_at__lt=stale_before)
    removed = 0
    while True:
        batch = list(stale.values_list("pk", flat=True)[:batch_size])
        if not batch:
            return removed
        removed += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]


def idempotent(*, user, key, fingerprint, perform):
    """Run `perform()` -> (status, body, procurement_request) once per (user, key); a retry with the same
    body gets the first (status, body) back, with another body IdempotencyKeyReused.

    The key's row is inserted first, in the same transaction as the work: a concurrent retry waits on
    the unique index until the first commits, then reads its answer; if the first fails, nothing of it
    stays (the key included), so a corrected retry runs.
    """
    with transaction.atomic():
        stale_before = timezone.now() - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
        IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=stale_before).delete()
        record, new = IdempotencyKey.objects.get_or_create(user=user, key=key, defaults={"fingerprint": fingerprint})
        if not new:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(key)
            return record.response_status, record.response_body, True
        status, body, procurement_request = perform()
        record.response_status, record.response_body = status, body
        record.procurement_request = procurement_request
        record.save(update_fields=["response_status", "response_body", "procurement_request"])
        return status, body, False
