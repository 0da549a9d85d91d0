"""Index files read through memory maps, as plain arrays.

The graph and exposure indexes are `.npy` files mapped read-only, so a server or a trace touches only
the pages it reads. `np.load(..., mmap_mode="r")` returns `np.memmap` objects, and every slice or
index of one builds another memmap through `__array_finalize__` (~1.2 µs against ~0.16 µs for an
ndarray slice): an address summary makes hundreds of such reads, and the API's profile showed the
subclass in 12 % of a request's CPU. `load_mapped` returns an ndarray view of the same mapping (the
map stays alive as the view's base); nothing is read into memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["load_mapped"]


def load_mapped(path: Path) -> np.ndarray:
    """The `.npy` file at `path`, memory-mapped read-only, as a plain ndarray."""
    return np.load(path, mmap_mode="r").view(np.ndarray)
