"""Paging one expansion of the workbench graph: largest flow first, a cursor that names a position.

A node's neighbourhood is a list of links (edges with the node at one end), each with a sort
`score` (its value; account chains: in whole units of its asset), a `rank` (which side of the
node) and a `uid` unique within the rank. Pages follow the order (score descending, rank, uid);
a cursor holds the last link's key, not an offset, so a page asked for after new blocks were
ingested continues after the same link instead of repeating or skipping one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fundtrail.errors import UsageError
from fundtrail.workspace.core import decode_cursor, encode_cursor

_KEYS = ("after",)
_BAD = "cursor is not a cursor this listing returned"


@dataclass
class Links:
    """The sort keys of an expansion's links (parallel arrays, one entry per link)."""

    score: np.ndarray  # float64, larger first
    rank: np.ndarray  # int64
    uid: np.ndarray  # int64

    @property
    def n(self) -> int:
        return int(self.score.shape[0])


def cursor_position(cursor: str | None) -> tuple[float, int, int] | None:
    """The link key a cursor of `page` names (None: the first page); UsageError on `cursor`."""
    pos = decode_cursor(cursor, _KEYS)
    if pos is None:
        return None
    after = pos["after"]
    if not (isinstance(after, list) and len(after) == 3):
        raise UsageError(_BAD, field="cursor")
    score, rank, uid = after
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise UsageError(_BAD, field="cursor")
    if any(isinstance(x, bool) or not isinstance(x, int) for x in (rank, uid)):
        raise UsageError(_BAD, field="cursor")
    return float(score), rank, uid


def page(links: Links, after: tuple[float, int, int] | None, limit: int) -> tuple[np.ndarray, str | None]:
    """Positions (into `links`) of the page after `after`, in order, and the next page's cursor."""
    order = np.lexsort((links.uid, links.rank, -links.score))
    start = 0
    if after is not None:
        s, r, u = after
        same = links.score == s
        before = (links.score > s) | (same & (links.rank < r)) | (same & (links.rank == r) & (links.uid <= u))
        start = int(np.count_nonzero(before))
    chosen = order[start:start + limit]
    if chosen.size == 0 or start + chosen.size >= links.n:
        return chosen, None
    last = int(chosen[-1])
    return chosen, encode_cursor({"after": [float(links.score[last]), int(links.rank[last]), int(links.uid[last])]})
