"""Who is using the workbench: the session cookie, the login form's CSRF nonce, failed-login limits.

A page asked for without a valid session redirects to `/login?next=<page>` (its JSON twin answers
401 instead). Failed logins are counted per user name and per client address in a sliding minute
(`web_login_per_minute`); beyond it the form refuses without checking the password, so guessing
is slow and a locked-out name does not reveal whether it exists. The counts live in the server
process (each `--workers` process counts its own, as the API's rate limit does).
"""

from __future__ import annotations

import collections
import math
import secrets
import threading
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fundtrail.api.sessions import LOGIN_COOKIE, SESSION_COOKIE, session_token
from fundtrail.api.state import ApiState
from fundtrail.errors import AuthError
from fundtrail.workspace import Actor

LOGIN_NONCE_SECONDS = 3600


class LoginRequired(Exception):
    """The request needs a logged-in user (redirect to the login page, or 401 for a JSON twin)."""


async def session_actor(request: Request, state: ApiState) -> tuple[Actor, str] | None:
    """The actor and session token of the request's cookie, None when there is no valid session."""
    token = session_token(request)
    if token is None:
        return None
    try:
        actor = await run_in_threadpool(lambda: state.reader().authenticate_session(token))
    except AuthError:
        return None
    return actor, token


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over TLS (cookies then carry `Secure`)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    """The session cookie: never readable by script, never sent by another site's request."""
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=is_secure(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    """Forget the session in the browser (the server revokes it separately)."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_secure(request))


def login_nonce(request: Request) -> tuple[str, bool]:
    """The login form's nonce (the CSRF token is bound to it) and whether it must be set as a cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE)
    if nonce and 20 <= len(nonce) <= 100:
        return nonce, False
    return secrets.token_urlsafe(24), True


def set_login_cookie(response: Response, request: Request, nonce: str) -> None:
    """The cookie carrying the login form's nonce (an hour; no session yet)."""
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=LOGIN_NONCE_SECONDS, path="/", httponly=True,
                        samesite="strict", secure=is_secure(request))


class LoginLimiter:
    """Failed logins per key (user name, client address) within the last minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        window = self._failures.setdefault(key, collections.deque())
        while window and now - window[0] >= 60:
            window.popleft()
        return window

    def wait(self, *keys: str) -> int:
        """Seconds until any of `keys` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = [60 - (now - w[0]) for w in (self._recent(k, now) for k in keys) if len(w) >= self.per_minute]
        return math.ceil(max(waits)) if waits else 0

    def failed(self, *keys: str) -> None:
        """Count a failed login against each of `keys`."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded: a flood of names must not grow memory forever
                self._failures.clear()
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        """A successful login clears the user name's count (not the address's)."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
