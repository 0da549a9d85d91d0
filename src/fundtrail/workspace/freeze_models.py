"""Request and result models of `Workspace.freezes` (`fundtrail freezes`, `GET /api/v1/freezes`)."""

from __future__ import annotations

from fundtrail.workspace.core import Model, Page


class FreezesRequest(Model):
    """Which freeze actions to list: of one account chain (`chain`; None: the store's only one), of
    one token (`token`: a contract address or a known issuer's symbol such as USDT), of one
    `address`; newest first, `limit` per page (1-1000), `cursor` from the previous page. `profile`:
    the risk profile whose `freeze` rules add issuer contracts (None: the shipped one)."""

    chain: str | None = None
    token: str | None = None
    address: str | None = None
    profile: str | None = None
    limit: int = 100
    cursor: str | None = None


class FreezeRow(Model):
    """One issuer action: block, time (UTC ISO 8601), transaction and block-wide log index; the
    token contract that emitted it and whether it is a known issuer's (`issuer_known`: false means
    any contract emitted the event, which proves nothing about a stablecoin); the address; the action
    (`blacklisted`, `unblacklisted`, `destroyed`); for `destroyed` the amount in base units
    (`amount`, exact) and in the token's unit (`amount_display`). `current`: this is the contract's
    last action on the address; `frozen_now`: current and blacklisted or destroyed."""

    block: int
    time: str
    tx: str
    log_index: int
    token: str
    token_symbol: str | None
    issuer: str | None
    issuer_known: bool
    address: str
    action: str
    amount: str | None
    amount_display: str | None
    decimals: int | None
    current: bool
    frozen_now: bool


class FreezesResult(Model):
    """A page of freeze actions, newest first; `total` counts every page's."""

    chain: str
    total: int
    freezes: list[FreezeRow]
    page: Page
