"""Seeing what a bounded stage spilled: the real `Spill.array`, observed (tests/scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fundtrail.store import Store, spill
from fundtrail.store.spill import SPILL_DIR, Spill


def observe_spills(monkeypatch: pytest.MonkeyPatch, *, with_paths: bool = False) -> list[Any]:
    """A list that fills with the name (with `with_paths`, the (name, file) pair) of every array
    placed in a file; the default limit set to unbounded, so that a call without `memory_limit` is
    the in-memory path."""
    monkeypatch.setattr(spill, "_DEFAULT", [None])
    got: list[Any] = []
    real = Spill.array

    def observed(self: Spill, name: str, *args: object, **kwargs: object) -> np.ndarray:
        arr = real(self, name, *args, **kwargs)  # type: ignore[arg-type]
        if isinstance(arr, np.memmap):
            got.append((name, Path(str(arr.filename))) if with_paths else name)
        return arr

    monkeypatch.setattr(Spill, "array", observed)
    return got


def no_spill_left(store: Store) -> None:
    """No stage's spill directory is left in the store."""
    root = store.root / SPILL_DIR
    assert not root.exists() or not any(root.iterdir())
