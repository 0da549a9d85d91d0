"""The monitoring forms: acknowledge an alert, add and remove watch items, and watch a saved
trace's unspent funds from the case page.

Every form is a POST carrying the session's CSRF token (checked first: without it 403 and nothing
changes). Writes go through a writable workspace acting as the logged-in user, so the rules are the
service layer's: an alert or item the user may not see is the 404 of an unknown id, a viewer of a
case may not watch for it (403), a closed case refuses new items. A refused value shows the page
again with the message beside its field and the status the API gives; a stored one leads back
(`?done=`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from fundtrail.errors import FundtrailError, NotFoundError, PermissionDenied
from fundtrail.web.pages import View, WebRoute, open_view, safe_next
from fundtrail.web.routes_cases import check_csrf, render_case
from fundtrail.web.routes_watch import WatchForm, render_watch

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Field = Annotated[str, Form()]
Csrf = Annotated[str, Form(alias="csrf_token")]
#: The add form's fields (a service-layer error naming another field is shown above the form).
FORM_FIELDS = set(WatchForm.model_fields)


async def opened(request: Request, token: str, **audit: str) -> View:
    """The view of a form's POST: permission `cases`, then the CSRF token."""
    view = await open_view(request, "cases")
    check_csrf(view, token)
    request.scope["state"]["audit_fields"] = audit
    return view


async def written(view: View, call: Callable[[Any], Any]) -> Any:
    """`call(writable workspace acting as the user)`, in the thread pool."""
    with view.state.writer(view.actor) as ws:
        return await view.run(call, ws)


def refusable(exc: FundtrailError) -> bool:
    """Whether an error is a refused value to show beside the form (not a 403, 5xx or unknown id)."""
    return exc.http_status < 500 and not isinstance(exc, PermissionDenied) and not (
        isinstance(exc, NotFoundError) and exc.field in (None, "case", "alert", "item"))


@router.post("/alerts/{alert}/ack")
async def ack(request: Request, alert: str, next_field: Annotated[str, Form(alias="next")] = "",
              csrf_token_field: Csrf = "") -> Response:
    """Acknowledge an alert (the first acknowledgement stays); back to `next` (a local path)."""
    view = await opened(request, csrf_token_field, alert=alert)
    await written(view, lambda ws: ws.alert_ack(alert))
    back = safe_next(next_field) if next_field else f"/alerts/{quote(alert, safe='')}"
    sep = "&" if "?" in back else "?"
    path, hash_sign, anchor = back.partition("#")
    return RedirectResponse(f"{path}{sep}done=ack{hash_sign}{anchor}", status_code=303)


@router.post("/watch")
async def add(request: Request, targets: Field = "", rule: Field = "reaches-service", category: Field = "",
              policy: Field = "", min_value: Field = "", case: Field = "", severity: Field = "", name: Field = "",
              csrf_token_field: Csrf = "") -> Response:
    """Watch the targets (whitespace-separated) under a rule; the watch page next."""
    view = await opened(request, csrf_token_field, case=case.strip())
    form = WatchForm(targets=targets, rule=rule, category=category, policy=policy, min_value=min_value, case=case,
                     severity=severity, name=name)
    listed = targets.split()

    def call(ws: Any) -> Any:
        return ws.watch_add(listed, rule=rule.strip(), category=category.strip() or None,
                            policy=policy.strip() or None, min_value=min_value.strip() or None,
                            case=case.strip() or None, severity=severity.strip() or None, name=name.strip() or None)

    try:
        await written(view, call)
    except FundtrailError as exc:
        if not refusable(exc) and not (isinstance(exc, NotFoundError) and exc.field == "case" and case.strip()):
            raise
        shown = exc.field if exc.field in FORM_FIELDS else ""
        return await render_watch(view, form=form, errors={shown: exc.one_line()}, status=exc.http_status)
    return RedirectResponse("/watch?done=add", status_code=303)


@router.post("/watch/{item}/remove")
async def remove(request: Request, item: str, csrf_token_field: Csrf = "") -> Response:
    """Stop watching an item (a mark: its alerts stay)."""
    view = await opened(request, csrf_token_field, item=item)
    await written(view, lambda ws: ws.watch_remove(item))
    return RedirectResponse("/watch?done=remove", status_code=303)


@router.post("/cases/{case}/traces/{trace}/watch")
async def watch_trace(request: Request, case: str, trace: str, csrf_token_field: Csrf = "") -> Response:
    """Watch a saved trace's unspent funds (its frontier) for `reaches-service`, for the case, under
    the trace's policy; the case page's Monitoring section next."""
    view = await opened(request, csrf_token_field, case=case, trace=trace)

    def call(ws: Any) -> Any:
        saved = ws.case_saved_trace(case, trace)
        return ws.watch_add([trace], rule="reaches-service", case=case, policy=saved.policy)

    try:
        made = await written(view, call)
    except FundtrailError as exc:
        if not refusable(exc):
            raise
        return await render_case(view, case, extra={"watch_errors": {trace: exc.one_line()}}, status=exc.http_status)
    first = made.items[0].id
    return RedirectResponse(f"/cases/{quote(case, safe='')}?watched={quote(first, safe='')}#monitoring",
                            status_code=303)
