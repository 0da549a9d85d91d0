"""Which transactions of a UTXO chain a bundle carries, and in which roles (docs/bundle.md).

`traced`: every transaction node of a saved trace's graph; `funding`: the transactions whose
outputs those spend (they prove the input values the verifier recomputes the trace from);
`seed`: the transactions of the seed outputs (of the traces and of the case's output and txid
seeds); `finding`: the transactions a finding names (`tx:`, `output:` refs) and those of the
clustering evidence. Found through the chain's graph index (the same one the traces ran on), so a
10,000-transaction case costs array look-ups, not queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fundtrail.trace.graph import GraphIndex


@dataclass
class Needed:
    """The transactions wanted from one chain (graph tx id -> roles) and what could not be."""

    roles: dict[int, set[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, tx: int, role: str) -> None:
        self.roles.setdefault(tx, set()).add(role)


def _txid_of(text: str) -> str | None:
    """The txid of a `TXID`, `TXID:VOUT`, `tx:TXID` or `output:TXID:VOUT` reference, else None."""
    body = text.split(":", 1)[1] if text.startswith(("tx:", "output:")) else text
    txid = body.split(":", 1)[0].strip().lower()
    return txid if len(txid) == 64 and all(c in "0123456789abcdef" for c in txid) else None


def find(graph: GraphIndex, txid: str) -> int:
    """The graph's tx id of a display txid, -1 when the chain does not hold it."""
    return int(graph.find_tx(bytes.fromhex(txid)[::-1]))


def seed_txids(result: dict[str, Any]) -> set[str]:
    """The txids of a saved trace's seed outputs (`seed.outputs` and each `seeds[].outputs`; a
    follow-change walk: each chain's `seed` outpoint)."""
    seed = result.get("seed")
    outs = list(seed.get("outputs") or []) if isinstance(seed, dict) else []
    for s in result.get("seeds") or []:
        outs += list(s.get("outputs") or [])
    outs += [c["seed"] for c in result.get("chains") or [] if isinstance(c.get("seed"), str)]
    return {t for t in (_txid_of(str(o)) for o in outs) if t}


def collect(graph: GraphIndex, traces: list[dict[str, Any]], seeds: Iterable[str],
            finding_refs: Iterable[str]) -> Needed:
    """The transactions (with roles) of `traces` (saved results of this chain), the case's seed
    texts and the finding references, as found in `graph`."""
    need = Needed()
    traced: set[int] = set()
    for trace in traces:
        result = trace["result"]
        graph_doc = result.get("graph") or {}
        if graph_doc.get("edges_truncated"):
            need.warnings.append(f"trace {trace['id']}: its saved graph is truncated; the bundle proves the "
                                 "transactions it kept")
        walked = [{"txid": h.get("txid")} for c in result.get("chains") or [] for h in c.get("hops") or []]
        for node in [*(graph_doc.get("nodes") or []), *walked]:  # a follow-change walk: its hops
            tx = find(graph, str(node.get("txid")))
            if tx < 0:
                need.warnings.append(f"trace {trace['id']}: transaction {node.get('txid')} is no longer in the "
                                     "store; it is not in the bundle")
                continue
            need.add(tx, "traced")
            traced.add(tx)
        for txid in sorted(seed_txids(result)):
            _add_txid(graph, need, txid, "seed", f"trace {trace['id']}: seed transaction")
    for text in seeds:
        seed = _txid_of(text)
        if seed:
            _add_txid(graph, need, seed, "seed", "case seed transaction")
    for ref in finding_refs:
        named = _txid_of(ref)
        if named and ref.startswith(("tx:", "output:")):
            _add_txid(graph, need, named, "finding", f"finding reference {ref}:")
    _funding(graph, need, np.array(sorted(traced), np.int64))
    return need


def _add_txid(graph: GraphIndex, need: Needed, txid: str, role: str, what: str) -> None:
    tx = find(graph, txid)
    if tx < 0:
        need.warnings.append(f"{what} {txid} is not in the store; it is not in the bundle")
    else:
        need.add(tx, role)


def add_txids(graph: GraphIndex, need: Needed, txids: Iterable[str], role: str, what: str) -> None:
    """Add display txids in `role`; those the chain lacks become warnings naming `what`."""
    for txid in sorted(set(txids)):
        _add_txid(graph, need, txid, role, what)


def _funding(graph: GraphIndex, need: Needed, traced: np.ndarray) -> None:
    """Add the transactions creating the outputs the traced ones spend (vectorised over inputs)."""
    if traced.size == 0:
        return
    ptr = np.asarray(graph.tx_in_ptr)
    starts, stops = ptr[traced], ptr[traced + 1]
    counts = stops - starts
    if int(counts.sum()) == 0:
        return
    idx = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
    prev = np.asarray(graph.in_prev)[idx]
    owner = np.repeat(traced, counts)
    coinbase = np.asarray(graph.tx_coinbase)[owner].astype(bool)
    unresolved = (prev < 0) & ~coinbase
    for tx in sorted({int(t) for t in owner[unresolved]}):
        need.warnings.append(f"transaction {graph.txid_hex(tx)} spends an output the store does not hold: "
                             "its input value is not proven by the bundle")
    first_out = np.asarray(graph.tx_first_out)
    funders = np.searchsorted(first_out, prev[prev >= 0], side="right") - 1
    for tx in np.unique(funders).tolist():
        need.add(int(tx), "funding")
