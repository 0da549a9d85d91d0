"""Clustering links of a range of UTXO transactions: multi-input (common input ownership) and change.

Multi-input (Meiklejohn et al. 2013): all resolved input addresses of a non-coinbase transaction
belong to one entity, unless the transaction is a CoinJoin (detector confidence >= floor), whose
inputs belong to several. A Whirlpool tx0 is detected but not collaborative (one user makes it), so
its inputs are linked. Each such transaction gives a star of links from its first resolved input
address to the others: enough to join them all, and each link names the transaction.

Change (Androulaki et al. 2013; Meiklejohn et al. 2013): the output a consensus of change heuristics
picks as change goes back to the payer, so its address joins the first input address, when the
consensus confidence reaches the run's floor. CoinJoins get no change links either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fundtrail.cluster.change import ChangeResult
from fundtrail.cluster.coinjoin import WHIRLPOOL_TX0, CoinJoinResult
from fundtrail.cluster.txview import TxView

#: Heuristic names as stored in the evidence forest (permanent).
MULTI_INPUT, CHANGE, DEPOSIT, DELEGATION = "multi_input", "change", "deposit", "delegation"
HEURISTIC_CODES: dict[str, int] = {MULTI_INPUT: 0, CHANGE: 1, DEPOSIT: 2, DELEGATION: 3}
HEURISTIC_BY_CODE: tuple[str, ...] = (MULTI_INPUT, CHANGE, DEPOSIT, DELEGATION)


@dataclass(frozen=True)
class LinkBatch:
    """Links in evidence order: endpoints `a`, `b`, evidence `tx_id`, `heuristic` code, `confidence`."""

    a: np.ndarray
    b: np.ndarray
    tx_id: np.ndarray
    heuristic: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @classmethod
    def empty(cls) -> LinkBatch:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, np.zeros(0, np.uint8), np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: list[LinkBatch]) -> LinkBatch:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("a", "b", "tx_id", "heuristic", "confidence")))

    def ordered(self) -> LinkBatch:
        """Sorted by transaction, multi-input before change, stable: a deterministic evidence order."""
        order = np.lexsort((self.heuristic, self.tx_id))
        return LinkBatch(self.a[order], self.b[order], self.tx_id[order], self.heuristic[order],
                         self.confidence[order])


def _first_inputs(view: TxView, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per resolved input of an allowed tx: its tx index, address, and the tx's first such address."""
    tx_of_input = np.repeat(np.arange(len(view), dtype=np.int64), view.n_inputs())
    keep = (view.in_address >= 0) & allowed[tx_of_input]
    txi = tx_of_input[keep]
    addr = view.in_address[keep]
    if not txi.size:
        return txi, addr, addr
    starts = np.flatnonzero(np.r_[True, txi[1:] != txi[:-1]])
    first = np.repeat(addr[starts], np.diff(np.r_[starts, txi.size]))
    return txi, addr, first


def collaborative(cj: CoinJoinResult) -> np.ndarray:
    """Transactions whose detected protocol joins several users' inputs. A Whirlpool tx0 is made by
    one user (its inputs are one wallet: docs/heuristics.md), so it keeps its multi-input links."""
    return (cj.protocol != 0) & (cj.protocol != WHIRLPOOL_TX0)


def coinjoin_mask(view: TxView, cj: CoinJoinResult, floor: float) -> np.ndarray:
    """Transactions treated as CoinJoins: a collaborative protocol detected with confidence at
    least `floor`."""
    return collaborative(cj) & (cj.confidence >= floor)


def multi_input_links(view: TxView, cj: CoinJoinResult, coinjoin_floor: float) -> LinkBatch:
    """Star links between the resolved input addresses of each non-coinbase, non-CoinJoin tx.

    Confidence is 1 minus the CoinJoin detector's confidence when it flagged the transaction below
    the floor (a weak CoinJoin signal weakens the link), else 1.
    """
    flagged = coinjoin_mask(view, cj, coinjoin_floor)
    allowed = ~view.is_coinbase.astype(bool) & ~flagged
    txi, addr, first = _first_inputs(view, allowed)
    link = addr != first
    txi, a, b = txi[link], first[link], addr[link]
    weak = collaborative(cj)[txi]
    conf = np.where(weak, 1.0 - cj.confidence[txi], 1.0).astype(np.float32)
    return LinkBatch(a, b, view.tx_id[txi], np.full(a.shape, HEURISTIC_CODES[MULTI_INPUT], np.uint8), conf)


def change_links(view: TxView, cj: CoinJoinResult, ch: ChangeResult, coinjoin_floor: float,
                 change_floor: float) -> LinkBatch:
    """A link from each confident change output's address to its transaction's first input address."""
    flagged = coinjoin_mask(view, cj, coinjoin_floor)
    allowed = ~view.is_coinbase.astype(bool) & ~flagged & (ch.out_index >= 0) & (ch.confidence >= change_floor)
    txi, _, first = _first_inputs(view, allowed)
    if not txi.size:
        return LinkBatch.empty()
    starts = np.flatnonzero(np.r_[True, txi[1:] != txi[:-1]])
    tx_idx, payer = txi[starts], first[starts]
    out_addr = view.out_address[ch.out_index[tx_idx]]
    ok = (out_addr >= 0) & (out_addr != payer)
    tx_idx, payer, out_addr = tx_idx[ok], payer[ok], out_addr[ok]
    return LinkBatch(out_addr, payer, view.tx_id[tx_idx],
                     np.full(tx_idx.shape, HEURISTIC_CODES[CHANGE], np.uint8),
                     ch.confidence[tx_idx].astype(np.float32))
