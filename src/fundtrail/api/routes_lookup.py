"""Routes that look things up: status, search, an address, its transactions, a transaction.

Each is one workspace call; the body is the result model's JSON (the CLI's `--json` document).
The `{chain}` check of these routes is `async` (answered on the event loop for a chain known since
the last refresh): these are the API's most frequent calls, and a plain `def` dependency costs a
thread-pool hop per request; for the same reason the routes are `async` and run their one
workspace call through `ApiState.run` (one cheaper hop instead of FastAPI's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fundtrail.api.auth import require
from fundtrail.api.params import ChainName, Cursor, Limit
from fundtrail.api.render import json_of
from fundtrail.api.state import api_state, reader
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.lookup_models import AddressSummary, AddressTxPage, SearchResult, TransactionDetail
from fundtrail.workspace.status import StatusResult



async def stored_chain(request: Request, chain: ChainName) -> str:
    """Dependency: `{chain}` must name a chain of the store (404 `not_found`, field `chain`), as
    `params.stored_chain`; the catalog is only asked (in the thread pool) for a chain not known."""
    state = api_state(request)
    if state.is_known_chain(chain) and not state.refresh_due():
        return chain
    return await run_in_threadpool(state.known_chain, chain)


StoredChain = Annotated[str, Depends(stored_chain)]
router = APIRouter(prefix="/api/v1", tags=["lookup"])
Reader = Annotated[Workspace, Depends(reader)]
CanRead = Annotated[Actor, Depends(require("read"))]


@router.get("/status", response_model=StatusResult, summary="The store's chains, tips and counts")
async def status(actor: CanRead, ws: Reader, request: Request) -> Response:
    """As `fundtrail status --json`."""
    return json_of(await api_state(request).run(ws.status))


@router.get("/search", response_model=SearchResult, summary="What a string is, with links")
async def search(actor: CanRead, ws: Reader, request: Request,
                 q: Annotated[str, Query(description="Any string: address, txid, TXID:VOUT, cluster id, "
                                                     "tag label or actor.")],
                 limit: Annotated[int, Query(description="Most hits returned.")] = 20) -> Response:
    """As `fundtrail search Q --json`."""
    return json_of(await api_state(request).run(ws.search, q, limit=limit))


@router.get("/{chain}/addresses/{address}", response_model=AddressSummary, summary="Address summary")
async def address(actor: CanRead, chain: StoredChain, address: str, ws: Reader, request: Request) -> Response:
    """Totals, first and last seen, cluster, tags and risk of one address (`fundtrail address --json`)."""
    return json_of(await api_state(request).run(ws.address, address, chain=chain))


@router.get("/{chain}/addresses/{address}/txs", response_model=AddressTxPage,
            summary="The address's transactions, oldest first")
async def address_txs(actor: CanRead, chain: StoredChain, address: str, ws: Reader, request: Request,
                      limit: Limit = 50, cursor: Cursor = None) -> Response:
    """One page; pass `page.next_cursor` back as `cursor` (`fundtrail txs --json`)."""
    return json_of(await api_state(request).run(ws.address_txs, address, chain=chain, limit=limit, cursor=cursor))


@router.get("/{chain}/txs/{txid}", response_model=TransactionDetail, summary="Transaction detail")
async def transaction(actor: CanRead, chain: StoredChain, txid: str, ws: Reader, request: Request) -> Response:
    """Inputs and outputs (UTXO) or transfers (account chains), with tags (`fundtrail tx --json`)."""
    return json_of(await api_state(request).run(ws.transaction, txid, chain=chain))
