"""KYT transfer registration (`POST /api/v1/kyt/transfers`, permission `screen`: compliance desks).

A desk registers each transfer its customer received or sent; the answer is the counterparty's
risk and the alerts the watch rules raised on the transfer (docs/watch.md, "KYT"). The transfer
is assessed on the server's warm read-only workspace (indexes, tag maps and assessors loaded
once), and only the registration and its alerts go through the writer, in one transaction. 201
for a new registration, 200 for one registered before (its first result; nothing is written).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from fundtrail.api.auth import require
from fundtrail.api.render import json_of
from fundtrail.api.routes_cases import acting, audit, created
from fundtrail.api.routes_watch import start_audit
from fundtrail.api.state import api_state, reader
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.kyt_models import KytTransferRequest, KytTransferResult

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["monitoring"], dependencies=[Depends(start_audit)])
CanScreen = Annotated[Actor, Depends(require("screen"))]
Reader = Annotated[Workspace, Depends(reader)]


@router.post("/kyt/transfers", response_model=KytTransferResult, status_code=201,
             summary="Register a customer's transfer: counterparty risk and alerts")
def kyt_register(actor: CanScreen, body: KytTransferRequest, request: Request, ws: Reader) -> Response:
    """As `Workspace.kyt_register`: body `{"chain"?, "txid", "output"? (TXID:VOUT) | "address"?,
    "direction": "received"|"sent", "customer_ref"}`; the transaction must be in the store."""
    audit(request, txid=body.txid, target=body.output, address=body.address, chain=body.chain,
          direction=body.direction, customer_ref=body.customer_ref)
    assessed = acting(ws, actor).kyt_assess(body)
    with api_state(request).writer(actor) as writer:
        result = writer.kyt_register(body, assessment=assessed)
    audit(request, id=result.transfer_id)
    return created(result) if result.created else json_of(result)
