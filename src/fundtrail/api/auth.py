"""Who is asking and whether they may: bearer tokens, roles, and a per-token rate limit.

A request names its user with `Authorization: Bearer <token>`; the workspace verifies the token
(`authenticate`, cached in memory by the access layer, so this costs microseconds after the first
request) and the user's role must allow the route's permission (`allows`, the role table of the
access layer). Each token draws from its own token bucket (`api_rate_per_second`, `api_burst`):
a runaway script is slowed with 429 + Retry-After and cannot starve other users. The verified
actor is left in the request state for the audit record.

The dependency is `async`: FastAPI runs a plain `def` dependency in its thread pool, and under load
that hop (queue, wake-up, result back to the event loop) cost more CPU than the whole address
summary. A token this server verified since the store's access stamp last changed (`ApiState.
actors`, the same rule as the access layer's cache: any user or token change drops it) is answered
on the event loop; only an unknown token, or a refresh that is due, goes to the pool.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from fundtrail.api.sessions import check_csrf_header, session_token
from fundtrail.api.state import ApiState, api_state
from fundtrail.errors import AuthError, PermissionDenied, RateLimited
from fundtrail.workspace import Actor
from fundtrail.workspace.access import ROLES, allows

bearer = HTTPBearer(auto_error=False, description="An API token (`fundtrail tokens create USER`).")


class TokenRateLimited(RateLimited):
    """RateLimited, with when the token may ask again (the Retry-After header)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def token_key(token: str) -> str:
    """The rate-limit key of a token: its digest (the token itself is never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _verify(state: ApiState, token: str, key: str) -> Actor:
    """Check `token` with the workspace (catalog on a cache miss: run in the thread pool) and
    remember the actor under the access stamp it was checked at."""
    now = state.workspace.access_stamp()
    actor = state.reader().authenticate(token, via="api")
    state.remember_actor(key, now, actor)
    return actor


def _session_actor(state: ApiState, token: str) -> Actor:
    """The actor of a browser session (checked on every request: sessions expire)."""
    return state.reader().authenticate_session(token)


async def authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    """The verified actor of `request`: a bearer token, else the workbench's session cookie (with the
    CSRF header on a state-changing request); AuthError without either."""
    state = api_state(request)
    if credentials is None or not credentials.credentials:
        session = session_token(request)
        if session is None:
            raise AuthError("this route needs an API token: send `Authorization: Bearer <token>`")
        browser = await run_in_threadpool(_session_actor, state, session)
        request.state.actor = browser
        check_csrf_header(request, session)
        wait = state.limiter.take(token_key(session))
        if wait > 0:
            raise TokenRateLimited(rate_message(state, wait), retry_after=wait)
        return browser
    token = credentials.credentials
    key = token_key(token)
    actor = None if state.refresh_due() else state.known_actor(key, state.workspace.access_stamp())
    if actor is None:
        actor = await run_in_threadpool(_verify, state, token, key)
    request.state.actor = actor
    wait = state.limiter.take(key)
    if wait > 0:
        raise TokenRateLimited(rate_message(state, wait), retry_after=wait)
    return actor


def rate_message(state: ApiState, wait: float) -> str:
    """The message of a 429: the token's limits and when to retry."""
    return (f"too many requests for this token (at most {state.settings.api_rate_per_second}"
            f"/s, bursts of {state.settings.api_burst}); retry in {wait:.1f} s")


def require(permission: str) -> Callable[..., Awaitable[Actor]]:
    """A route dependency: the caller's actor, whose role must allow `permission`."""

    async def dependency(request: Request,
                         credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Actor:
        actor = await authenticated(request, credentials)
        if actor.role is None or actor.role not in ROLES or not allows(actor.role, permission):
            raise PermissionDenied(f"user {actor.user} (role {actor.role or 'none'}) may not {permission}: "
                                   "ask an admin for a role that allows it")
        return actor

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return dependency


async def actor_for_audit(request: Request) -> Actor | None:
    """The actor of a request no route authenticated (an unknown route, a rejected body): the
    token or session is verified for the audit record only; an invalid one gives None (`-`)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        session = session_token(request)
        if session is None:
            return None
        try:
            return await run_in_threadpool(api_state(request).workspace.authenticate_session, session)
        except AuthError:
            return None
    try:
        actor = await run_in_threadpool(api_state(request).workspace.authenticate, token.strip(), via="api")
    except AuthError:
        return None
    return actor
