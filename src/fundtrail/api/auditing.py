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
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fundtrail.api.auth import actor_for_audit
from fundtrail.api.docs import HEADER_NAMES, HEADERS
from fundtrail.api.errors import error_response, internal_response
from fundtrail.api.limits import declared_too_large, is_upload, too_large_message
from fundtrail.api.state import ApiState
from fundtrail.workspace import Actor
from fundtrail.workspace.access import AuditEntry

if TYPE_CHECKING:  # hot records through `record` here
    from fundtrail.api.hot import HotAddress

log = logging.getLogger("fundtrail.api")

#: Request fields whose values are what was asked about (the audit record's subjects).
SUBJECT_FIELDS = frozenset({"address", "addresses", "txid", "id", "seed", "seeds", "a", "b", "from", "to",
                            "q", "inputs", "target", "ref", "case", "trace", "attachment"})
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


class Edge:
    """The one ASGI middleware of the app, in what used to be three layers (each layer cost an
    await and closures per request): the body size limit (`limits`), the audit record (run the app,
    hold its response, append the record, then send) and the security headers added to whatever
    leaves (errors and the audit 503 included). The hot address route is answered by `hot` when it
    can, else by the app."""

    def __init__(self, app: ASGIApp, state: ApiState, max_bytes: int, hot: HotAddress | None = None,
                 max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.state = state
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes
        self.hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        body = bytearray()
        upload = is_upload(scope)  # a file: a larger limit, and its bytes are not kept for the record
        max_bytes, setting = ((self.max_upload_bytes, "api_max_upload_mb") if upload
                              else (self.max_bytes, "api_max_body_mb"))
        seen = 0

        async def recorded() -> Message:  # what the audit keeps, counted against the limit
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if not upload:
                    body.extend(chunk)
                if seen > max_bytes:
                    raise HTTPException(413, detail=too_large_message(max_bytes, setting))
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
            early = declared_too_large(scope, max_bytes, setting)
            if early is None and self.hot is not None:
                done = await self.hot.answer(scope)  # answered and recorded, or None
                if done is not None:
                    await _send(send, *done)
                    return
            if early is not None:
                start, chunks = _messages(early)
            else:
                await self.app(scope, recorded, held)
        except Exception:  # a bug: logged with the route, never the body; the client gets a 500
            log.exception("unexpected error in %s %s", scope.get("method"), _template(scope))
            start, chunks = _messages(internal_response())
        if start is None:  # the app sent nothing (a bug); answer rather than hang
            start, chunks = _messages(internal_response())
        payload = b"".join(chunks)
        actor = scope["state"].get("actor")
        try:
            if not isinstance(actor, Actor):
                actor = await actor_for_audit(Request(scope))
        except Exception:
            log.exception("audit record of %s %s could not be written", scope.get("method"), _template(scope))
            await _send(send, *_refused())
            return
        await _send(send, *await self.state.run(record, self.state, scope, actor, bytes(body), start, payload))


async def _send(send: Send, start: Message, payload: bytes) -> None:
    """Send a held response, with the security headers (replacing any of the same name)."""
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in HEADER_NAMES]
    await send({**start, "headers": headers + HEADERS})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


def record(state: ApiState, scope: Scope, actor: Actor | None, body: bytes, start: Message,
           payload: bytes) -> tuple[Message, bytes]:
    """Append the record of a request (blocking: in the pool) and return what may leave: the
    response, or 503 `audit_unavailable` when the record could not be written."""
    try:
        state.workspace.audit_append(entry_of(scope, actor, body, start, payload))
    except Exception:
        log.exception("audit record of %s %s could not be written", scope.get("method"), _template(scope))
        return _refused()
    return start, payload


async def record_queued(state: ApiState, scope: Scope, actor: Actor, start: Message,
                        payload: bytes) -> tuple[Message, bytes]:
    """`record` for a bodiless request answered on the event loop: the record is made here and
    written by the server's committer thread with the others waiting (`audit_queue`)."""
    try:
        await state.audit.append(entry_of(scope, actor, b"", start, payload))
    except Exception:
        log.exception("audit record of %s %s could not be written", scope.get("method"), _template(scope))
        return _refused()
    return start, payload


def _refused() -> tuple[Message, bytes]:
    start, chunks = _messages(error_response(
        503, "audit_unavailable", "the audit log cannot be written, so the request was refused; "
        "tell the administrator"))
    return start, b"".join(chunks)


def entry_of(scope: Scope, actor: Actor | None, body: bytes, start: Message, payload: bytes) -> AuditEntry:
    """The audit record of a request and its held response."""
    state = scope["state"]
    status = int(start["status"])
    subjects: list[str] = []
    params: dict[str, Any] = {}
    split_fields(dict(scope.get("path_params") or {}), subjects, params)
    if scope.get("query_string"):
        query: dict[str, Any] = {}
        for key, value in Request(scope).query_params.multi_items():
            query.setdefault(key, []).append(value)
        split_fields({k: v[0] if len(v) == 1 else v for k, v in query.items()}, subjects, params)
    if "audit_fields" in state:  # set by a route that parsed its body itself (a CSV upload)
        split_fields(state["audit_fields"], subjects, params)
    elif body:
        split_fields(_json_body(body, Request(scope).headers.get("content-type", "")), subjects, params)
    if scope.get("route") is None:
        params["path"] = scope.get("path", "")
    via = actor.via if actor else state.get("via", "api")  # "web" for the workbench's pages and session
    return AuditEntry(user=actor.user if actor else "-", role=actor.role if actor else None, via=via,
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


def _messages(response: Response) -> tuple[Message, list[bytes]]:
    """What `response` would send (a plain Response: one start, one body), to hold like the app's own."""
    return ({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers},
            [bytes(response.body)])
