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
from fundtrail.store.tables import hash32_numpy

FORMAT = "fundtrail-graph/1"
_CHUNK = 1_000_000
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
        arrays = {name: np.load(path / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        return cls(chain=chain, path=path, meta=meta, **arrays)

    @classmethod
    def ensure(cls, store: Store, chain: str, *, full: bool = False,
               progress: Progress | None = None) -> GraphIndex:
        """The index, first built or brought up to date with the store (see module docstring)."""
        def build(old: GraphIndex | None) -> tuple[dict[str, np.ndarray], dict]:
            arrays = _extend(store, chain, old, progress)
            return arrays, {"format": FORMAT, "n_tx": int(arrays["tx_time"].shape[0]),
                            "n_inputs": int(arrays["in_prev"].shape[0]),
                            "n_outputs": int(arrays["out_value"].shape[0]),
                            "n_addresses": int(arrays["addr_script"].shape[0])}

        return refresh_index(graph_dir(store, chain), chain, _store_state(store, chain),
                             lambda: cls.load(store, chain), build, full)

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


def column_numpy(tbl, name: str, dtype, fill: int = -1) -> np.ndarray:
    """A table column as a numpy array of `dtype`, nulls replaced by `fill`."""
    col = tbl.column(name)
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy().astype(dtype, copy=False)


def _extend(store: Store, chain: str, old: GraphIndex | None,
            progress: Progress | None) -> dict[str, np.ndarray]:
    """Arrays of the whole chain: `old`'s (copied) plus the rows the store has beyond them."""
    p = chain.replace("-", "_")
    t0 = old.n_tx if old is not None else 0
    a0 = old.n_addresses if old is not None else 0
    with store.query() as con:
        t1 = int(con.execute(f"SELECT coalesce(max(tx_id) + 1, 0) FROM {p}_transactions").fetchall()[0][0])
        o1 = int(con.execute(f"SELECT coalesce(max(output_id) + 1, 0) FROM {p}_outputs").fetchall()[0][0])
        a1 = int(con.execute(f"SELECT coalesce(max(address_id) + 1, 0) FROM {p}_addresses").fetchall()[0][0])
        t1, a1 = max(t1, t0), max(a1, a0)
        o0 = old.n_outputs if old is not None else 0
        o1 = max(o1, o0)
        tx_first_out = np.empty(t1 + 1, np.int64)
        tx_n_in = np.zeros(t1, np.int64)
        tx_time = np.zeros(t1, np.int64)
        tx_height = np.full(t1, -1, np.int64)
        tx_coinbase = np.zeros(t1, np.uint8)
        txid = np.zeros((t1, 32), np.uint8)
        out_value = np.zeros(o1, np.int64)
        out_address = np.full(o1, -1, np.int64)
        out_spent_by = np.full(o1, -1, np.int64)
        if old is not None:
            tx_first_out[:t0] = old.tx_first_out[:t0]
            tx_n_in[:t0] = np.diff(old.tx_in_ptr)
            tx_time[:t0], tx_height[:t0], txid[:t0] = old.tx_time, old.tx_height, old.txid
            tx_coinbase[:t0] = old.tx_coinbase
            out_value[:o0], out_address[:o0] = old.out_value, old.out_address
            out_spent_by[:o0] = old.out_spent_by
        tx_first_out[t0:] = o1
        new_in: list[np.ndarray] = []
        for lo in range(t0, t1, _CHUNK):
            hi = min(lo + _CHUNK, t1)
            if progress:
                progress("transactions", lo - t0, t1 - t0)
            tx = con.sql(
                f"""SELECT t.tx_id, t.txid, t.first_output_id, t.input_count, coalesce(b.time, 0) AS time,
                           coalesce(t.block_height, -1) AS height, t.is_coinbase
                    FROM {p}_transactions t LEFT JOIN {p}_blocks b ON t.block_id = b.block_id
                    WHERE t.tx_id >= ? AND t.tx_id < ?""", params=[lo, hi]).to_arrow_table()
            ids = column_numpy(tx, "tx_id", np.int64)
            tx_first_out[ids] = column_numpy(tx, "first_output_id", np.int64)
            tx_n_in[ids] = column_numpy(tx, "input_count", np.int64, 0)
            tx_coinbase[ids] = column_numpy(tx, "is_coinbase", np.uint8, 0)
            tx_time[ids] = column_numpy(tx, "time", np.int64, 0)
            tx_height[ids] = column_numpy(tx, "height", np.int64)
            txid[ids] = hash32_numpy(tx.column("txid"))
            outs = con.sql(f"""SELECT output_id, value, address_id FROM {p}_outputs
                               WHERE tx_id >= ? AND tx_id < ?""", params=[lo, hi]).to_arrow_table()
            oid = column_numpy(outs, "output_id", np.int64)
            out_value[oid] = column_numpy(outs, "value", np.int64, 0)
            out_address[oid] = column_numpy(outs, "address_id", np.int64)
            ins = con.sql(f"""SELECT tx_id, prev_output_id FROM {p}_inputs
                              WHERE tx_id >= ? AND tx_id < ? ORDER BY tx_id, n""",
                          params=[lo, hi]).to_arrow_table()
            prev = column_numpy(ins, "prev_output_id", np.int64)
            new_in.append(prev)
            spender = column_numpy(ins, "tx_id", np.int64)
            ok = prev >= 0
            out_spent_by[prev[ok]] = spender[ok]
        # Outputs ids are contiguous per tx: an empty tx_first_out slot (no outputs rows) keeps order.
        tx_first_out[t1] = o1
        np.minimum.accumulate(tx_first_out[::-1], out=tx_first_out[::-1])
        tx_in_ptr = np.zeros(t1 + 1, np.int64)
        np.cumsum(tx_n_in, out=tx_in_ptr[1:])
        parts = ([np.asarray(old.in_prev)] if old is not None else []) + new_in
        in_prev = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        if in_prev.shape[0] != tx_in_ptr[-1]:
            raise StoreError(f"graph index of {chain}: {in_prev.shape[0]} inputs read but the "
                             f"transactions count {int(tx_in_ptr[-1])}", hint="run `fundtrail graph build --full`")
        if old is not None:
            # Inputs of old transactions resolved late (input_links) since the last update.
            links = con.sql(f"SELECT tx_id, n, prev_output_id FROM {p}__input_links "
                            "WHERE tx_id < ?", params=[t0]).to_arrow_table()
            lt, ln = column_numpy(links, "tx_id", np.int64), column_numpy(links, "n", np.int64)
            lp = column_numpy(links, "prev_output_id", np.int64)
            in_prev[tx_in_ptr[lt] + ln] = lp
            out_spent_by[lp[lp >= 0]] = lt[lp >= 0]
        if progress:
            progress("addresses", 0, a1 - a0)
        addr = con.sql(f"""SELECT address_id, script_type, payload FROM {p}_addresses
                           WHERE address_id >= ? ORDER BY address_id""", params=[a0]).to_arrow_table()
        fps = con.sql(f"SELECT fp1, fp2, address_id FROM {p}_addresses").to_arrow_table()
    fp1, fp2 = column_numpy(fps, "fp1", np.uint64, 0), column_numpy(fps, "fp2", np.uint64, 0)
    fp_order = np.lexsort((fp2, fp1))
    addr_script = np.zeros(a1, np.uint8)
    payload_len = np.zeros(a1, np.int64)
    if old is not None:
        addr_script[:a0] = old.addr_script
        payload_len[:a0] = np.diff(old.addr_payload_ptr)
    aid = column_numpy(addr, "address_id", np.int64)
    addr_script[aid] = column_numpy(addr, "script_type", np.uint8, 0)
    pay = addr.column("payload").combine_chunks()
    offsets = np.frombuffer(pay.buffers()[1], np.int32)[pay.offset:pay.offset + len(pay) + 1]
    payload_len[aid] = np.diff(offsets)
    addr_payload_ptr = np.zeros(a1 + 1, np.int64)
    np.cumsum(payload_len, out=addr_payload_ptr[1:])
    addr_payload = np.zeros(int(addr_payload_ptr[-1]), np.uint8)
    if old is not None:
        addr_payload[:int(old.addr_payload_ptr[-1])] = old.addr_payload
    raw = np.frombuffer(pay.buffers()[2], np.uint8) if len(pay) else np.zeros(0, np.uint8)
    if aid.size and np.array_equal(aid, np.arange(aid[0], aid[0] + aid.size)):
        dst = int(addr_payload_ptr[aid[0]])  # dense new ids: one copy
        addr_payload[dst:dst + int(offsets[-1] - offsets[0])] = raw[offsets[0]:offsets[-1]]
    else:
        for j, a in enumerate(aid):  # gaps in the ids (never seen from the ingest): per address
            s, e = offsets[j], offsets[j + 1]
            dst = addr_payload_ptr[a]
            addr_payload[dst:dst + (e - s)] = raw[s:e]
    tx_key = txid[:, :8].copy().view("<u8").ravel()
    tx_key_ids = np.argsort(tx_key, kind="stable").astype(np.int64)
    # address -> outputs CSR (stable: chain order within an address)
    has = out_address >= 0
    order = np.flatnonzero(has)
    order = order[np.argsort(out_address[order], kind="stable")]
    addr_ptr = np.zeros(a1 + 1, np.int64)
    np.cumsum(np.bincount(out_address[has], minlength=a1), out=addr_ptr[1:])
    return {"tx_first_out": tx_first_out, "tx_in_ptr": tx_in_ptr, "tx_time": tx_time,
            "tx_height": tx_height, "tx_coinbase": tx_coinbase, "txid": txid, "in_prev": in_prev,
            "out_value": out_value,
            "out_address": out_address, "out_spent_by": out_spent_by, "addr_ptr": addr_ptr,
            "addr_outs": order.astype(np.int64), "addr_script": addr_script,
            "addr_payload_ptr": addr_payload_ptr, "addr_payload": addr_payload,
            "addr_fp1": fp1[fp_order], "addr_fp2": fp2[fp_order],
            "addr_fp_ids": column_numpy(fps, "address_id", np.int64)[fp_order],
            "tx_key": tx_key[tx_key_ids], "tx_key_ids": tx_key_ids}


def refresh_index(path: Path, chain: str, state: dict, load: Callable[[], Any],
                  build: Callable[[Any], tuple[dict[str, np.ndarray], dict]], full: bool) -> Any:
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
    write_index(path, arrays, {**meta, "chain": chain, "state": state})
    return load()


def write_index(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write a new index version beside the old one and swap it in by rename."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    make_private_dir(tmp)  # a store holds case data: 0700 directories (parents too), 0600 files
    for name, arr in arrays.items():
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr))
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
