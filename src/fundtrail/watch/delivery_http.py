"""One signed POST of an alert document to a webhook (docs/watch.md, "Delivery").

The receiver checks `X-Fundtrail-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
the webhook's secret and rejects stale timestamps, so a captured request cannot be replayed later
or altered. The whole exchange (connect, send, answer) ends within `timeout` seconds: a watchdog
shuts the socket, so a receiver that hangs or drips bytes cannot hold a deliverer. Redirects are
not followed (a 3xx is a failed attempt: the signed body must go only where it was configured to),
and at most a few KB of the answer are read: only its status matters.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fundtrail.ingest.rpchttp import Watchdog

__all__ = ["Attempt", "post_alert", "sign"]

_ANSWER_BYTES = 4096


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: `ok` (a 2xx), the status if there was one, the one-line error if not ok."""

    ok: bool
    status: int | None
    error: str | None


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _one_line(exc: BaseException, secret: bytes) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())[:300]
    key = secret.decode("utf-8", "replace")
    return text.replace(key, "***") if key else text  # no library puts it there; never let one


def post_alert(url: str, body: bytes, *, alert_id: str, idempotency_key: str, secret: bytes,
               timeout: float) -> Attempt:
    """POST `body` (the alert document's exact bytes) to `url` with the headers of docs/watch.md."""
    parts = urlsplit(url)
    timestamp = int(time.time())
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": "fundtrail-webhook/1",
               "X-Fundtrail-Alert": alert_id, "X-Fundtrail-Idempotency-Key": idempotency_key,
               "X-Fundtrail-Timestamp": str(timestamp), "X-Fundtrail-Signature": sign(secret, timestamp, body)}
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=max(timeout, 0.001))
    try:
        with Watchdog(conn, timeout) as dog:
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read(_ANSWER_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                if dog.fired or isinstance(exc, TimeoutError):
                    return Attempt(False, None, f"TimeoutError: no answer within {timeout:g} s (webhook_timeout)")
                return Attempt(False, None, _one_line(exc, secret))
        if dog.fired:
            return Attempt(False, None, f"TimeoutError: no answer within {timeout:g} s (webhook_timeout)")
    finally:
        conn.close()
    if 200 <= resp.status < 300:
        return Attempt(True, resp.status, None)
    reason = " ".join(str(resp.reason or "").split())[:100]
    moved = " (redirects are not followed)" if 300 <= resp.status < 400 else ""
    return Attempt(False, resp.status, f"HTTP {resp.status} {reason}".rstrip() + moved)
