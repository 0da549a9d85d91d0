"""One hop of an account chain's money-flow graph: transfers between addresses.

Every fungible value transfer the account graph holds (native, internal, ERC-20, fees,
withdrawals, rewards) between two addresses is one edge, address -> address, with its transaction
and asset. Transfers from or to no one (mints, burns, burnt fees, withdrawals from the beacon
chain) have no second end and are not drawn. A transfer's edge id is its documented reference
(`trace.account_report.transfer_ref`: `0x<tx>:native`, `0x<tx>:<log index>`, `0x<tx>:fee:tip`,
...), the same in expansions and in trace graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fundtrail.chains.resolve import account_text
from fundtrail.store.tables import TRANSFER_KINDS
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.account_report import transfer_ref
from fundtrail.workspace.graph_models import GraphEdge
from fundtrail.workspace.graph_paging import Links
from fundtrail.workspace.lookup_base import iso


@dataclass(frozen=True)
class Unit:
    """How an asset is shown: `asset` (the native symbol or the token contract), symbol, decimals."""

    asset: str
    symbol: str | None
    decimals: int | None


class Units:
    """Units of a chain's assets by asset id (-1: the native asset)."""

    def __init__(self, ag: AccountGraph, native: tuple[str, int],
                 tokens: dict[int, tuple[str | None, int | None]]) -> None:
        self.ag, self.tokens = ag, tokens
        self._units: dict[int, Unit] = {-1: Unit(native[0], native[0], native[1])}

    def of(self, asset: int) -> Unit:
        hit = self._units.get(asset)
        if hit is None:
            symbol, decimals = self.tokens.get(asset, (None, None))
            hit = self._units[asset] = Unit(account_text(self.ag.address_bytes(asset), chain=self.ag.chain), symbol,
                                              decimals)
        return hit


def drawn(ag: AccountGraph, evs: np.ndarray) -> np.ndarray:
    """The events of `evs` with someone at both ends."""
    return evs[(np.asarray(ag.ev_from[evs]) >= 0) & (np.asarray(ag.ev_to[evs]) >= 0)]


def address_events(ag: AccountGraph, aid: int, direction: str) -> tuple[np.ndarray, int, int]:
    """(drawn events of address `aid` in `direction`, in execution order; transfers in; transfers
    out). A self-transfer is both in and out, and listed once."""
    evs = drawn(ag, np.asarray(ag.events_of(aid), np.int64))
    into, out = np.asarray(ag.ev_to[evs]) == aid, np.asarray(ag.ev_from[evs]) == aid
    keep = into if direction == "in" else out if direction == "out" else into | out
    return evs[keep], int(np.count_nonzero(into)), int(np.count_nonzero(out))


def tx_events(ag: AccountGraph, tx: int) -> np.ndarray:
    """The drawn events of transaction `tx`, in execution order."""
    start = int(ag.tx_ev_start[tx])
    return drawn(ag, np.arange(start, start + int(ag.tx_ev_count[tx]), dtype=np.int64))


def links(ag: AccountGraph, evs: np.ndarray, units: Units) -> Links:
    """Sort keys of events: the amount in whole units of its asset (unknown decimals: base units)."""
    lo, hi = np.asarray(ag.ev_lo[evs], np.float64), np.asarray(ag.ev_hi[evs], np.float64)
    amount = hi * 2.0 ** 64 + lo
    big = np.asarray(ag.big_pos)
    if big.size:
        for i in np.flatnonzero(np.isin(evs, big)).tolist():
            amount[i] = float(ag.amount(int(evs[i])))
    assets = np.asarray(ag.ev_asset[evs], np.int64)
    scale = np.ones(evs.size, np.float64)
    for a in np.unique(assets).tolist():
        scale[assets == a] = 10.0 ** (units.of(int(a)).decimals or 0)
    return Links(amount / scale, np.zeros(evs.size, np.int64), evs.astype(np.int64))


def edge(ag: AccountGraph, e: int, units: Units, text: dict[int, str], *, tainted: str | None = None) -> GraphEdge:
    """The edge of event `e`; `text` maps the address ids at its ends to their shown form."""
    tx = int(ag.ev_tx[e])
    unit = units.of(int(ag.ev_asset[e]))
    return GraphEdge(id=f"x:{transfer_ref(ag, e)}", source=f"a:{text[int(ag.ev_from[e])]}",
                     target=f"a:{text[int(ag.ev_to[e])]}", kind="transfer",
                     txid=ag.tx_hash_hex(tx) if tx >= 0 else None, value=str(ag.amount(e)), asset=unit.asset,
                     decimals=unit.decimals, time=iso(int(ag.ev_time[e])), height=int(ag.ev_block[e]), count=1,
                     transfer_kind=TRANSFER_KINDS[int(ag.ev_kind[e])], tainted=tainted)
