"""How a workbench page is answered: who asks, in which language, as HTML or as its JSON twin.

A page route asks for a `View` (`await open_view(request, "read")`): that authenticates the session
cookie (no session: redirect to the login page, or 401 for a twin), checks the role's permission
(403 page), picks the language and time zone, and tells whether the JSON twin was asked for (the
URL ends in `.json`, or `Accept: application/json` comes first). The route then calls the service
layer through `view.run` (the server's thread pool) and answers `view.page(template, parts)`: the
HTML page, or the twin, which is `{part: the API's document}` for each part the page shows.
Errors of the service layer become an error page (or the API's error document for a twin) with the
same status the API gives. Templates escape everything they print (autoescape on).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fundtrail.api.errors import error_body, field_of
from fundtrail.api.sessions import csrf_token
from fundtrail.api.state import ApiState, api_state
from fundtrail.errors import FundtrailError, PermissionDenied
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.web import i18n
from fundtrail.web.session import LoginRequired, session_actor
from fundtrail.workspace import Actor
from fundtrail.workspace.access import allows

log = logging.getLogger("fundtrail.web")
T = TypeVar("T")
TEMPLATES = Path(__file__).resolve().parent / "templates"
TWIN_SUFFIX = ".json"

#: The permission of the alerts page (and of its badge in the navigation).
ALERTS_PERMISSION = "cases"
#: The navigation bar: (path, message id, permission needed).
NAV: tuple[tuple[str, str, str], ...] = (
    ("/", "Search", "read"),
    ("/graph", "Graph", "read"),
    ("/trace", "Trace", "trace"),
    ("/tags", "Tags and actors", "read"),
    ("/cases", "Cases", "cases"),
    ("/alerts", "Alerts", ALERTS_PERMISSION),
    ("/audit", "Audit log", "audit.read"),
    ("/users", "Users", "admin"),
)


def script_json(value: Any) -> Markup:
    """JSON for a `<script type="application/json">` element: not HTML-escaped (the browser does not
    decode entities there), but `<`, `>` and `&` written as JSON escapes so no tag can close it."""
    text = json.dumps(value, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    env.filters["tojson_script"] = script_json
    return env


def page_link(kind: str, chain: str | None, text: str) -> str:
    """The workbench page of a thing: an address, a transaction (or output), a cluster, a tag."""
    quoted = quote(str(text), safe="")
    if kind == "address":
        return f"/{chain}/addresses/{quoted}"
    if kind in {"transaction", "output", "tx"}:
        return f"/{chain}/txs/{quote(str(text).split(':')[0], safe='')}"
    if kind == "cluster":
        return f"/{chain}/clusters/{quoted}"
    return f"/tags?q={quoted}"


def native_unit(family: str, assets: list[Any] | None = None, chain: str | None = None) -> tuple[int, str]:
    """Decimals and symbol of a chain's native amounts: satoshi -> BTC; wei -> the native asset's
    symbol as the store lists it, else as the chain's configuration says (TRX in sun on TRON), else ETH."""
    if family == "utxo":
        return 8, "BTC"
    for asset in assets or []:
        if getattr(asset, "contract", None) is None and getattr(asset, "decimals", None) is not None:
            return int(asset.decimals), str(getattr(asset, "symbol", None) or "ETH")
    known = ACCOUNT_CHAINS.get(chain or "")
    return (known.native_decimals, known.native_symbol) if known is not None else (18, "ETH")


ENV = _environment()
ENV.globals.update(
    link=lambda hit: page_link(hit.kind, hit.chain, hit.text),
    address_link=lambda chain, address: page_link("address", chain, address),
    tx_link=lambda chain, txid: page_link("tx", chain, txid),
    cluster_link=lambda chain, cid: page_link("cluster", chain, cid),
    native_unit=native_unit,
)


def split_twin(value: str) -> tuple[str, bool]:
    """`("ADDR", True)` for a last path segment `ADDR.json`, else `(value, False)`."""
    if value.endswith(TWIN_SUFFIX) and len(value) > len(TWIN_SUFFIX):
        return value[: -len(TWIN_SUFFIX)], True
    return value, False


def wants_json(request: Request) -> bool:
    """True when the client prefers JSON (`Accept: application/json` before any HTML type)."""
    for part in request.headers.get("accept", "").split(","):
        kind = part.split(";")[0].strip().lower()
        if kind == "application/json":
            return True
        if kind in {"text/html", "application/xhtml+xml", "*/*"}:
            return False
    return False


def language(request: Request) -> str:
    """The request's language (switch cookie, else Accept-Language)."""
    return i18n.negotiate(request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language"))


def safe_next(value: str | None) -> str:
    """A local path to return to after login (never another site: `//host` and schemes refused)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or "\n" in value:
        return "/"
    return value


def base_context(request: Request, lang: str, actor: Actor | None, csrf: str,
                 unacked: int | None = None) -> dict[str, Any]:
    """What every template gets: translation, formatting, the user, navigation (with `unacked`,
    the user's unacknowledged alerts, as a badge on Alerts), the CSRF token."""
    fmt = i18n.Formatter(lang, i18n.zone(request.cookies.get(i18n.TZ_COOKIE)))

    def t(msgid: str, **values: Any) -> str:
        return i18n.translate(lang, msgid, **values)

    def tx_or(msgid: str, fallback: str) -> str:  # data (categories, profile texts): translated when known
        return i18n.catalogue(lang).get(msgid, fallback)

    nav = [(path, t(label)) for path, label, permission in NAV
           if actor is not None and actor.role is not None and allows(actor.role, permission)]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    js_messages = i18n.catalogue(lang)
    return {"t": t, "tx_or": tx_or, "fmt": fmt, "lang": lang, "languages": i18n.LANGUAGES, "user": actor, "nav": nav,
            "alerts_unacked": unacked or 0,
            "csrf": csrf, "here": here, "path": request.url.path, "q": request.query_params.get("q", ""),
            "js_messages": script_json(js_messages),
            "can": (lambda permission: actor is not None and actor.role is not None
                    and allows(actor.role, permission))}


def render(template: str, context: Mapping[str, Any], status: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A template rendered to an HTML response."""
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


@dataclass
class View:
    """One page request: its server state, user, session, language and whether it is a twin."""

    request: Request
    state: ApiState
    actor: Actor
    session: str
    lang: str
    twin: bool
    unacked: int | None = None  # the user's unacknowledged alerts (the navigation's badge)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """A (blocking) service-layer call, in the server's thread pool."""
        return await self.state.run(fn, *args, **kwargs)

    @property
    def workspace(self) -> Any:
        """The server's read-only workspace (refreshed when due; call inside `run`)."""
        return self.state.reader()

    def t(self, msgid: str, **values: Any) -> str:
        """A message in the page's language."""
        return i18n.translate(self.lang, msgid, **values)

    def context(self) -> dict[str, Any]:
        """The base template context of this page."""
        return base_context(self.request, self.lang, self.actor, csrf_token(self.session), self.unacked)

    def page(self, template: str, parts: Mapping[str, Any], status: int = 200, **extra: Any) -> Response:
        """The page (`template` with `parts` and `extra`), or its JSON twin: `{part: document}`."""
        if self.twin:
            return twin_of(parts, status)
        return render(template, {**self.context(), **parts, **extra}, status)


def twin_of(parts: Mapping[str, Any], status: int = 200) -> Response:
    """The JSON twin of a page: `{part: document}`, each part as the API's document."""
    doc = {key: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
           for key, value in parts.items()}
    return Response(json.dumps(doc, ensure_ascii=False), status_code=status, media_type="application/json")


async def open_view(request: Request, permission: str, *, twin: bool = False) -> View:
    """The view of a page needing `permission`: LoginRequired without a session, PermissionDenied
    for a role without it. `twin` is True when the route saw a `.json` URL."""
    twin = twin or wants_json(request)
    request.scope.setdefault("state", {})["via"] = "web"
    request.state.twin = twin
    state = api_state(request)
    found = await session_actor(request, state)
    if found is None:
        raise LoginRequired()
    actor, session = found
    request.state.actor = actor
    if actor.role is None or not allows(actor.role, permission):
        raise PermissionDenied(f"user {actor.user} (role {actor.role or 'none'}) may not {permission}",
                               field=None)
    unacked = None if twin else await _unacked(state, actor)
    return View(request, state, actor, session, language(request), twin, unacked)


async def _unacked(state: ApiState, actor: Actor) -> int | None:
    """The navigation badge's count (one aggregate query per page), for a role that reads alerts."""
    if actor.role is None or not allows(actor.role, ALERTS_PERMISSION):
        return None
    try:
        found = await state.run(lambda: state.reader().acting_as(actor).alerts_unacked())
    except FundtrailError as exc:  # the badge never fails a page
        log.warning("could not count the unacknowledged alerts: %s", exc.one_line())
        return None
    return int(found.unacked)


async def _error_page(request: Request, status: int, code: str, message: str, field: str | None) -> Response:
    """The error answer of a page: the API's error document for a twin, else an error page."""
    if getattr(request.state, "twin", False) or wants_json(request) or request.url.path.endswith(TWIN_SUFFIX):
        return Response(json.dumps(error_body(code, message, field)), status_code=status,
                        media_type="application/json")
    lang = language(request)
    state = api_state(request)
    found = await session_actor(request, state)
    actor, session = found if found else (None, "")
    context = base_context(request, lang, actor, csrf_token(session) if session else "")
    return render("error.html", {**context, "status": status, "code": code, "message": message, "field": field},
                  status)


def login_redirect(request: Request) -> Response:
    """Where a logged-out browser goes: the login page, then back here (a twin gets 401)."""
    if getattr(request.state, "twin", False) or wants_json(request) or request.url.path.endswith(TWIN_SUFFIX):
        return Response(json.dumps(error_body("unauthenticated", "log in first: POST /login")), status_code=401,
                        media_type="application/json")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


class WebRoute(APIRoute):
    """A page route: its errors are pages (or the twin's error document), not the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            request.scope.setdefault("state", {})["via"] = "web"
            try:
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except FundtrailError as exc:
                return await _error_page(request, exc.http_status, exc.code, exc.one_line(), exc.field)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                field = field_of(first.get("loc", ()))
                message = f"{field or 'request'}: {first.get('msg', 'invalid')}"
                return await _error_page(request, 422, "bad_request", message, field)

        return answer
