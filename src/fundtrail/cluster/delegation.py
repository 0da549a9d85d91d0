"""Resource delegation as evidence of common control (TRON; opt-in heuristic `delegation`).

On TRON a transfer of a TRC-20 token burns energy (about 14,000-30,000 units, some 6-13 TRX when
burnt) unless the sender has energy of its own. Launderers keep their mule addresses free of TRX
by staking TRX once at a payer address and delegating energy and bandwidth to every mule
(`DelegateResourceContract`; before stake 2.0, `FreezeBalanceContract` with a `receiver_address`).
A payer and the accounts it pays for are then one operator: each (payer, receiver) pair becomes a
link whose evidence is the first delegation transaction between them.

It is opt-in (`cluster run --heuristics deposit,delegation`) because delegation is also sold:
energy-rental markets delegate to any stranger who pays, and exchanges or wallets delegate to their
customers. A payer delegating to more than `max_receivers` distinct accounts is taken for such a
service and gives no links (docs/heuristics.md has the false-positive modes). Delegations of a
transaction that did not succeed, and undelegations, link nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fundtrail.cluster.deposit import Links
from fundtrail.errors import UsageError

CONFIDENCE = 0.8
#: A payer with more receivers than this is taken for an energy-rental service or an exchange.
MAX_RECEIVERS = 100
#: events kinds that pay a named receiver's resources (docs/tron.md, "Evidence without value")
KINDS = ("delegate_resource", "freeze_balance")


def _has_events(con: Any, prefix: str) -> bool:
    names = {r[0] for r in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
    return f"{prefix}_events" in names


def delegation_links(con: Any, chain: str, *, max_receivers: int = MAX_RECEIVERS) -> Links:
    """One link per (payer, receiver) of a successful delegation: `a` payer, `b` receiver, `tx_id`
    the first delegation between them; payers over `max_receivers` receivers are left out."""
    if max_receivers < 1:
        raise UsageError(f"max_receivers must be at least 1, got {max_receivers}", field="max_receivers")
    p = chain.replace("-", "_")
    if not _has_events(con, p):
        return Links.empty()
    rows = con.execute(f"""
        WITH d AS (SELECT from_id, to_id, min(tx_id) AS tx_id FROM {p}_events
                   WHERE kind IN (SELECT unnest(?::VARCHAR[])) AND success AND from_id IS NOT NULL
                     AND to_id IS NOT NULL AND from_id <> to_id AND tx_id IS NOT NULL
                   GROUP BY from_id, to_id),
        payers AS (SELECT from_id FROM d GROUP BY from_id HAVING count(*) <= ?)
        SELECT d.from_id, d.to_id, d.tx_id FROM d JOIN payers USING (from_id)
        ORDER BY d.tx_id, d.from_id, d.to_id""", [list(KINDS), max_receivers]).fetchall()
    if not rows:
        return Links.empty()
    arr = np.array(rows, np.int64)
    return Links(arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(),
                 np.full(len(rows), CONFIDENCE, np.float32))
