"""The clustering engine: stream transactions, form heuristic links, union them, keep the evidence.

`run_clustering` picks up where the last completed run of the chain stopped (incremental) when it
can: same heuristics and floors, and the chain not rolled back below the processed point.
Otherwise it recomputes from scratch and says why. Either way the result is one committed run
(`cluster/runs.py`): the evidence edges it added and, at checkpoints, the union-find state and
the full mapping.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fundtrail.cluster import change, coinjoin, delegation, deposit, overrides, runs, state
from fundtrail.cluster.evidence import EvidenceSink
from fundtrail.cluster.guard import (
    GuardLimits,
    ServiceLabels,
    Suspect,
    growth,
    service_conflicts,
)
from fundtrail.cluster.links import (
    CHANGE,
    DELEGATION,
    DEPOSIT,
    HEURISTIC_BY_CODE,
    HEURISTIC_CODES,
    MULTI_INPUT,
    LinkBatch,
    change_links,
    multi_input_links,
)
from fundtrail.cluster.snapshot import (
    Capture,
    Snapshot,
    block_hash,
    capture,
    open_snapshot,
)
from fundtrail.cluster.txview import load_txview
from fundtrail.cluster.unionfind import UnionFind
from fundtrail.errors import UsageError
from fundtrail.ingest.crash import crash_point
from fundtrail.store import Store
from fundtrail.store.engine import session
from fundtrail.store.spill import Spill, default_limit

Progress = Callable[[int, int], None]
#: Transactions per chunk, under a memory limit too: the change heuristics look for a spender inside
#: the chunk, so chunk boundaries change their links; a chunk's temporaries are a constant (~160 MB).
CHUNK_TXS = 250_000
#: An incremental run of at most this many new transactions keeps its catalog connection throughout.
HOLD_CATALOG_TXS = 50_000
#: A run becomes a checkpoint (writes the union-find arrays) after this many runs without one.
MAX_JOURNAL_RUNS = 64
_ALIASES = {"multi-input": MULTI_INPUT, "multi_input": MULTI_INPUT, "change": CHANGE, "deposit": DEPOSIT,
            "delegation": DELEGATION}


@dataclass(frozen=True)
class RunSummary:
    """What a clustering run did: mode and why, ranges, counts, and the clusters the guard flags."""

    run_id: int
    chain: str
    mode: str
    reason: str
    heuristics: tuple[str, ...]
    change_floor: float | None
    coinjoin_floor: float | None
    tx_lo: int
    tx_hi: int
    n_tx: int
    revisited_tx: int
    n_links: int
    n_unions: int
    n_addresses: int
    n_clusters: int
    largest: int
    seconds: float
    suspects: list[Suspect] = field(default_factory=list)

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "suspects"}
        d["heuristics"] = list(self.heuristics)
        d["suspects"] = [s.to_json() for s in self.suspects]
        return d


def parse_heuristics(names: Iterable[str]) -> tuple[str, ...]:
    """Canonical heuristic names (`multi-input` and `multi_input` alike), in a fixed order."""
    out = set()
    for name in names:
        key = name.strip().lower()
        if key not in _ALIASES:
            raise UsageError(f"unknown heuristic {name!r}; known: multi-input, change, deposit, delegation",
                             field="heuristics")
        out.add(_ALIASES[key])
    if not out:
        raise UsageError("heuristics names none; give e.g. multi-input", field="heuristics")
    return tuple(h for h in HEURISTIC_BY_CODE if h in out)


def check_params(family: str, heuristics: tuple[str, ...], change_floor: float | None,
                 coinjoin_floor: float) -> tuple[tuple[str, ...], float | None]:
    """The heuristics and change floor a run of a `family` chain uses; UsageError for a bad
    combination (callers check before slow preparation, the run checks again)."""
    for name, value in (("change_floor", change_floor), ("coinjoin_floor", coinjoin_floor)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise UsageError(f"{name} must be between 0 and 1, got {value}", field=name)
    if family == "account":
        bad = [h for h in heuristics if h not in (DEPOSIT, MULTI_INPUT, DELEGATION)]
        if bad:
            raise UsageError(f"heuristic {bad[0]} applies to UTXO chains only; account chains use deposit "
                             "(and, opt-in, delegation)", field="heuristics")
        return ((DEPOSIT, DELEGATION) if DELEGATION in heuristics else (DEPOSIT,)), None
    for account_only in (DEPOSIT, DELEGATION):
        if account_only in heuristics:
            raise UsageError(f"the {account_only} heuristic applies to account chains only", field="heuristics")
    if CHANGE in heuristics and change_floor is None:
        raise UsageError("change_floor is required with the change heuristic: a confidence floor "
                         "between 0 and 1 (e.g. 0.9)", field="change_floor")
    if CHANGE not in heuristics:
        change_floor = None
    return heuristics, change_floor


def _decide(cat, cap: Capture, prev: runs.RunRecord | None, lin: list[runs.RunRecord], params: tuple,
            full: bool, store: Store) -> tuple[str, str]:
    if cap.family == "account":
        return "full", "account chains are clustered in full (deposit links span the whole chain)"
    if full:
        return "full", "full recompute requested"
    if prev is None:
        return "full", "first clustering run of this chain"
    if prev.params() != params:
        return "full", (f"heuristics or floors differ from run {prev.run_id} "
                        f"({prev.heuristics}, change floor {prev.change_floor}, coinjoin floor "
                        f"{prev.coinjoin_floor}); recomputing")
    next_tx = cap.batches[-1].next_tx_id if cap.batches else 0
    rolled = next_tx < (prev.tx_hi or 0)
    if prev.last_block_id is not None and prev.last_block_id >= 0:
        rolled = rolled or block_hash(cat, cap.chain, prev.last_block_id) != prev.last_block_hash
    if rolled:
        return "full", (f"the chain was rolled back below run {prev.run_id}'s processed point "
                        f"(block id {prev.last_block_id}); recomputing")
    ckpt = next((r for r in reversed(lin) if r.checkpoint), None)
    arrays = (runs.PARENT, runs.SIZE, runs.FACT_SCRIPT, runs.FACT_FIRST)
    if ckpt is None or any(not (runs.run_dir(store, ckpt) / a).exists() for a in arrays) or any(
            not p.exists() for p in runs.forest_files(store, lin)):
        return "full", f"state files of run {prev.run_id} are missing; recomputing"
    return "incremental", f"continuing from run {prev.run_id} (transactions from id {prev.tx_hi})"


def _utxo_links(view, plan: _Plan) -> LinkBatch:
    cj = coinjoin.detect(view)
    parts = []
    if MULTI_INPUT in plan.heuristics:
        parts.append(multi_input_links(view, cj, plan.coinjoin_floor))
    if CHANGE in plan.heuristics and plan.change_floor is not None:
        parts.append(change_links(view, cj, change.consensus(view), plan.coinjoin_floor, plan.change_floor))
    return LinkBatch.concat(parts)


def _late_linked_txs(store: Store, cap: Capture, prev: runs.RunRecord) -> np.ndarray:
    """Transactions below the processed point whose inputs were resolved by batches added since."""
    files = [store.lake / cap.chain / f for b in cap.batches if b.batch_id > (prev.last_batch_id or -1)
             for f in b.files if f.startswith("input_links/")]
    if not files:
        return np.zeros(0, np.int64)
    con = session()
    try:  # paths as a parameter: a store path may hold any character, a quote included
        tbl = con.sql("SELECT DISTINCT tx_id FROM read_parquet($1) WHERE tx_id < $2 ORDER BY tx_id",
                      params=[[p.as_posix() for p in files], int(prev.tx_hi or 0)]).to_arrow_table()
    finally:
        con.close()
    return tbl.column(0).to_numpy().astype(np.int64)


def _ranges(ids: np.ndarray) -> list[tuple[int, int]]:
    if not ids.size:
        return []
    breaks = np.flatnonzero(np.diff(ids) != 1) + 1
    return [(int(g[0]), int(g[-1]) + 1) for g in np.split(ids, breaks)]


def txid_hex(con, prefix: str, family: str, tx_ids: Iterable[int]) -> dict[int, str]:
    """Display hex of transaction ids (byte-reversed for UTXO chains, 0x-hex for account chains)."""
    ids = sorted({int(t) for t in tx_ids if t is not None and t >= 0})
    if not ids:
        return {}
    col = "hash" if family == "account" else "txid"
    con.register("_want_tx", pa.table({"tx_id": pa.array(ids, pa.int64())}))
    rows = con.execute(f"SELECT t.tx_id, t.{col} FROM {prefix}_transactions t "
                       "JOIN _want_tx w USING (tx_id)").fetchall()
    con.unregister("_want_tx")
    if family == "account":
        from fundtrail.store.txhash import tx_hash_text

        name = prefix.replace("_", "-")  # TRON writes txids without 0x
        return {int(t): tx_hash_text(bytes(h), chain=name) for t, h in rows}
    return {int(t): bytes(h)[::-1].hex() for t, h in rows}


def run_clustering(store: Store, chain: str, *, heuristics: Iterable[str] = (MULTI_INPUT,),
                   change_floor: float | None = None, coinjoin_floor: float = 0.5, full: bool = False,
                   progress: Progress | None = None, hot_wallets: Iterable[int] = (),
                   service_labels: ServiceLabels | None = None, limits: GuardLimits | None = None,
                   chunk_txs: int = CHUNK_TXS, memory_limit: int | None = None) -> RunSummary:
    """Cluster `chain`'s addresses (incrementally when possible) and commit the result as one run,
    within `memory_limit` bytes (default `store.spill.default_limit()`): the union-find, the
    address facts and the checkpoint arrays spill to files beyond it (transactions are read in
    chunks of `chunk_txs` whatever the limit: see CHUNK_TXS)."""
    t0 = time.perf_counter()
    limit = default_limit() if memory_limit is None else memory_limit
    names = parse_heuristics(heuristics)
    held = contextlib.ExitStack()
    with runs.run_lock(store, chain), held, Spill(store.root, limit, "cluster") as spill:
        # one catalog connection for everything the run needs to know before it starts; a small
        # incremental run keeps it to the end (other processes wait that long), which saves the
        # catalog's closing and reopening: a tenth of a one-block update
        cat = held.enter_context(store.connect())
        cap = capture(store, chain, cat)
        heur, change_floor = check_params(cap.family, names, change_floor, coinjoin_floor)
        params = (",".join(heur), change_floor, coinjoin_floor)
        runs.recover(store, chain, cat)
        prev = runs.latest_run(store, chain, cat)
        lin = runs.lineage(store, prev, cat) if prev else []
        mode, reason = _decide(cat, cap, prev, lin, params, full, store)
        ovs = overrides.list_overrides(store, chain, con=cat)
        incremental = mode == "incremental"
        base = prev if incremental else None  # the run this one continues (an incremental run has one)
        run_id = runs.begin(cat, chain, mode, reason, base.run_id if base is not None else None, *params)
        if not (base is not None and cap.batches[-1].next_tx_id - int(base.tx_hi or 0) <= HOLD_CATALOG_TXS):
            held.close()
        plan = _Plan(run_id, mode, reason, base, lin if incremental else [], heur,
                     change_floor, coinjoin_floor, list(hot_wallets), service_labels, limits or GuardLimits(),
                     chunk_txs, ovs)
        try:
            st = state.start(store, chain, plan.lineage, cap.family, spill)
            revisit = np.zeros(0, np.int64)
            tx_from = address_from = 0
            if base is not None:  # read only the batches the new and revisited transactions are in
                revisit = _late_linked_txs(store, cap, base) if cap.family == "utxo" else revisit
                tx_from = min(int(base.tx_hi or 0), int(revisit[0]) if revisit.size else int(base.tx_hi or 0))
                address_from = st.facts_n
            with open_snapshot(store, chain, cap, tx_from=tx_from, address_from=address_from) as snap:
                return _run(store, snap, plan, st, revisit, progress, t0)
        except KeyboardInterrupt:
            runs.fail(store, run_id, "interrupted", "interrupted by the user")
            raise
        except Exception as exc:
            runs.fail(store, run_id, "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise


@dataclass(frozen=True)
class _Plan:
    run_id: int
    mode: str
    reason: str
    prev: runs.RunRecord | None
    lineage: list[runs.RunRecord]
    heuristics: tuple[str, ...]
    change_floor: float | None
    coinjoin_floor: float
    hot_wallets: list[int]
    service_labels: ServiceLabels | None
    limits: GuardLimits
    chunk_txs: int
    overrides: list[overrides.Override]


def _run(store: Store, snap: Snapshot, plan: _Plan, st: state.RunState, revisit: np.ndarray,
         progress: Progress | None, t0: float) -> RunSummary:
    prev = plan.prev
    uf = st.uf
    n = snap.n_addresses
    facts_lo = st.facts_n  # facts of addresses from here on are read from the lake in this run
    tx_lo, tx_hi = (int(prev.tx_hi or 0) if prev else 0), snap.next_tx_id
    tmp = runs.new_run_dir(store, snap.chain, plan.run_id)
    sink = EvidenceSink(uf, snap, tmp / runs.EVIDENCE, plan.limits, growth=prev is not None,
                        touched=plan.service_labels is not None)
    if snap.family == "account":
        state.grow(st, max(n, _account_addresses(snap)))
        found = [(DEPOSIT, deposit.deposit_links(snap.con, snap.chain, plan.hot_wallets))]
        if DELEGATION in plan.heuristics:  # opt-in: energy rental markets delegate to strangers
            found.append((DELEGATION, delegation.delegation_links(snap.con, snap.chain)))
        for name, links in found:
            sink.add(LinkBatch(np.asarray(links.a, np.int64), np.asarray(links.b, np.int64),
                               np.asarray(links.tx_id, np.int64),
                               np.full(len(links.a), HEURISTIC_CODES[name], np.uint8),
                               np.asarray(links.confidence, np.float32)))
    else:
        state.grow(st, n)
        def add_range(lo: int, hi: int) -> None:
            view = load_txview(snap.con, snap.chain, lo, hi, state.load_facts(st, snap, n), txids=True)
            sink.add(_utxo_links(view, plan), view)

        for lo, hi in _ranges(revisit):
            add_range(lo, hi)
        for lo in range(tx_lo, tx_hi, plan.chunk_txs):
            hi = min(lo + plan.chunk_txs, tx_hi)
            add_range(lo, hi)
            crash_point("cluster_chunk")
            if progress:
                progress(hi - tx_lo, tx_hi - tx_lo)
    sink.close()
    checkpoint = (prev is None or st.grew or st.journal_runs + 1 >= MAX_JOURNAL_RUNS
                  or st.journal_edges + sink.n_unions > max(1_000_000, len(uf) // 8))
    files = None
    if checkpoint:
        if snap.family == "utxo":
            state.load_facts(st, snap, len(uf))  # a checkpoint caches the facts of every address
        labels = uf.labels(st.spill.array("labels", len(uf), np.int64) if st.spill is not None else None)
        n_clusters, largest = _cluster_counts(uf, labels, st.spill.rows(24) if st.spill is not None else len(uf))
        files = state.checkpoint_files(st, labels, plan.overrides)
    else:  # counted from the unions, without a pass over every address
        assert prev is not None  # no checkpoint: the run continues `prev`
        n_clusters = int(prev.n_clusters or 0) + sink.cluster_delta
        largest = max(int(prev.largest or 0), sink.largest_join)
    suspects = _suspects(snap, uf, sink, plan, labels if checkpoint else None)
    forest_before = runs.forest_files(store, plan.lineage) if checkpoint and plan.lineage else None
    new_facts = None
    if not checkpoint and st.script is not None:
        assert st.first_tx is not None  # set with st.script
        new_facts = (facts_lo, st.script[facts_lo:st.facts_n].copy(), st.first_tx[facts_lo:st.facts_n].copy())
    path = runs.finish_run_dir(store, snap.chain, plan.run_id, tmp, files, forest_before, new_facts,
                               sink.union_pairs())
    crash_point("cluster_before_commit")
    values = {
        "tx_lo": tx_lo, "tx_hi": tx_hi, "last_batch_id": snap.last_batch_id, "last_block_id": snap.tip_block_id,
        "last_block_hash": snap.tip_block_hash, "n_addresses": len(uf), "n_tx": tx_hi - tx_lo,
        "n_links": sink.n_links, "n_unions": sink.n_unions, "n_clusters": n_clusters, "largest": largest,
        "path": path, "checkpoint": checkpoint, "suspects": json.dumps([s.to_json() for s in suspects]),
        "overrides_applied": plan.overrides[-1].override_id if plan.overrides else None,
    }
    runs.complete(store, plan.run_id, values)
    if checkpoint:
        runs.drop_superseded_state(store, snap.chain, path)
    state.keep(store, snap.chain, plan.run_id, st, checkpoint=checkpoint, n_unions=sink.n_unions)
    return RunSummary(plan.run_id, snap.chain, plan.mode, plan.reason, plan.heuristics, plan.change_floor,
                      plan.coinjoin_floor if snap.family == "utxo" else None, tx_lo, tx_hi, tx_hi - tx_lo,
                      int(revisit.size), sink.n_links, sink.n_unions, len(uf), n_clusters, largest,
                      round(time.perf_counter() - t0, 3), suspects)


def _cluster_counts(uf: UnionFind, labels: np.ndarray, step: int) -> tuple[int, int]:
    """(clusters of two or more addresses, size of the largest) from the roots, a chunk at a time."""
    n_clusters = largest = 0
    for lo in range(0, len(uf), max(1, step)):
        hi = min(lo + step, len(uf))
        roots = np.flatnonzero(labels[lo:hi] == np.arange(lo, hi)) + lo
        if roots.size:
            sizes = uf.size[roots]
            n_clusters += int((sizes >= 2).sum())
            largest = max(largest, int(sizes.max()))
    return n_clusters, largest


def _account_addresses(snap: Snapshot) -> int:
    row = snap.con.execute(f"SELECT coalesce(max(address_id), -1) + 1 FROM {snap.prefix}_addresses").fetchall()
    return int(row[0][0])


def _suspects(snap: Snapshot, uf: UnionFind, sink: EvidenceSink, plan: _Plan,
              labels: np.ndarray | None = None) -> list[Suspect]:
    """The guard's findings (cluster ids and sizes as the union-find has them, before overrides);
    `labels`: the union-find's labels when the run has made them already."""
    out: list[Suspect] = []
    hexes = txid_hex(snap.con, snap.prefix, snap.family, [j[0] for j in sink.large])
    for t, i, ab, sm in sink.large:
        root = int(uf.find(np.array([i]))[0])
        out.append(Suspect(root, int(uf.size[root]), "large_join",
                           f"transaction {hexes.get(t, t)} joined clusters {i} and {ab} "
                           f"(smaller side {sm:,} addresses)"))
    if sink.core is not None:
        out.extend(growth(uf, sink.core, plan.limits))
    if plan.service_labels is not None:
        touched = sink.touched_roots()
        if touched.size:
            out.extend(service_conflicts(uf.labels() if labels is None else labels,
                                         touched[uf.size[touched] >= 2], uf.size,
                                         plan.service_labels))
    return out
