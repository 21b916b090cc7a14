"""The webhook signature: `X-ServiceDesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The HMAC is computed with the webhook's secret over `<t>.<raw body>`, so a receiver can check both
that the body came from the desk and that it is recent (replays carry an old `t`). The README shows
a receiver's check in a few lines; `signature_verify` is the same check, for Python receivers.
"""

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-ServiceDesk-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value that signs `body` now (or at `timestamp`)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def signature_verify(*, secret: str, header: str, body: bytes, tolerance=DEFAULT_TOLERANCE_SECONDS, now=None) -> bool:
    """Whether `header` signs `body` with `secret`, at a time within `tolerance` seconds of now."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _digest(secret, timestamp, body))
