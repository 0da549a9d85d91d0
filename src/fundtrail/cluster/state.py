"""The state a clustering run starts from, and the checkpoint it may leave behind.

A run starts from the last checkpoint of its lineage (union-find arrays and address facts,
memory-mapped copy-on-write) plus the journal: the evidence of the runs since, replayed, and the
facts of the addresses each of them added. So an incremental run touches only the pages of the
addresses its transactions involve, and reads from the lake only the addresses added since the
last run. A checkpoint writes the arrays again, with spare capacity so that later runs' new
addresses fit without a copy (docs/clustering.md).

A process that runs again after its own run (a follow-mode service) keeps the state in memory
(`keep`): the next run starts from it instead of replaying the journal, which would otherwise cost
more with every run until the next checkpoint. After a checkpoint the state is dropped, so the
next run maps the fresh checkpoint and the memory its changes took is returned.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fundtrail.cluster import overrides, runs
from fundtrail.cluster.snapshot import Snapshot
from fundtrail.cluster.txview import UNKNOWN, AddressFacts
from fundtrail.cluster.unionfind import UnionFind, count_members
from fundtrail.store import Store
from fundtrail.store.spill import Spill

# (store directory, chain) -> (the run a kept state is the result of, the state)
_KEPT: dict[tuple[str, str], tuple[int, RunState]] = {}
_KEPT_GUARD = threading.Lock()


@dataclass
class RunState:
    """Union-find, address facts (UTXO chains) and what the journal since the checkpoint holds."""

    uf: UnionFind
    script: np.ndarray | None = None
    first_tx: np.ndarray | None = None
    facts_n: int = 0  # facts are filled for address ids below this
    journal_runs: int = 0
    journal_edges: int = 0
    grew: bool = False
    spill: Spill | None = None  # the run's memory budget: where its arrays go (store.spill)

    def facts(self) -> AddressFacts:
        assert self.script is not None and self.first_tx is not None
        return AddressFacts(script=self.script, first_tx=self.first_tx)


def start(store: Store, chain: str, lineage: list[runs.RunRecord], family: str,
          spill: Spill | None = None) -> RunState:
    """The state after the last run of `lineage` (an empty state when there is none): the one this
    process kept after that run if it did, else the checkpoint and the journal since. Arrays the
    run grows or makes are placed by `spill` (in memory without it)."""
    with _KEPT_GUARD:  # taken out: a run that fails half-way must not leave a half-changed state
        kept = _KEPT.pop(_key(store, chain), None)
    if not lineage:
        return RunState(UnionFind(0, spill=spill), spill=spill)
    if kept is not None and kept[0] == lineage[-1].run_id:
        kept[1].spill = kept[1].uf.spill = spill
        return kept[1]
    ckpt, journal = runs.since_checkpoint(lineage)
    n0 = int(ckpt.n_addresses or 0)
    uf = UnionFind.from_arrays(_writable(runs.load_array(store, ckpt, runs.PARENT), "uf_parent", spill),
                               _writable(runs.load_array(store, ckpt, runs.SIZE), "uf_size", spill), n0, spill)
    st = RunState(uf, journal_runs=len(journal), journal_edges=sum(int(r.n_unions or 0) for r in journal),
                  spill=spill)
    if family == "utxo":
        st.script = runs.load_array(store, ckpt, runs.FACT_SCRIPT)
        st.first_tx = runs.load_array(store, ckpt, runs.FACT_FIRST)
        st.facts_n = n0
    grow(st, int(lineage[-1].n_addresses or 0))
    if st.script is not None:
        _journal_facts(store, st, journal)
    uf.union_count(*runs.load_journal(store, journal))
    return st


def _writable(mapped: np.ndarray, name: str, spill: Spill | None) -> np.ndarray:
    """A checkpoint array the run may change: the copy-on-write mapping itself (only the pages the
    run changes become memory) unless a budget cannot hold the whole array; then a copy placed by
    the budget (a file), so that a run touching every page still stays within it."""
    if spill is None:
        return mapped
    if spill.fits(mapped.nbytes):
        spill.used += mapped.nbytes  # counted as kept: the run may touch every page
        return mapped
    out = spill.array(name, mapped.shape[0], mapped.dtype)
    _copy(out, mapped, mapped.shape[0], spill)
    return out


def keep(store: Store, chain: str, run_id: int, st: RunState, *, checkpoint: bool, n_unions: int) -> None:
    """Keep the state after committed run `run_id` for this process's next run (not after a
    checkpoint: the next run maps the new checkpoint instead)."""
    if checkpoint:
        return
    st.journal_runs += 1
    st.journal_edges += n_unions
    st.grew = False
    with _KEPT_GUARD:
        _KEPT[_key(store, chain)] = (run_id, st)


def forget(store: Store | None = None, chain: str | None = None) -> None:
    """Drop the states this process kept: all of them, or those of one store (and chain)."""
    root = str(store.root.resolve()) if store is not None else None
    with _KEPT_GUARD:
        for key in [k for k in _KEPT if root in (None, k[0]) and chain in (None, k[1])]:
            del _KEPT[key]


def _key(store: Store, chain: str) -> tuple[str, str]:
    return str(store.root.resolve()), chain


def _journal_facts(store: Store, st: RunState, journal: list[runs.RunRecord]) -> None:
    """Facts of the addresses the journal runs added, from their files (stops at the first run
    without one: the lake has the rest)."""
    for r in journal:
        got = runs.load_new_facts(store, r)
        if got is None or got[0] > st.facts_n:
            return
        lo, script, first = got
        hi = lo + script.shape[0]
        assert st.script is not None and st.first_tx is not None  # called with the facts loaded
        st.script[lo:hi] = script
        st.first_tx[lo:hi] = first
        st.facts_n = max(st.facts_n, hi)


def grow(st: RunState, n: int) -> None:
    """Room for address ids below `n` (noting whether arrays had to be reallocated)."""
    st.grew = st.uf.grow(n) or st.grew
    if st.script is not None and n > st.script.shape[0]:
        script, first = _new_facts(st, st.uf.capacity)
        assert st.first_tx is not None  # set with st.script
        _copy(script, st.script, st.facts_n, st.spill)
        _copy(first, st.first_tx, st.facts_n, st.spill)
        st.script, st.first_tx, st.grew = script, first, True


def _new_facts(st: RunState, cap: int) -> tuple[np.ndarray, np.ndarray]:
    if st.spill is None:
        return np.zeros(cap, np.uint8), np.full(cap, UNKNOWN, np.int64)
    return st.spill.array("fact_script", cap, np.uint8, 0), st.spill.array("fact_first", cap, np.int64, UNKNOWN)


def _copy(dst: np.ndarray, src: np.ndarray, n: int, spill: Spill | None) -> None:
    """dst[:n] = src[:n], a chunk at a time under a budget (either side may be a mapped file)."""
    step = spill.rows(16) if spill is not None else max(1, n)
    for lo in range(0, n, step):
        dst[lo:min(lo + step, n)] = src[lo:min(lo + step, n)]


def _load_all_facts(st: RunState, snap: Snapshot, n: int) -> None:
    """First load of the facts, a range of address ids at a time into arrays the budget places
    (the same arrays `AddressFacts.load` and `grow` make in memory)."""
    assert st.spill is not None
    top = int(snap.con.execute(f"SELECT coalesce(max(address_id), -1) + 1 FROM {snap.prefix}_addresses"
                               ).fetchall()[0][0])
    st.uf.grow(max(n, top))
    st.script, st.first_tx = _new_facts(st, max(st.uf.capacity, top))
    step = st.spill.rows(64)
    for lo in range(0, top, step):
        tbl = snap.con.sql(f"SELECT address_id, script_type, first_tx_id FROM {snap.prefix}_addresses "
                           f"WHERE address_id >= {lo} AND address_id < {lo + step}").to_arrow_table()
        ids = tbl.column(0).to_numpy().astype(np.int64)
        st.script[ids] = tbl.column(1).to_numpy()
        st.first_tx[ids] = tbl.column(2).fill_null(UNKNOWN).to_numpy()
    st.facts_n = top
    grow(st, max(n, top))


def load_facts(st: RunState, snap: Snapshot, n: int) -> AddressFacts:
    """Address facts for ids below `n`: all of them on a first run, else the cached ones plus the
    addresses added since (the lake's address partitions are in id order, so DuckDB reads only the
    new ones)."""
    if st.script is None and st.spill is not None:
        _load_all_facts(st, snap, n)
        return st.facts()
    if st.script is None:
        full = AddressFacts.load(snap.con, snap.prefix)
        st.script, st.first_tx, st.facts_n = full.script, full.first_tx, full.script.shape[0]
        grow(st, max(n, st.facts_n))
        return st.facts()
    if n > st.facts_n:
        grow(st, n)
        tbl = snap.con.sql(f"SELECT address_id, script_type, first_tx_id FROM {snap.prefix}_addresses "
                           f"WHERE address_id >= {st.facts_n}").to_arrow_table()
        ids = tbl.column(0).to_numpy().astype(np.int64)
        assert st.script is not None and st.first_tx is not None  # loaded above, grown by grow()
        st.script[ids] = tbl.column(1).to_numpy()
        st.first_tx[ids] = tbl.column(2).fill_null(UNKNOWN).to_numpy()
        st.facts_n = n
    return st.facts()


def checkpoint_files(st: RunState, labels: np.ndarray, ovs: list[overrides.Override]
                     ) -> tuple[dict[str, np.ndarray], pa.Table | Iterator[pa.Table]]:
    """The arrays and the mapping a checkpoint writes (spare capacity: a quarter more ids), placed
    by the run's budget; with a budget the mapping is made a range at a time as it is written."""
    uf, n, sp = st.uf, len(st.uf), st.spill
    cap = max(uf.capacity, n + n // 4 + 1024)
    parent = sp.arange("ckpt_parent", cap) if sp is not None else np.arange(cap, dtype=np.int64)
    _copy(parent, labels, n, sp)
    size = sp.array("ckpt_size", cap, np.int64, 1) if sp is not None else np.ones(cap, np.int64)
    _copy(size, uf.size, n, sp)
    arrays: dict[str, np.ndarray] = {runs.PARENT: parent, runs.SIZE: size}
    if st.script is not None:
        script, first = _new_facts(st, cap)
        assert st.first_tx is not None  # set with st.script
        _copy(script, st.script, st.facts_n, sp)
        _copy(first, st.first_tx, st.facts_n, sp)
        arrays[runs.FACT_SCRIPT], arrays[runs.FACT_FIRST] = script, first
    post = labels
    if ovs and sp is None:
        post = overrides.apply(labels, ovs)
    elif ovs and sp is not None:  # a copy placed by the budget, the overrides applied a range at a time
        post = sp.array("ckpt_post", n, np.int64)
        _copy(post, labels, n, sp)
        overrides.apply_in_place(post, ovs, sp.rows(16))
    if sp is None:
        post_size = np.bincount(post, minlength=n) if n else np.zeros(0, np.int64)
        multi = np.flatnonzero(post_size[post] >= 2)
        return arrays, pa.table({"address_id": pa.array(multi, pa.int64()),
                                 "cluster_id": pa.array(post[multi], pa.int64())})
    post_size = count_members(post, sp.array("ckpt_members", n, np.int64, 0))
    return arrays, _mapping_parts(post, post_size, sp.rows(32))


def _mapping_parts(post: np.ndarray, post_size: np.ndarray, step: int) -> Iterator[pa.Table]:
    """The mapping a range of address ids at a time (written as it is made: `runs.finish_run_dir`)."""
    for lo in range(0, post.shape[0], step):
        ids = np.flatnonzero(post_size[post[lo:lo + step]] >= 2) + lo
        yield pa.table({"address_id": pa.array(ids, pa.int64()), "cluster_id": pa.array(post[ids], pa.int64())})
