"""The graph index of a UTXO chain: compact adjacency arrays, memory-mapped, so one hop is a slice.

Tracing never runs recursive SQL (DESIGN.md section 2). The index is a directory of `.npy` files
under `<store>/derived/<chain>/graph/`, built from the store's public views:

- per transaction (T): `tx_first_out` (T+1; outputs of tx t are output ids
  `tx_first_out[t]:tx_first_out[t+1]`, which the ingest assigns contiguously), `tx_in_ptr` (T+1),
  `tx_time`, `tx_height`, `tx_coinbase`, `txid` (T x 32 bytes, internal byte order);
- per input (I, in spending order): `in_prev` (output id spent; -1 unresolved or a coinbase input);
- per output (O): `out_value`, `out_address` (-1 none), `out_spent_by` (tx id, -1 unspent);
- per address (A): `addr_ptr`/`addr_outs` (the outputs it received, CSR), `addr_script`,
  `addr_payload_ptr`/`addr_payload` (its script type and payload, to render strings), and
  `addr_fp1`/`addr_fp2`/`addr_fp_ids`: the ingest's 128-bit address fingerprints sorted, so an
  address string finds its id by binary search; `tx_key`/`tx_key_ids`: the first 8 bytes of every
  txid sorted, the same for transactions.

`meta.json` says which store state the index reflects (batch count, last batch id, counters).
`GraphIndex.ensure` loads it and brings it up to date: new batches are read from the store and
appended (only new rows are read); if the store was rolled back below the index, it is rebuilt. A
new version is written to a temporary directory and swapped in by rename, so a crash leaves either
the old index or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fundtrail.errors import NotFoundError, StoreError
from fundtrail.store.lake import Store
from fundtrail.store.partitions import FILE_MODE, make_private_dir
from fundtrail.store.spill import Spill, default_limit
from fundtrail.trace.graph_build import build_arrays
from fundtrail.trace.graph_build import column_numpy as column_numpy
from fundtrail.store.mapped import load_mapped

FORMAT = "fundtrail-graph/1"
_ARRAYS = ("tx_first_out", "tx_in_ptr", "tx_time", "tx_height", "tx_coinbase", "txid", "in_prev", "out_value",
           "out_address", "out_spent_by", "addr_ptr", "addr_outs", "addr_script",
           "addr_payload_ptr", "addr_payload", "addr_fp1", "addr_fp2", "addr_fp_ids",
           "tx_key", "tx_key_ids")

Progress = Callable[[str, int, int], None]


def graph_dir(store: Store, chain: str) -> Path:
    """Where the graph index of `chain` lives."""
    return store.root / "derived" / chain / "graph"


@dataclass
class GraphIndex:
    """The loaded (memory-mapped) arrays of one chain's graph index; see the module docstring."""

    chain: str
    path: Path
    meta: dict
    tx_first_out: np.ndarray
    tx_in_ptr: np.ndarray
    tx_time: np.ndarray
    tx_height: np.ndarray
    tx_coinbase: np.ndarray
    txid: np.ndarray
    in_prev: np.ndarray
    out_value: np.ndarray
    out_address: np.ndarray
    out_spent_by: np.ndarray
    addr_ptr: np.ndarray
    addr_outs: np.ndarray
    addr_script: np.ndarray
    addr_payload_ptr: np.ndarray
    addr_payload: np.ndarray
    addr_fp1: np.ndarray
    addr_fp2: np.ndarray
    addr_fp_ids: np.ndarray
    tx_key: np.ndarray
    tx_key_ids: np.ndarray

    # -- sizes and one-hop slices ---------------------------------------------------------------
    @property
    def n_tx(self) -> int:
        return int(self.tx_time.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.out_value.shape[0])

    @property
    def n_addresses(self) -> int:
        return int(self.addr_script.shape[0])

    def outputs_of(self, tx: int) -> range:
        """Output ids created by transaction `tx`, in `n` order."""
        return range(int(self.tx_first_out[tx]), int(self.tx_first_out[tx + 1]))

    def inputs_of(self, tx: int) -> np.ndarray:
        """Output ids spent by transaction `tx`, in input order (-1 = unresolved)."""
        return self.in_prev[self.tx_in_ptr[tx]:self.tx_in_ptr[tx + 1]]

    def tx_of_output(self, output: int) -> int:
        """The transaction that created output id `output`."""
        return int(np.searchsorted(self.tx_first_out, output, side="right")) - 1

    def received_by(self, address: int) -> np.ndarray:
        """Output ids paid to address id `address`, in chain order."""
        return self.addr_outs[self.addr_ptr[address]:self.addr_ptr[address + 1]]

    def is_coinbase(self, tx: int) -> bool:
        return bool(self.tx_coinbase[tx])

    def find_address(self, fp1: int, fp2: int) -> int:
        """Address id with fingerprint (fp1, fp2) (see chains.bitcoin.addresskey.fingerprint), or -1."""
        lo = int(np.searchsorted(self.addr_fp1, np.uint64(fp1), side="left"))
        while lo < self.addr_fp1.shape[0] and int(self.addr_fp1[lo]) == fp1:
            if int(self.addr_fp2[lo]) == fp2:
                return int(self.addr_fp_ids[lo])
            lo += 1
        return -1

    def find_tx(self, txid_internal: bytes) -> int:
        """Transaction id of a txid (32 bytes, internal byte order), or -1."""
        key = int.from_bytes(txid_internal[:8], "little")
        lo = int(np.searchsorted(self.tx_key, np.uint64(key), side="left"))
        while lo < self.tx_key.shape[0] and int(self.tx_key[lo]) == key:
            t = int(self.tx_key_ids[lo])
            if bytes(self.txid[t]) == txid_internal:
                return t
            lo += 1
        return -1

    def txid_hex(self, tx: int) -> str:
        """Display (big-endian) hex txid of transaction `tx`."""
        return bytes(self.txid[tx])[::-1].hex()

    def address_key(self, address: int) -> tuple[int, bytes]:
        """(script type code, payload) of address id `address`."""
        lo, hi = int(self.addr_payload_ptr[address]), int(self.addr_payload_ptr[address + 1])
        return int(self.addr_script[address]), bytes(self.addr_payload[lo:hi])

    # -- loading and building -------------------------------------------------------------------
    @classmethod
    def load(cls, store: Store, chain: str) -> GraphIndex:
        """Open the index as it is on disk (NotFoundError if never built)."""
        path = graph_dir(store, chain)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise NotFoundError(f"no graph index for {chain} in {store.root}",
                                hint=f"run `fundtrail graph build --chain {chain}`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise StoreError(f"graph index {path} has format {meta.get('format')!r}, "
                             f"expected {FORMAT}", hint="rebuild it with `fundtrail graph build --full`")
        missing = [n for n in _ARRAYS if not (path / f"{n}.npy").exists()]
        if missing:
            raise StoreError(f"graph index {path} lacks {missing[0]}.npy",
                             hint="rebuild it with `fundtrail graph build --full`")
        arrays = {name: load_mapped(path / f"{name}.npy") for name in _ARRAYS}
        return cls(chain=chain, path=path, meta=meta, **arrays)

    @classmethod
    def ensure(cls, store: Store, chain: str, *, full: bool = False, progress: Progress | None = None,
               memory_limit: int | None = None) -> GraphIndex:
        """The index, first built or brought up to date with the store (see module docstring);
        built within `memory_limit` bytes (default `store.spill.default_limit()`; `graph_build`)."""
        path = graph_dir(store, chain)
        limit = default_limit() if memory_limit is None else memory_limit
        with Spill(store.root, limit, "graph") as sp:
            def build(old: GraphIndex | None) -> tuple[dict[str, np.ndarray], dict]:
                arrays = build_arrays(store, chain, old, progress, sp, staging_dir(path))
                return arrays, {"format": FORMAT, "n_tx": int(arrays["tx_time"].shape[0]),
                                "n_inputs": int(arrays["in_prev"].shape[0]),
                                "n_outputs": int(arrays["out_value"].shape[0]),
                                "n_addresses": int(arrays["addr_script"].shape[0])}

            return refresh_index(path, chain, _store_state(store, chain), lambda: cls.load(store, chain), build,
                                 full, staged=True)

    def size_bytes(self) -> int:
        """Bytes on disk of the index files."""
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


def _store_state(store: Store, chain: str) -> dict:
    """What the index must reflect: the committed batches (ids and their tx counters)."""
    if chain not in {c["chain"] for c in store.chains()}:
        raise NotFoundError(f"chain {chain} is not in the store {store.root}",
                            hint="run `fundtrail status` to see what is stored")
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT batch_id, next_tx_id, next_output_id, next_address_id FROM batches "
                           "WHERE chain = ? ORDER BY batch_id", [chain]).fetchall()
    return {"batches": [[int(r[0]), int(r[1] or 0)] for r in rows],
            "next_tx_id": int(rows[-1][1] or 0) if rows else 0,
            "next_output_id": int(rows[-1][2] or 0) if rows else 0,
            "next_address_id": int(rows[-1][3] or 0) if rows else 0}


def is_prefix(old: dict | None, new: dict) -> bool:
    """Whether the store only grew since `old` (its batches are the first batches of `new`)."""
    if not old:
        return False
    ob, nb = old.get("batches", []), new["batches"]
    return len(ob) <= len(nb) and nb[:len(ob)] == ob


def refresh_index(path: Path, chain: str, state: dict, load: Callable[[], Any],
                  build: Callable[[Any], tuple[dict[str, np.ndarray], dict]], full: bool, *,
                  staged: bool = False) -> Any:
    """The shared update rule of the derived indexes: load what is on disk; if it reflects `state`
    return it; if the store only grew since, `build(old)` extends it, otherwise `build(None)`
    rebuilds; write the new version (swapped in by rename) and load it."""
    old = None
    if not full and (path / "meta.json").exists():
        try:
            old = load()
        except StoreError:
            old = None
    if old is not None and old.meta.get("state") == state:
        return old
    grown = old is not None and is_prefix(old.meta.get("state"), state)
    arrays, meta = build(old if grown else None)
    write_index(path, arrays, {**meta, "chain": chain, "state": state}, staged=staged)
    return load()


def _in_place(arr: np.ndarray, dest: Path) -> bool:
    """Whether `arr` is the whole array memory-mapped from `dest` (not a slice of it)."""
    return (isinstance(arr, np.memmap) and arr.filename is not None and dest.exists()
            and os.path.abspath(arr.filename) == os.path.abspath(dest) and arr.flags.c_contiguous
            and arr.offset + arr.nbytes == dest.stat().st_size)


def staging_dir(path: Path) -> Path:
    """The empty private directory a new version of the index at `path` is written to (arrays too
    large for the memory budget are built in place there: `store.spill`)."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    make_private_dir(tmp)  # a store holds case data: 0700 directories (parents too), 0600 files
    return tmp


def write_index(path: Path, arrays: dict[str, np.ndarray], meta: dict, *, staged: bool = False) -> None:
    """Write a new index version beside the old one and swap it in by rename. With `staged`, the
    staging directory is already made and arrays memory-mapped from their file there are kept."""
    tmp = path.with_name(path.name + ".tmp") if staged else staging_dir(path)
    for name, arr in arrays.items():
        dest = tmp / f"{name}.npy"
        if isinstance(arr, np.memmap) and _in_place(arr, dest):
            arr.flush()  # built in place
            continue
        np.save(dest, np.ascontiguousarray(arr))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    for f in tmp.iterdir():
        os.chmod(f, FILE_MODE)  # unreadable to others meanwhile: its directory is 0700
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
