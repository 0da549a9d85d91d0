"""The spilling table against the in-memory one: the same answers to the same operations.

The oracle is `FingerprintTable` (today's path) fed the same operation sequence; the spilling
table gets a hot table of a few dozen entries, so nearly everything goes through the run files
(merges, dead bitmaps, the Bloom filter, chunked operations larger than the hot table).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from fundtrail.ingest.bitcoin.fptable import FingerprintTable
from fundtrail.ingest.bitcoin.spill_table import SpillingTable


def _entries(table: FingerprintTable) -> set[tuple]:
    if isinstance(table, SpillingTable):
        k1, k2, v = table.entries()
    else:
        k1, k2, v = table.k1[table.used], table.k2[table.used], table.vals[table.used]
    return set(zip(k1.tolist(), k2.tolist(), map(tuple, v.tolist())))


@pytest.mark.parametrize("max_hot", [8, 50, 1000])
def test_random_operations_match_the_unbounded_table(tmp_path: Path, max_hot: int) -> None:
    rng = np.random.default_rng(max_hot)
    keyspace = rng.integers(0, 2**63, size=(3000, 2), dtype=np.int64).astype(np.uint64)
    keyspace[:40, 0] = keyspace[40:80, 0]  # equal first words, different second: the probe's tie scan
    ref = FingerprintTable(3)
    sp = SpillingTable(3, tmp_path / "utxo", 1 << 20, max_hot=max_hot)
    next_v = 0
    for step in range(300):
        op = rng.integers(0, 4)
        pick = keyspace[rng.integers(0, len(keyspace), size=int(rng.integers(1, 120)))]
        a, b = pick[:, 0].copy(), pick[:, 1].copy()
        if op == 0:  # insert (some keys present: overwrite)
            v = np.stack([np.arange(next_v, next_v + len(a)), rng.integers(0, 10**8, len(a)),
                          rng.integers(-1, 500, len(a))], axis=1).astype(np.int64)
            next_v += len(a)
            ref.insert(a, b, v)
            sp.insert(a, b, v)
        elif op == 1:  # pop, duplicates included (the second of a pair is not found)
            ra, rf = ref.pop(a, b)
            sa, sf = sp.pop(a, b)
            assert (rf == sf).all() and (ra == sa).all(), step
        elif op == 2:
            ra, rf = ref.lookup(a, b)
            sa, sf = sp.lookup(a, b)
            assert (rf == sf).all() and (ra == sa).all(), step
        else:  # fill the id column of addresses-style use: get_or_assign on a 1-value view
            pass
        assert ref.count == sp.count, step
    assert _entries(ref) == _entries(sp)
    if max_hot < 100:
        assert sp.evicted > 0 and sp.spill.bytes_written > 0


@pytest.mark.parametrize("max_hot", [4, 64])
def test_get_or_assign_assigns_the_same_ids(tmp_path: Path, max_hot: int) -> None:
    """Ids in order of first appearance, across chunks bigger than the hot table, repeats within
    one call and keys spilled by an earlier call."""
    rng = np.random.default_rng(7)
    keyspace = rng.integers(0, 2**63, size=(2000, 2), dtype=np.int64).astype(np.uint64)
    ref = FingerprintTable(1)
    sp = SpillingTable(1, tmp_path / "addr", 1 << 20, max_hot=max_hot)
    n_ref = n_sp = 0
    for _ in range(60):
        pick = keyspace[rng.integers(0, len(keyspace), size=int(rng.integers(1, 300)))]
        a, b = pick[:, 0].copy(), pick[:, 1].copy()
        ri, rn, n_ref = ref.get_or_assign(a, b, n_ref)
        si, sn, n_sp = sp.get_or_assign(a, b, n_sp)
        assert (ri == si).all() and (rn == sn).all() and n_ref == n_sp
        # the rewrite decode does for new ids (insert over present keys)
        if rn.any():
            ref.insert(a[rn], b[rn], ri[rn].reshape(-1, 1))
            sp.insert(a[rn], b[rn], si[rn].reshape(-1, 1))
    assert _entries(ref) == _entries(sp)
    assert sp.spill.disk_bytes > 0


def test_spill_files_are_private_and_memory_stays_bounded(tmp_path: Path) -> None:
    sp = SpillingTable(3, tmp_path / "cache" / "spill-utxo", 1 << 20)
    assert sp.capacity <= sp.max_cap and sp.max_cap * 41 * 3 <= (1 << 20) * 2
    rng = np.random.default_rng(1)
    n = 200_000  # far more than 1 MB of hot table holds
    a = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    b = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    v = np.stack([np.arange(n), np.arange(n), np.arange(n)], axis=1).astype(np.int64)
    sp.insert(a, b, v)
    assert sp.count == n
    assert sp.capacity <= sp.max_cap and sp.hot_count <= sp.max_hot
    assert sp.nbytes < 2 << 20  # hot arrays, Bloom filter, dead bitmaps: not the 200k entries
    d = tmp_path / "cache" / "spill-utxo"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    files = list(d.glob("*.run"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    got, found = sp.pop(a[::-1], b[::-1])
    assert found.all() and (got[:, 0] == np.arange(n)[::-1]).all()
    assert sp.count == 0
