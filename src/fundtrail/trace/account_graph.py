"""The graph index of an account chain (Ethereum/EVM): every address's transfers in time order.

Address-level taint policies (FIFO above all) need "address -> transfers in time order" (DESIGN.md
section 2); this index makes that one slice. It is a directory of `.npy` files under
`<store>/derived/<chain>/account-graph/`, built from the store's public views.

Per *event* (E): one successful value transfer of a fungible asset (kinds native, internal, erc20,
withdrawal, fee, reward; NFTs are not value and are left out; failed transfers moved nothing).
Events are in **execution order**: (block, transaction, transfer_id), with a block's withdrawals and
rewards (no transaction) after its transactions. The store's transfer_id groups a block's internal
and token transfers after all of its transactions' own value and fees; sorting by transaction
first puts a forwarder's incoming value before what it sends on, as the EVM executed it.

- `ev_transfer` (store transfer_id), `ev_from`, `ev_to` (address ids, -1 = none: mint, burn,
  withdrawal, burnt fee), `ev_asset` (-1 = the native asset, else the token contract's address id),
  `ev_kind`, `ev_block`, `ev_time`, `ev_tx` (-1 = none), `ev_log`, `ev_batch` (-1 = none),
  `ev_trace_ptr`/`ev_trace` (the internal transfer's trace address, CSR);
- amounts are exact: `ev_lo`, `ev_hi` are the low and high 64 bits of the amount; the few amounts
  of 2**128 or more (uint256 tokens) are in the side table `big_pos` (event positions, sorted) and
  `big_raw` (their 32-byte big-endian amount_raw). `AccountGraph.amount(e)` returns the Python int;
- the zero address is no one: transfers from it (ERC-20 mints) and to it (burns) have -1 there;
- per address (A): `addr_ptr`/`addr_events` (its events, in and out, in execution order; a
  self-transfer once), `addr_bytes` (A x 20), `addr_key`/`addr_key_ids` (first 8 bytes, sorted:
  lookup by binary search);
- per transaction (T): `tx_hash` (T x 32), `tx_block`, `tx_time`, `tx_ev_start`/`tx_ev_count`
  (its events are contiguous), `tx_key`/`tx_key_ids`.

`meta.json` records the store state the index reflects (committed batches, their counters and
the hash of each one's last block).
`AccountGraph.ensure` appends new batches (only their rows are read; new blocks always follow the
indexed ones); after a rollback below the index it rebuilds. A new version is written beside the
old one and swapped in by rename, so a crash leaves the old index or the new one, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from fundtrail.errors import NotFoundError, StoreError, UsageError
from fundtrail.store.lake import Store
from fundtrail.store.tables import hash32_numpy
from fundtrail.store.txhash import tx_hash_text
from fundtrail.trace.graph import Progress, column_numpy, refresh_index
from fundtrail.store.mapped import load_mapped

FORMAT = "fundtrail-account-graph/1"
#: transfers.kind codes the index keeps: fungible value (native, internal, erc20, withdrawal, fee, reward)
VALUE_KINDS = (0, 1, 2, 5, 6, 7)
KIND_FEE = 6
_CHUNK = 500_000
_EVENT = ("ev_transfer", "ev_from", "ev_to", "ev_asset", "ev_kind", "ev_block", "ev_time", "ev_tx",
          "ev_log", "ev_batch", "ev_lo", "ev_hi")
_ARRAYS = (*_EVENT, "ev_trace_ptr", "ev_trace", "big_pos", "big_raw", "addr_ptr", "addr_events",
           "addr_bytes", "addr_key", "addr_key_ids", "tx_hash", "tx_block", "tx_time", "tx_ev_start",
           "tx_ev_count", "tx_key", "tx_key_ids")

def account_graph_dir(store: Store, chain: str) -> Path:
    """Where the account graph index of `chain` lives."""
    return store.root / "derived" / chain / "account-graph"


@dataclass
class AccountGraph:
    """The loaded (memory-mapped) arrays of one account chain's index; see the module docstring."""

    chain: str
    path: Path
    meta: dict
    arrays: dict[str, np.ndarray]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    # -- sizes, slices, exact amounts -----------------------------------------------------------
    @property
    def n_events(self) -> int:
        return int(self.arrays["ev_from"].shape[0])

    @property
    def n_addresses(self) -> int:
        return int(self.arrays["addr_bytes"].shape[0])

    @property
    def n_tx(self) -> int:
        return int(self.arrays["tx_block"].shape[0])

    def events_of(self, address: int) -> np.ndarray:
        """Event positions of address id `address` (in and out), in execution order."""
        p = self.arrays["addr_ptr"]
        return self.arrays["addr_events"][p[address]:p[address + 1]]

    def events_of_tx(self, tx: int) -> range:
        start = int(self.arrays["tx_ev_start"][tx])
        return range(start, start + int(self.arrays["tx_ev_count"][tx]))

    def amount(self, e: int) -> int:
        """The exact amount of event `e` in base units."""
        big = self.arrays["big_pos"]
        if big.shape[0]:
            i = int(np.searchsorted(big, e))
            if i < big.shape[0] and int(big[i]) == e:
                return int.from_bytes(bytes(self.arrays["big_raw"][i]), "big")
        return int(self.arrays["ev_hi"][e]) << 64 | int(self.arrays["ev_lo"][e])

    def trace_address(self, e: int) -> list[int]:
        p = self.arrays["ev_trace_ptr"]
        return [int(x) for x in self.arrays["ev_trace"][p[e]:p[e + 1]]]

    # -- lookups --------------------------------------------------------------------------------
    def find_address(self, raw: bytes) -> int:
        """Address id of 20 address bytes, or -1."""
        return _find(self.arrays["addr_key"], self.arrays["addr_key_ids"], self.arrays["addr_bytes"], raw)

    def find_tx(self, raw: bytes) -> int:
        """Transaction id of a 32-byte transaction hash, or -1."""
        return _find(self.arrays["tx_key"], self.arrays["tx_key_ids"], self.arrays["tx_hash"], raw)

    def address_bytes(self, a: int) -> bytes:
        return bytes(self.arrays["addr_bytes"][a])

    def tx_hash_hex(self, tx: int) -> str:
        """The hash as the chain writes it (`0x…`; bare hex on TRON, as java-tron and tronscan do)."""
        return tx_hash_text(bytes(self.arrays["tx_hash"][tx]), chain=self.chain)

    # -- loading and building -------------------------------------------------------------------
    @classmethod
    def load(cls, store: Store, chain: str) -> AccountGraph:
        """Open the index as it is on disk (NotFoundError if never built)."""
        path = account_graph_dir(store, chain)
        meta_path = path / "meta.json"
        if not meta_path.exists():
            raise NotFoundError(f"no account graph index for {chain} in {store.root}",
                                hint=f"run `fundtrail graph build --chain {chain}`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise StoreError(f"account graph index {path} has format {meta.get('format')!r}, expected {FORMAT}",
                             hint="rebuild it with `fundtrail graph build --full`")
        missing = [n for n in _ARRAYS if not (path / f"{n}.npy").exists()]
        if missing:
            raise StoreError(f"account graph index {path} lacks {missing[0]}.npy",
                             hint="rebuild it with `fundtrail graph build --full`")
        arrays = {n: load_mapped(path / f"{n}.npy") for n in _ARRAYS}
        return cls(chain=chain, path=path, meta=meta, arrays=arrays)

    @classmethod
    def from_rows(cls, chain: str, rows: list[dict], addresses: list[bytes],
                  tx_hashes: Sequence[bytes] = ()) -> AccountGraph:
        """An in-memory index over transfer rows already in execution order (for simulators and tests).

        Each row: `from`, `to` (address ids or None), `asset` (None = native, else address id),
        `amount` (int), and optionally `kind` (default native), `block`, `time`, `tx`, `log`.
        """
        n = len(rows)

        def col(key: str, default: int, dtype) -> np.ndarray:
            return np.array([default if r.get(key) is None else r[key] for r in rows], dtype=dtype).reshape(n)

        amounts = [int(r["amount"]) for r in rows]
        big = [i for i, a in enumerate(amounts) if a >> 128]
        out = {"ev_transfer": np.arange(n, dtype=np.int64), "ev_from": col("from", -1, np.int64),
               "ev_to": col("to", -1, np.int64), "ev_asset": col("asset", -1, np.int64),
               "ev_kind": col("kind", 0, np.uint8), "ev_block": col("block", 0, np.int64),
               "ev_time": col("time", 0, np.int64), "ev_tx": col("tx", -1, np.int64),
               "ev_log": col("log", -1, np.int32), "ev_batch": np.full(n, -1, np.int32),
               "ev_lo": np.array([a & (2**64 - 1) for a in amounts], np.uint64).reshape(n),
               "ev_hi": np.array([(a >> 64) & (2**64 - 1) for a in amounts], np.uint64).reshape(n),
               "ev_trace_ptr": np.zeros(n + 1, np.int64), "ev_trace": np.zeros(0, np.int32),
               "big_pos": np.array(big, np.int64),
               "big_raw": np.array([list(amounts[i].to_bytes(32, "big")) for i in big], np.uint8).reshape(-1, 32),
               "addr_bytes": np.array([list(a) for a in addresses], np.uint8).reshape(-1, 20),
               "tx_hash": np.array([list(h) for h in tx_hashes], np.uint8).reshape(-1, 32)}
        out["tx_block"] = np.zeros(out["tx_hash"].shape[0], np.int64)
        out["tx_time"] = np.zeros(out["tx_hash"].shape[0], np.int64)
        return cls(chain=chain, path=Path(), meta={"format": FORMAT, "in_memory": True}, arrays=_derive(out))

    @classmethod
    def ensure(cls, store: Store, chain: str, *, full: bool = False,
               progress: Progress | None = None) -> AccountGraph:
        """The index, first built or brought up to date with the store (see module docstring)."""
        def build(old: AccountGraph | None) -> tuple[dict[str, np.ndarray], dict]:
            arrays = _build(store, chain, old, old.meta["state"] if old is not None else None, progress)
            return arrays, {"format": FORMAT, "n_events": int(arrays["ev_from"].shape[0]),
                            "n_addresses": int(arrays["addr_bytes"].shape[0]),
                            "n_tx": int(arrays["tx_block"].shape[0])}

        return refresh_index(account_graph_dir(store, chain), chain, _store_state(store, chain),
                             lambda: cls.load(store, chain), build, full)


def _find(keys: np.ndarray, ids: np.ndarray, table: np.ndarray, raw: bytes) -> int:
    key = int.from_bytes(raw[:8], "big")
    lo = int(np.searchsorted(keys, np.uint64(key), side="left"))
    while lo < keys.shape[0] and int(keys[lo]) == key:
        i = int(ids[lo])
        if bytes(table[i]) == raw:
            return i
        lo += 1
    return -1


def _store_state(store: Store, chain: str) -> dict:
    """What the index must reflect: the committed batches and the id counters after each."""
    found = {c["chain"]: c for c in store.chains()}
    if chain not in found:
        raise NotFoundError(f"chain {chain} is not in the store {store.root}",
                            hint="run `fundtrail status` to see what is stored")
    if found[chain]["family"] != "account":
        raise UsageError(f"chain {chain} is a UTXO chain: use the UTXO graph index (fundtrail.trace.graph)")
    with store.connect(read_only=True) as con:
        # the hash of each batch's last block too: a reorganisation can refill equal counters
        rows = con.execute(
            "SELECT b.batch_id, b.next_tx_id, b.next_transfer_id, b.next_address_id, i.hash FROM batches b "
            "LEFT JOIN block_index i ON i.chain = b.chain AND i.height = b.last_block_id "
            "WHERE b.chain = ? ORDER BY b.batch_id", [chain]).fetchall()
    return {"batches": [[int(r[0]), int(r[1] or 0), int(r[2] or 0), int(r[3] or 0),
                         bytes(r[4]).hex() if r[4] is not None else None] for r in rows]}


def _fixed(column, width: int) -> np.ndarray:
    """A binary column of `width`-byte values as an (n, width) uint8 array."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.type != pa.binary(width):
        arr = arr.cast(pa.binary(width))
    data = np.frombuffer(arr.buffers()[1], np.uint8)
    return data[arr.offset * width:(arr.offset + len(arr)) * width].reshape(-1, width)


def _limbs(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low 64 bits, high 64 bits, mask of amounts >= 2**128) of (n, 32) big-endian amounts."""
    lo = raw[:, 24:32].copy().view(">u8").ravel().astype(np.uint64)
    hi = raw[:, 16:24].copy().view(">u8").ravel().astype(np.uint64)
    return lo, hi, np.asarray(raw[:, :16].any(axis=1))


def _build(store: Store, chain: str, old: AccountGraph | None, old_state: dict | None,
           progress: Progress | None) -> dict[str, np.ndarray]:
    """Arrays of the whole chain: `old`'s plus the rows the store has beyond them."""
    p = chain.replace("-", "_")
    last = old_state["batches"][-1] if old_state and old_state["batches"] else (0, 0, 0, 0, None)
    t0, tr0, a0 = (last[1], last[2], last[3]) if old is not None else (0, 0, 0)
    kinds = ", ".join(str(k) for k in VALUE_KINDS)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in (*_EVENT, "trace_len", "trace", "big_pos", "big_raw")}
    with store.query() as con:
        tr1 = int(con.execute(f"SELECT coalesce(max(transfer_id) + 1, 0) FROM {p}_transfers").fetchall()[0][0])
        for lo in range(tr0, max(tr1, tr0), _CHUNK):
            hi = min(lo + _CHUNK, tr1)
            if progress:
                progress("transfers", lo - tr0, tr1 - tr0)
            tbl = con.sql(
                f"""SELECT transfer_id, from_id, to_id, asset_id, kind, block_number, block_time, tx_id,
                           log_index, batch_index, amount_raw, trace_address,
                           coalesce(len(trace_address), 0) AS trace_len
                    FROM {p}_transfers WHERE transfer_id >= ? AND transfer_id < ? AND success
                      AND kind IN ({kinds})
                    ORDER BY block_number, tx_id NULLS LAST, transfer_id""", params=[lo, hi]).to_arrow_table()
            for name, column, dtype in (("ev_transfer", "transfer_id", np.int64), ("ev_from", "from_id", np.int64),
                                        ("ev_to", "to_id", np.int64), ("ev_asset", "asset_id", np.int64),
                                        ("ev_kind", "kind", np.uint8), ("ev_block", "block_number", np.int64),
                                        ("ev_time", "block_time", np.int64), ("ev_tx", "tx_id", np.int64),
                                        ("ev_log", "log_index", np.int32), ("ev_batch", "batch_index", np.int32),
                                        ("trace_len", "trace_len", np.int64)):
                parts[name].append(column_numpy(tbl, column, dtype))
            raw = hash32_numpy(tbl.column("amount_raw"))
            lo_l, hi_l, big = _limbs(raw)
            parts["ev_lo"].append(lo_l)
            parts["ev_hi"].append(hi_l)
            offset = sum(x.shape[0] for x in parts["ev_lo"][:-1]) + (old.n_events if old is not None else 0)
            parts["big_pos"].append(np.flatnonzero(big).astype(np.int64) + offset)
            parts["big_raw"].append(raw[big].copy())
            flat = tbl.column("trace_address").combine_chunks().flatten()
            parts["trace"].append(flat.fill_null(0).to_numpy().astype(np.int32) if len(flat) else
                                  np.zeros(0, np.int32))
        txs = con.sql(f"""SELECT tx_id, hash, block_number, block_time FROM {p}_transactions
                          WHERE tx_id >= ? ORDER BY tx_id""", params=[t0]).to_arrow_table()
        if progress:
            progress("addresses", 0, 1)
        addrs = con.sql(f"""SELECT address_id, address FROM {p}_addresses WHERE address_id >= ?
                            ORDER BY address_id""", params=[a0]).to_arrow_table()

    def cat(name: str, new: list[np.ndarray], dtype, width: int | None = None) -> np.ndarray:
        base = [np.asarray(old.arrays[name])] if old is not None else []
        empty = np.zeros((0, width) if width else 0, dtype)
        return np.concatenate(base + new + [empty]).astype(dtype, copy=False)

    out: dict[str, np.ndarray] = {}
    for name in _EVENT:
        out[name] = cat(name, parts[name], parts[name][0].dtype if parts[name] else
                        (np.uint64 if name in ("ev_lo", "ev_hi") else np.uint8 if name == "ev_kind"
                         else np.int32 if name in ("ev_log", "ev_batch") else np.int64))
    out["big_pos"] = cat("big_pos", parts["big_pos"], np.int64)
    out["big_raw"] = cat("big_raw", parts["big_raw"], np.uint8, 32)
    out["ev_trace"] = cat("ev_trace", parts["trace"], np.int32)
    new_len = np.concatenate(parts["trace_len"] + [np.zeros(0, np.int64)])
    old_len = np.diff(np.asarray(old.arrays["ev_trace_ptr"])) if old is not None else np.zeros(0, np.int64)
    trace_ptr = np.zeros(out["ev_from"].shape[0] + 1, np.int64)
    np.cumsum(np.concatenate([old_len, new_len]), out=trace_ptr[1:])
    out["ev_trace_ptr"] = trace_ptr
    # addresses
    aid = column_numpy(addrs, "address_id", np.int64)
    new_bytes = np.zeros((int(aid.max()) + 1 - a0 if aid.size else 0, 20), np.uint8)
    if aid.size:
        new_bytes[aid - a0] = _fixed(addrs.column("address"), 20)
    addr_bytes = cat("addr_bytes", [new_bytes], np.uint8, 20)
    n_addr = max(addr_bytes.shape[0], int(max(out["ev_from"].max(initial=-1), out["ev_to"].max(initial=-1),
                                              out["ev_asset"].max(initial=-1))) + 1)
    if n_addr > addr_bytes.shape[0]:
        raise StoreError(f"account graph of {chain}: transfers name address id {n_addr - 1} but the store "
                         f"lists {addr_bytes.shape[0]} addresses", hint="run `fundtrail graph build --full`")
    out["addr_bytes"] = addr_bytes
    zero = np.flatnonzero(~addr_bytes.any(axis=1))  # the zero address: ERC-20 mints come from it, burns go to it
    for name in ("ev_from", "ev_to"):
        if zero.size:
            out[name] = np.where(out[name] == zero[0], -1, out[name])
    new_hash = hash32_numpy(txs.column("hash")) if txs.num_rows else np.zeros((0, 32), np.uint8)
    out["tx_hash"] = cat("tx_hash", [np.array(new_hash)], np.uint8, 32)
    out["tx_block"] = cat("tx_block", [column_numpy(txs, "block_number", np.int64)], np.int64)
    out["tx_time"] = cat("tx_time", [column_numpy(txs, "block_time", np.int64, 0)], np.int64)
    return _derive(out)


def _derive(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The lookup keys and adjacency (CSR) arrays computed from the event, address and tx columns."""
    addr_bytes = out["addr_bytes"]
    n_addr = addr_bytes.shape[0]
    addr_key = addr_bytes[:, :8].copy().view(">u8").ravel().astype(np.uint64)
    out["addr_key_ids"] = np.argsort(addr_key, kind="stable").astype(np.int64)
    out["addr_key"] = addr_key[out["addr_key_ids"]]
    # address -> events CSR (stable sort keeps execution order; a self-transfer is listed once)
    ev_from, ev_to = out["ev_from"], out["ev_to"]
    pos = np.arange(ev_from.shape[0], dtype=np.int64)
    side_to = (ev_to >= 0) & (ev_to != ev_from)
    owners = np.concatenate([ev_from[ev_from >= 0], ev_to[side_to]])
    events = np.concatenate([pos[ev_from >= 0], pos[side_to]])
    order = np.lexsort((events, owners))
    addr_ptr = np.zeros(n_addr + 1, np.int64)
    np.cumsum(np.bincount(owners, minlength=n_addr), out=addr_ptr[1:])
    out["addr_ptr"], out["addr_events"] = addr_ptr, events[order]
    # transaction -> its (contiguous) events, and hash lookup keys
    n_tx = out["tx_block"].shape[0]
    ev_tx = out["ev_tx"]
    has = ev_tx >= 0
    count = np.bincount(ev_tx[has], minlength=n_tx).astype(np.int64)
    start = np.zeros(n_tx, np.int64)
    first = np.flatnonzero(has & np.r_[True, ev_tx[1:] != ev_tx[:-1]])
    start[ev_tx[first]] = first
    out["tx_ev_start"], out["tx_ev_count"] = start, count
    tx_key = out["tx_hash"][:, :8].copy().view(">u8").ravel().astype(np.uint64)
    out["tx_key_ids"] = np.argsort(tx_key, kind="stable").astype(np.int64)
    out["tx_key"] = tx_key[out["tx_key_ids"]]
    return out
