"""The case pages: the user's cases (`/cases`) and one case (`/cases/{case}`), twins `.json`.

Permission `cases` (investigators). A case is read through a workspace acting as the logged-in
user, so only its members see it: for anyone else the case page is the very 404 page of an id no
case has (the service layer answers both alike). Owners and members of an open case get the forms
(`routes_cases_forms.py`); viewers see the same page without any form. Downloads (report, letters,
exports, bundles, attachments) link to the REST API's case routes, which the session cookie
authenticates; a link is shown only when the API serves that route and the service layer has the
operation (parts of issue 16 are built separately).

Twins: `/cases.json` is `{"cases": CaseList}`, `/cases/{case}.json` is `{"case": CaseDetail}`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from fundtrail.api.sessions import csrf_ok
from fundtrail.errors import FundtrailError, NotFoundError, PermissionDenied
from fundtrail.web.pages import View, WebRoute, native_unit, open_view, page_link, split_twin
from fundtrail.web.routes_watch import case_watch
from fundtrail.workspace import Model

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: Policies and directions the small "save a trace" form offers (the trace page has every option).
POLICIES = ("haircut", "fifo", "poison")
DIRECTIONS = ("forward", "backward")
EXPORTS = ("json", "csv", "ftm", "tagpack")
#: The forms of the case page: name -> the section (anchor) it belongs to.
FORMS = {"seed": "seeds", "note": "notes", "finding": "findings", "trace": "traces", "attach": "attachments",
         "close": "header", "bundle": "bundles"}


class NewCaseForm(Model):
    """The new-case form as typed (shown again, with the error, when refused)."""

    title: str = ""
    agency: str = ""
    number: str = ""


def acting(view: View) -> Any:
    """The server's read-only workspace acting as the page's user (call inside `view.run`): the
    case operations answer only about cases that user is a member of."""
    return view.workspace.acting_as(view.actor)


def api_routes(request: Request) -> set[str]:
    """The paths the app serves (to link only to API routes that exist)."""
    found: set[str] = set()
    stack = list(request.app.routes)
    while stack:
        route = stack.pop()
        inner = getattr(route, "original_router", None)
        if inner is not None:
            stack.extend(inner.routes)
        elif hasattr(route, "path"):
            found.add(route.path)
    return found


def check_csrf(view: View, token: str) -> None:
    """PermissionDenied (403, nothing changed) unless `token` is the session's CSRF token."""
    if not csrf_ok(view.session, token):
        raise PermissionDenied("missing or wrong CSRF token: reload the page and try again", field="csrf_token")


def seed_link(chain: str, text: str) -> str:
    """The page of a seed: a transaction for `TXID:VOUT` and txids, else the address."""
    bare = text.split(":")[0]
    is_tx = ":" in text or (len(bare) == 64 and all(c in "0123456789abcdef" for c in bare.lower()))
    return page_link("tx" if is_tx else "address", chain, text)


def ref_link(chain: str | None, case_id: str, ref: str) -> str | None:
    """The page a finding's reference points at: `tx:TXID` and `output:TXID:VOUT` -> the
    transaction, `trace:T-...` -> the saved trace opened on the trace page."""
    kind, _, rest = ref.partition(":")
    if kind in {"tx", "output"} and chain and rest:
        return page_link("tx", chain, rest)
    if kind == "trace" and rest:
        return f"/cases/{quote(case_id, safe='')}/traces/{quote(rest, safe='')}/open"
    return None


@router.get("/cases")
async def cases_page(request: Request) -> Response:
    """The user's cases and the new-case form."""
    view = await open_view(request, "cases")
    return await render_list(view)


@router.get("/cases.json")
async def cases_twin(request: Request) -> Response:
    """The cases page's twin: `{"cases": CaseList}`."""
    view = await open_view(request, "cases", twin=True)
    return await render_list(view)


async def render_list(view: View, *, form: NewCaseForm | None = None, errors: dict[str, str] | None = None,
                      status: int = 200) -> Response:
    """The list page (or its twin), with the new-case form as typed."""
    def load() -> tuple[Any, dict[str, dict[str, int]]]:
        ws = acting(view)
        listed = ws.case_list()
        counts: dict[str, dict[str, int]] = {}
        if not view.twin:
            for record in listed.cases[:200]:  # counts for the newest 200 (each is one case read)
                detail = ws.case_get(record.id)
                counts[record.id] = {"seeds": len(detail.seeds), "traces": len(detail.traces),
                                     "findings": len(detail.findings), "notes": len(detail.notes)}
        return listed, counts

    listed, counts = await view.run(load)
    return view.page("cases.html", {"cases": listed}, status=status, counts=counts, form=form or NewCaseForm(),
                     errors=errors or {})


@router.post("/cases")
async def case_new(request: Request, title: Annotated[str, Form()] = "", agency: Annotated[str, Form()] = "",
                   number: Annotated[str, Form()] = "",
                   csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "") -> Response:
    """Open a case with the user as its owner; its page next."""
    view = await open_view(request, "cases")
    check_csrf(view, csrf_token_field)
    form = NewCaseForm(title=title, agency=agency, number=number)
    try:
        with view.state.writer(view.actor) as ws:
            made = await view.run(ws.case_new, title, agency=agency.strip() or None, number=number.strip() or None)
    except FundtrailError as exc:
        if exc.http_status >= 500 or isinstance(exc, PermissionDenied):
            raise
        return await render_list(view, form=form, errors={exc.field or "": exc.one_line()}, status=exc.http_status)
    request.scope["state"]["audit_fields"] = {"case": made.id}
    return RedirectResponse(f"/cases/{quote(made.id, safe='')}?done=new", status_code=303)


@router.get("/cases/{case}")
async def case_page(request: Request, case: str, done: str = "") -> Response:
    """One case (module docstring); `done` names the form that just succeeded."""
    case, twin = split_twin(case)
    view = await open_view(request, "cases", twin=twin)
    return await render_case(view, case, done=done if done in {*FORMS, "new", "rerun"} else "")


async def render_case(view: View, case: str, *, done: str = "", typed: dict[str, dict[str, str]] | None = None,
                      errors: dict[str, dict[str, str]] | None = None, status: int = 200,
                      extra: dict[str, Any] | None = None) -> Response:
    """The case page (or its twin); `typed` and `errors` per form name re-show a refused form."""
    view.request.scope["state"]["audit_fields"] = {"case": case}

    def load() -> tuple[Any, dict[str, str], set[str]]:
        ws = acting(view)
        detail = ws.case_get(case)
        families = {c.name: c.family for c in ws.chains()}
        ops = {name for name in ("case_attach", "case_bundle", "case_export", "case_report", "case_letters")
               if hasattr(ws, name)}
        return detail, families, ops

    try:
        detail, families, ops = await view.run(load)
    except NotFoundError as exc:
        exc.field = "case"
        raise
    if view.twin:
        return view.page("case.html", {"case": detail}, status=status)
    watching = await view.run(lambda: case_watch(acting(view), detail.id, view.request.query_params.get("watched")))
    chains = [s.chain for s in detail.seeds]
    chains += [str(t.state["chain"]) for t in detail.traces if t.state.get("chain")]
    chain = chains[0] if chains else (next(iter(families)) if len(families) == 1 else None)
    writer = detail.role in {"owner", "member"} and detail.status == "open"
    served = api_routes(view.request)
    api = f"/api/v1/cases/{quote(detail.id, safe='')}"
    links = {"report": "/api/v1/cases/{case}/report" in served and "case_report" in ops,
             "letters": "/api/v1/cases/{case}/letters" in served and "case_letters" in ops,
             "export": "/api/v1/cases/{case}/export" in served and "case_export" in ops,
             "bundle": "/api/v1/cases/{case}/bundles/{hash}" in served,
             "attachment": "/api/v1/cases/{case}/attachments/{attachment}" in served}
    return view.page("case.html", {"case": detail}, status=status, detail=detail, writer=writer,
                     owner=detail.role == "owner" and detail.status == "open", chain=chain, families=families,
                     unit=lambda name: native_unit(families.get(name or "", "utxo"), chain=name), ops=ops,
                     links=links, api=api,
                     seed_link=seed_link, ref_link=lambda ref: ref_link(chain, detail.id, ref), done=done,
                     typed=typed or {}, errors=errors or {}, policies=POLICIES, directions=DIRECTIONS,
                     exports=EXPORTS, watching=watching, **(extra or {}))
