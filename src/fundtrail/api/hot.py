"""The API's most frequent call answered without the framework: `GET /api/v1/{chain}/addresses/{address}`.

Profiling the server under 32 connections showed the address summary costs 0.4 ms but a request
about 1.5 ms: the rest is Starlette's and FastAPI's layers, routing and dependency solving. When a
request is the plain case of that route (no query string, a chain known since the last refresh, a
bearer token this server verified at the current access stamp, a role that may read), `answer`
does what the route and its dependencies would: it takes the token's rate, calls
`Workspace.address` and renders the same JSON (or the same error document for a
`FundtrailError`). A refresh that falls due is started in the background and this request answered
from the state as it is. Anything else (an unknown token, synchronous refreshes, a 422 to report,
...) returns None and goes through the app, so every unusual case keeps exactly one
implementation. The summary and its JSON are made on the event loop (0.3-0.4 ms, in memory after
`warm()`: a trip to a pool thread cost more in handing over the interpreter lock than the work
itself), and its audit record is written by the server's committer thread together with the other
requests waiting (`audit_queue`); the record is on disk before the response leaves, as for every
request.
The route stays declared in `routes_lookup` (OpenAPI, and the path taken when this one declines);
the audit record sees the same route template, path parameters and actor.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.routing import BaseRoute
from starlette.types import Message, Scope

from fundtrail.api.auditing import record_queued
from fundtrail.api.auth import TokenRateLimited, rate_message, token_key
from fundtrail.api.errors import from_error, validation_response
from fundtrail.api.render import json_of
from fundtrail.api.state import ApiState
from fundtrail.errors import FundtrailError
from fundtrail.workspace import Actor
from fundtrail.workspace.access import ROLES, allows

PREFIX = "/api/v1/"
TEMPLATE = "/api/v1/{chain}/addresses/{address}"
MAX_CHAIN = 64  # `params.ChainName`'s max_length: a longer one is the app's 422


def _bearer(scope: Scope) -> str | None:
    """The token of the first Authorization header, read as FastAPI's `HTTPBearer` reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


class HotAddress:
    """The fast path of the address summary (see the module docstring)."""

    def __init__(self, router: APIRouter, state: ApiState) -> None:
        self.state = state
        self.route: BaseRoute | None = None
        for route in router.routes:  # the route object the app puts in the scope (the audit names it)
            if getattr(route, "path", None) == TEMPLATE and "GET" in (getattr(route, "methods", None) or ()):
                self.route = route
                break

    async def answer(self, scope: Scope) -> tuple[Message, bytes] | None:
        """The response to `scope`, its record on disk (`auditing.record_queued`), or None when the app
        must answer it."""
        if scope["method"] != "GET" or scope["query_string"] or scope.get("root_path") or self.route is None:
            return None
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            return None
        parts = path[len(PREFIX):].split("/")
        if len(parts) != 3 or parts[1] != "addresses" or not parts[0] or not parts[2] or len(parts[0]) > MAX_CHAIN:
            return None
        chain, address = parts[0], parts[2]
        state = self.state
        if (state.refresh_due() and not state.refresh_in_background()) or not state.is_known_chain(chain):
            return None
        token = _bearer(scope)
        if token is None:
            return None
        key = token_key(token)
        cached = state.cached_actor(key)  # its access stamp is checked by `_serve`
        if cached is None:
            return None
        stamp, actor = cached
        if actor.role is None or actor.role not in ROLES or not allows(actor.role, "read"):
            return None
        scope["route"] = self.route
        scope["path_params"] = {"chain": chain, "address": address}
        scope["state"]["actor"] = actor
        done = self._serve(scope, actor, chain, address, state.limiter.take(key), stamp)
        if done is None:  # users or tokens changed since the token was verified: the app checks it again
            for name in ("route", "path_params"):
                scope.pop(name, None)
            scope["state"].pop("actor", None)
            return None
        return await record_queued(state, scope, actor, *done)

    def _serve(self, scope: Scope, actor: Actor, chain: str, address: str, wait: float,
               stamp: object) -> tuple[Message, bytes] | None:
        """The summary's response, or None, with nothing done, when the access stamp is no longer
        the one the token was verified at."""
        if self.state.workspace.access_stamp() != stamp:
            return None
        try:
            if wait > 0:
                raise TokenRateLimited(rate_message(self.state, wait), retry_after=wait)
            response = json_of(self.state.workspace.address(address, chain=chain))
        except FundtrailError as exc:
            response = from_error(exc)
        except ValidationError as exc:
            response = validation_response(exc.errors())
        start = {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
        return start, bytes(response.body)
