"""Ethereum deposit-address reuse (Victor 2020) (INTERFACE STUB — the heuristics engineer replaces the
body; keep the signature).

`deposit_links(con, chain, hot_wallets)` finds deposit addresses (addresses that forward what they
receive to a known exchange hot wallet) and returns one link per (sender, deposit address) pair as
arrays: `a`, `b` (address ids to be clustered: each sender with the deposit address), `tx_id` (the
evidence transaction's id), `confidence`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Links:
    """Evidence links between address ids: `a`, `b`, `tx_id` (int64) and `confidence` (float32)."""

    a: np.ndarray
    b: np.ndarray
    tx_id: np.ndarray
    confidence: np.ndarray

    @classmethod
    def empty(cls) -> Links:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, np.zeros(0, np.float32))


def deposit_links(con: object, chain: str, hot_wallets: Iterable[int]) -> Links:
    """Deposit-address links of an account chain (stub: none)."""
    return Links.empty()
