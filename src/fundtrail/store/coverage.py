"""Which heights of a chain the store holds: the ranges, the gaps between them, blocks without a height.

A conclusion drawn from a store is only as good as its coverage: "still unspent" means "unspent as
of the highest height held", and a trace across a gap may miss a spend. Every result that could be
read as a freeze target (trace, status, later the API) states the coverage it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fundtrail.store.lake import Store
from fundtrail.store.sql import scalar


@dataclass(frozen=True)
class Coverage:
    """Heights of one chain held in the store, as closed ranges [first, last] in height order."""

    chain: str
    ranges: list[tuple[int, int]] = field(default_factory=list)
    unplaced_blocks: int = 0  # stored blocks whose height is not known (no ancestry stored yet)

    @property
    def tip_height(self) -> int | None:
        """The highest height held (None for an empty chain)."""
        return self.ranges[-1][1] if self.ranges else None

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """Heights missing between the lowest and highest held, as closed ranges."""
        return [(a[1] + 1, b[0] - 1) for a, b in zip(self.ranges, self.ranges[1:])]

    @property
    def contiguous(self) -> bool:
        """True when the heights held form one run and every block has a height."""
        return len(self.ranges) <= 1 and self.unplaced_blocks == 0

    def holds(self, height: int) -> bool:
        return any(a <= height <= b for a, b in self.ranges)

    def as_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "ranges": [list(r) for r in self.ranges],
                "gaps": [list(g) for g in self.gaps], "tip_height": self.tip_height,
                "unplaced_blocks": self.unplaced_blocks, "contiguous": self.contiguous}

    def describe(self) -> str:
        """One line for people, e.g. 'heights 0-599, 574200, 951658 (gaps 600-574199, …)'."""
        if not self.ranges:
            return "no blocks"
        parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in self.ranges]
        shown = ", ".join(parts[:6]) + (f", … ({len(parts)} ranges)" if len(parts) > 6 else "")
        text = f"heights {shown}"
        gaps = self.gaps
        if gaps:
            text += f"; {len(gaps)} gap(s), {sum(b - a + 1 for a, b in gaps):,} heights missing"
        if self.unplaced_blocks:
            text += f"; {self.unplaced_blocks} block(s) of unknown height"
        return text


def coverage(store: Store, chain: str) -> Coverage:
    """The coverage of `chain` from the catalog's block index (cheap: no lake scan)."""
    with store.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT height FROM block_index WHERE chain = ? AND height IS NOT NULL ORDER BY height",
            [chain]).fetchall()
        unplaced = scalar(con.execute("SELECT count(*) FROM block_index WHERE chain = ? AND height IS NULL",
                                      [chain]))
    ranges: list[tuple[int, int]] = []
    for (h,) in rows:
        h = int(h)
        if ranges and h <= ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], max(h, ranges[-1][1]))
        else:
            ranges.append((h, h))
    return Coverage(chain, ranges, int(unplaced))
