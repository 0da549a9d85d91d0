"""Routes that look things up: status, search, an address, its transactions, a transaction.

Each is one workspace call; the body is the result model's JSON (the CLI's `--json` document).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from fundtrail.api.auth import require
from fundtrail.api.params import Cursor, Limit, StoredChain
from fundtrail.api.render import json_of
from fundtrail.api.state import reader
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.lookup_models import AddressSummary, AddressTxPage, SearchResult, TransactionDetail
from fundtrail.workspace.status import StatusResult

router = APIRouter(prefix="/api/v1", tags=["lookup"])
Reader = Annotated[Workspace, Depends(reader)]
CanRead = Annotated[Actor, Depends(require("read"))]


@router.get("/status", response_model=StatusResult, summary="The store's chains, tips and counts")
def status(actor: CanRead, ws: Reader) -> Response:
    """As `fundtrail status --json`."""
    return json_of(ws.status())


@router.get("/search", response_model=SearchResult, summary="What a string is, with links")
def search(actor: CanRead, ws: Reader,
           q: Annotated[str, Query(description="Any string: address, txid, TXID:VOUT, cluster id, "
                                               "tag label or actor.")],
           limit: Annotated[int, Query(description="Most hits returned.")] = 20) -> Response:
    """As `fundtrail search Q --json`."""
    return json_of(ws.search(q, limit=limit))


@router.get("/{chain}/addresses/{address}", response_model=AddressSummary, summary="Address summary")
def address(actor: CanRead, chain: StoredChain, address: str, ws: Reader) -> Response:
    """Totals, first and last seen, cluster, tags and risk of one address (`fundtrail address --json`)."""
    return json_of(ws.address(address, chain=chain))


@router.get("/{chain}/addresses/{address}/txs", response_model=AddressTxPage,
            summary="The address's transactions, oldest first")
def address_txs(actor: CanRead, chain: StoredChain, address: str, ws: Reader,
                limit: Limit = 50, cursor: Cursor = None) -> Response:
    """One page; pass `page.next_cursor` back as `cursor` (`fundtrail txs --json`)."""
    return json_of(ws.address_txs(address, chain=chain, limit=limit, cursor=cursor))


@router.get("/{chain}/txs/{txid}", response_model=TransactionDetail, summary="Transaction detail")
def transaction(actor: CanRead, chain: StoredChain, txid: str, ws: Reader) -> Response:
    """Inputs and outputs (UTXO) or transfers (account chains), with tags (`fundtrail tx --json`)."""
    return json_of(ws.transaction(txid, chain=chain))
