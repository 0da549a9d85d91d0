"""Arrays in memory while they fit a stage's memory budget, else memory-mapped files on disk.

The whole-chain stages (clustering, the graph index, the exposure index) hold arrays proportional
to the chain: per address, per output, per transaction. Under `memory_limit` (`Settings`) a stage
asks a `Spill` for each such array: it is an ordinary array while the arrays kept so far fit half
the budget, else an `np.memmap` of a `.npy` file, in the stage's private spill directory
(`<store>/cache/spill/`, 0700, removed when the stage ends) or, for an array that is itself the
stage's output, at its final place. The kernel pages a mapped file in and out as the work touches
it, so the process keeps resident only what it is working on; the other half of the budget is for
the stage's own per-chunk temporaries (`Spill.rows`) and DuckDB's reads.

A file-backed array holds the same bytes as the in-memory one, so every result is identical
whichever way its arrays were placed (tests/scale compare the two byte for byte).
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from fundtrail.store.partitions import FILE_MODE, make_private_dir

#: Where spilled arrays live, under the store directory.
SPILL_DIR = Path("cache") / "spill"
#: Smallest chunk a stage works in, whatever the budget (below it the per-chunk overhead dominates).
MIN_ROWS = 4096
_FILL_ROWS = 1 << 20
_SEQ = itertools.count()
_DEFAULT: list[int | None] = []


def default_limit() -> int | None:
    """The memory limit a stage uses when its caller passes none: the one `set_default_limit` gave,
    else `Settings.load().memory_limit_bytes` (the settings file, FUNDTRAIL_MEMORY_LIMIT, the
    default fraction of the machine), read once per process."""
    if not _DEFAULT:
        from fundtrail.settings import Settings

        _DEFAULT.append(Settings.load().memory_limit_bytes)
    return _DEFAULT[0]


def set_default_limit(limit: int | None) -> None:
    """Set the process-wide limit of `default_limit` (None: no limit, everything in memory)."""
    _DEFAULT[:] = [limit]


class Spill:
    """The memory budget of one stage run and the arrays placed under it (module docstring).

    `limit` None means unbounded: every array in memory and one chunk for everything, which is
    the path the stages had before the budget. Use as a context manager: the spill directory is
    removed on exit, also after an error.
    """

    def __init__(self, store_root: Path | None, limit: int | None, stage: str) -> None:
        self.limit = limit
        self.keep = None if limit is None else limit // 2
        self.used = 0
        self.spilled: list[str] = []
        self._root = store_root / SPILL_DIR if store_root is not None else None
        self._stage = stage
        self._dir: Path | None = None

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def bounded(self) -> bool:
        return self.limit is not None

    def fits(self, nbytes: int) -> bool:
        """Whether `nbytes` more of kept arrays fit in memory."""
        return self.keep is None or self.used + nbytes <= self.keep

    def array(self, name: str, shape: int | tuple[int, ...], dtype: Any, fill: Any = None, *,
              path: Path | None = None) -> np.ndarray:
        """A new array of `shape` and `dtype` (filled with `fill` when given, else uninitialised;
        a new file reads as zeros): in memory if it fits the budget, else memory-mapped at `path`
        (an output's final file) or in the spill directory."""
        shape_t = (shape,) if isinstance(shape, int) else tuple(shape)
        dt = np.dtype(dtype)
        nbytes = math.prod(shape_t) * dt.itemsize
        if self.fits(nbytes) or nbytes == 0:
            self.used += nbytes
            return np.empty(shape_t, dt) if fill is None else np.full(shape_t, fill, dt)
        file = path if path is not None else self.directory() / f"{name}-{next(_SEQ)}.npy"
        arr = np.lib.format.open_memmap(file, mode="w+", dtype=dt, shape=shape_t)
        os.chmod(file, FILE_MODE)
        self.spilled.append(name)
        if fill is not None and fill != 0:
            for lo in range(0, shape_t[0], _FILL_ROWS):
                arr[lo:lo + _FILL_ROWS] = fill
        return arr

    def arange(self, name: str, n: int, dtype: Any = np.int64) -> np.ndarray:
        """`np.arange(n)` placed like `array` (filled in chunks when spilled)."""
        arr = self.array(name, n, dtype)
        for lo in range(0, n, _FILL_ROWS):
            hi = min(lo + _FILL_ROWS, n)
            arr[lo:hi] = np.arange(lo, hi, dtype=dtype)
        return arr

    def release(self, arr: np.ndarray) -> None:
        """Give back the budget of an in-memory array the stage no longer uses."""
        if not isinstance(arr, np.memmap):
            self.used = max(0, self.used - arr.nbytes)

    def rows(self, row_bytes: int, *, share: int = 8) -> int:
        """Rows per chunk whose temporaries, `row_bytes` each, take at most 1/`share` of the
        budget (at least MIN_ROWS); without a limit, no bound."""
        if self.limit is None:
            return 1 << 62
        return max(MIN_ROWS, self.limit // share // max(1, row_bytes))

    def directory(self) -> Path:
        """This run's private spill directory (made on first use)."""
        if self._dir is None:
            if self._root is None:
                raise ValueError("this Spill has no store directory to spill into")
            self._dir = self._root / f"{self._stage}-{os.getpid()}-{next(_SEQ)}"
            make_private_dir(self._dir)
        return self._dir

    def close(self) -> None:
        """Remove the spill directory (arrays mapped from it must no longer be used)."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def plain(arr: np.ndarray) -> np.ndarray:
    """The array as a base-class ndarray over the same memory (numba does not take `np.memmap`)."""
    return arr.view(np.ndarray) if isinstance(arr, np.memmap) else arr


def sweep_stale(store_root: Path, stage: str) -> None:
    """Remove the spill directories `stage` runs of ended processes left behind (a run killed
    before `Spill.close`); those of live processes, this one included, are kept."""
    base = store_root / SPILL_DIR
    if not base.is_dir():
        return
    for d in base.glob(f"{stage}-*"):
        try:
            pid = int(d.name.split("-")[-2])
        except (IndexError, ValueError):
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:  # another user's live process
            continue
