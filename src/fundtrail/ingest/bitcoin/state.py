"""Rebuild ingest state (id counters, address index, unspent outputs) from what the store holds.

The state is derived data: the store is the truth. Rebuilding it from committed batches at the
start of every run is what makes a crash at any point harmless; a snapshot of the arrays, keyed by
the last committed batch, makes the rebuild cheap when nothing changed since the last run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from fundtrail.ingest.bitcoin.decode import ChainState, Counters, outpoint_keys
from fundtrail.ingest.bitcoin.fptable import FingerprintTable
from fundtrail.store import Store
from fundtrail.store.partitions import FILE_MODE, make_private_dir
from fundtrail.store.tables import hash32_numpy

log = logging.getLogger(__name__)


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
    last = store.last_batch(chain)
    if last is None:
        return
    path = _snapshot_path(store, chain, int(last["batch_id"]))
    make_private_dir(path.parent)  # a store holds case data: 0700 directories, 0600 files
    for old in path.parent.glob("state-*"):
        old.unlink()
    tmp = path.with_name(f".tmp-{path.name}")
    arrays: dict[str, Any] = {"key": np.array(_snapshot_key(last))}  # Any: savez's **kwds
    for name, table in (("addr", state.addresses), ("utxo", state.utxo)):
        used = table.used
        arrays[f"{name}_k1"] = table.k1[used]
        arrays[f"{name}_k2"] = table.k2[used]
        arrays[f"{name}_v"] = table.vals[used]
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as fh:
        np.savez(fh, **arrays)
    os.chmod(tmp, FILE_MODE)  # a file left by an older version keeps its mode through O_TRUNC
    tmp.replace(path)


def load_state(store: Store, chain: str) -> ChainState:
    """State after the last committed batch of `chain`: from the snapshot if current, else rebuilt."""
    last = store.last_batch(chain)
    state = ChainState()
    if last is None:
        return state
    state.counters = Counters(
        block_id=int(last["next_block_id"]), tx_id=int(last["next_tx_id"]),
        output_id=int(last["next_output_id"]), address_id=int(last["next_address_id"]),
    )
    snap = _snapshot_path(store, chain, int(last["batch_id"]))
    if snap.exists():
        try:
            with np.load(snap) as z:
                if "key" not in z or str(z["key"]) != _snapshot_key(last):
                    log.info("state snapshot %s is of other store content; rebuilding", snap)
                    rebuild(store, chain, state)
                    return state
                _fill(state.addresses, z["addr_k1"], z["addr_k2"], z["addr_v"])
                _fill(state.utxo, z["utxo_k1"], z["utxo_k2"], z["utxo_v"])
            return state
        except (OSError, KeyError, ValueError) as exc:  # a damaged cache is rebuilt, not trusted
            log.warning("ignoring damaged state snapshot %s: %s", snap, exc)
            state.addresses = FingerprintTable(1)
            state.utxo = FingerprintTable(3)
    rebuild(store, chain, state)
    return state


def _fill(table: FingerprintTable, k1: np.ndarray, k2: np.ndarray, v: np.ndarray) -> None:
    table.reserve(len(k1))
    table.insert(k1.astype(np.uint64), k2.astype(np.uint64), v.astype(np.int64))


def rebuild(store: Store, chain: str, state: ChainState) -> None:
    """Recompute the address index and the unspent outputs with SQL over the lake."""
    p = chain.replace("-", "_")
    with store.query() as con:
        addr = con.execute(f"SELECT fp1, fp2, address_id FROM {p}_addresses").fetchnumpy()
        utxo = con.sql(f"""
            SELECT t.txid, o.n, o.output_id, o.value, coalesce(o.address_id, -1) AS address_id
            FROM {p}_outputs o JOIN {p}_transactions t USING (tx_id)
            WHERE o.script_type <> 8 AND NOT EXISTS (
                SELECT 1 FROM {p}_inputs i WHERE i.prev_output_id = o.output_id)
        """).to_arrow_table()
    if len(addr["fp1"]):
        _fill(state.addresses, np.asarray(addr["fp1"]), np.asarray(addr["fp2"]),
              np.asarray(addr["address_id"]).reshape(-1, 1))
    if utxo.num_rows:
        txids = hash32_numpy(utxo.column("txid"))
        vout = utxo.column("n").to_numpy().astype(np.int64)
        ka, kb = outpoint_keys(txids, vout)
        vals = np.stack([utxo.column(c).to_numpy() for c in ("output_id", "value", "address_id")], axis=1)
        _fill(state.utxo, ka, kb, vals)
