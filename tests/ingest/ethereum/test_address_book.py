"""The account ingest's address book (ingest/ethereum/book.py): ids in order of first appearance,
exactly those of a one-at-a-time dict, whether the table is in memory or spills to disk after a
handful of entries; a batch that fails leaves nothing behind; fingerprints keep apart addresses
that differ only in their last bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fundtrail.ingest.bitcoin.spill_table import SpillingTable
from fundtrail.ingest.ethereum.book import AddressBook, fingerprints
from fundtrail.ingest.ethereum.known import KnownBlocks
from fundtrail.store import Store


def _oracle(batches: list[list[bytes]]) -> list[list[int]]:
    """Ids by a plain dict, one address at a time (what the ingest did before the book)."""
    ids: dict[bytes, int] = {}
    out = []
    for batch in batches:
        got = []
        for a in batch:
            if a not in ids:
                ids[a] = len(ids)
            got.append(ids[a])
        out.append(got)
    return out


def _run(book: AddressBook, batches: list[list[bytes]]) -> tuple[list[list[int]], list[list[int]]]:
    """Ids per batch, and the first new id at every position (what a block's mark records)."""
    out, marks = [], []
    for batch in batches:
        ids = book.batch()
        counts, local = [], []
        for a in batch:
            counts.append(ids.count)
            local.append(ids.id(a, 7))
        ids.resolve()
        out.append(ids.to_ids(local).to_pylist())
        marks.append([ids.first_new_id(c) for c in counts])
    return out, marks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ids_equal_a_dict_in_memory_and_spilled(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = [bytes(rng.integers(0, 256, 20, np.uint8)) for _ in range(3000)]
    # hubs recur, most addresses are seen once or twice: batches of 1 to 400 addresses
    batches = [[pool[min(int(rng.pareto(1.2) * 30), len(pool) - 1)] for _ in range(int(rng.integers(1, 400)))]
               for _ in range(40)]
    want = _oracle(batches)
    mem, mem_marks = _run(AddressBook(), batches)
    spilled_table = SpillingTable(1, tmp_path / "spill", 1 << 20, max_hot=8)
    spilled, spilled_marks = _run(AddressBook(spilled_table), batches)
    assert mem == want and spilled == want
    assert spilled_marks == mem_marks
    assert spilled_table.spill.has_runs  # it really spilled
    # the mark at a position: the dict's next id there (how many distinct addresses came before)
    seen: set[bytes] = set()
    for batch, marks in zip(batches, mem_marks):
        for a, mark in zip(batch, marks):
            assert mark == len(seen)
            seen.add(a)


def test_a_failed_batch_leaves_no_address_behind(tmp_path: Path) -> None:
    book = AddressBook(SpillingTable(1, tmp_path / "spill", 1 << 20, max_hot=4), 0)
    a = [bytes([i]) * 20 for i in range(1, 30)]
    first = book.batch()
    for x in a[:10]:
        first.id(x, 1)
    first.resolve()
    assert book.next_id == 10
    failed = book.batch()
    for x in a[5:25]:
        failed.id(x, 2)
    failed.resolve()
    assert book.next_id == 25
    failed.undo()
    assert book.next_id == 10
    assert book.lookup(np.frombuffer(b"".join(a[10:25]), np.uint8).reshape(-1, 20)).tolist() == [-1] * 15
    assert book.lookup(np.frombuffer(b"".join(a[:10]), np.uint8).reshape(-1, 20)).tolist() == list(range(10))
    again = book.batch()
    assert [again.id(x, 3) for x in a[12:14]] == [0, 1]
    again.resolve()
    assert again.to_ids([0, 1, None]).to_pylist() == [10, 11, None]


def test_a_wrong_length_address_is_a_clear_error() -> None:
    ids = AddressBook().batch()
    with pytest.raises(ValueError, match="block 9 is not 20 bytes"):
        ids.id(b"\x01" * 21, 9)


def test_fingerprints_keep_apart_addresses_differing_only_at_the_end() -> None:
    precompiles = [bytes(19) + bytes([i]) for i in range(1, 11)]
    last_bytes = [bytes([0xAB] * 16) + i.to_bytes(4, "big") for i in range(0, 1 << 16, 7)]
    for group in (precompiles, last_bytes):
        k1, k2 = fingerprints(np.frombuffer(b"".join(group), np.uint8).reshape(-1, 20))
        assert len(set(zip(k1.tolist(), k2.tolist()))) == len(group)


def test_known_blocks_are_ranges_with_hashes_from_the_catalog(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    with store.connect() as con:
        for h in [*range(50), *range(60, 70)]:
            con.execute("INSERT INTO block_index (chain, block_id, height, hash, prev_hash, batch_id, first_tx_id, "
                        "first_output_id, first_address_id) VALUES (?, ?, ?, ?, ?, 0, 0, 0, 0)",
                        ["eth", h, h, bytes([h]) * 32, bytes([max(h - 1, 0)]) * 32])
    known = KnownBlocks(store, "eth")
    assert (known.lo, known.hi) == ([0, 60], [49, 69]) and known.tip == 69
    assert 49 in known and 50 not in known and 65 in known and 70 not in known and -1 not in known
    assert known[7] == bytes([7]) * 32 and known.get(55) is None  # read from block_index
    for h in range(50, 60):  # filling the gap joins the ranges
        known.add(h, b"\xee" * 32)
    assert (known.lo, known.hi) == ([0], [69]) and known[55] == b"\xee" * 32
    known.add(80, b"\x80" * 32)
    assert (known.lo, known.hi) == ([0, 80], [69, 80]) and known.tip == 80
    with pytest.raises(KeyError):
        known[75]
