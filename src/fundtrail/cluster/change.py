"""Change-output heuristics and their consensus (INTERFACE STUB — the heuristics engineer replaces the
body; keep the signatures).

`consensus(view)` returns, per transaction, the output believed to be change (a global index into the
view's output arrays, or -1), a confidence in [0, 1], and a bit mask of the heuristics that voted for
it (bit i = `HEURISTIC_NAMES[i]`). Clustering through change links the change output's address to the
transaction's input addresses when switched on, with a confidence floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fundtrail.cluster.txview import TxView

#: Bit positions (permanent, stored) of the change heuristics in `ChangeResult.votes`.
HEURISTIC_NAMES: tuple[str, ...] = (
    "address_reuse", "script_type", "optimal_change", "round_payment", "fingerprint", "peel_chain",
)


@dataclass(frozen=True)
class ChangeResult:
    """Per transaction: `out_index` (int64, -1 none), `confidence` (float32), `votes` (uint32 bits)."""

    out_index: np.ndarray
    confidence: np.ndarray
    votes: np.ndarray


def consensus(view: TxView) -> ChangeResult:
    """The consensus change output of every transaction (stub: finds none)."""
    n = len(view)
    return ChangeResult(np.full(n, -1, np.int64), np.zeros(n, np.float32), np.zeros(n, np.uint32))
