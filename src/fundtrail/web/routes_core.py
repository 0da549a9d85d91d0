"""The workbench's own routes: log in and out, the language switch, the home page, search, files.

Login is a form post (user name, password, CSRF token bound to the login nonce cookie); a success
sets the session cookie and returns to the page first asked for. Every state-changing form
(log in, log out, language) carries a CSRF token; a forged post is refused with 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from fundtrail.api.sessions import LOGIN_COOKIE, csrf_ok, csrf_token, session_token
from fundtrail.api.state import api_state
from fundtrail.errors import AuthError, PermissionDenied, RateLimited, UsageError
from fundtrail.web import assets, i18n
from fundtrail.web.pages import WebRoute, base_context, language, open_view, page_link, render, safe_next
from fundtrail.web.session import (clear_session_cookie, is_secure, login_nonce, session_actor, set_login_cookie,
                                   set_session_cookie)
from fundtrail.workspace import Actor
from fundtrail.workspace.access import allows

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _login_form(request: Request, *, next_path: str, error: str | None = None, status: int = 200,
                username: str = "") -> Response:
    nonce, fresh = login_nonce(request)
    context = base_context(request, language(request), None, csrf_token(nonce))
    response = render("login.html", {**context, "next": next_path, "error": error, "username": username}, status)
    if fresh:
        set_login_cookie(response, request, nonce)
    return response


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The login form (a logged-in user goes straight on)."""
    request.scope.setdefault("state", {})["via"] = "web"
    if await session_actor(request, api_state(request)) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_path=safe_next(next))


@router.post("/login")
async def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "",
                next: Annotated[str, Form()] = "/") -> Response:
    """Check the password; on success set the session cookie and go on to `next`."""
    state = api_state(request)
    request.scope.setdefault("state", {})["audit_fields"] = {"username": username}
    lang = language(request)
    target = safe_next(next)
    if not csrf_ok(request.cookies.get(LOGIN_COOKIE), csrf_token_field):
        expired = i18n.translate(lang, "The form expired or came from another site. Please log in again.")
        return _login_form(request, next_path=target, status=403, username=username, error=expired)
    limiter = state.web_login_limiter
    client = request.client.host if request.client else "-"
    keys = (f"user:{username.lower()}", f"ip:{client}")
    wait = limiter.wait(*keys)
    if wait:
        return _login_form(request, next_path=target, status=429, username=username,
                           error=i18n.translate(lang, "Too many failed logins. Try again in {seconds} s.",
                                                seconds=wait))
    try:
        with state.writer(Actor(user=username or "-", via="web")) as ws:
            created = await state.run(ws.login, username, password)
            await state.run(ws.sessions_purge)  # sessions ended over a day ago leave the catalog
    except (AuthError, PermissionDenied, RateLimited):
        limiter.failed(*keys)
        return _login_form(request, next_path=target, status=401, username=username,
                           error=i18n.translate(lang, "Wrong user name or password."))
    limiter.succeeded(keys[0])
    request.state.actor = Actor(user=created.user, role=created.role, via="web")
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, created.token, state.settings.web_session_hours * 3600)
    response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(request: Request, csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
    """End the session (revoked on the server, cookie cleared)."""
    state = api_state(request)
    request.scope.setdefault("state", {})["via"] = "web"
    token = session_token(request)
    found = await session_actor(request, state)
    if token is None or found is None:
        response = RedirectResponse("/login", status_code=303)
        clear_session_cookie(response, request)
        return response
    request.state.actor = found[0]
    if not csrf_ok(token, csrf_token_field):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again", field="csrf_token")
    with state.writer(found[0]) as ws:
        await state.run(ws.logout, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.post("/lang")
async def switch_language(request: Request, lang: Annotated[str, Form()] = "en",
                          csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "",
                          next: Annotated[str, Form()] = "/") -> Response:
    """Switch the language (a cookie for a year); the CSRF token is the session's or the login form's."""
    request.scope.setdefault("state", {})["via"] = "web"
    secret = session_token(request) or request.cookies.get(LOGIN_COOKIE)
    if not csrf_ok(secret, csrf_token_field):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again", field="csrf_token")
    if lang not in i18n.LANGUAGES:
        raise UsageError(f"lang {lang!r} is not a language of the workbench ({', '.join(i18n.LANGUAGES)})",
                         field="lang")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, path="/", httponly=True, samesite="strict",
                        secure=is_secure(request))
    return response


@router.get("/")
async def home(request: Request) -> Response:
    """The start page: the search box and the store's chains. Roles that may not read chain data
    start elsewhere: the auditor at the audit log, the admin at the users page."""
    found = await session_actor(request, api_state(request))
    role = found[0].role if found else None
    if role is not None and not allows(role, "read"):
        return RedirectResponse("/audit" if allows(role, "audit.read") else "/users", status_code=303)
    view = await open_view(request, "read")
    status = await view.run(lambda: view.workspace.status())
    return view.page("home.html", {"status": status})


async def _search(request: Request, q: str, twin: bool) -> Response:
    view = await open_view(request, "read", twin=twin)
    result = await view.run(lambda: view.workspace.search(q, limit=50))
    pages = [h for h in result.hits if h.kind in {"address", "transaction", "output", "cluster"}]
    if not view.twin and len(pages) == 1 and all(h.kind in {"tag", "actor"} for h in result.hits if h is not pages[0]):
        # one thing with a page (its tags found beside it): open it
        return RedirectResponse(page_link(pages[0].kind, pages[0].chain, pages[0].text), status_code=303)
    return view.page("search.html", {"search": result})


@router.get("/search")
async def search(request: Request, q: str = "") -> Response:
    """Any string -> what it is; one hit of an address, transaction or cluster opens its page."""
    return await _search(request, q, False)


@router.get("/search.json")
async def search_twin(request: Request, q: str = "") -> Response:
    """The search page's JSON twin (`{"search": SearchResult}`)."""
    return await _search(request, q, True)


@router.get("/static/{name:path}")
async def static(name: str) -> Response:
    """Our own CSS, scripts and images."""
    path = assets.static_file(name)
    if path is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=assets.media_type(path))


@router.get("/vendor/{name}")
async def vendor(name: str) -> Response:
    """A front-end library installed from the npm registry (only the files `assets.VENDOR` names)."""
    path = assets.vendor_file(name)
    if path is None:
        return Response(f"{name} is not installed: run `make demo` or `npm ci` in the checkout",
                        status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=assets.media_type(path))
