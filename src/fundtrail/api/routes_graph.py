"""The workbench graph's routes: one hop of the money-flow graph, a trace drawn as a graph, and
saved canvases.

The canvas expands a node a page at a time (`/{chain}/graph/addresses/{address}`, `/txs/{txid}`,
`/clusters/{id}`, each `direction`, `limit` and `cursor`); `POST /graph/trace` takes the body of
`POST /{chain}/trace` (the chain in the body, or the store's only one) and returns the flows with
their tainted amounts, the endpoints and the services to ask for a freeze. Saved graphs belong to
the user who saved them: a listing shows only theirs, and another user's id is 404.

This router must be mounted before `routes_trace`: `/api/v1/graph/trace` would otherwise match
`/api/v1/{chain}/trace` with the chain `graph`.

A saved graph's body is read here, not by FastAPI, so that its audit record holds the name, chain,
id and the document's size, never the document (up to 8 MB of an investigator's annotations).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fundtrail.api.auth import require
from fundtrail.api.errors import request_fields
from fundtrail.api.params import Cursor, Limit, StoredChain
from fundtrail.api.render import json_of
from fundtrail.api.state import ApiState, api_state, reader
from fundtrail.errors import UsageError
from fundtrail.workspace import (Actor, GraphPage, GraphSaveRequest, SavedGraph, SavedGraphDocument, SavedGraphList,
                                 TraceGraph, TraceRequest, Workspace)

router = APIRouter(prefix="/api/v1", tags=["graph"])
Reader = Annotated[Workspace, Depends(reader)]
CanRead = Annotated[Actor, Depends(require("read"))]
Direction = Annotated[str, Query(description="`in`, `out` or `both`.")]
GraphLimit = Annotated[int, Query(description="Edges per page (1..1000).")]
_SAVE_BODY = {"required": True, "content": {"application/json": {"schema": GraphSaveRequest.model_json_schema()}}}


@router.get("/{chain}/graph/addresses/{address}", response_model=GraphPage,
            summary="An address's neighbours in the money-flow graph, a page at a time")
def graph_address(actor: CanRead, chain: StoredChain, address: str, ws: Reader, direction: Direction = "both",
                  limit: GraphLimit = 100, cursor: Cursor = None) -> Response:
    """UTXO chains: the transactions paying it (`in`) and spending its outputs (`out`); account
    chains: its transfers. Largest value first; pass `next_cursor` back as `cursor`."""
    return json_of(ws.graph_address(address, chain=chain, direction=direction, limit=limit, cursor=cursor))


@router.get("/{chain}/graph/txs/{txid}", response_model=GraphPage,
            summary="A transaction's neighbours in the money-flow graph, a page at a time")
def graph_tx(actor: CanRead, chain: StoredChain, txid: str, ws: Reader, direction: Direction = "both",
             limit: GraphLimit = 100, cursor: Cursor = None) -> Response:
    """UTXO chains: its input addresses (`in`) and output addresses (`out`), one edge per address;
    account chains: its transfers."""
    return json_of(ws.graph_tx(txid, chain=chain, direction=direction, limit=limit, cursor=cursor))


@router.get("/{chain}/graph/clusters/{id}", response_model=GraphPage,
            summary="A cluster node and its members, a page at a time")
def graph_cluster(actor: CanRead, chain: StoredChain, id: str, ws: Reader, limit: Limit = 100,
                  cursor: Cursor = None) -> Response:
    """The entity view: the cluster's node and its member addresses (no edges)."""
    with request_fields({"cluster_id": "id"}):
        return json_of(ws.graph_cluster(id, chain=chain, limit=limit, cursor=cursor))


@router.post("/graph/trace", response_model=TraceGraph, summary="A trace drawn as a graph")
def trace_graph(actor: Annotated[Actor, Depends(require("trace"))], body: TraceRequest, ws: Reader) -> Response:
    """The body of `POST /{chain}/trace` (with `chain`, or the store's only chain); the flows the
    trace followed with the amount traced along each, its endpoints and the services reached."""
    return json_of(ws.trace_graph(body))


@router.get("/graphs", response_model=SavedGraphList, summary="Your saved graphs, newest first")
def graphs_list(actor: CanRead, ws: Reader) -> Response:
    """The authenticated user's saved graphs (documents left out)."""
    return json_of(ws.graph_list(owner=actor.user))


@router.post("/graphs", response_model=SavedGraph, status_code=201, summary="Save a graph",
             openapi_extra={"requestBody": _SAVE_BODY})
async def graphs_save(actor: CanRead, request: Request) -> Response:
    """`{name, chain, document}` saves a new graph (201); with the `id` of one of yours, overwrites
    it (200). The document is the canvas's JSON, at most 8 MB."""
    body = _save_body(await request.body(), request)
    state = api_state(request)
    result = await run_in_threadpool(_save, state, actor, body)
    response = json_of(result)
    response.status_code = 201 if body.id is None else 200
    return response


@router.get("/graphs/{id}", response_model=SavedGraphDocument, summary="One of your saved graphs")
def graphs_load(actor: CanRead, id: str, ws: Reader) -> Response:
    """A saved graph with its document (404 for an id that is not yours)."""
    return json_of(ws.graph_load(id, owner=actor.user))


def _save_body(raw: bytes, request: Request) -> GraphSaveRequest:
    """The request model of a save, its audit fields set first (the document's size only)."""
    if "json" not in request.headers.get("content-type", "application/json").lower():
        raise UsageError("a saved graph is sent as application/json", field="body")
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        request.state.audit_fields = {"bytes": len(raw)}
        raise UsageError("the body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        request.state.audit_fields = {"bytes": len(raw)}
        raise UsageError("the body must be a JSON object {name, chain, document, id?}", field="body")
    fields = {k: data[k] for k in ("name", "chain", "id") if isinstance(data.get(k), str)}
    request.state.audit_fields = {**{k: v[:200] for k, v in fields.items()}, "bytes": len(raw)}
    return GraphSaveRequest.model_validate(data)


def _save(state: ApiState, actor: Actor, body: GraphSaveRequest) -> SavedGraph:
    with state.writer(actor) as ws:
        return ws.graph_save(body.name, body.chain, body.document, id=body.id)
