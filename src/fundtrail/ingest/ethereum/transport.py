"""HTTP transport for Ethereum JSON-RPC: one POST per request or batch, retries, a rate limit.

Kept apart from the client (`rpc.py`) so recorded responses can stand in for a node: anything with
`request(payload) -> parsed JSON` is a transport. Only the standard library is used, so the EVM
source adds no dependency. Provider URLs often carry secrets (user:password, an API key in the path
or query); they are removed from every message because messages end up in logs and case files.
Every exchange is bounded (`ingest/rpchttp.py`): total time per request (`rpc_timeout`) and per
call with its retries (`rpc_deadline`), answer size (`max_rpc_response_mb`), JSON nesting
(`max_json_depth`).
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import re
import threading
import time
from typing import Any, Protocol, Self
from urllib.parse import unquote, urlsplit, urlunsplit

from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.rpchttp import CallDeadline, RateLimiter, loads_bounded, post_bounded

Payload = dict[str, Any] | list[dict[str, Any]]

_MAX_WAIT = 30.0  # cap on backoff and on a server's Retry-After
_NO_RETRY_5XX = frozenset({501, 505})  # "not implemented" will not get better by asking again
_BUSY = frozenset({429, 502, 503, 504})  # always transient, even with a JSON-RPC body
_BLOCK_METHODS = frozenset({
    "eth_getBlockByNumber", "eth_getBlockReceipts", "trace_block", "debug_traceBlockByNumber",
    "eth_getBlockTransactionCountByNumber", "eth_getUncleCountByBlockNumber",
})
_SECRET_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]{20,}$")  # Infura/Alchemy/QuickNode-style keys


class Transport(Protocol):
    """What `EthRpc` needs: send one JSON-RPC request or batch, return the parsed JSON answer."""

    def request(self, payload: Payload) -> Any: ...


def redact_url(url: str) -> str:
    """`url` fit for messages: no user:password, no query, long opaque path segments masked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    path = "/".join("***" if _SECRET_SEGMENT.match(s) else s for s in parts.path.split("/"))
    return urlunsplit((parts.scheme, netloc, path or "/", "***" if parts.query else "", ""))


def hex_int(value: Any) -> int | None:
    """A JSON-RPC quantity ("0x1a") as int, or None when `value` is not one."""
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


def describe_call(method: Any, params: Any) -> str:
    """`method [params]` for messages, with the block number in decimal where the call names one."""
    text = json.dumps(params if params is not None else [], separators=(",", ":"), default=str)
    text = text if len(text) <= 120 else text[:117] + "..."
    out = f"{method} {text}"
    if method in _BLOCK_METHODS and isinstance(params, list) and params:
        number = hex_int(params[0])
        if number is not None:
            out += f" (block {number})"
    return out


def describe_payload(payload: Any) -> str:
    """The method(s) and first params of a request or batch, for one-line messages."""
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(i, dict) for i in items):
        return "a malformed request"
    first = describe_call(items[0].get("method"), items[0].get("params"))
    if not isinstance(payload, list):
        return first
    methods = list(dict.fromkeys(str(i.get("method")) for i in items))
    return f"batch of {len(items)} {'/'.join(methods)} calls starting {first}"


def is_rpc_reply(doc: Any) -> bool:
    """Whether `doc` has the shape of a JSON-RPC answer (an object with result or error, or a list)."""
    def one(d: Any) -> bool:
        return isinstance(d, dict) and ("result" in d or "error" in d)
    return one(doc) or (isinstance(doc, list) and all(one(d) for d in doc))


class HttpTransport:
    """JSON-RPC over HTTP(S): keep-alive per thread, retries with backoff, optional rate limit."""

    def __init__(
        self, url: str, *, timeout: float = 60, retries: int = 4, backoff: float = 0.5,
        max_requests_per_second: float | None = None, headers: dict[str, str] | None = None,
        deadline: float = 600, max_response_mb: int = 512, max_json_depth: int = 2500,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"bad RPC URL {redact_url(url)!r}: expected http(s)://host[:port][/path]")
        try:
            self._port = parts.port
        except ValueError:
            raise UsageError(f"bad port in RPC URL {redact_url(url)!r}") from None
        if retries < 0 or timeout <= 0 or backoff < 0 or deadline <= 0:
            raise UsageError("RPC retries and backoff must be >= 0, the timeout and deadline > 0")
        if max_response_mb < 1 or max_json_depth < 1:
            raise UsageError("max_rpc_response_mb and max_json_depth must be >= 1")
        self.deadline, self.max_response_bytes = deadline, max_response_mb << 20
        self.max_json_depth = max_json_depth
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise UsageError(f"RPC rate limit must be > 0 requests/s, not {max_requests_per_second}")
        self.url = redact_url(url)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._https, self._host = parts.scheme == "https", parts.hostname
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": "fundtrail"}
        if parts.username is not None:
            creds = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
        self._headers.update(headers or {})
        self._limiter = RateLimiter(max_requests_per_second) if max_requests_per_second else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: set[http.client.HTTPConnection] = set()
        self.requests = 0  # HTTP requests sent (attempts included), for logging and tests

    def __repr__(self) -> str:
        return f"HttpTransport({self.url!r})"

    def request(self, payload: Payload) -> Any:
        """POST one JSON-RPC request or batch and return the parsed answer (SourceError if none)."""
        data = json.dumps(payload).encode()
        what = describe_payload(payload)
        delay, wait, last = self.backoff, 0.0, ""
        call = CallDeadline(self.deadline)
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                if wait >= call.left():
                    break
                time.sleep(wait)
            if self._limiter is not None:
                self._limiter.acquire()
            attempts += 1
            try:
                status, reason, retry_after, body = self._send(data, min(self.timeout, call.left()),
                                                               what)
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
                return self._parse(body, what)
            doc = _json_or_none(body, self.max_json_depth)
            if status not in _BUSY and is_rpc_reply(doc):
                return doc  # a node answering a JSON-RPC error with a non-200 status
            last = f"HTTP {status} {reason}: {_snippet(body)!r}"
            if status in (401, 403):
                raise SourceError(f"{self.url}: {what}: {last}",
                                  hint="check the credentials or API key in the RPC URL")
            if status != 429 and (status < 500 or status in _NO_RETRY_5XX):
                raise SourceError(f"{self.url}: {what}: {last}")
            wait = min(retry_after, _MAX_WAIT) if retry_after is not None else delay
            delay = min(delay * 2, _MAX_WAIT)
        spent = call.seconds - call.left()
        cause = "" if attempts == self.retries + 1 else f" (rpc_deadline = {self.deadline:g} s)"
        raise SourceError(f"{self.url}: {what}: gave up after {attempts} attempts in {spent:.0f} s"
                          f"{cause}: {last}", hint="is the node running and reachable?")

    def close(self) -> None:
        """Close every kept-alive connection (threads reconnect on their next request)."""
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _parse(self, body: bytes, what: str) -> Any:
        try:
            doc = loads_bounded(body, self.max_json_depth, f"{self.url}: {what}")
        except ValueError:
            raise SourceError(f"{self.url}: {what}: malformed JSON in the response: "
                              f"{_snippet(body)!r}") from None
        if not is_rpc_reply(doc):
            raise SourceError(f"{self.url}: {what}: not a JSON-RPC response: {_snippet(body)!r}")
        return doc

    def _send(self, data: bytes, seconds: float, what: str) -> tuple[int, str, float | None, bytes]:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn in self._conns:  # kept alive: the node may have closed it
            try:
                return self._roundtrip(conn, data, seconds, what)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=max(seconds, 0.001))
        self._local.conn = conn
        with self._lock:
            self._conns.add(conn)
        return self._roundtrip(conn, data, seconds, what)

    def _roundtrip(self, conn: http.client.HTTPConnection, data: bytes, seconds: float,
                   what: str) -> tuple[int, str, float | None, bytes]:
        """One exchange, ended by a watchdog after `seconds` (TimeoutError) however the node
        dribbles its answer."""
        with self._lock:
            self.requests += 1
        resp, body = post_bounded(conn, self._path, data, self._headers, seconds, self.max_response_bytes,
                                  f"{self.url}: {what}", self._drop)
        return resp.status, resp.reason, _retry_after(resp.getheader("Retry-After")), body

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._conns.discard(conn)
            conn.close()


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(body: bytes, max_depth: int) -> Any:
    try:
        return loads_bounded(body, max_depth, "")
    except (ValueError, SourceError):
        return None


def _snippet(body: bytes) -> str:
    return body[:80].decode(errors="replace").strip()
