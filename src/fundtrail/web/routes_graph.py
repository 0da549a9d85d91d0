"""The money-flow graph page: `/graph?chain=C&start=a:ADDR|t:TXID|c:ID[&trace=Q][&saved=ID]`.

The page is a Cytoscape.js canvas (`static/graph-*.js`) that expands nodes one hop at a time
through the graph API (`/api/v1/{chain}/graph/...`), overlays traces (`POST /api/v1/graph/trace`)
and saves canvases (`/api/v1/graphs`). The server renders the first page of the start node into
the page (one round trip less, and a start that does not exist is an error page, not an empty
canvas); `saved` embeds a saved canvas of the user's. `trace` is a trace's query string as the
trace page writes it (`seed=X&policy=haircut&hops=8&stop_at=exchange&stops=1`), checked here so a
bad link says which field is wrong; the canvas runs it for users allowed to trace (with the start
node as the seed when the link names none). The twin `/graph.json?...` is `{"graph": the start's
first GraphPage}` (null without a start; with `"saved"` when a saved canvas was asked for).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from fundtrail.errors import UsageError
from fundtrail.web import assets
from fundtrail.web.pages import WebRoute, native_unit, open_view
from fundtrail.web.trace_form import form_of
from fundtrail.workspace import ChainRef, GraphPage, SavedGraphDocument, Workspace
from fundtrail.workspace.access import allows
from fundtrail.workspace.lookup_account import native

router = APIRouter(route_class=WebRoute, include_in_schema=False)
#: Edges of the first page of the start node (the canvas pages on with the same size).
FIRST_PAGE = 100
_START_HELP = "start must be a:ADDRESS, t:TXID or c:CLUSTER_ID"


def start_page(ws: Workspace, chain: str, start: str) -> GraphPage:
    """The first page (both directions) of the canvas's start node."""
    kind, sep, text = start.strip().partition(":")
    if not sep or not text or kind not in {"a", "t", "c"}:
        raise UsageError(f"{_START_HELP}, not {start[:80]!r}", field="start")
    if kind == "a":
        return ws.graph_address(text, chain=chain, direction="both", limit=FIRST_PAGE)
    if kind == "t":
        return ws.graph_tx(text, chain=chain, direction="both", limit=FIRST_PAGE)
    return ws.graph_cluster(text, chain=chain, limit=FIRST_PAGE)


def trace_query(text: str | None, chain: str) -> dict[str, Any] | None:
    """A `trace` link (the trace page's query string, `trace_form.TraceForm.query`) as the body of
    `POST /api/v1/graph/trace`; without seeds the canvas seeds it with the start node. UsageError
    on field `trace` when it is malformed."""
    if not text:
        return None
    form = form_of(QueryParams(text), [chain])
    try:
        req = form.request()
    except UsageError as exc:
        raise UsageError(f"trace: {exc.one_line()}", field="trace") from None
    body = req.model_dump(mode="json", exclude_defaults=True)
    body["chain"] = req.chain or chain
    body["policy"] = req.policy
    return body


async def _graph(request: Request, twin: bool, chain: str | None, start: str | None, trace: str | None,
                 saved: str | None) -> Response:
    view = await open_view(request, "read", twin=twin)

    def load() -> tuple[ChainRef, GraphPage | None, SavedGraphDocument | None]:
        ws = view.workspace
        doc = ws.graph_load(saved, owner=view.actor.user) if saved else None
        ref = ws.chain(chain or (doc.chain if doc else None), what="the graph")
        return ref, start_page(ws, ref.name, start) if start else None, doc

    ref, first, doc = await view.run(load)
    traced = trace_query(trace, ref.name)
    parts: dict[str, Any] = {"graph": first}
    if doc is not None:
        parts["saved"] = doc
    if view.twin:
        return view.page("graph.html", parts)
    can_trace = view.actor.role is not None and allows(view.actor.role, "trace")
    if ref.family == "utxo":
        decimals, symbol = native_unit("utxo")
    else:
        symbol, decimals = native(ref.name)
    config = {"chain": ref.name, "family": ref.family, "start": first.center if first else None,
              "decimals": decimals, "symbol": symbol, "canTrace": can_trace, "pageSize": FIRST_PAGE,
              "trace": traced if can_trace else None}
    return view.page("graph.html", parts, config=config, chain=ref.name, start_text=start or "",
                     trace_refused=bool(traced) and not can_trace, missing=assets.missing_vendor())


@router.get("/graph")
async def graph_page(request: Request, chain: str | None = None, start: str | None = None, trace: str | None = None,
                     saved: str | None = None) -> Response:
    """The canvas, started from `start` (or a saved canvas, or empty with a start form)."""
    return await _graph(request, False, chain, start, trace, saved)


@router.get("/graph.json")
async def graph_twin(request: Request, chain: str | None = None, start: str | None = None, trace: str | None = None,
                     saved: str | None = None) -> Response:
    """The twin: `{"graph": GraphPage of start}` (null without a start; `"saved"` with `saved`)."""
    return await _graph(request, True, chain, start, trace, saved)
