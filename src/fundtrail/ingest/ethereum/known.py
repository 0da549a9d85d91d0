"""Which blocks of an account chain the store holds, without a dict of every block's hash.

The ingest asks three things of its stored blocks: is block n stored (skip it), the hash of the
block before a batch (does the batch extend it), and the stored hashes walking down from the tip
(where did the node reorganise). Ethereum has 21 million blocks and TRON 70 million: a dict of
them costs 150 B a block (3 GB and 10 GB). So the heights are kept as ranges (an ingest fills one
range, so there are a handful) and hashes come from the catalog's `block_index` when asked, with
the recently added ones cached, which are the ones a following ingest asks for.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict

import numpy as np

from fundtrail.store import Store

_CACHE = 4096  # recent hashes kept: more than the blocks of a batch (default 100)
_STREAM_ROWS = 1 << 18


class KnownBlocks:
    """The stored heights of one chain as sorted disjoint ranges, hashes on demand."""

    def __init__(self, store: Store, chain: str) -> None:
        self.store, self.chain = store, chain
        self.lo: list[int] = []  # range starts, sorted
        self.hi: list[int] = []  # range ends (inclusive)
        self.cache: OrderedDict[int, bytes] = OrderedDict()
        with store.connect(read_only=True) as con:
            reader = con.sql("SELECT height FROM block_index WHERE chain = ? ORDER BY height",
                             params=[chain]).to_arrow_reader(_STREAM_ROWS)
            for rb in reader:
                self._extend(rb.column(0).to_numpy().astype(np.int64))

    def _extend(self, heights: np.ndarray) -> None:
        """Add sorted heights above every stored one, a run of consecutive ones at a time."""
        if not heights.size:
            return
        cut = np.flatnonzero(np.diff(heights) != 1) + 1
        for lo, hi in zip(np.r_[0, cut], np.r_[cut, heights.size]):
            first, last = int(heights[lo]), int(heights[hi - 1])
            if self.hi and first == self.hi[-1] + 1:
                self.hi[-1] = last
            else:
                self.lo.append(first)
                self.hi.append(last)

    def _insert(self, h: int) -> None:
        i = bisect.bisect_right(self.lo, h) - 1
        if i >= 0 and h <= self.hi[i]:
            return
        join_left = i >= 0 and self.hi[i] == h - 1
        join_right = i + 1 < len(self.lo) and self.lo[i + 1] == h + 1
        if join_left and join_right:
            self.hi[i] = self.hi[i + 1]
            del self.lo[i + 1], self.hi[i + 1]
        elif join_left:
            self.hi[i] = h
        elif join_right:
            self.lo[i + 1] = h
        else:
            self.lo.insert(i + 1, h)
            self.hi.insert(i + 1, h)

    def __contains__(self, h: object) -> bool:
        if not isinstance(h, int):
            return False
        i = bisect.bisect_right(self.lo, h) - 1
        return i >= 0 and h <= self.hi[i]

    @property
    def tip(self) -> int | None:
        return self.hi[-1] if self.hi else None

    def add(self, h: int, block_hash: bytes) -> None:
        """A block just committed."""
        self._insert(h)
        self.cache[h] = block_hash
        self.cache.move_to_end(h)
        while len(self.cache) > _CACHE:
            self.cache.popitem(last=False)

    def get(self, h: int) -> bytes | None:
        """The stored hash of block `h`, or None."""
        if h not in self:
            return None
        got = self.cache.get(h)
        if got is not None:
            return got
        with self.store.connect(read_only=True) as con:
            row = con.execute("SELECT hash FROM block_index WHERE chain = ? AND height = ?",
                              [self.chain, h]).fetchone()
        return bytes(row[0]) if row is not None else None

    def __getitem__(self, h: int) -> bytes:
        got = self.get(h)
        if got is None:
            raise KeyError(h)
        return got
