"""`GET /api/v1/freezes`: the stablecoin issuers' freeze actions of an account chain, newest first.

One workspace call; the body is `fundtrail freezes --json`. Any reader may list them (they are
chain facts, like a transaction). Rule profiles are files chosen by the server's operator, so over
the API the shipped profile says which contracts count as issuers (no `profile` parameter).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.params import Cursor, Limit
from fundtrail.api.render import json_of
from fundtrail.api.state import api_state, reader
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.freeze_models import FreezesRequest, FreezesResult

router = APIRouter(prefix="/api/v1", tags=["freezes"])
Reader = Annotated[Workspace, Depends(reader)]
CanRead = Annotated[Actor, Depends(require("read"))]


@router.get("/freezes", response_model=FreezesResult, summary="Stablecoin freezes (issuers' blacklist actions)")
async def freezes(actor: CanRead, ws: Reader, request: Request,
                  chain: Annotated[str | None, Query(description="Account chain (default: the store's only one).")]
                  = None,
                  token: Annotated[str | None, Query(description="Token contract address or a known issuer's "
                                                                 "symbol (USDT, USDC).")] = None,
                  address: Annotated[str | None, Query(description="Only this address's actions.")] = None,
                  limit: Limit = 100, cursor: Cursor = None) -> Response:
    """As `fundtrail freezes --json`; pass `page.next_cursor` back as `cursor` for the next page."""
    req = FreezesRequest(chain=chain, token=token, address=address, limit=limit, cursor=cursor)
    return json_of(await api_state(request).run(ws.freezes, req))
