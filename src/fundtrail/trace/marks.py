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


def marks_for(store: Store, chain: str, tx_ids: Iterable[int], graph: Any = None,
              facts: MarkFacts | None = None) -> dict[int, TxMarks]:
    """CoinJoin verdict and likely change output of each transaction `tx_ids` of UTXO chain `chain`.

    Transactions not in the store are left out of the result. `graph`: the chain's loaded graph
    index, which gives parents, spenders and spent-by links from memory instead of joins over
    every input of the chain (a trace's marks in milliseconds instead of a quarter second).
    `facts` (`MarkFacts.load`, with that graph): the columns the index lacks, so that the view is
    built from memory without any query (a long-lived workspace keeps them).
    """
    want = sorted({int(t) for t in tx_ids})
    if not want:
        return {}
    if graph is not None and facts is not None and facts.fits(graph):
        view = _graph_view(graph, facts, want)
    else:
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


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of `range(starts[k], stops[k])` for every k, as one int64 array."""
    lens = stops - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    return np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total, dtype=np.int64)


def _near_in_graph(graph: Any, want: list[int]) -> set[int]:
    """Parents and spenders of `want`, from the graph index (one vectorised slice per array)."""
    t = np.asarray(want, np.int64)
    t = t[t < graph.n_tx]
    in_ptr, first_out = np.asarray(graph.tx_in_ptr), np.asarray(graph.tx_first_out)
    prev = np.asarray(graph.in_prev)[_ranges(in_ptr[t], in_ptr[t + 1])]
    prev = prev[prev >= 0]
    parents = np.searchsorted(first_out, prev, side="right") - 1
    spenders = np.asarray(graph.out_spent_by)[_ranges(first_out[t], first_out[t + 1])]
    return set(parents.tolist()) | set(spenders[spenders >= 0].tolist())


#: Above this many bytes, `MarkFacts.load` declines (marks then query the lake per trace): the
#: columns are held in memory, sized by the chain (about 30 MB per million transactions).
MAX_FACT_BYTES = 1 << 30


@dataclass(frozen=True)
class MarkFacts:
    """The columns a `TxView` needs that the graph index lacks, for a whole chain, in memory.

    Version and locktime per tx id, sequence per input (in the graph's input order, `tx_in_ptr`),
    script type per output id (outputs without an address have one too) and the first-appearance
    tx of each address id. Four narrow column scans (about 0.1 s for a million transactions) once
    per workspace, instead of three filtered joins over the lake per trace (most of a trace's time).
    Values as the SQL path reads them: nulls are 0 (first tx: UNKNOWN), stored losslessly in the
    smallest integer type that holds them.
    """

    version: np.ndarray
    locktime: np.ndarray
    sequence: np.ndarray
    out_script: np.ndarray
    first_tx: np.ndarray

    def fits(self, graph: Any) -> bool:
        """Whether these facts describe exactly the transactions, inputs, outputs and addresses of `graph`."""
        return (self.version.shape[0] == graph.n_tx and self.sequence.shape[0] == graph.in_prev.shape[0]
                and self.out_script.shape[0] == graph.n_outputs and self.first_tx.shape[0] == graph.n_addresses)

    @classmethod
    def load(cls, store: Store, chain: str, graph: Any, max_bytes: int = MAX_FACT_BYTES) -> MarkFacts | None:
        """The facts of `chain` sized to its loaded `graph` (rows beyond it, written since, are left
        out); None when they would take more than `max_bytes` (a chain of tens of millions of txs)."""
        n_tx, n_in, n_out, n_addr = graph.n_tx, int(graph.in_prev.shape[0]), graph.n_outputs, graph.n_addresses
        if n_tx * 8 + n_in * 4 + n_out + n_addr * 8 > max_bytes:
            return None
        p = chain.replace("-", "_")
        with store.query() as con:
            def read(sql: str, bound: int) -> pa.Table:
                return con.sql(sql.format(p=p), params=[bound]).to_arrow_table()

            tbl = read("SELECT tx_id, version, locktime FROM {p}__transactions WHERE tx_id < ?", n_tx)
            at = _col(tbl, "tx_id", np.int64)
            version = _placed(n_tx, at, _col(tbl, "version", np.int64, 0), 0)
            locktime = _placed(n_tx, at, _col(tbl, "locktime", np.int64, 0), 0)
            tbl = read("SELECT tx_id, n, sequence FROM {p}__inputs WHERE tx_id < ?", n_tx)
            at = np.asarray(graph.tx_in_ptr)[_col(tbl, "tx_id", np.int64)] + _col(tbl, "n", np.int64)
            sequence = _placed(n_in, at, _col(tbl, "sequence", np.int64, 0), 0)
            tbl = read("SELECT output_id, script_type FROM {p}__outputs WHERE output_id < ?", n_out)
            out_script = np.zeros(n_out, np.uint8)
            out_script[_col(tbl, "output_id", np.int64)] = _col(tbl, "script_type", np.uint8, 0)
            tbl = read("SELECT address_id, first_tx_id FROM {p}__addresses WHERE address_id < ?", n_addr)
            first_tx = _placed(n_addr, _col(tbl, "address_id", np.int64), _col(tbl, "first_tx_id", np.int64), UNKNOWN)
        return cls(version=version, locktime=locktime, sequence=sequence, out_script=out_script, first_tx=first_tx)


def _placed(size: int, at: np.ndarray, values: np.ndarray, fill: int) -> np.ndarray:
    """`values` placed at positions `at` of an array of `size` (else `fill`), compacted at once so
    that the load holds one full-width column at a time."""
    out = np.full(size, fill, np.int64)
    out[at] = values
    return _compact(out)


def _compact(a: np.ndarray) -> np.ndarray:
    """`a` in int32 or uint32 when every value fits (lossless), else as it is (int64)."""
    if a.size == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    for dtype in (np.int32, np.uint32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return a.astype(dtype)
    return a


def _graph_view(graph: Any, facts: MarkFacts, want: list[int]) -> TxView:
    """The `TxView` `_load_view` reads from the lake, built from the graph index and `facts` in
    memory: the same transactions (`want`, their parents and spenders), rows and values."""
    ids = np.asarray(sorted(set(want) | _near_in_graph(graph, want)), np.int64)
    ids = ids[(ids >= 0) & (ids < graph.n_tx)]
    # plain views of the memory maps: indexing a np.memmap makes a memmap object per read
    in_ptr_g, first_out, in_prev = (np.asarray(graph.tx_in_ptr), np.asarray(graph.tx_first_out),
                                    np.asarray(graph.in_prev))
    out_address_g, out_value_g = np.asarray(graph.out_address), np.asarray(graph.out_value)
    i0, i1 = in_ptr_g[ids], in_ptr_g[ids + 1]
    o0, o1 = first_out[ids], first_out[ids + 1]
    ipos, out_id = _ranges(i0, i1), _ranges(o0, o1)
    in_ptr = np.zeros(ids.size + 1, np.int64)
    out_ptr = np.zeros(ids.size + 1, np.int64)
    np.cumsum(i1 - i0, out=in_ptr[1:])
    np.cumsum(o1 - o0, out=out_ptr[1:])
    prev = in_prev[ipos].astype(np.int64, copy=False)
    ok = prev >= 0
    in_address = np.full(prev.shape, UNKNOWN, np.int64)
    in_value = np.full(prev.shape, UNKNOWN, np.int64)
    in_address[ok] = out_address_g[prev[ok]]
    in_value[ok] = out_value_g[prev[ok]]
    in_script = np.zeros(prev.shape, np.int64)
    has = in_address >= 0
    in_script[has] = np.asarray(graph.addr_script)[in_address[has]]
    out_address = out_address_g[out_id].astype(np.int64, copy=False)
    first = np.full(out_id.shape, UNKNOWN, np.int64)
    has = out_address >= 0
    first[has] = facts.first_tx[out_address[has]]
    spent_by = np.asarray(graph.out_spent_by)[out_id].astype(np.int64, copy=False)
    return TxView(
        tx_id=ids, height=np.asarray(graph.tx_height)[ids].astype(np.int64, copy=False),
        time=np.asarray(graph.tx_time)[ids].astype(np.int64, copy=False),
        version=facts.version[ids].astype(np.int64), locktime=facts.locktime[ids].astype(np.int64),
        is_coinbase=np.asarray(graph.tx_coinbase)[ids].astype(np.bool_), in_ptr=in_ptr,
        in_address=in_address, in_value=in_value, in_script=in_script,
        in_sequence=facts.sequence[ipos].astype(np.int64), in_prev_output=np.where(ok, prev, UNKNOWN),
        out_ptr=out_ptr, out_id=out_id, out_address=out_address,
        out_value=out_value_g[out_id].astype(np.int64, copy=False), out_script=facts.out_script[out_id],
        out_addr_first_tx=first, out_spent_by=np.where(spent_by >= 0, spent_by, UNKNOWN))


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


def trace_marks(store: Store, chain: str, graph: Any, doc: dict[str, Any],
                facts: MarkFacts | None = None) -> dict[str, Any]:
    """Mark the nodes of a trace's JSON in place: one call for the CLI after `report.to_json`
    (`facts`: the workspace's `MarkFacts` of `graph`, if it keeps them)."""
    by_txid = {}
    for node in doc.get("graph", {}).get("nodes", []):
        t = graph.find_tx(bytes.fromhex(node["txid"])[::-1])
        if t >= 0:
            by_txid[t] = node["txid"]
    found = marks_for(store, chain, by_txid, graph, facts)
    return annotate(doc, {by_txid[t]: m for t, m in found.items()})
