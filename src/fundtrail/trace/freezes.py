"""Stablecoin freezes as the store holds them: every action, and which addresses are frozen now.

Ingest writes one `freezes` row per issuer action decoded from a successful transaction's logs
(`chains.ethereum.freezes`): blacklisted, unblacklisted, or funds destroyed. An address's funds of a
token are frozen while the token contract's *last* action on it is `blacklisted` or `destroyed`
(Tether destroys only blacklisted funds and leaves the address blacklisted). Only the token's own
contract decides its balances, so a trace marks an endpoint holding token T frozen by T's freezes
alone; which contracts count as issuers elsewhere (risk) is `model.issuers` plus the profile.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundtrail.store.lake import Store

#: actions after which an address's funds stay frozen
FROZEN_ACTIONS = ("blacklisted", "destroyed")


@dataclass(frozen=True)
class FreezeFact:
    """One freeze action: where (block, time, tx, log), which token contract, which address, what."""

    block: int
    time: int
    tx_hash: bytes
    log_index: int
    token_id: int
    token: bytes
    address_id: int
    address: bytes
    action: str
    amount: int | None

    @property
    def frozen(self) -> bool:
        return self.action in FROZEN_ACTIONS


def _prefix(chain: str) -> str:
    return chain.replace("-", "_")


_SELECT = """
    SELECT f.block_number, f.block_time, t.hash, f.log_index, f.token_id, ta.address, f.address_id,
           aa.address, f.action, f.amount_raw, f.amount
    FROM {p}_freezes f
    LEFT JOIN {p}_transactions t ON t.tx_id = f.tx_id
    LEFT JOIN {p}_addresses ta ON ta.address_id = f.token_id
    LEFT JOIN {p}_addresses aa ON aa.address_id = f.address_id
"""


def _fact(r: tuple) -> FreezeFact:
    raw, dec = r[9], r[10]
    amount = int.from_bytes(raw, "big") if raw is not None else (int(dec) if dec is not None else None)
    return FreezeFact(int(r[0]), int(r[1]) if r[1] is not None else 0, bytes(r[2] or b""), int(r[3]),
                      int(r[4]), bytes(r[5] or b""), int(r[6]), bytes(r[7] or b""), str(r[8]), amount)


def read_freezes(store: Store, chain: str, *, token: bytes | None = None, address: bytes | None = None,
                 before: tuple[int, int] | None = None, limit: int | None = None) -> list[FreezeFact]:
    """Freeze actions of `chain`, newest first (block, then log index, descending); filtered by
    token contract and/or address (20 bytes); `before` (block, log_index) continues a page."""
    where: list[str] = []
    params: list[object] = []
    if token is not None:
        where.append("ta.address = ?")
        params.append(token)
    if address is not None:
        where.append("aa.address = ?")
        params.append(address)
    if before is not None:
        where.append("(f.block_number < ? OR (f.block_number = ? AND f.log_index < ?))")
        params += [before[0], before[0], before[1]]
    sql = _SELECT.format(p=_prefix(chain)) + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY f.block_number DESC, f.log_index DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.query() as con:
        return [_fact(r) for r in con.execute(sql, params).fetchall()]


def count_freezes(store: Store, chain: str, *, token: bytes | None = None, address: bytes | None = None) -> int:
    """How many actions `read_freezes` lists with these filters (all pages)."""
    where: list[str] = []
    params: list[object] = []
    if token is not None:
        where.append("ta.address = ?")
        params.append(token)
    if address is not None:
        where.append("aa.address = ?")
        params.append(address)
    p = _prefix(chain)
    sql = (f"SELECT count(*) FROM {p}_freezes f LEFT JOIN {p}_addresses ta ON ta.address_id = f.token_id "
           f"LEFT JOIN {p}_addresses aa ON aa.address_id = f.address_id"
           + (" WHERE " + " AND ".join(where) if where else ""))
    with store.query() as con:
        row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


def latest_actions(store: Store, chain: str) -> dict[tuple[int, int], FreezeFact]:
    """The last action per (token contract id, address id): the state each address is in now."""
    p = _prefix(chain)
    sql = _SELECT.format(p=p) + """
        QUALIFY row_number() OVER (PARTITION BY f.token_id, f.address_id
                                   ORDER BY f.block_number DESC, f.log_index DESC) = 1"""
    with store.query() as con:
        facts = [_fact(r) for r in con.execute(sql).fetchall()]
    return {(f.token_id, f.address_id): f for f in facts}


def frozen_now(store: Store, chain: str) -> dict[tuple[int, int], FreezeFact]:
    """(token contract id, address id) -> the action that froze it, for every pair frozen now."""
    return {k: f for k, f in latest_actions(store, chain).items() if f.frozen}
