"""Bounded reading of a node's HTTP answers, shared by the Bitcoin and Ethereum RPC clients.

A node is an untrusted source: it may answer slowly, drip one byte every few seconds, send an
endless or enormous body, or nest JSON deeper than Python's parser can recurse. Every exchange is
therefore bounded, each bound a setting (docs/cli.md, "Resource limits"):

- `rpc_timeout`: seconds one HTTP exchange may take in total (connect, headers, body). A watchdog
  shuts the socket at the deadline, so a dripping node cannot keep a read alive byte by byte.
- `rpc_deadline`: seconds one call may take including its retries and their waits (the client
  loops use `CallDeadline`).
- `max_rpc_response_mb`: the body is read in chunks and refused as soon as it exceeds the cap (a
  declared Content-Length over it is refused before reading).
- `max_json_depth`: nesting is measured before parsing, outside string literals.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from fundtrail.errors import SourceError

_CHUNK = 1 << 16
_STEP = bytes(1 if c in b"[{" else 255 if c in b"]}" else 0 for c in range(256))  # as int8: +1/-1


class TooLarge(SourceError):
    """The answer is over `max_rpc_response_mb`: not retried, it would be as large again."""


class Watchdog:
    """Shuts `conn`'s socket when `seconds` have passed, ending any blocking read."""

    def __init__(self, conn: http.client.HTTPConnection, seconds: float) -> None:
        self.conn, self.fired = conn, False
        self._timer = threading.Timer(max(seconds, 0.001), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class RateLimiter:
    """Spaces requests 1/rate apart across all threads: a token bucket holding a single token (a burst
    of one keeps concurrent workers from tripping a provider's per-second limit at start)."""

    def __init__(self, rate: float) -> None:
        self._interval, self._next = 1.0 / rate, 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


class CallDeadline:
    """The time left for one call (all its attempts and waits): `rpc_deadline`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.left() <= 0


def post_bounded(conn: http.client.HTTPConnection, path: str, data: bytes, headers: dict[str, str],
                 seconds: float, max_bytes: int, what: str, drop: Callable[[], None]
                 ) -> tuple[http.client.HTTPResponse, bytes]:
    """One POST whose whole exchange ends within `seconds` (a watchdog shuts a dripping socket)
    and whose answer is read with the size cap; `drop` discards the connection when it cannot be
    reused (an answer refused as too large, or one the server closes). TimeoutError on the deadline."""
    conn.timeout = max(seconds, 0.001)
    if conn.sock is not None:
        conn.sock.settimeout(conn.timeout)
    with Watchdog(conn, seconds) as dog:
        try:
            conn.request("POST", path, body=data, headers=headers)
            resp = conn.getresponse()
            body = read_body(resp, max_bytes, what)
        except TooLarge:
            drop()
            raise
        except (OSError, http.client.HTTPException):
            if dog.fired:
                raise TimeoutError from None
            raise
    if dog.fired:  # the shut socket may read as a clean end of a truncated answer
        raise TimeoutError
    if resp.will_close:
        drop()
    return resp, body


def read_body(resp: http.client.HTTPResponse, max_bytes: int, what: str) -> bytes:
    """The response body, refused with `TooLarge` once it exceeds `max_bytes`."""
    declared = resp.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"{what}: the node's answer declares {int(declared):,} bytes, over "
                       f"max_rpc_response_mb = {max_bytes >> 20}",
                       hint="raise max_rpc_response_mb (FUNDTRAIL_MAX_RPC_RESPONSE_MB) if this node "
                            "is trusted")
    parts, size = [], 0
    while True:
        chunk = resp.read1(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{what}: the node's answer exceeds max_rpc_response_mb = "
                           f"{max_bytes >> 20} ({size:,} bytes read so far)",
                           hint="raise max_rpc_response_mb (FUNDTRAIL_MAX_RPC_RESPONSE_MB) if this "
                                "node is trusted")
        parts.append(chunk)
        if resp.length == 0:
            break
    resp.read()  # b"" now; marks the response done so the kept-alive connection can be reused
    return b"".join(parts)


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings ignored).

    Vectorised over the positions of quotes, backslashes and brackets only, so a large answer
    costs a few passes of NumPy rather than a Python loop or a backtracking regex."""
    arr = np.frombuffer(body, dtype=np.uint8)
    step = np.frombuffer(body.translate(_STEP), dtype=np.int8)
    brackets = np.flatnonzero(step)
    if not brackets.size:
        return 0
    quotes = np.flatnonzero(arr == 34)
    slashes = np.flatnonzero(arr == 92)
    if quotes.size and slashes.size:  # a quote after an odd run of backslashes is escaped
        run_first = np.ones(slashes.size, dtype=bool)
        run_first[1:] = np.diff(slashes) != 1
        run_start = np.maximum.accumulate(np.where(run_first, np.arange(slashes.size), 0))
        k = np.minimum(np.searchsorted(slashes, quotes - 1), slashes.size - 1)
        escaped = (slashes[k] == quotes - 1) & ((k - run_start[k]) % 2 == 0)
        quotes = quotes[~escaped]
    outside = np.searchsorted(quotes, brackets) % 2 == 0
    steps = step[brackets[outside]]
    return int(np.cumsum(steps, dtype=np.int64).max()) if steps.size else 0


def loads_bounded(body: bytes, max_depth: int, what: str,
                  parse_float: Callable[[str], Any] | None = None) -> Any:
    """`json.loads` of a node's answer, refusing nesting deeper than `max_depth` in one line.

    Raises ValueError for text that is not JSON (the callers word that themselves)."""
    brackets = body.count(b"[") + body.count(b"{")
    depth = json_depth(body) if brackets > max_depth else brackets  # fewer cannot nest deeper
    if depth > max_depth:
        raise SourceError(f"{what}: the node's answer nests {depth} levels deep, over "
                          f"max_json_depth = {max_depth}")
    try:
        return json.loads(body, parse_float=parse_float)
    except RecursionError:
        raise SourceError(f"{what}: the node's answer nests {depth} levels deep, more than the "
                          f"JSON parser can follow (max_json_depth = {max_depth})",
                          hint="lower max_json_depth") from None
