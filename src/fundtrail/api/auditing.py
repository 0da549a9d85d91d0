"""The audit record of every request, written before the response leaves the server.

Every request, refused ones included (401, 403, 404, 413, 422, 429), gets one record: the user
(`-` when no valid token came), via `api`, the action `METHOD /route/{template}`, the subjects asked
about (path parameters naming addresses, txids, clusters and tokens, and query or body fields
naming addresses, txids, seeds, `a`/`b`, `from`/`to`, `q`, screening inputs), the other parameters
(never a credential), the response size in bytes, the outcome (`ok` or the error code) and the
HTTP status. The response is held until the record is on disk; when it cannot be written the
client gets 503 `audit_unavailable` instead of the data: an answer the log does not show must not
leave. Unexpected exceptions are turned into a 500 here too, so they are audited like the rest.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundtrail.api.auth import actor_for_audit
from fundtrail.api.errors import error_response, internal_response
from fundtrail.api.state import ApiState
from fundtrail.workspace import Actor
from fundtrail.workspace.access import AuditEntry

log = logging.getLogger("fundtrail.api")

#: Request fields whose values are what was asked about (the audit record's subjects).
SUBJECT_FIELDS = frozenset({"address", "addresses", "txid", "id", "seed", "seeds", "a", "b", "from", "to",
                            "q", "inputs", "target", "ref"})
#: Fields never recorded, whatever their value (the access layer also scrubs secret-like names).
SECRET_FIELDS = frozenset({"token", "authorization", "password", "secret"})
_BODY_KEYS = ("address", "seed", "txid", "input", "target")


def _subject_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for item in value:
            if isinstance(item, dict):
                out += [str(item[k]) for k in _BODY_KEYS if isinstance(item.get(k), str)][:1]
            elif isinstance(item, (list, tuple)) and item:
                out.append(str(item[0]))
            elif item is not None:
                out.append(str(item))
        return out
    return [] if value is None else [str(value)]


def split_fields(fields: dict[str, Any], subjects: list[str], params: dict[str, Any]) -> None:
    """Sort request fields into subjects and params (secrets dropped)."""
    for key, value in fields.items():
        if key.lower() in SECRET_FIELDS:
            continue
        if key in SUBJECT_FIELDS:
            subjects.extend(_subject_values(value))
        else:
            params[key] = value


def _json_body(body: bytes, content_type: str) -> dict[str, Any]:
    if not body or "json" not in content_type:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {"body": data}


class AuditMiddleware:
    """ASGI middleware: run the app, hold its response, append the record, then send."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        body = bytearray()

        async def recorded() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        start: Message | None = None
        chunks: list[bytes] = []

        async def held(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, recorded, held)
        except Exception:  # a bug: logged with the route, never the body; the client gets a 500
            log.exception("unexpected error in %s %s", scope.get("method"), _template(scope))
            start, chunks = await _capture(internal_response(), scope)
        if start is None:  # the app sent nothing (a bug); answer rather than hang
            start, chunks = await _capture(internal_response(), scope)
        payload = b"".join(chunks)
        try:
            entry = await self._entry(scope, bytes(body), start, payload)
            await self.state.run(self.state.workspace.audit_append, entry)
        except Exception:
            log.exception("audit record of %s %s could not be written", scope.get("method"), _template(scope))
            start, chunks = await _capture(error_response(
                503, "audit_unavailable", "the audit log cannot be written, so the request was refused; "
                "tell the administrator"), scope)
            payload = b"".join(chunks)
        await send(start)
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    async def _entry(self, scope: Scope, body: bytes, start: Message, payload: bytes) -> AuditEntry:
        request = Request(scope)
        state = scope["state"]
        actor = state.get("actor")
        if not isinstance(actor, Actor):
            actor = await actor_for_audit(request)
        status = int(start["status"])
        subjects: list[str] = []
        params: dict[str, Any] = {}
        split_fields(dict(scope.get("path_params") or {}), subjects, params)
        query: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        split_fields({k: v[0] if len(v) == 1 else v for k, v in query.items()}, subjects, params)
        if "audit_fields" in state:  # set by a route that parsed its body itself (a CSV upload)
            split_fields(state["audit_fields"], subjects, params)
        else:
            split_fields(_json_body(body, request.headers.get("content-type", "")), subjects, params)
        if scope.get("route") is None:
            params["path"] = scope.get("path", "")
        return AuditEntry(user=actor.user if actor else "-", role=actor.role if actor else None, via="api",
                          action=f"{scope.get('method', '?')} {_template(scope)}",
                          subjects=list(dict.fromkeys(subjects)), params=params, result_size=len(payload),
                          result_unit="bytes", outcome=_outcome(status, start, payload), status=status)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "(no route)"


def _outcome(status: int, start: Message, payload: bytes) -> str:
    if status < 400:
        return "ok"
    headers = dict(start.get("headers", []))
    if b"json" in headers.get(b"content-type", b""):
        try:
            code = json.loads(payload)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if isinstance(code, str):
            return code
    return f"http_{status}"


async def _capture(response: Any, scope: Scope) -> tuple[Message, list[bytes]]:
    """The messages a response would send (to hold them like the app's own)."""
    messages: list[Message] = []

    async def collect(message: Message) -> None:
        messages.append(message)

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, nothing, collect)
    start = next(m for m in messages if m["type"] == "http.response.start")
    return start, [m.get("body", b"") for m in messages if m["type"] == "http.response.body"]
