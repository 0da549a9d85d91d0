"""Browser sessions on the API: the session cookie and its CSRF token.

The web workbench logs a user in with a password (`Workspace.login`) and keeps the session token in
a cookie (`HttpOnly`, `SameSite=Strict`, `Secure` under TLS): the page's script never sees it. The
same cookie authenticates the workbench's calls to `/api/v1` (the graph canvas fetches JSON), so
the API accepts either a bearer token or a session cookie. A cookie is sent by the browser on its
own, so every state-changing request made with one must also carry the CSRF token: an HMAC of the
session token, which a page of this origin is given and a page of another origin cannot compute
(it cannot read the cookie). Nothing is stored for CSRF; the token is checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from fundtrail.errors import PermissionDenied

SESSION_COOKIE = "ft_session"
#: The cookie of a not-yet-logged-in browser: a random nonce the login form's CSRF token is bound to.
LOGIN_COOKIE = "ft_login"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(secret: str) -> str:
    """The CSRF token bound to `secret` (a session token or a login nonce)."""
    return hmac.new(secret.encode(), b"fundtrail-csrf-v1", hashlib.sha256).hexdigest()


def csrf_ok(secret: str | None, offered: str | None) -> bool:
    """Whether `offered` is the CSRF token of `secret` (constant time)."""
    if not secret or not offered:
        return False
    return hmac.compare_digest(csrf_token(secret), offered)


def session_token(request: Request) -> str | None:
    """The session cookie of `request`, if any."""
    value = request.cookies.get(SESSION_COOKIE)
    return value or None


def check_csrf_header(request: Request, secret: str) -> None:
    """PermissionDenied (403) when a state-changing request made with a cookie lacks the header."""
    if request.method in SAFE_METHODS:
        return
    if not csrf_ok(secret, request.headers.get(CSRF_HEADER)):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again",
                               field="csrf_token")
