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
It is built within a memory budget (`account_graph_build`: arrays too large for it are written in
place as memory-mapped files, the store is read in chunks, the sorts run in passes), with the same
bytes whatever the budget.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fundtrail.errors import NotFoundError, StoreError, UsageError
from fundtrail.store.lake import Store
from fundtrail.store.mapped import load_mapped
from fundtrail.store.spill import Spill, default_limit
from fundtrail.store.txhash import tx_hash_text
from fundtrail.trace.account_graph_build import EVENT_DTYPES, build_account_arrays, derive
from fundtrail.trace.account_graph_build import VALUE_KINDS as VALUE_KINDS
from fundtrail.trace.graph import Progress, refresh_index, staging_dir

FORMAT = "fundtrail-account-graph/1"
KIND_FEE = 6
_EVENT = tuple(EVENT_DTYPES)
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
    def ensure(cls, store: Store, chain: str, *, full: bool = False, progress: Progress | None = None,
               memory_limit: int | None = None) -> AccountGraph:
        """The index, first built or brought up to date with the store (see module docstring);
        built within `memory_limit` bytes (default `store.spill.default_limit()`; `account_graph_build`)."""
        path = account_graph_dir(store, chain)
        limit = default_limit() if memory_limit is None else memory_limit
        with Spill(store.root, limit, "account-graph") as sp:
            def build(old: AccountGraph | None) -> tuple[dict[str, np.ndarray], dict]:
                state = old.meta["state"] if old is not None else None
                arrays = build_account_arrays(store, chain, old, state, progress, sp, staging_dir(path))
                return arrays, {"format": FORMAT, "n_events": int(arrays["ev_from"].shape[0]),
                                "n_addresses": int(arrays["addr_bytes"].shape[0]),
                                "n_tx": int(arrays["tx_block"].shape[0])}

            return refresh_index(path, chain, _store_state(store, chain), lambda: cls.load(store, chain), build,
                                 full, staged=True)


def _derive(out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The derived arrays of in-memory columns, without a budget (`from_rows`, benchmarks)."""
    with Spill(None, None, "account-graph") as sp:
        return derive(out, sp, lambda name, shape, dtype, fill=None: sp.array(name, shape, dtype, fill))


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
