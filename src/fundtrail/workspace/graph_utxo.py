"""One hop of a UTXO chain's money-flow graph, bipartite and faithful: addresses and transactions.

An address's neighbours are transactions: those paying it (edge transaction -> address, kind
`output`, the outputs it received there summed) and those spending its outputs (edge address ->
transaction, kind `input`, the value of its outputs spent there). A transaction's neighbours are
its input addresses and its output addresses, one edge per address with the values summed and
`count` the inputs or outputs folded. Nothing is attributed that the chain does not say: there is
no address -> address edge. Outputs without an address (OP_RETURN) have no node and no edge.
All of it is array slices of the graph index (`trace.graph`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace.graph_models import GraphEdge
from fundtrail.workspace.graph_paging import Links
from fundtrail.workspace.lookup_base import iso

ASSET, DECIMALS = "BTC", 8
INWARD, OUTWARD = 0, 1


@dataclass
class Flows:
    """The links of one node: `side` INWARD (toward the node) or OUTWARD, the node at the far end
    (a transaction or an address id), the value summed and the number of outputs/inputs folded."""

    side: np.ndarray
    far: np.ndarray
    value: np.ndarray
    count: np.ndarray

    def only(self, direction: str) -> Flows:
        """The links of `direction` (in, out, both)."""
        if direction == "both":
            return self
        keep = self.side == (INWARD if direction == "in" else OUTWARD)
        return Flows(self.side[keep], self.far[keep], self.value[keep], self.count[keep])

    def links(self) -> Links:
        return Links(self.value.astype(np.float64), self.side.astype(np.int64), self.far.astype(np.int64))

    def degrees(self) -> tuple[int, int]:
        return int(np.count_nonzero(self.side == INWARD)), int(np.count_nonzero(self.side == OUTWARD))


def _group(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct keys, value sum per key, entries per key)."""
    if keys.size == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    uniq, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.zeros(uniq.size, np.int64)
    np.add.at(sums, inv, values)
    return uniq, sums, counts.astype(np.int64)


def _flows(inward: tuple[np.ndarray, np.ndarray, np.ndarray],
           outward: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Flows:
    side = np.concatenate([np.full(inward[0].size, INWARD, np.int64), np.full(outward[0].size, OUTWARD, np.int64)])
    return Flows(side, *(np.concatenate([a, b]).astype(np.int64) for a, b in zip(inward, outward)))


def address_flows(g: GraphIndex, aid: int) -> Flows:
    """Transactions paying address `aid` (inward) and spending its outputs (outward)."""
    outs = np.asarray(g.received_by(aid), np.int64)
    values = np.asarray(g.out_value[outs], np.int64)
    paid_by = np.searchsorted(np.asarray(g.tx_first_out), outs, side="right") - 1
    spender = np.asarray(g.out_spent_by[outs], np.int64)
    spent = spender >= 0
    return _flows(_group(paid_by, values), _group(spender[spent], values[spent]))


def tx_flows(g: GraphIndex, tx: int) -> Flows:
    """Addresses whose outputs transaction `tx` spends (inward) and addresses it pays (outward);
    inputs whose spent output is not in the store have no address and are left out."""
    prev = np.asarray(g.inputs_of(tx), np.int64)
    prev = prev[prev >= 0]
    in_addr = np.asarray(g.out_address[prev], np.int64)
    in_val = np.asarray(g.out_value[prev], np.int64)
    outs = np.arange(int(g.tx_first_out[tx]), int(g.tx_first_out[tx + 1]), dtype=np.int64)
    out_addr = np.asarray(g.out_address[outs], np.int64)
    out_val = np.asarray(g.out_value[outs], np.int64)
    a, b = in_addr >= 0, out_addr >= 0
    return _flows(_group(in_addr[a], in_val[a]), _group(out_addr[b], out_val[b]))


def edge(g: GraphIndex, tx: int, address: str, *, pays: bool, value: int, count: int,
         tainted: str | None = None) -> GraphEdge:
    """The edge between transaction `tx` and `address`: `pays` (tx -> address, kind output) or the
    address's outputs spent by the transaction (address -> tx, kind input)."""
    txid = g.txid_hex(tx)
    height = int(g.tx_height[tx])
    a, t = f"a:{address}", f"t:{txid}"
    return GraphEdge(id=f"{'o' if pays else 'i'}:{txid}:{address}", source=t if pays else a, target=a if pays else t,
                     kind="output" if pays else "input", txid=txid, value=str(value), asset=ASSET, decimals=DECIMALS,
                     time=iso(int(g.tx_time[tx])), height=height if height >= 0 else None, count=count,
                     tainted=tainted)
