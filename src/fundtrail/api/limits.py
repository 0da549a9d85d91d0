"""Request size limits, enforced before a body is read whole.

A body announcing more than `api_max_body_mb` (a file upload: `api_max_upload_mb`) in
`Content-Length` is refused with 413 at once; a body without a length (chunked) is counted as it
streams and refused at the first byte over the limit, so no client can make the server buffer more
than the limit. Request rates are
bounded per token by `RateLimiter` (used by `auth`). Batch bounds (rows of a
screening request) are checked by the routes, which know what a row is.
"""

from __future__ import annotations

import re
import threading
import time

from starlette.responses import Response
from starlette.types import Scope

from fundtrail.api.errors import error_response


#: The routes that take a file (multipart): their bodies may be as large as `api_max_upload_mb`, and
#: are not kept for the audit record (it names the case and the file's size, never its content).
UPLOAD_ROUTES = (re.compile(r"/api/v1/cases/[^/]+/attachments"), re.compile(r"/api/v1/verify"))


def is_upload(scope: Scope) -> bool:
    """A POST to a file-upload route."""
    return scope.get("method") == "POST" and any(r.fullmatch(scope.get("path", "")) for r in UPLOAD_ROUTES)


def too_large_message(max_bytes: int, setting: str = "api_max_body_mb") -> str:
    """The one message for a body over the limit (names the setting to raise)."""
    return f"request body exceeds {max_bytes // (1 << 20)} MB (setting {setting})"


def declared_too_large(scope: Scope, max_bytes: int, setting: str = "api_max_body_mb") -> Response | None:
    """The answer to a request whose Content-Length is not a number (400) or over `max_bytes`
    (413), else None. A body without a length is counted as it streams (`auditing.Edge`)."""
    declared = None  # the last Content-Length, as dict(headers) read it, without building a dict
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            declared = value
    if declared is None:
        return None
    try:
        length = int(declared)
    except ValueError:
        length = -1
    if length < 0:
        return error_response(400, "bad_request", "Content-Length is not a number", "body")
    if length > max_bytes:
        return error_response(413, "too_large", too_large_message(max_bytes, setting), "body")
    return None


class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `rate` per second."""

    MAX_KEYS = 100_000  # full buckets are forgotten beyond this many tokens

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request of `key`: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.MAX_KEYS:
                self._forget_full(now)
            return 0.0

    def _forget_full(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.burst:
                del self._buckets[key]
