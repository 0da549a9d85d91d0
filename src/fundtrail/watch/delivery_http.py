"""One signed POST of an alert document to a webhook (docs/watch.md, "Delivery").

The receiver checks `X-Fundtrail-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
the webhook's secret and rejects stale timestamps, so a captured request cannot be replayed later
or altered. The whole exchange (connect, send, answer) ends within `timeout` seconds: an alarm
shuts the socket, so a receiver that hangs or drips bytes cannot hold a deliverer. A deliverer keeps
one connection per webhook open across POSTs (`WebhookSession`): a new TCP connection per alert cost
more than the POST itself when a block raises hundreds. Redirects are
not followed (a 3xx is a failed attempt: the signed body must go only where it was configured to),
and at most a few KB of the answer are read: only its status matters.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Attempt", "WebhookSession", "post_alert", "sign"]

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


class _Alarm:
    """One thread per session that shuts the session's socket when an armed deadline passes (a
    `threading.Timer` per POST costs a thread start each; at hundreds of alerts a second that shows)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._sock: socket.socket | None = None
        self._closed = False
        self.fired = False
        threading.Thread(target=self._watch, name="fundtrail-webhook-alarm", daemon=True).start()

    def arm(self, sock: socket.socket | None, seconds: float) -> None:
        with self._cond:
            self._sock, self._deadline, self.fired = sock, time.monotonic() + seconds, False
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._deadline, self._sock = None, None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _watch(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self.fired, self._deadline = True, None
                if self._sock is not None:
                    with contextlib.suppress(OSError):
                        self._sock.shutdown(socket.SHUT_RDWR)


class WebhookSession:
    """POSTs to one webhook URL over one kept-alive connection (HTTP/1.1), one at a time.

    A receiver that closes after each answer (HTTP/1.0, `Connection: close`) gets a new connection
    for the next POST. A POST that fails on a connection used before, without any answer, is sent
    once more on a fresh one: the receiver may have closed the idle connection just as we wrote
    (delivery is at least once on the wire anyway; the idempotency key makes it once at a receiver).
    """

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url, self.timeout = url, timeout
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._host, self._port = parts.hostname or "", parts.port
        self._cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._conn: http.client.HTTPConnection | None = None
        self._alarm = _Alarm()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._alarm.close()

    def post(self, body: bytes, *, alert_id: str, idempotency_key: str, secret: bytes) -> Attempt:
        """POST `body` (the alert document's exact bytes) with the headers of docs/watch.md."""
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": "fundtrail-webhook/1",
                   "X-Fundtrail-Alert": alert_id, "X-Fundtrail-Idempotency-Key": idempotency_key,
                   "X-Fundtrail-Timestamp": str(timestamp), "X-Fundtrail-Signature": sign(secret, timestamp, body)}
        reused = self._conn is not None and self._conn.sock is not None
        attempt = self._exchange(body, headers, secret)
        if reused and attempt.status is None and not self._alarm.fired and attempt.error is not None \
                and attempt.error.split(":")[0] in _STALE:
            attempt = self._exchange(body, headers, secret)
        return attempt

    def _exchange(self, body: bytes, headers: dict[str, str], secret: bytes) -> Attempt:
        if self._conn is None:
            self._conn = self._cls(self._host, self._port, timeout=max(self.timeout, 0.001))
        conn = self._conn
        started = time.monotonic()
        try:
            if conn.sock is None:
                self._alarm.arm(None, self.timeout)
                conn.connect()
            self._alarm.arm(conn.sock, self.timeout - (time.monotonic() - started))
            conn.request("POST", self._path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read(_ANSWER_BYTES)
            keep = not resp.will_close and resp.isclosed()  # the whole answer read: the connection can go on
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            if self._alarm.fired or isinstance(exc, TimeoutError):
                return Attempt(False, None, f"TimeoutError: no answer within {self.timeout:g} s (webhook_timeout)")
            return Attempt(False, None, _one_line(exc, secret))
        finally:
            self._alarm.disarm()
        if self._alarm.fired:
            self._drop()
            return Attempt(False, None, f"TimeoutError: no answer within {self.timeout:g} s (webhook_timeout)")
        if not keep:
            self._drop()
        if 200 <= resp.status < 300:
            return Attempt(True, resp.status, None)
        reason = " ".join(str(resp.reason or "").split())[:100]
        moved = " (redirects are not followed)" if 300 <= resp.status < 400 else ""
        return Attempt(False, resp.status, f"HTTP {resp.status} {reason}".rstrip() + moved)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


#: errors of a kept-alive connection the receiver closed while idle (retried once on a new one)
_STALE = frozenset({"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "BadStatusLine",
                    "ConnectionAbortedError"})


def post_alert(url: str, body: bytes, *, alert_id: str, idempotency_key: str, secret: bytes,
               timeout: float) -> Attempt:
    """One POST on a connection of its own (see `WebhookSession` for many)."""
    session = WebhookSession(url, timeout)
    try:
        return session.post(body, alert_id=alert_id, idempotency_key=idempotency_key, secret=secret)
    finally:
        session.close()
