"""Request size limits, enforced before a body is read whole.

A body announcing more than `api_max_body_mb` in `Content-Length` is refused with 413 at once; a
body without a length (chunked) is counted as it streams and refused at the first byte over the
limit, so no client can make the server buffer more than the limit. Request rates are
bounded per token by `RateLimiter` (used by `auth`). Batch bounds (rows of a
screening request) are checked by the routes, which know what a row is.
"""

from __future__ import annotations

import threading
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundtrail.api.errors import error_response


def too_large_message(max_bytes: int) -> str:
    """The one message for a body over the limit (names the setting to raise)."""
    return f"request body exceeds {max_bytes // (1 << 20)} MB (setting api_max_body_mb)"


class BodyLimit:
    """ASGI middleware refusing request bodies over `max_bytes` with 413 `too_large`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None  # the last Content-Length, as dict(headers) read it, without building a dict
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = value
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await error_response(400, "bad_request", "Content-Length is not a number",
                                     "body")(scope, receive, send)
                return
            if length > self.max_bytes:
                await error_response(413, "too_large", too_large_message(self.max_bytes),
                                     "body")(scope, receive, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, detail=too_large_message(self.max_bytes))
            return message

        await self.app(scope, counted, send)


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
