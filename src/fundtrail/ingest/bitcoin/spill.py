"""The on-disk part of a bounded fingerprint table: sorted runs, merged a key-prefix partition at a time.

What the in-memory (hot) table evicts is written as one run, sorted by (k1, k2), in one file:
k1[n] | k2[n] | values[n, m], all 8-byte words. A run is thereby also partitioned by key prefix
(the top `bits` bits of k1), and keeps the offsets of its 2^bits partitions. A batch's lookups are
binary-searched in each run file, memory-mapped for that lookup only and unmapped after, so
resident memory does not grow with the spilled data. Spilled keys that are spent (popped) or
overwritten are marked dead in a bitmap per run (one bit per entry); a run with many dead entries
is rewritten, and runs of similar size are merged (size-tiered: O(log n) runs, each entry rewritten
O(log n) times). A merge reads, sorts and writes one partition at a time, so it needs memory for
1/2^bits of the runs it merges, not for the runs.

A Bloom filter over the spilled keys answers "certainly not spilled" for most misses (new
addresses, new outputs), so those cost no file access. It only grows; it is rebuilt from the runs
when most keys it holds have died.

Run files are immutable once written: a state snapshot refers to them by name (`manifest`) and the
files it names are kept (`pinned`) until a newer snapshot replaces it.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fundtrail.ingest.bitcoin.spill_kernels import bloom_add, bloom_test, probe
from fundtrail.store.partitions import FILE_MODE, make_private_dir

PARTITION_BITS = 10  # default; SpillingTable chooses from its hot-table size


@dataclass
class Run:
    """One immutable run file, its partition offsets and its in-memory dead-entry bitmap."""

    name: str
    n: int
    offsets: np.ndarray  # int64[2^bits + 1]: where each key-prefix partition starts
    dead: np.ndarray  # uint8, packed bits, one per entry; empty while none is dead (address runs)
    n_dead: int = 0

    @property
    def live(self) -> int:
        return self.n - self.n_dead


class SpillRuns:
    """Sorted runs of (k1, k2) -> int64[n_values] entries under `directory`."""

    def __init__(self, directory: Path, n_values: int, *, bits: int = PARTITION_BITS,
                 bloom_bytes: int = 4096) -> None:
        self.dir = directory
        self.n_values = n_values
        self.bits = bits
        self.runs: list[Run] = []  # oldest first
        self.pinned: set[str] = set()  # files a saved snapshot names: never deleted before the next one
        self._seq = 0
        self._bloom_size = 1 << max(12, int(bloom_bytes - 1).bit_length())
        self.bloom = np.zeros(0, np.uint8)  # allocated when the first entry is spilled
        self._bloom_added = 0
        self.bytes_written = 0  # spill traffic, for the benchmark
        self.merge_rows = 1 << 16  # entries a merge step holds in memory (SpillingTable: its hot size)

    # -- sizes ------------------------------------------------------------------------------
    @property
    def has_runs(self) -> bool:
        return bool(self.runs)

    @property
    def count(self) -> int:
        return sum(r.live for r in self.runs)

    @property
    def nbytes(self) -> int:
        """Resident bytes: the Bloom filter, dead bitmaps, offsets (the runs stay on disk)."""
        return int(self.bloom.nbytes) + sum(r.dead.nbytes + r.offsets.nbytes for r in self.runs)

    @property
    def disk_bytes(self) -> int:
        return sum(r.n * 8 * (2 + self.n_values) for r in self.runs)

    def _offsets(self, k1: np.ndarray) -> np.ndarray:
        bounds = np.arange((1 << self.bits) + 1, dtype=np.uint64)
        starts = np.searchsorted(k1, bounds[:-1] << np.uint64(64 - self.bits)) if self.bits else np.zeros(1, np.int64)
        return np.concatenate([starts, [len(k1)]]).astype(np.int64)

    # -- files ------------------------------------------------------------------------------
    def _create(self, n: int) -> tuple[str, int]:
        make_private_dir(self.dir)  # a store holds case data: 0700 directories, 0600 files
        name = f"r{self._seq:09d}.run"
        self._seq += 1
        fd = os.open(self.dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.ftruncate(fd, n * 8 * (2 + self.n_values))
        self.bytes_written += n * 8 * (2 + self.n_values)
        return name, fd

    def _put(self, fd: int, n: int, at: int, k1: np.ndarray, k2: np.ndarray, vals: np.ndarray) -> None:
        """Write entries at position `at` of a run of `n` entries."""
        for base, arr in ((0, k1), (8 * n, k2), (16 * n, vals)):
            os.pwrite(fd, np.ascontiguousarray(arr).tobytes(), base + at * 8 * arr[:1].size)

    def _slice(self, run: Run, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Live entries lo:hi of a run, read into memory."""
        m, n = hi - lo, run.n
        path = self.dir / run.name
        k1 = np.fromfile(path, np.uint64, m, offset=8 * lo)
        k2 = np.fromfile(path, np.uint64, m, offset=8 * (n + lo))
        vals = np.fromfile(path, np.int64, m * self.n_values, offset=8 * (2 * n + lo * self.n_values))
        vals = vals.reshape(m, self.n_values)
        if not run.n_dead:
            return k1, k2, vals
        bits = np.unpackbits(run.dead[lo >> 3:(hi + 7) >> 3], bitorder="little")
        keep = bits[lo & 7:(lo & 7) + m] == 0
        return k1[keep], k2[keep], vals[keep]

    def _drop(self, run: Run) -> None:
        if run.name not in self.pinned:
            (self.dir / run.name).unlink(missing_ok=True)

    # -- writing ----------------------------------------------------------------------------
    def add(self, k1: np.ndarray, k2: np.ndarray, vals: np.ndarray) -> None:
        """Spill entries whose keys are in neither the runs (live) nor the caller's hot table."""
        if not len(k1):
            return
        if not len(self.bloom):
            self.bloom = np.zeros(self._bloom_size, np.uint8)
        bloom_add(self.bloom, k1, k2)
        self._bloom_added += len(k1)
        order = np.lexsort((k2, k1))
        k1, k2, vals = k1[order], k2[order], vals[order]
        name, fd = self._create(len(k1))
        try:
            self._put(fd, len(k1), 0, k1, k2, vals)
        finally:
            os.close(fd)
        self.runs.append(Run(name, len(k1), self._offsets(k1), np.zeros(0, np.uint8)))
        self._tidy()

    def _tidy(self) -> None:
        """Merge the newest runs while a run is at least half the size of the one before it
        (live entries), and rewrite runs that are mostly dead."""
        while len(self.runs) >= 2 and 2 * self.runs[-1].live >= self.runs[-2].live:
            self._merge(len(self.runs) - 2, 2)
        for i, run in enumerate(self.runs):
            if run.n_dead and 2 * run.n_dead >= run.n:
                self._merge(i, 1)
        self._maybe_rebuild_bloom()

    def _merge(self, first: int, count: int) -> None:
        """Replace runs[first:first+count] by one run of their live entries, a range of
        partitions at a time (as many as hold about `merge_rows` entries, at least one)."""
        chosen = self.runs[first:first + count]
        n = sum(r.live for r in chosen)
        merged: list[Run] = []
        if n:
            name, fd = self._create(n)
            sizes = np.sum([np.diff(r.offsets) for r in chosen], axis=0)
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # before dropping dead
            out_offsets = np.zeros_like(offsets)
            try:
                at, p = 0, 0
                while p < len(sizes):
                    q = max(p + 1, int(np.searchsorted(offsets, offsets[p] + self.merge_rows, "right")) - 1)
                    parts = [self._slice(r, int(r.offsets[p]), int(r.offsets[q])) for r in chosen]
                    k1 = np.concatenate([x[0] for x in parts])
                    k2 = np.concatenate([x[1] for x in parts])
                    vals = np.concatenate([x[2] for x in parts])
                    del parts
                    order = np.lexsort((k2, k1))
                    k1, k2, vals = k1[order], k2[order], vals[order]
                    self._put(fd, n, at, k1, k2, vals)
                    out_offsets[p + 1:q + 1] = at + self._offsets(k1)[p + 1:q + 1]
                    at += len(k1)
                    p = q
            finally:
                os.close(fd)
            merged = [Run(name, n, out_offsets, np.zeros(0, np.uint8))]
        self.runs[first:first + count] = merged
        for r in chosen:
            self._drop(r)

    # -- lookups ----------------------------------------------------------------------------
    def find(self, a: np.ndarray, b: np.ndarray, *, delete: bool) -> tuple[np.ndarray, np.ndarray]:
        """(values, found) of each key; with `delete`, found entries are marked dead, and of keys
        given more than once only the first is found (as with sequential pops)."""
        m = len(a)
        out = np.zeros((m, self.n_values), np.int64)
        found = np.zeros(m, np.bool_)
        if m == 0 or not self.runs:
            return out, found
        maybe = np.empty(m, np.bool_)
        bloom_test(self.bloom, a, b, maybe)
        q = np.flatnonzero(maybe)
        if not len(q):
            return out, found
        qa, qb = a[q], b[q]
        todo = np.ones(len(q), np.bool_)
        pos = np.empty(len(q), np.int64)
        for run in reversed(self.runs):
            if not todo.any():
                break
            with open(self.dir / run.name, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                words = np.frombuffer(mm, np.uint64)
                n = run.n
                probe(words[:n], words[n:2 * n], run.dead, qa, qb, todo, pos)
                hit = np.flatnonzero(pos >= 0)
                if len(hit):
                    hp = pos[hit]
                    if delete:  # a key given twice is found once: keep its first occurrence
                        hp, first = np.unique(hp, return_index=True)
                        hit = hit[first]
                    vals = words[2 * n:].view(np.int64).reshape(n, self.n_values)
                    out[q[hit]] = vals[hp]
                    found[q[hit]] = True
                    todo[pos >= 0] = False
                    if delete:
                        if not len(run.dead):
                            run.dead = np.zeros((n + 7) // 8, np.uint8)
                        np.bitwise_or.at(run.dead, hp >> 3, (1 << (hp & 7)).astype(np.uint8))
                        run.n_dead += len(hp)
                    del vals
                del words  # the buffer must be released before the map closes
        if delete and any(2 * r.n_dead >= r.n for r in self.runs):
            self._tidy()
        return out, found

    def _maybe_rebuild_bloom(self) -> None:
        """A Bloom filter only grows: rebuild it when most keys it holds have died."""
        if self._bloom_added > max(4 * self.count, self.bloom.nbytes):
            self.bloom[:] = 0
            self._bloom_added = 0
            for k1, k2, _ in self.iter_live():
                bloom_add(self.bloom, k1, k2)
                self._bloom_added += len(k1)

    # -- scans, snapshots -------------------------------------------------------------------
    def iter_live(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every live entry, a partition of one run at a time."""
        for run in self.runs:
            for p in range(1 << self.bits):
                lo, hi = int(run.offsets[p]), int(run.offsets[p + 1])
                if hi > lo:
                    yield self._slice(run, lo, hi)

    def manifest(self) -> dict[str, np.ndarray]:
        """Arrays naming the runs and their dead bitmaps, for the state snapshot; pins the runs."""
        self.pinned = {r.name for r in self.runs}
        return {
            "bits": np.array(self.bits),
            "runs": np.array([r.name for r in self.runs], dtype=np.str_),
            "meta": np.array([(r.n, r.n_dead, len(r.dead)) for r in self.runs], np.int64).reshape(-1, 3),
            "offsets": np.array([r.offsets for r in self.runs], np.int64).reshape(-1, (1 << self.bits) + 1),
            "dead": np.concatenate([r.dead for r in self.runs]) if self.runs else np.zeros(0, np.uint8),
            "bloom": self.bloom,
            "bloom_added": np.array(self._bloom_added),
        }

    def restore(self, manifest: dict[str, np.ndarray]) -> None:
        """Take the runs a snapshot names (checking their sizes); delete other run files."""
        other_bits = int(manifest["bits"]) != self.bits  # saved under another budget
        off = 0
        dead = manifest["dead"]
        for name, (n, n_dead, nb_), offsets in zip(manifest["runs"].tolist(), manifest["meta"].tolist(),
                                              manifest["offsets"]):
            size = (self.dir / name).stat().st_size  # a missing file: OSError, the snapshot is not used
            if size != n * 8 * (2 + self.n_values):
                raise ValueError(f"run {name} has {size} bytes, the snapshot expects {n} entries")
            if other_bits:
                offsets = self._file_offsets(name, n)
            self.runs.append(Run(name, n, offsets.copy(), dead[off:off + nb_].copy(), n_dead))
            off += nb_
            self._seq = max(self._seq, int(name[1:10]) + 1)
        self.pinned = {r.name for r in self.runs}
        self.remove_stale()
        bloom = manifest.get("bloom")
        if bloom is not None and len(bloom) == self._bloom_size:
            self.bloom, self._bloom_added = bloom, int(manifest["bloom_added"])
        elif self.runs:  # saved under another budget: the filter is rebuilt from the runs
            self.bloom = np.zeros(self._bloom_size, np.uint8)
            for k1, k2, _ in self.iter_live():
                bloom_add(self.bloom, k1, k2)
                self._bloom_added += len(k1)

    def _file_offsets(self, name: str, n: int) -> np.ndarray:
        """Partition offsets of a run file, by binary search in its mapped keys."""
        with open(self.dir / name, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            words = np.frombuffer(mm, np.uint64)
            offsets = self._offsets(words[:n])
            del words
        return offsets

    def remove_stale(self) -> None:
        """Delete run files that neither a live run nor the snapshot names (a run cut short)."""
        if not self.dir.exists():
            return
        keep = self.pinned | {r.name for r in self.runs}
        for path in self.dir.glob("*.run"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
