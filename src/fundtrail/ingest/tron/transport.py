"""HTTP transport for java-tron's HTTP API: one POST per endpoint call, retries, a rate limit.

java-tron is not JSON-RPC: each call is a path (`/wallet/getblockbynum`) with a JSON body, and a
failed call is answered with HTTP 200 and `{"Error": "<exception> : <message>"}`. That answer is
the node's verdict, not a transient fault, so it is never retried: it raises `TronNodeError`
naming the endpoint and the block. Busy answers (429, 502-504), other 5xx, resets and timeouts
are retried with exponential backoff (honouring Retry-After) within `rpc_deadline`. Every exchange
is bounded like the EVM transport's (`ingest/rpchttp.py`); URLs are redacted in every message.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.ethereum.transport import redact_url
from fundtrail.ingest.rpchttp import CallDeadline, RateLimiter, loads_bounded, post_bounded

_MAX_WAIT = 30.0
_NO_RETRY_5XX = frozenset({501, 505})


class TronNodeError(SourceError):
    """java-tron answered a call with `{"Error": ...}`: the node's own message is kept."""

    def __init__(self, message: str, *, node_message: str, endpoint: str) -> None:
        super().__init__(message)
        self.node_message, self.endpoint = node_message, endpoint


class TronTransport(Protocol):
    """What `TronRpc` needs: POST `body` to `path` (`/wallet/...`), return the parsed JSON."""

    url: str

    def post(self, path: str, body: dict[str, Any]) -> Any: ...


def describe(path: str, body: dict[str, Any]) -> str:
    """`/wallet/x {"num":5} (block 5)` for one-line messages."""
    text = json.dumps(body, separators=(",", ":"), default=str)
    text = text if len(text) <= 120 else text[:117] + "..."
    out = f"{path} {text}"
    if isinstance(body.get("num"), int):
        out += f" (block {body['num']})"
    elif isinstance(body.get("startNum"), int) and isinstance(body.get("endNum"), int):
        out += f" (blocks {body['startNum']}..{body['endNum'] - 1})"
    return out


def check_answer(doc: Any, where: str, path: str) -> Any:
    """`doc`, unless it is java-tron's `{"Error": ...}` answer (then `TronNodeError`)."""
    if isinstance(doc, dict) and "Error" in doc:
        text = str(doc["Error"])[:300].replace("\n", " ")
        raise TronNodeError(f"{where}: node error: {text}", node_message=text, endpoint=path)
    return doc


class TronHttpTransport:
    """java-tron's HTTP API at `url` (scheme, host, port; a path prefix is kept)."""

    def __init__(self, url: str, *, timeout: float = 60, retries: int = 4, backoff: float = 0.5,
                 max_requests_per_second: float | None = None, deadline: float = 600,
                 max_response_mb: int = 512, max_json_depth: int = 2500) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"bad java-tron URL {redact_url(url)!r}: expected http(s)://host[:port]",
                             field="rpc")
        try:
            self._port = parts.port
        except ValueError:
            raise UsageError(f"bad port in java-tron URL {redact_url(url)!r}", field="rpc") from None
        if retries < 0 or timeout <= 0 or backoff < 0 or deadline <= 0:
            raise UsageError("RPC retries and backoff must be >= 0, the timeout and deadline > 0")
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise UsageError(f"RPC rate limit must be > 0 requests/s, not {max_requests_per_second}",
                             field="rate_limit")
        self.url = redact_url(url).rstrip("/")
        self.timeout, self.retries, self.backoff, self.deadline = timeout, retries, backoff, deadline
        self.max_bytes, self.max_json_depth = max_response_mb << 20, max_json_depth
        self._https, self._host = parts.scheme == "https", parts.hostname
        self._prefix = parts.path.rstrip("/")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": "fundtrail"}
        self._limiter = RateLimiter(max_requests_per_second) if max_requests_per_second else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: set[http.client.HTTPConnection] = set()
        self.requests = 0  # HTTP requests sent, attempts included (for tests and logs)

    def __str__(self) -> str:
        return self.url

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """The parsed answer of `path` (SourceError after the retries; TronNodeError at once)."""
        data = json.dumps(body).encode()
        where = f"{self.url}: {describe(path, body)}"
        call = CallDeadline(self.deadline)
        delay, wait, last, attempts = self.backoff, 0.0, "", 0
        for attempt in range(self.retries + 1):
            if attempt:
                if wait >= call.left():
                    break
                time.sleep(wait)
            if self._limiter is not None:
                self._limiter.acquire()
            attempts += 1
            try:
                status, reason, retry_after, raw = self._send(self._prefix + path, data,
                                                              min(self.timeout, call.left()), where)
            except TimeoutError:
                self._drop()
                last, wait = f"no complete answer within {self.timeout:g} s (rpc_timeout)", delay
                delay = min(delay * 2, _MAX_WAIT)
                continue
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                last, wait = f"unreachable ({detail})", delay
                delay = min(delay * 2, _MAX_WAIT)
                continue
            if status == 200:
                return check_answer(self._parse(raw, where), where, path)
            last = f"HTTP {status} {reason}: {raw[:80].decode(errors='replace').strip()!r}"
            if status != 429 and (status < 500 or status in _NO_RETRY_5XX):
                raise SourceError(f"{where}: {last}")
            wait = min(retry_after, _MAX_WAIT) if retry_after is not None else delay
            delay = min(delay * 2, _MAX_WAIT)
        spent = call.seconds - call.left()
        raise SourceError(f"{where}: gave up after {attempts} attempts in {spent:.0f} s: {last}",
                          hint="is the node running and reachable?")

    def _parse(self, raw: bytes, where: str) -> Any:
        try:
            return loads_bounded(raw, self.max_json_depth, where)
        except ValueError:
            snippet = raw[:80].decode(errors="replace").strip()
            raise SourceError(f"{where}: malformed JSON in the node's answer ({len(raw):,} bytes): "
                              f"{snippet!r}") from None

    def _send(self, path: str, data: bytes, seconds: float,
              where: str) -> tuple[int, str, float | None, bytes]:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn in self._conns:
            try:
                return self._roundtrip(conn, path, data, seconds, where)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=max(seconds, 0.001))
        self._local.conn = conn
        with self._lock:
            self._conns.add(conn)
        return self._roundtrip(conn, path, data, seconds, where)

    def _roundtrip(self, conn: http.client.HTTPConnection, path: str, data: bytes, seconds: float,
                   where: str) -> tuple[int, str, float | None, bytes]:
        with self._lock:
            self.requests += 1
        resp, raw = post_bounded(conn, path, data, self._headers, seconds, self.max_bytes, where, self._drop)
        after = resp.getheader("Retry-After")
        return resp.status, resp.reason, float(after) if after and after.strip().isdigit() else None, raw

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def close(self) -> None:
        """Close every kept-alive connection."""
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
