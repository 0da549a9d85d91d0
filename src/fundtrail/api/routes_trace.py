"""Tracing routes: follow funds from seeds under a taint policy, and paths between two points.

A trace's body is `TraceRequest` (every option of `fundtrail trace`; amounts and times as strings
the way a user writes them); the chain is the one of the path. Paths take `from` and `to`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from fundtrail.api.auth import require
from fundtrail.api.errors import request_fields
from fundtrail.api.params import StoredChain
from fundtrail.api.render import json_of
from fundtrail.api.state import reader
from fundtrail.errors import UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.trace_models import PathsRequest, PathsResult, TraceRequest, TraceResult

router = APIRouter(prefix="/api/v1/{chain}", tags=["tracing"])
Reader = Annotated[Workspace, Depends(reader)]


@router.post("/trace", response_model=TraceResult, summary="Trace funds from seeds")
def trace(actor: Annotated[Actor, Depends(require("trace"))], chain: StoredChain, body: TraceRequest,
          ws: Reader) -> Response:
    """As `fundtrail trace ... --chain CHAIN --json` (UTXO, account and follow-change variants)."""
    if body.chain not in (None, chain):
        raise UsageError(f"chain {body.chain} in the body differs from {chain} in the path; leave it out",
                         field="chain")
    return json_of(ws.trace(body.model_copy(update={"chain": chain})))


@router.get("/paths", response_model=PathsResult, summary="Paths between two points")
def paths(actor: Annotated[Actor, Depends(require("paths"))], chain: StoredChain, ws: Reader,
          source: Annotated[str, Query(alias="from", description="Address, txid or TXID:VOUT.")],
          target: Annotated[str, Query(alias="to", description="An address.")],
          max_hops: Annotated[int, Query(description="Longest path in transactions.")] = 6,
          limit: Annotated[int, Query(description="Most paths, shortest first.")] = 20) -> Response:
    """As `fundtrail paths FROM TO --json`."""
    with request_fields({"source": "from", "target": "to"}):
        return json_of(ws.paths(PathsRequest(source=source, target=target, max_hops=max_hops, limit=limit,
                                             chain=chain)))
