"""CoinJoin detection (INTERFACE STUB — the heuristics engineer replaces the body; keep the signatures).

`detect(view)` returns, per transaction of a `TxView`, the protocol code (0 = not a CoinJoin) and a
confidence in [0, 1]; the clustering engine skips multi-input links of transactions with
`protocol != 0 and confidence >= floor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fundtrail.cluster.txview import TxView

NONE, GENERIC, WASABI1, WASABI2, WHIRLPOOL_TX0, WHIRLPOOL_MIX, JOINMARKET = range(7)
#: Protocol codes (permanent, stored) and names (the simulator's truth/coinjoins.csv names).
PROTOCOL_NAMES: dict[int, str] = {
    NONE: "none", GENERIC: "generic", WASABI1: "wasabi1", WASABI2: "wasabi2",
    WHIRLPOOL_TX0: "whirlpool_tx0", WHIRLPOOL_MIX: "whirlpool_mix", JOINMARKET: "joinmarket",
}


@dataclass(frozen=True)
class CoinJoinResult:
    """Per transaction of the view: `protocol` (uint8 code) and `confidence` (float32)."""

    protocol: np.ndarray
    confidence: np.ndarray


def detect(view: TxView) -> CoinJoinResult:
    """Classify every transaction of `view` (stub: detects nothing)."""
    n = len(view)
    return CoinJoinResult(np.zeros(n, np.uint8), np.zeros(n, np.float32))
