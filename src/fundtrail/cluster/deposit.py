"""Ethereum deposit-address reuse (Victor 2020, "Address clustering heuristics for Ethereum", FC 2020).

Exchanges give every customer a deposit address and sweep what arrives there to a hot wallet. An
address that forwards what it receives (native value or a token, nearly the same amount, soon
after) to a known hot wallet is a deposit address of that exchange; everyone who paid into one
deposit address is one customer (or acts for one), so each sender is linked with the deposit
address. Evidence: the deposit transaction.

`deposit_links(con, chain, hot_wallets)` finds deposit addresses and returns one link per (sender,
deposit address) pair as arrays: `a` (sender), `b` (deposit address), `tx_id` (the sender's first
forwarded deposit, else its first payment in), `confidence`.

Rule (defaults; `DepositRule`): a transfer X -> D (native, internal or ERC-20, successful) is
forwarded when a transfer D -> H of the same asset follows, with H a hot wallet, within
`max_blocks` blocks, for no more than X's amount and at most `native_tolerance` wei less (the gas
the deposit address paid) or, for tokens, at most `token_tolerance` of the amount less. D must
not be a hot wallet. False-positive modes are in docs/heuristics.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fundtrail.errors import NotFoundError, UsageError

NATIVE, INTERNAL, ERC20 = 0, 1, 2
CONF_FORWARDED = 0.9  # the sender's own payment was swept on to the exchange
CONF_OTHER_SENDER = 0.7  # the sender paid a proven deposit address, but that payment was not matched


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

    def __len__(self) -> int:
        return int(self.a.shape[0])


@dataclass(frozen=True)
class DepositRule:
    """Tolerances of the forwarding match: a bounded amount difference and block distance (Victor 2020)."""

    max_blocks: int = 3_200
    native_tolerance: int = 10**16  # wei: 0.01 ether of gas paid by the deposit address
    token_tolerance: float = 0.01  # share of a token amount that may be missing when forwarded


#: On TRON the native unit is the sun (10^-6 TRX): 10 TRX of fees a deposit address may have burnt
TRON_RULE = DepositRule(native_tolerance=10 * 10**6)


def _check(con: Any, chain: str) -> str:
    p = chain.replace("-", "_")
    names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
    if f"{p}_transfers" not in names:
        raise NotFoundError(f"chain {chain!r}: no transfers in the store (ingest an account chain first)")
    return p


def forwarded_deposits(con: Any, chain: str, hot_wallets: Iterable[int],
                       rule: DepositRule = DepositRule()) -> list[tuple[int, int, int, int, int]]:
    """Every forwarded payment: (sender, deposit address, deposit tx, forwarding tx, hot wallet)."""
    hot = sorted({int(h) for h in hot_wallets})
    if any(h < 0 for h in hot):
        raise UsageError(f"hot wallet ids must be address ids (>= 0), got {min(hot)}")
    if not hot:
        return []
    p = _check(con, chain)
    sql = f"""
        WITH hot AS (SELECT unnest(?::BIGINT[]) AS id),
        t AS (SELECT transfer_id, tx_id, block_number, from_id, to_id,
                     coalesce(asset_id, -1) AS asset, kind, amount
              FROM {p}_transfers
              WHERE success AND kind IN ({NATIVE}, {INTERNAL}, {ERC20}) AND amount > 0
                AND from_id IS NOT NULL AND to_id IS NOT NULL AND from_id <> to_id),
        fwd AS (SELECT * FROM t WHERE to_id IN (SELECT id FROM hot)
                                  AND from_id NOT IN (SELECT id FROM hot))
        SELECT DISTINCT i.from_id, i.to_id, i.tx_id, f.tx_id, f.to_id
        FROM t i JOIN fwd f
          ON f.from_id = i.to_id AND f.asset = i.asset AND f.transfer_id > i.transfer_id
         AND f.block_number <= i.block_number + ? AND f.amount <= i.amount
         AND CASE WHEN i.asset = -1 THEN i.amount - f.amount <= ?
                  ELSE f.amount::DOUBLE >= i.amount::DOUBLE * (1 - ?) END
        WHERE i.from_id NOT IN (SELECT id FROM hot) AND i.tx_id IS NOT NULL
        ORDER BY i.to_id, i.from_id, i.tx_id"""
    rows = con.execute(sql, [hot, rule.max_blocks, rule.native_tolerance,
                             rule.token_tolerance]).fetchall()
    return [(int(sender), int(dep), int(dep_tx), int(fwd_tx), int(hot_id))
            for sender, dep, dep_tx, fwd_tx, hot_id in rows]


def deposit_links(con: Any, chain: str, hot_wallets: Iterable[int],
                  rule: DepositRule | None = None) -> Links:
    """Deposit-address links of an account chain: each sender with the deposit address it paid
    (default tolerances in the chain's native unit: wei, or sun on TRON)."""
    if rule is None:
        from fundtrail.chains.tron.address import is_tron_chain

        rule = TRON_RULE if is_tron_chain(chain) else DepositRule()
    hot = sorted({int(h) for h in hot_wallets})
    found = forwarded_deposits(con, chain, hot, rule)
    if not found:
        return Links.empty()
    p = chain.replace("-", "_")
    first_fwd: dict[tuple[int, int], int] = {}
    for sender, dep, tx, _, _ in found:
        key = (sender, dep)
        first_fwd[key] = min(tx, first_fwd.get(key, tx))
    deposits = sorted({dep for _, dep, _, _, _ in found})
    others = con.execute(f"""
        SELECT from_id, to_id, min(tx_id) FROM {p}_transfers
        WHERE success AND kind IN ({NATIVE}, {INTERNAL}, {ERC20}) AND amount > 0
          AND to_id IN (SELECT unnest(?::BIGINT[])) AND from_id IS NOT NULL
          AND from_id <> to_id AND tx_id IS NOT NULL
          AND from_id NOT IN (SELECT unnest(?::BIGINT[]))
        GROUP BY from_id, to_id ORDER BY to_id, from_id""", [deposits, hot]).fetchall()
    a, b, txs, conf = [], [], [], []
    for sender, dep, first_tx in others:
        key = (int(sender), int(dep))
        a.append(key[0])
        b.append(key[1])
        if key in first_fwd:
            txs.append(first_fwd[key])
            conf.append(CONF_FORWARDED)
        else:
            txs.append(int(first_tx))
            conf.append(CONF_OTHER_SENDER)
    return Links(np.array(a, np.int64), np.array(b, np.int64), np.array(txs, np.int64),
                 np.array(conf, np.float32))
