"""The audit-log page (role auditor) and the users page (role admin).

`/audit` lists the audit log newest first (filters: user, since, until; pages go back in time
with the log's cursor) and says whether the log is intact (`Workspace.audit_verify`: the hash
chain and the head anchor checked, or the first record where it breaks). A bad filter shows the
form again with the error next to its field. Twin `/audit.json`: `{"audit": AuditPage, "verify":
AuditVerifyResult}`.

`/users` lists users with role and status and the token records (never a token or a hash); the
admin adds a user (name, role, optional password for the workbench) and disables one, each a POST
with the session's CSRF token on a writable workspace acting as the admin. Passwords never reach
the audit record (only the name and role are recorded). Twin `/users.json`: `{"users":
UsersListResult, "tokens": TokensListResult}`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from fundtrail.api.sessions import csrf_ok
from fundtrail.errors import FundtrailError, PermissionDenied
from fundtrail.web.pages import View, WebRoute, open_view
from fundtrail.workspace import Model
from fundtrail.workspace.access import ROLES

router = APIRouter(route_class=WebRoute, include_in_schema=False)
AUDIT_PAGE = 100
#: Actions of loads of the workbench's own files: noise beside the lookups, hidden on the page
#: (still in the log and in the twin).
FILE_ACTIONS = ("GET /static/", "GET /vendor/")


class AuditFilter(Model):
    """The audit page's filters as typed."""

    user: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> str:
        """The filters as a URL query ('' without any)."""
        return urlencode({k: v for k, v in self.model_dump().items() if v})


async def _audit(request: Request, twin: bool, user: str, since: str, until: str, cursor: str | None,
                 limit: int, files: bool = True) -> Response:
    view = await open_view(request, "audit.read", twin=twin)
    filters = AuditFilter(user=user.strip(), since=since.strip(), until=until.strip())
    verify = await view.run(lambda: view.workspace.audit_verify())
    try:
        page = await view.run(lambda: view.workspace.audit_show(
            user=filters.user or None, since=filters.since or None, until=filters.until or None,
            limit=limit, cursor=cursor or None))
    except FundtrailError as exc:
        if view.twin or exc.http_status >= 500:
            raise
        return view.page("audit.html", {"audit": None, "verify": verify}, status=exc.http_status, filters=filters,
                         errors={exc.field or "": exc.one_line()}, base="/audit", show_files=files)
    query = filters.query() + ("&files=1" if files and filters.query() else "files=1" if files else "")
    base = "/audit" + (f"?{query}" if query else "")
    shown = [r for r in reversed(page.records) if files or not r.action.startswith(FILE_ACTIONS)]
    return view.page("audit.html", {"audit": page, "verify": verify}, filters=filters, errors={}, base=base,
                     newest_first=shown, hidden_files=len(page.records) - len(shown), first_page=not cursor,
                     show_files=files)


@router.get("/audit")
async def audit_page(request: Request, user: str = "", since: str = "", until: str = "", cursor: str | None = None,
                     limit: int = AUDIT_PAGE, files: str = "") -> Response:
    """The audit log, newest first, and whether it is intact; the page's loads of our own static
    files (styles, scripts, images) are hidden unless `files=1`."""
    return await _audit(request, False, user, since, until, cursor, limit, files == "1")


@router.get("/audit.json")
async def audit_twin(request: Request, user: str = "", since: str = "", until: str = "", cursor: str | None = None,
                     limit: int = AUDIT_PAGE) -> Response:
    """The audit page's twin: `{"audit": AuditPage, "verify": AuditVerifyResult}` (records oldest
    first, as the API gives them)."""
    return await _audit(request, True, user, since, until, cursor, limit)


class UserForm(Model):
    """The add-user form as typed (never the password)."""

    name: str = ""
    role: str = "analyst"


async def _users(view: View, *, form: UserForm | None = None, errors: dict[str, str] | None = None,
                 status: int = 200, done: dict[str, str] | None = None) -> Response:
    users, tokens = await view.run(lambda: (view.workspace.users_list(), view.workspace.tokens_list()))
    names = {u.name for u in users.users}
    notice = {k: v for k, v in (done or {}).items() if v in names}  # only about users that exist
    return view.page("users.html", {"users": users, "tokens": tokens}, status=status, form=form or UserForm(),
                     errors=errors or {}, roles=list(ROLES), notice=notice)


@router.get("/users")
async def users_page(request: Request, added: str = "", disabled: str = "") -> Response:
    """Users with roles and status, token records, the add form and the disable buttons."""
    view = await open_view(request, "admin")
    return await _users(view, done={"added": added, "disabled": disabled})


@router.get("/users.json")
async def users_twin(request: Request) -> Response:
    """The users page's twin: `{"users": UsersListResult, "tokens": TokensListResult}`."""
    return await _users(await open_view(request, "admin", twin=True))


def _check_csrf(view: View, offered: str) -> None:
    if not csrf_ok(view.session, offered):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again", field="csrf_token")


@router.post("/users")
async def users_add(request: Request, name: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
                    password: Annotated[str, Form()] = "",
                    csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
    """Add a user (with a workbench password when one is given)."""
    view = await open_view(request, "admin")
    form = UserForm(name=name.strip(), role=role.strip())
    request.scope["state"]["audit_fields"] = {"name": form.name, "role": form.role, "with_password": bool(password)}
    _check_csrf(view, csrf_token_field)
    try:
        with view.state.writer(view.actor) as ws:
            await view.run(lambda: ws.users_add(form.name, role=form.role, password=password or None))
    except FundtrailError as exc:
        if exc.http_status >= 500:
            raise
        return await _users(view, form=form, status=exc.http_status, errors={exc.field or "": exc.one_line()})
    return RedirectResponse(f"/users?added={quote(form.name, safe='')}", status_code=303)


@router.post("/users/{name}/disable")
async def users_disable(request: Request, name: str,
                        csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
    """Disable a user: their tokens and sessions are refused from the next request on."""
    view = await open_view(request, "admin")
    _check_csrf(view, csrf_token_field)
    try:
        with view.state.writer(view.actor) as ws:
            await view.run(lambda: ws.users_disable(name))
    except FundtrailError as exc:
        if exc.http_status >= 500:
            raise
        errors: dict[str, Any] = {"disable": exc.one_line()}
        return await _users(view, status=exc.http_status, errors=errors)
    return RedirectResponse(f"/users?disabled={quote(name, safe='')}", status_code=303)
