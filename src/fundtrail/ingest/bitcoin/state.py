"""Rebuild ingest state (id counters, address index, unspent outputs) from what the store holds.

The state is derived data: the store is the truth. Rebuilding it from committed batches at the
start of every run is what makes a crash at any point harmless; a snapshot of the arrays, keyed by
the last committed batch, makes the rebuild cheap when nothing changed since the last run.

Under a memory budget (`spill_budget.memory_budget`) the two tables are `SpillingTable`s spilling
to `cache/<chain>/spill-*`; their snapshot holds the hot arrays and names the run files (which are
immutable), and the rebuild streams the lake's rows in record batches, so neither holds more than
the budget. Spill files that no current snapshot names are stale and removed.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fundtrail.ingest.bitcoin.decode import ChainState, Counters, outpoint_keys
from fundtrail.ingest.bitcoin.fptable import FingerprintTable
from fundtrail.ingest.bitcoin.spill import SpillRuns
from fundtrail.ingest.bitcoin.spill_budget import current_budget, table_budgets, test_max_hot
from fundtrail.ingest.bitcoin.spill_table import SpillingTable
from fundtrail.store import Store
from fundtrail.store.partitions import FILE_MODE, make_private_dir
from fundtrail.store.tables import hash32_numpy

log = logging.getLogger(__name__)


_TABLES = (("addr", 1), ("utxo", 3))
_STREAM_ROWS = 1 << 18  # rows per record batch of the rebuild


def _spill_dir(store: Store, chain: str, name: str) -> Path:
    return store.root / "cache" / chain / f"spill-{name}"


def new_state(store: Store, chain: str, *, wipe: bool = True) -> ChainState:
    """Empty state: unbounded tables, or spilling ones when a memory budget is set. With `wipe`,
    spill files of earlier runs are removed first (without: a snapshot's runs are restored next)."""
    state = ChainState()
    budget = current_budget()
    if wipe:
        for name, _ in _TABLES:
            shutil.rmtree(_spill_dir(store, chain, name), ignore_errors=True)
    if budget is None:
        return state
    shares = table_budgets(budget)
    state.addresses = SpillingTable(1, _spill_dir(store, chain, "addr"), shares["addr"], max_hot=test_max_hot())
    state.utxo = SpillingTable(3, _spill_dir(store, chain, "utxo"), shares["utxo"], max_hot=test_max_hot())
    return state


def _tables(state: ChainState) -> dict[str, FingerprintTable]:
    return {"addr": state.addresses, "utxo": state.utxo}


def _snapshot_path(store: Store, chain: str, batch_id: int) -> Path:
    return store.root / "cache" / chain / f"state-{batch_id:08d}.npz"


def _snapshot_key(last: dict) -> str:
    """What identifies the committed batch a snapshot belongs to.

    Batch ids are reused after a rollback and a rollback rewrites the batch it cuts through, so
    the id alone does not identify the store content: counters, files and commit time do.
    """
    parts = [last["batch_id"], last["next_block_id"], last["next_tx_id"], last["next_output_id"],
             last["next_address_id"], last["committed_at"], *sorted(last["files"])]
    return "|".join(str(x) for x in parts)


def snapshot_is_current(store: Store, chain: str) -> bool:
    """Whether a snapshot of the state after the last committed batch exists (it is saved only
    when an ingest run finishes, so False also means the last run was cut short)."""
    last = store.last_batch(chain)
    if last is None:
        return False
    snap = _snapshot_path(store, chain, int(last["batch_id"]))
    try:
        with np.load(snap) as z:
            return str(z["key"]) == _snapshot_key(last)
    except (OSError, KeyError, ValueError):
        return False


def save_snapshot(store: Store, chain: str, state: ChainState) -> None:
    """Persist the state arrays for the last committed batch (a cache; safe to delete)."""
    pending = write_snapshot(store, chain, state)
    if pending is not None:
        pending.publish()


@dataclass
class PendingSnapshot:
    """A snapshot written under a temporary name: not in force until `publish` (so it can be
    written while the caller still decides whether the state will change first)."""

    store: Store
    chain: str
    state: ChainState
    tmp: Path
    path: Path

    def publish(self) -> None:
        """Put the snapshot in force (one rename), then drop the spill runs only older ones named."""
        self.tmp.replace(self.path)
        for name, table in _tables(self.state).items():
            if isinstance(table, SpillingTable):
                table.spill.remove_stale()
                log.info("state %s: %d entries, %d in memory (%.1f MB), %d spilled (%.1f MB on disk, "
                         "%.1f MB written)", name, table.count, table.hot_count, table.nbytes / 1e6,
                         table.spill.count, table.spill.disk_bytes / 1e6, table.spill.bytes_written / 1e6)
            else:
                shutil.rmtree(_spill_dir(self.store, self.chain, name), ignore_errors=True)

    def discard(self) -> None:
        """Remove the unpublished file (the state changed after it was written)."""
        self.tmp.unlink(missing_ok=True)


def write_snapshot(store: Store, chain: str, state: ChainState,
                   last: dict[str, Any] | None = None) -> PendingSnapshot | None:
    """Write the state arrays for the last committed batch (`last`, read from the catalog when not
    given) under a temporary name; older snapshots are removed first, so none is current while
    this one is not published."""
    last = last or store.last_batch(chain)
    if last is None:
        return None
    path = _snapshot_path(store, chain, int(last["batch_id"]))
    make_private_dir(path.parent)  # a store holds case data: 0700 directories, 0600 files
    for old in path.parent.glob("state-*"):
        old.unlink()
    tmp = path.with_name(f".tmp-{path.name}")
    arrays: dict[str, Any] = {"key": np.array(_snapshot_key(last))}  # Any: savez's **kwds
    for name, table in _tables(state).items():
        if isinstance(table, SpillingTable):
            # the slot arrays as they are (savez writes them in chunks: no copy of the table)
            arrays.update({f"{name}_hot_k1": table.k1, f"{name}_hot_k2": table.k2,
                           f"{name}_hot_used": table.used, f"{name}_hot_v": table.vals})
            arrays.update({f"{name}_spill_{k}": v for k, v in table.spill.manifest().items()})
        else:
            used = table.used
            arrays[f"{name}_k1"] = table.k1[used]
            arrays[f"{name}_k2"] = table.k2[used]
            arrays[f"{name}_v"] = table.vals[used]
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as fh:
        np.savez(fh, **arrays)
    os.chmod(tmp, FILE_MODE)  # a file left by an older version keeps its mode through O_TRUNC
    return PendingSnapshot(store, chain, state, tmp, path)


def load_state(store: Store, chain: str) -> ChainState:
    """State after the last committed batch of `chain`: from the snapshot if current, else rebuilt."""
    last = store.last_batch(chain)
    if last is None:
        return new_state(store, chain)
    snap = _snapshot_path(store, chain, int(last["batch_id"]))
    state = None
    if snap.exists():
        state = _restore(store, chain, snap, _snapshot_key(last))
    if state is None:
        state = new_state(store, chain)
        rebuild(store, chain, state)
    state.counters = Counters(
        block_id=int(last["next_block_id"]), tx_id=int(last["next_tx_id"]),
        output_id=int(last["next_output_id"]), address_id=int(last["next_address_id"]),
    )
    return state


def _restore(store: Store, chain: str, snap: Path, key: str) -> ChainState | None:
    """The state a current snapshot holds, or None when it is of other content or damaged."""
    try:
        with np.load(snap) as z:
            if "key" not in z or str(z["key"]) != key:
                log.info("state snapshot %s is of other store content; rebuilding", snap)
                return None
            state = new_state(store, chain, wipe=False)
            for name, table in _tables(state).items():
                _restore_table(store, chain, name, table, z)
        return state
    except (OSError, KeyError, ValueError) as exc:  # a damaged cache is rebuilt, not trusted
        log.warning("ignoring damaged state snapshot %s: %s", snap, exc)
        return None


def _restore_table(store: Store, chain: str, name: str, table: FingerprintTable, z: Any) -> None:
    if f"{name}_k1" in z:  # an unbounded run's snapshot: the entries
        _fill(table, z[f"{name}_k1"], z[f"{name}_k2"], z[f"{name}_v"])
        return
    manifest = {k: z[f"{name}_spill_{k}"] for k in ("bits", "runs", "meta", "offsets", "dead", "bloom",
                                                     "bloom_added")}
    if isinstance(table, SpillingTable):
        table.spill.restore(manifest)
    else:  # a bounded run's snapshot loaded without a budget: read its runs in
        runs = SpillRuns(_spill_dir(store, chain, name), table.n_values, bits=int(manifest["bits"]),
                         bloom_bytes=4096)
        runs.restore(manifest)
        for k1, k2, v in runs.iter_live():
            _fill(table, k1, k2, v)
    used = z[f"{name}_hot_used"]
    if isinstance(table, SpillingTable) and len(used) <= table.max_cap and int(used.sum()) <= table.max_hot:
        table.k1, table.k2, table.used = z[f"{name}_hot_k1"], z[f"{name}_hot_k2"], used
        table.vals = z[f"{name}_hot_v"]
        table.hot_count = int(used.sum())
        return
    _fill(table, z[f"{name}_hot_k1"][used], z[f"{name}_hot_k2"][used], z[f"{name}_hot_v"][used])


def _fill(table: FingerprintTable, k1: np.ndarray, k2: np.ndarray, v: np.ndarray) -> None:
    if not isinstance(table, SpillingTable):
        table.reserve(len(k1))
    table.insert(k1.astype(np.uint64), k2.astype(np.uint64), v.astype(np.int64))


def rebuild(store: Store, chain: str, state: ChainState) -> None:
    """Recompute the address index and the unspent outputs with SQL over the lake, streamed in
    record batches (DuckDB spills its join under its own memory limit, `store.engine`)."""
    p = chain.replace("-", "_")
    with store.query() as con:
        reader = con.sql(f"SELECT fp1, fp2, address_id FROM {p}_addresses").to_arrow_reader(_STREAM_ROWS)
        for rb in reader:
            _fill(state.addresses, rb.column(0).to_numpy(), rb.column(1).to_numpy(),
                  rb.column(2).to_numpy().reshape(-1, 1))
        del reader
        reader = con.sql(f"""
            SELECT t.txid, o.n, o.output_id, o.value, coalesce(o.address_id, -1) AS address_id
            FROM {p}_outputs o JOIN {p}_transactions t USING (tx_id)
            WHERE o.script_type <> 8 AND NOT EXISTS (
                SELECT 1 FROM {p}_inputs i WHERE i.prev_output_id = o.output_id)
        """).to_arrow_reader(_STREAM_ROWS)
        for rb in reader:
            txids = hash32_numpy(rb.column(0))
            vout = rb.column(1).to_numpy().astype(np.int64)
            ka, kb = outpoint_keys(txids, vout)
            vals = np.stack([rb.column(c).to_numpy() for c in (2, 3, 4)], axis=1)
            _fill(state.utxo, ka, kb, vals)
