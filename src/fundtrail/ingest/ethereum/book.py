"""The account-chain ingest's address ids, within the run's memory budget.

Every 20-byte address gets a dense id in order of first appearance (DESIGN.md section 2). Full
Ethereum has about 300 million addresses: a dict of them is ~64 GB (213 B each), so the ids live
in the Bitcoin ingest's fingerprint table (16 B of key and 8 of id per slot), which under a memory
budget (`ingest.bitcoin.spill_budget.memory_budget`) is a `SpillingTable`: a bounded hot table and
sorted runs on disk (`cache/<chain>/spill-eth-addr`).

A table lookup is a batched, vectorised call, so the row builder does not ask for ids one by one:
a batch's `BatchIds` hands out *local* numbers in order of first appearance, and `resolve` turns
them into ids in one `get_or_assign`, which assigns new ids in that same order. The ids are
therefore exactly those of a one-at-a-time dict, whatever the budget.

The key is a 128-bit fingerprint of the 20 bytes: the first 16 bytes, the second word mixed with
a bijective hash of the last 4 (so addresses differing only there, such as the precompiles
0x…01 to 0x…0a, never collide). Two addresses share a fingerprint only if 128 bits of keccak
output agree: the same odds as the Bitcoin ingest's script fingerprints.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fundtrail.ingest.bitcoin.fptable import FingerprintTable
from fundtrail.ingest.bitcoin.spill_budget import current_budget, table_budgets, test_max_hot
from fundtrail.ingest.bitcoin.spill_table import SpillingTable
from fundtrail.store import Store
from fundtrail.store.tables import fixed_numpy

_STREAM_ROWS = 1 << 18  # addresses per record batch when the book is rebuilt from the store
_M1, _M2, _M3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def fingerprints(addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(k1, k2) of (n, 20) uint8 addresses (module docstring)."""
    raw = np.ascontiguousarray(addresses, np.uint8).reshape(-1, 20)
    k1 = raw[:, 0:8].copy().view("<u8").ravel()
    k2 = raw[:, 8:16].copy().view("<u8").ravel()
    z = raw[:, 16:20].copy().view("<u4").ravel().astype(np.uint64)
    with np.errstate(over="ignore"):  # multiplication modulo 2**64 is the point
        z = (z + _M1) * _M2
        z ^= z >> np.uint64(27)
        z *= _M3
        z ^= z >> np.uint64(31)
    return k1.astype(np.uint64), k2 ^ z


def spill_dir(store: Store, chain: str) -> Path:
    """Where a budgeted book of `chain` spills (removed and refilled at every load)."""
    return store.root / "cache" / chain / "spill-eth-addr"


class AddressBook:
    """Address -> id for one chain; `next_id` is the id the next new address gets."""

    def __init__(self, table: FingerprintTable | None = None, next_id: int = 0) -> None:
        self.table = table if table is not None else FingerprintTable(1)
        self.next_id = next_id

    @classmethod
    def load(cls, store: Store, chain: str, next_id: int, *, fresh: bool) -> AddressBook:
        """The book of what `store` holds of `chain`: unbounded, or spilling when a memory budget
        is set for the run; with `fresh` (nothing stored yet) it starts empty."""
        budget = current_budget()
        where = spill_dir(store, chain)
        shutil.rmtree(where, ignore_errors=True)
        table: FingerprintTable
        if budget is None:
            table = FingerprintTable(1)
        else:
            table = SpillingTable(1, where, table_budgets(budget)["addr"], max_hot=test_max_hot())
        book = cls(table, next_id)
        if not fresh:
            p = chain.replace("-", "_")
            with store.query() as con:
                reader = con.sql(f"SELECT address_id, address FROM {p}_addresses").to_arrow_reader(_STREAM_ROWS)
                for rb in reader:
                    book.add(fixed_numpy(rb.column(1), 20), rb.column(0).to_numpy().astype(np.int64))
        return book

    def close(self) -> None:
        """Remove the spill files (the store is the truth: the next load rebuilds the book)."""
        if isinstance(self.table, SpillingTable):
            shutil.rmtree(self.table.spill.dir, ignore_errors=True)

    def add(self, addresses: np.ndarray, ids: np.ndarray) -> None:
        """Remember stored (address, id) pairs."""
        if not len(ids):
            return
        k1, k2 = fingerprints(addresses)
        if not isinstance(self.table, SpillingTable):
            self.table.reserve(len(ids))
        self.table.insert(k1, k2, ids.reshape(-1, 1))

    def lookup(self, addresses: np.ndarray) -> np.ndarray:
        """Ids of (n, 20) addresses, -1 where unknown (no id is assigned)."""
        k1, k2 = fingerprints(addresses)
        vals, found = self.table.lookup(k1, k2)
        return np.where(found, vals[:, 0], -1)

    def forget(self, addresses: np.ndarray) -> None:
        """Drop addresses (the new ones of a batch that was not committed)."""
        if len(addresses):
            self.table.pop(*fingerprints(addresses))

    def batch(self) -> BatchIds:
        return BatchIds(self)


class BatchIds:
    """The addresses of one batch of blocks, numbered locally until `resolve` (module docstring)."""

    def __init__(self, book: AddressBook) -> None:
        self.book = book
        self.local: dict[bytes, int] = {}
        self.first_block: list[int] = []
        self.ids: np.ndarray | None = None
        self.new: np.ndarray = np.zeros(0, np.bool_)
        self.base = book.next_id
        self._addrs = np.zeros((0, 20), np.uint8)  # in local order, made by `resolve`
        self._ids_arrow: pa.Array | None = None

    def id(self, addr: bytes | None, block: int) -> int | None:
        """The local number of `addr` (None stays None); `block` is where it was first seen."""
        if addr is None:
            return None
        got = self.local.get(addr)
        if got is None:
            if len(addr) != 20:
                raise ValueError(f"address 0x{addr.hex()} of block {block} is not 20 bytes")
            got = self.local[addr] = len(self.first_block)
            self.first_block.append(block)
        return got

    @property
    def count(self) -> int:
        """Local numbers handed out so far."""
        return len(self.first_block)

    def resolve(self) -> None:
        """Assign ids: known addresses keep theirs, new ones get `next_id` on, in local order."""
        self._addrs = np.frombuffer(b"".join(self.local), np.uint8).reshape(-1, 20)
        k1, k2 = fingerprints(self._addrs)
        ids, new, nxt = self.book.table.get_or_assign(k1, k2, self.book.next_id)
        self.ids, self.new = ids, new
        self._ids_arrow = pa.array(ids, pa.int64())
        self.book.next_id = nxt

    def undo(self) -> None:
        """Forget what `resolve` added (the batch is not committed)."""
        if self.ids is not None:
            self.book.forget(self._addrs[self.new])
            self.book.next_id = self.base
            self.ids = None

    def first_new_id(self, local_count: int) -> int:
        """The id the first new address at local number >= `local_count` gets (the next id after
        the new ones before it): a block's `first_address_id`."""
        assert self.ids is not None
        return self.base + int(np.count_nonzero(self.new[:local_count]))

    def to_ids(self, column: list) -> pa.Array:
        """A column of local numbers (or None) as an int64 Arrow array of ids."""
        assert self._ids_arrow is not None
        return pc.take(self._ids_arrow, pa.array(column, pa.int64()))

    def id_of(self, addr: bytes) -> int:
        assert self.ids is not None
        return int(self.ids[self.local[addr]])

    def new_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, addresses, first blocks) of the new addresses, in id order."""
        assert self.ids is not None
        sel = np.flatnonzero(self.new)
        return self.ids[sel], self._addrs[sel], np.asarray(self.first_block, np.int64)[sel]

