"""The trace page: the form of `fundtrail trace` and its result (`/trace`, twin `/trace.json`).

A GET form (tracing changes nothing, and a trace is then a link other pages can prefill with
`?chain=&seed=`). With seeds it runs `Workspace.trace` and shows the freeze list (the entity view
restricted to services), the endpoints by the reason the trace stopped, the summary with any
truncation or coverage warning, and a link that overlays the same trace on the graph. `compare=1`
runs poison, haircut and FIFO on the same seeds and shows them side by side. A bad option shows
the form again with the error next to its field (the error's status, 422 for a bad value); the
twin answers the API's error document instead.

Twin: `{"trace": TraceResult}` (null before a trace is asked for), with `compare=1`
`{"traces": {policy: TraceResult}}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from fundtrail.errors import AuthError, FundtrailError, PermissionDenied
from fundtrail.web.pages import View, WebRoute, open_view
from fundtrail.web.trace_form import COMPARED, DIRECTIONS, FORM_FIELD, POLICIES, SERVICE_CATEGORIES, TraceForm, form_of
from fundtrail.web.trace_view import compare_rows, reason_texts, view_of
from fundtrail.workspace import ChainRef, TraceResult

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/trace")
async def trace_page(request: Request) -> Response:
    """The trace form, and the trace when seeds are given."""
    return await _trace(request, False)


@router.get("/trace.json")
async def trace_twin(request: Request) -> Response:
    """The trace page's JSON twin (`{"trace": TraceResult}` or `{"traces": {policy: TraceResult}}`)."""
    return await _trace(request, True)


async def _trace(request: Request, twin: bool) -> Response:
    view = await open_view(request, "trace", twin=twin)
    chains: list[ChainRef] = await view.run(lambda: list(view.workspace.chains()))
    form = form_of(request.query_params, [c.name for c in chains])
    if not form.wanted:
        return _page(view, form, chains, {"trace": None})
    try:
        if form.compare:  # one after the other: each policy gets the whole time budget the form gave
            requests = {policy: form.request(policy) for policy in COMPARED}
            results: dict[str, TraceResult] = {}
            for policy, req in requests.items():
                results[policy] = await view.run(lambda r=req: view.workspace.trace(r))
        else:
            req = form.request()
            results = {req.policy: await view.run(lambda: view.workspace.trace(req))}
    except (AuthError, PermissionDenied):
        raise
    except FundtrailError as exc:
        if view.twin:
            raise
        field = FORM_FIELD.get(exc.field or "", exc.field)
        return _page(view, form, chains, {"trace": None}, status=exc.http_status,
                     errors={field or "": exc.one_line()})
    if form.compare:
        return _page(view, form, chains, {"traces": {p: r.document() for p, r in results.items()}},
                     results=results, rows=compare_rows(results))
    result = next(iter(results.values()))
    return _page(view, form, chains, {"trace": result}, results=results, tv=view_of(result))


def _page(view: View, form: TraceForm, chains: list[ChainRef], parts: dict[str, Any], *, status: int = 200,
          errors: dict[str, str] | None = None, **extra: Any) -> Response:
    """The page (or twin) with the form as typed and, when given, the result's parts."""
    categories = list(SERVICE_CATEGORIES) + [c for c in form.stop_at if c not in SERVICE_CATEGORIES]
    return view.page("trace.html", parts, status=status, form=form, chains=chains, errors=errors or {},
                     policies=POLICIES, compared=COMPARED, directions=DIRECTIONS, categories=categories,
                     known_categories=SERVICE_CATEGORIES, reasons=reason_texts(view.t),
                     account_chains=any(c.family == "account" for c in chains), **extra)
