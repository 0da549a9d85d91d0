"""The address page: summary, tags with provenance, cluster, risk with reasons, transactions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from fundtrail.web.pages import WebRoute, open_view, split_twin
from fundtrail.web.routes_tx import transfer_kinds
from fundtrail.workspace.freeze_models import FreezesRequest

router = APIRouter(route_class=WebRoute, include_in_schema=False)
TX_PAGE = 25


@router.get("/{chain}/addresses/{address}")
async def address_page(request: Request, chain: str, address: str, cursor: str | None = None,
                       limit: int = TX_PAGE) -> Response:
    """`/{chain}/addresses/{address}` and its twin `...{address}.json`:
    `{"address": AddressSummary, "txs": AddressTxPage}` (the API's two documents)."""
    address, twin = split_twin(address)
    view = await open_view(request, "read", twin=twin)

    def load() -> tuple[object, object, list[Any]]:
        ws = view.workspace
        ref = ws.chain(chain)
        frozen = (ws.freezes(FreezesRequest(chain=chain, address=address, limit=20)).freezes
                  if ref.family == "account" else [])
        return (ws.address(address, chain=chain),
                ws.address_txs(address, chain=chain, limit=limit, cursor=cursor), frozen)

    summary, txs, frozen = await view.run(load)
    return view.page("address.html", {"address": summary, "txs": txs}, chain=chain,
                     kinds=transfer_kinds(view, chain), frozen=frozen)
