"""CoinJoin and change evidence on the transactions of a trace: what an investigator reads on a node.

A trace follows value under a policy; it does not say where that value met a CoinJoin (where "whose
output is whose" stops being on-chain fact) or which output of a transaction is most likely the
sender's change (where a peel chain continues). `marks_for` answers both for a set of transactions
of a UTXO chain with the clustering layer's own detectors, so a trace, the peel-chain follower
(`trace.follow`) and clustering give one verdict: `cluster.coinjoin.detect` (protocol, confidence;
a Whirlpool tx0 is protocol `whirlpool_tx0`) and `cluster.change.consensus` (the output the change
heuristics agree on, its confidence and the rules that voted; a CoinJoin gets no change).

The rules look one step around a transaction (the peel-chain rule at the parent and the spender,
the fingerprint rule at the spenders), so the view loaded holds the asked transactions plus their
parents and spenders; verdicts are reported only for the transactions asked about. Marks are
inferences, never facts: each carries its confidence and the rule names (docs/heuristics.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from fundtrail.cluster import change as change_rules
from fundtrail.cluster import coinjoin as coinjoin_rules
from fundtrail.cluster.txview import UNKNOWN, TxView
from fundtrail.store.lake import Store


@dataclass(frozen=True)
class CoinJoinMark:
    """The transaction looks like a CoinJoin of `protocol` (e.g. `whirlpool_tx0`, `wasabi2`)."""

    protocol: str
    confidence: float

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class ChangeMark:
    """Output `vout` (output id `output`, `value` sat) is most likely the sender's change."""

    output: int
    vout: int
    value: int
    confidence: float
    votes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"vout": self.vout, "value_sat": self.value,
                "confidence": round(self.confidence, 4), "votes": list(self.votes)}


@dataclass(frozen=True)
class TxMarks:
    """The marks of one transaction (by store tx id); `None` where the rules found nothing."""

    tx: int
    coinjoin: CoinJoinMark | None
    change: ChangeMark | None

    def to_json(self) -> dict[str, Any]:
        return {"coinjoin": self.coinjoin.to_json() if self.coinjoin else None,
                "change": self.change.to_json() if self.change else None}


def marks_for(store: Store, chain: str, tx_ids: Iterable[int], graph: Any = None) -> dict[int, TxMarks]:
    """CoinJoin verdict and likely change output of each transaction `tx_ids` of UTXO chain `chain`.

    Transactions not in the store are left out of the result. `graph`: the chain's loaded graph
    index, which gives parents, spenders and spent-by links from memory instead of joins over
    every input of the chain (a trace's marks in milliseconds instead of a quarter second).
    """
    want = sorted({int(t) for t in tx_ids})
    if not want:
        return {}
    with store.query() as con:
        view = _load_view(con, chain.replace("-", "_"), want, graph)
    if len(view) == 0:
        return {}
    cj = coinjoin_rules.detect(view)
    ch = change_rules.consensus(view)
    rows = np.searchsorted(view.tx_id, np.asarray(want, np.int64))
    out: dict[int, TxMarks] = {}
    for t, i in zip(want, rows.tolist()):
        if i >= len(view) or int(view.tx_id[i]) != t:
            continue
        proto = int(cj.protocol[i])
        cmark = (CoinJoinMark(coinjoin_rules.PROTOCOL_NAMES[proto], float(cj.confidence[i]))
                 if proto != coinjoin_rules.NONE else None)
        k = int(ch.out_index[i])
        chmark = None
        if k >= 0:
            bits = int(ch.votes[i])
            chmark = ChangeMark(int(view.out_id[k]), k - int(view.out_ptr[i]), int(view.out_value[k]),
                                float(ch.confidence[i]),
                                tuple(n for b, n in enumerate(change_rules.HEURISTIC_NAMES)
                                      if bits >> b & 1))
        out[t] = TxMarks(t, cmark, chmark)
    return out


def _ids(con: duckdb.DuckDBPyConnection, name: str, ids: list[int]) -> None:
    con.register(name, pa.table({"id": pa.array(ids, pa.int64())}))


def _col(tbl: pa.Table, name: str, dtype: type, fill: int = UNKNOWN) -> np.ndarray:
    col = tbl.column(name)
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy().astype(dtype, copy=False)


def _near_in_graph(graph: Any, want: list[int]) -> set[int]:
    """Parents and spenders of `want`, from the graph index."""
    near: set[int] = set()
    for t in want:
        if t >= graph.n_tx:
            continue
        prev = np.asarray(graph.inputs_of(t))
        prev = prev[prev >= 0]
        if prev.size:
            near.update((np.searchsorted(graph.tx_first_out, prev, side="right") - 1).tolist())
        outs = graph.outputs_of(t)
        spenders = np.asarray(graph.out_spent_by[outs.start:outs.stop])
        near.update(spenders[spenders >= 0].tolist())
    return near


def _load_view(con: duckdb.DuckDBPyConnection, p: str, want: list[int], graph: Any = None) -> TxView:
    """A `TxView` of `want` plus their parents and spenders (the context the rules look at)."""
    if graph is not None:
        ids = sorted(set(want) | _near_in_graph(graph, want))
        return _view_of(con, p, ids, graph)
    _ids(con, "_mk_want", want)
    try:
        near = con.sql(
            f"""SELECT o.tx_id FROM {p}_inputs i JOIN {p}_outputs o ON o.output_id = i.prev_output_id
                WHERE i.tx_id IN (SELECT id FROM _mk_want)
                UNION
                SELECT i.tx_id FROM {p}_inputs i JOIN {p}_outputs o ON o.output_id = i.prev_output_id
                WHERE o.tx_id IN (SELECT id FROM _mk_want)""").fetchall()
    finally:
        con.unregister("_mk_want")
    ids = sorted(set(want) | {int(r[0]) for r in near})
    return _view_of(con, p, ids, None)


def _view_of(con: duckdb.DuckDBPyConnection, p: str, ids: list[int], graph: Any) -> TxView:
    """The `TxView` of transactions `ids`; spent-by links from `graph` when given, else a join."""
    _ids(con, "_mk_view", ids)
    try:
        txs = con.sql(
            f"""SELECT t.tx_id, coalesce(t.block_height, -1) AS height, coalesce(b.time, 0) AS time,
                       t.version, t.locktime, t.is_coinbase
                FROM {p}_transactions t LEFT JOIN {p}_blocks b ON t.block_id = b.block_id
                WHERE t.tx_id IN (SELECT id FROM _mk_view) ORDER BY t.tx_id""").to_arrow_table()
        ins = con.sql(
            f"""SELECT i.tx_id, i.prev_output_id, i.value, i.address_id, i.sequence,
                       coalesce(a.script_type, 0) AS script
                FROM {p}_inputs i LEFT JOIN {p}_addresses a ON a.address_id = i.address_id
                WHERE i.tx_id IN (SELECT id FROM _mk_view) ORDER BY i.tx_id, i.n""").to_arrow_table()
        outs = con.sql(
            f"""SELECT o.output_id, o.tx_id, o.value, o.script_type, o.address_id, a.first_tx_id
                FROM {p}_outputs o LEFT JOIN {p}_addresses a ON a.address_id = o.address_id
                WHERE o.tx_id IN (SELECT id FROM _mk_view) ORDER BY o.tx_id, o.n""").to_arrow_table()
        spent = None if graph is not None else con.sql(
            f"""SELECT i.prev_output_id, i.tx_id FROM {p}_inputs i JOIN {p}_outputs o
                  ON o.output_id = i.prev_output_id
                WHERE o.tx_id IN (SELECT id FROM _mk_view)""").to_arrow_table()
    finally:
        con.unregister("_mk_view")
    out_id = _col(outs, "output_id", np.int64)
    spent_by = np.full(out_id.shape, UNKNOWN, np.int64)
    if spent is None:
        known = out_id < graph.n_outputs
        by = np.asarray(graph.out_spent_by)[out_id[known]]
        spent_by[known] = np.where(by >= 0, by, UNKNOWN)
    else:
        pos = np.searchsorted(out_id, _col(spent, "prev_output_id", np.int64))
        spent_by[pos] = _col(spent, "tx_id", np.int64)
    tx_id = _col(txs, "tx_id", np.int64)
    in_ptr = np.zeros(tx_id.size + 1, np.int64)
    out_ptr = np.zeros(tx_id.size + 1, np.int64)
    in_ptr[1:] = np.searchsorted(_col(ins, "tx_id", np.int64), tx_id, side="right")
    out_ptr[1:] = np.searchsorted(_col(outs, "tx_id", np.int64), tx_id, side="right")
    out_address = _col(outs, "address_id", np.int64)
    first = _col(outs, "first_tx_id", np.int64)
    return TxView(
        tx_id=tx_id, height=_col(txs, "height", np.int64), time=_col(txs, "time", np.int64, 0),
        version=_col(txs, "version", np.int64, 0), locktime=_col(txs, "locktime", np.int64, 0),
        is_coinbase=_col(txs, "is_coinbase", np.bool_, 0), in_ptr=in_ptr,
        in_address=_col(ins, "address_id", np.int64), in_value=_col(ins, "value", np.int64),
        in_script=_col(ins, "script", np.int64, 0), in_sequence=_col(ins, "sequence", np.int64, 0),
        in_prev_output=_col(ins, "prev_output_id", np.int64), out_ptr=out_ptr, out_id=out_id,
        out_address=out_address, out_value=_col(outs, "value", np.int64, 0),
        out_script=_col(outs, "script_type", np.uint8, 0),
        out_addr_first_tx=np.where(out_address >= 0, first, UNKNOWN), out_spent_by=spent_by)


def annotate(doc: dict[str, Any], marks: dict[str, TxMarks]) -> dict[str, Any]:
    """Add `coinjoin` and `change` to each node of a trace's JSON (`trace.report.to_json`), from
    marks keyed by display txid; returns `doc`. Adds `summary.coinjoins` (txids met)."""
    met = []
    for node in doc.get("graph", {}).get("nodes", []):
        m = marks.get(node["txid"])
        node.update(m.to_json() if m else {"coinjoin": None, "change": None})
        if m and m.coinjoin:
            met.append({"txid": node["txid"], **m.coinjoin.to_json()})
    doc.setdefault("summary", {})["coinjoins"] = met
    return doc


def render_lines(doc: dict[str, Any], *, top: int = 25) -> list[str]:
    """Text lines for a trace report: the CoinJoins the traced value met and the likely change
    outputs it passed (inferences, with their confidence), from an annotated doc."""
    nodes = doc.get("graph", {}).get("nodes", [])
    cj = [n for n in nodes if n.get("coinjoin")]
    ch = [n for n in nodes if n.get("change")]
    lines: list[str] = []
    if cj:
        lines.append(f"\nCoinJoins met ({len(cj)}; after one, which output is whose is not on chain):")
        lines += [f"  {n['txid']}  {n['coinjoin']['protocol']} (confidence "
                  f"{n['coinjoin']['confidence']:.2f}), block {n['height']}" for n in cj[:top]]
        lines += [f"  ... {len(cj) - top} more (use --json for all)"] if len(cj) > top else []
    if ch:
        lines.append(f"\nLikely change (heuristics' consensus; inference, not fact) in {len(ch)} "
                     "transaction(s):")
        lines += [f"  {n['txid']}:{n['change']['vout']}  {n['change']['value_sat'] / 1e8:,.8f} BTC "
                  f"(confidence {n['change']['confidence']:.2f}: {', '.join(n['change']['votes'])})"
                  for n in ch[:top]]
        lines += [f"  ... {len(ch) - top} more (use --json for all)"] if len(ch) > top else []
    return lines


def trace_marks(store: Store, chain: str, graph: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """Mark the nodes of a trace's JSON in place: one call for the CLI after `report.to_json`."""
    by_txid = {}
    for node in doc.get("graph", {}).get("nodes", []):
        t = graph.find_tx(bytes.fromhex(node["txid"])[::-1])
        if t >= 0:
            by_txid[t] = node["txid"]
    found = marks_for(store, chain, by_txid, graph)
    return annotate(doc, {by_txid[t]: m for t, m in found.items()})
