"""A JSON-RPC 1.0 client for bitcoind: Basic auth (cookie re-read on each call), batching, retries.

Every exchange is bounded (`ingest/rpchttp.py`): total time per request (`rpc_timeout`) and per
call with its retries (`rpc_deadline`), answer size (`max_rpc_response_mb`), JSON nesting
(`max_json_depth`). The URL kept for messages and provenance carries no credentials.
"""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.rpchttp import CallDeadline, loads_bounded, post_bounded

_AUTH_HINT = "check --rpc-cookie or --rpc-user/--rpc-password"
_MAX_BACKOFF = 30.0


class RpcError(SourceError):
    """The node answered a call with a JSON-RPC error (unknown block, bad parameter, ...)."""

    def __init__(self, message: str, *, code: int | None, rpc_message: str) -> None:
        super().__init__(message)
        # the node's code: `code` is FundtrailError's ("source_failed"), which the CLI and API report
        self.rpc_code = code
        self.rpc_message = rpc_message


def _describe(method: str, params: Sequence[Any]) -> str:
    """`method p1 p2` for messages, long parameters kept whole (they are block hashes)."""
    return " ".join([method, *(str(p) for p in params)])


class RpcClient:
    """A JSON-RPC 1.0 client for bitcoind: Basic auth, batching, retries on transient failures."""

    def __init__(
        self, url: str, *, cookie_file: Path | None = None, user: str | None = None,
        password: str | None = None, timeout: float = 60, retries: int = 3, backoff: float = 0.5,
        deadline: float = 600, max_response_mb: int = 512, max_json_depth: int = 2500,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"bad RPC URL {url!r}: expected http://host:port")
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"bad port in RPC URL {parts.hostname}") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = f"{host}:{port}" if port else host
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", "***" if parts.query else "",
                               ""))  # for messages and provenance: no credentials, no query
        if cookie_file is not None and (user is not None or password is not None):
            raise UsageError("give either an RPC cookie file or an RPC user and password, not both")
        if (user is None) != (password is None):
            raise UsageError("an RPC user needs a password and a password needs a user")
        if parts.username is not None:
            if cookie_file is not None or user is not None:
                raise UsageError("the RPC URL carries credentials; give no cookie or user as well")
            user, password = unquote(parts.username), unquote(parts.password or "")
        self._cookie_file = cookie_file
        self._static_auth = _basic(user, password or "") if user is not None else None
        if retries < 0 or timeout <= 0 or deadline <= 0:
            raise UsageError("RPC retries must be >= 0, the timeout and deadline > 0")
        if max_response_mb < 1 or max_json_depth < 1:
            raise UsageError("max_rpc_response_mb and max_json_depth must be >= 1")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.deadline, self.max_response_bytes = deadline, max_response_mb << 20
        self.max_json_depth = max_json_depth
        self._conn: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)
        self.requests = 0  # HTTP requests sent, for logging and tests

    def __repr__(self) -> str:
        return f"RpcClient({self.url!r})"

    def __str__(self) -> str:
        return self.url

    def call(self, method: str, *params: Any) -> Any:
        """Call one method and return its result; a node error raises RpcError."""
        return self._exchange([(method, params)], single=True)[0]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send many calls in one HTTP request (far fewer round trips); results in call order."""
        return self._exchange(calls, single=False) if calls else []

    def _exchange(self, calls: Sequence[tuple[str, Sequence[Any]]], single: bool) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = [{"jsonrpc": "1.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in zip(ids, calls, strict=True)]
        what = _describe(*calls[0])
        what = what if single else f"batch of {len(calls)} starting {what}"
        doc = self._post(body[0] if single else body, what)
        if isinstance(doc, dict):  # a single answer, or a whole batch rejected
            self._result(doc, what)
            doc = [doc] if single else None
        if not isinstance(doc, list):
            raise SourceError(f"{self.url}: {what}: unexpected response {str(doc)[:80]!r}")
        by_id = {item.get("id"): item for item in doc
                 if isinstance(item, dict) and isinstance(item.get("id"), (int, str))}
        results = []
        for i, (method, params) in zip(ids, calls, strict=True):
            if i not in by_id:
                raise SourceError(f"{self.url}: {_describe(method, params)}: no answer from node")
            results.append(self._result(by_id[i], _describe(method, params)))
        return results

    def close(self) -> None:
        """Close the kept-alive connection (a later call reopens it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _result(self, doc: Any, what: str) -> Any:
        if not isinstance(doc, dict):
            raise SourceError(f"{self.url}: {what}: answer is not a JSON-RPC object: "
                              f"{str(doc)[:80]!r}")
        err = doc.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            msg = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            msg = " ".join(msg.split())
            raise RpcError(f"{self.url}: {what}: {msg} (code {code})", code=code, rpc_message=msg)
        if "result" not in doc:
            raise SourceError(f"{self.url}: {what}: response has neither result nor error")
        return doc["result"]

    def _auth_header(self, what: str) -> str | None:
        if self._cookie_file is None:
            return self._static_auth
        try:  # re-read each time: bitcoind writes a new cookie on every start
            text = self._cookie_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SourceError(f"cannot read RPC cookie file {self._cookie_file} for {what}: "
                              f"{exc.strerror or exc} (is bitcoind running?)") from None
        user, sep, password = text.partition(":")
        if not sep:
            raise SourceError(f"RPC cookie file {self._cookie_file} is not user:password")
        return _basic(user, password)

    def _post(self, payload: object, what: str) -> Any:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth = self._auth_header(what)
        if auth is not None:
            headers["Authorization"] = auth
        delay, last = self.backoff, ""
        call = CallDeadline(self.deadline)
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                if delay >= call.left():
                    break
                time.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
            attempts += 1
            try:
                status, reason, body = self._send(data, headers, min(self.timeout, call.left()), what)
            except TimeoutError:
                self.close()
                last = f"no complete answer within {self.timeout:g} s (rpc_timeout)"
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if status == 401:
                raise SourceError(f"authentication failed at {self.url} ({what}): {_AUTH_HINT}")
            if status == 403:
                raise SourceError(f"{self.url} refused {what} (HTTP 403): check rpcallowip")
            try:
                doc = loads_bounded(body, self.max_json_depth, f"{self.url}: {what}",
                                    parse_float=Decimal)
            except ValueError:
                doc = None
            if status == 200 or (status in (404, 500) and _is_rpc_reply(doc)):
                if doc is None:
                    raise SourceError(f"{self.url}: {what}: response is not JSON: "
                                      f"{body[:80].decode(errors='replace').strip()!r}")
                return doc
            last = f"HTTP {status} {reason}: {body[:80].decode(errors='replace').strip()}"
            if status < 500:
                raise SourceError(f"{self.url}: {what}: {last}")
        cause = "" if attempts == self.retries + 1 else f" (rpc_deadline = {self.deadline:g} s)"
        raise SourceError(f"cannot reach {self.url} for {what} after {attempts} attempts"
                          f"{cause}: {last}")

    def _send(self, data: bytes, headers: dict[str, str], seconds: float,
              what: str) -> tuple[int, str, bytes]:
        if self._conn is not None:  # kept alive: the node may have closed it while we were idle
            try:
                return self._roundtrip(data, headers, seconds, what)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
        https = self._scheme == "https"
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        self._conn = cls(self._host, self._port, timeout=max(seconds, 0.001))
        return self._roundtrip(data, headers, seconds, what)

    def _roundtrip(self, data: bytes, headers: dict[str, str], seconds: float,
                   what: str) -> tuple[int, str, bytes]:
        """One exchange, ended by a watchdog after `seconds` (TimeoutError) however slowly the
        node dribbles its answer; the body is read with the size cap."""
        conn = self._conn
        assert conn is not None
        self.requests += 1
        resp, body = post_bounded(conn, self._path, data, headers, seconds, self.max_response_bytes,
                                  f"{self.url}: {what}", self.close)
        return resp.status, resp.reason, body


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _is_rpc_reply(doc: Any) -> bool:
    return isinstance(doc, list) or (isinstance(doc, dict) and doc.get("error") is not None)
