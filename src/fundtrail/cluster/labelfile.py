"""The current cluster id of every address, as a file that readers memory-map (issue 19).

Every reader of a clustering (exposure and tag inheritance, `cluster show`, the API, watches) needs
one label per address: 8 bytes each, 12 GB at full Bitcoin. Loading it used to take the checkpoint's
union-find (16 B/address, made anonymous by the journal's unions), the labels made from it and a
copy with the overrides applied: 32 B/address of anonymous memory in every reading process. Now:

- a checkpoint run without overrides: its parent array *is* the labels (a checkpoint stores every
  address's root, the smallest id of its cluster), mapped read-only as it is;
- otherwise the labels are written once, a range of addresses at a time, to
  `derived/<chain>/labels/run-<id>-<overrides key>.npy` and mapped read-only from there; later
  readers of the same run and overrides map that file. The journal's unions join whole checkpoint
  clusters, so they are replayed on a small union-find over the roots they touch (the smallest
  root wins, as in the run's own union-find), and the overrides are applied a range at a time.

Anonymous memory is the journal's edges (at most max(1M, n/8) of them before the engine takes a
checkpoint: 2 B/address) and one range; the labels themselves are page cache, which the kernel
can reclaim. Where the store cannot be written the labels are made in memory, as before.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fundtrail.cluster import overrides, runs
from fundtrail.cluster.unionfind import UnionFind
from fundtrail.store import Store
from fundtrail.store.lake import fsync_path
from fundtrail.store.partitions import FILE_MODE, make_private_dir

#: addresses per range while the labels are written (8 MB of them)
STEP = 1 << 20
LABELS_DIR = "labels"


def labels_dir(store: Store, chain: str) -> Path:
    return store.root / "derived" / chain / LABELS_DIR


def _key(rec: runs.RunRecord, lineage: list[runs.RunRecord], ovs: list[overrides.Override]) -> str:
    """The file name for run `rec` and these overrides (the lineage and counts are in the hash too,
    so a file can never be taken for another state of the store)."""
    what = [[(r.run_id, r.n_addresses, r.tx_hi, r.path) for r in lineage],
            [(o.override_id, o.kind, o.addresses) for o in ovs]]
    return f"run-{rec.run_id:08d}-{hashlib.sha256(repr(what).encode()).hexdigest()[:16]}.npy"


def current_labels(store: Store, rec: runs.RunRecord, lineage: list[runs.RunRecord],
                   ovs: list[overrides.Override], *, step: int = STEP) -> np.ndarray:
    """Cluster id of every address `0..rec.n_addresses)` after run `rec` (whose lineage is
    `lineage`) and the overrides `ovs`: a read-only array mapped from a file."""
    ckpt, journal = runs.since_checkpoint(lineage)
    n = int(rec.n_addresses or 0)
    parent = runs.load_array(store, ckpt, runs.PARENT, "r")
    if not journal and not ovs and n <= parent.shape[0]:
        return parent[:n]
    path = labels_dir(store, rec.chain) / _key(rec, lineage, ovs)
    try:
        got = np.load(path, mmap_mode="r")
        if got.shape == (n,):
            return got
    except (OSError, ValueError):  # not made yet, being replaced, or cut short: make it
        pass
    out: np.ndarray
    tmp: Path | None
    try:
        make_private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int64, shape=(n,))
    except OSError:  # a store this process cannot write: the labels in memory
        out = np.empty(n, np.int64)
        tmp = None
    _write(out, parent, int(ckpt.n_addresses or 0), runs.load_journal(store, journal), step)
    if ovs:
        overrides.apply_in_place(out, ovs, step)
    if tmp is not None:
        assert isinstance(out, np.memmap)
        out.flush()
        os.chmod(tmp, FILE_MODE)
        fsync_path(tmp)
        os.replace(tmp, path)
        try:
            out = np.load(path, mmap_mode="r")
        except FileNotFoundError:  # a newer run's reader removed it meanwhile: `out` maps it still
            pass
        _remove_older(path, rec.run_id)
    out.flags.writeable = False
    return out


def _remove_older(path: Path, run_id: int) -> None:
    """Remove the label files of earlier runs, and of this run with other overrides (a process
    still mapping one keeps reading it); a newer run's file is left to its own reader."""
    for old in path.parent.glob("run-*.npy"):
        try:
            rid = int(old.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if old != path and rid <= run_id:
            old.unlink(missing_ok=True)
    for tmp in path.parent.glob(".run-*.tmp"):  # left by a killed process
        try:
            os.kill(int(tmp.name.split(".")[-2]), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError):
            continue


def _write(out: np.ndarray, parent: np.ndarray, n0: int, journal: tuple[np.ndarray, np.ndarray], step: int) -> None:
    """out[x] = the root of x in the checkpoint (x itself from n0 on), then the journal's merges
    of those roots applied, a range at a time."""
    a, b = journal

    def roots(x: np.ndarray) -> np.ndarray:
        r = x.copy()
        old = x < n0
        r[old] = parent[x[old]]
        return r

    touched = np.zeros(0, np.int64)
    final = touched
    if a.size:
        ra, rb = roots(a), roots(b)
        touched = np.unique(np.concatenate([ra, rb]))
        uf = UnionFind(touched.shape[0])  # over positions in `touched`: the smaller position is the smaller root
        uf.union_count(np.searchsorted(touched, ra), np.searchsorted(touched, rb))
        final = touched[uf.labels()]
    n = out.shape[0]
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        chunk = np.arange(lo, hi, dtype=np.int64)
        if lo < n0:
            chunk[:min(hi, n0) - lo] = parent[lo:min(hi, n0)]
        if touched.size:
            pos = np.searchsorted(touched, chunk)
            hit = pos < touched.shape[0]
            hit[hit] = touched[pos[hit]] == chunk[hit]
            chunk[hit] = final[pos[hit]]
        out[lo:hi] = chunk
