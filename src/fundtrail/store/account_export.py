"""Read-side of account chains: the `transfers` export contract (docs/schema.md).

One JSON object per value movement; amounts are decimal strings of base units (exact uint256),
addresses EIP-55 strings (`T…` Base58Check on TRON, whose transaction hashes are bare hex, as
java-tron writes them), rendered here and only here.
"""

from __future__ import annotations

from collections.abc import Iterator

from fundtrail.chains.resolve import account_text
from fundtrail.store.lake import Store
from fundtrail.store.select import select_chain
from fundtrail.store.sql import one_row
from fundtrail.store.tables import TRANSFER_KINDS
from fundtrail.store.txhash import tx_hash_text

_CHUNK_BLOCKS = 2000


def iter_transfers(store: Store, chain: str | None = None, *, from_block: int | None = None,
                   to_block: int | None = None) -> Iterator[dict]:
    """Export objects for the transfers of `chain` in chain order; the chain is checked (the
    `store.select` rule) before the first row is asked for."""
    chain, _ = select_chain(store, chain, family="account", what="export transfers")
    return _iter_transfers(store, chain, from_block, to_block)


def _iter_transfers(store: Store, chain: str, from_block: int | None,
                    to_block: int | None) -> Iterator[dict]:
    p = chain.replace("-", "_")
    native = _native_symbol(chain)
    with store.query() as con:
        lo, hi = one_row(con.execute(f"SELECT min(number), max(number) FROM {p}_blocks"))
        if lo is None:
            return
        lo = max(lo, from_block) if from_block is not None else lo
        hi = min(hi, to_block) if to_block is not None else hi
        names: dict[int, str] = {}
        for start in range(lo, hi + 1, _CHUNK_BLOCKS):
            end = min(start + _CHUNK_BLOCKS - 1, hi)
            rows = con.execute(f"""
                SELECT t.block_number, t.block_time, t.kind, t.from_id, t.to_id, t.asset_id,
                       t.amount_raw, t.token_id_raw, t.log_index, t.trace_address, t.success, x.hash
                FROM {p}_transfers t LEFT JOIN {p}_transactions x USING (tx_id)
                WHERE t.block_number BETWEEN ? AND ? ORDER BY t.transfer_id""", [start, end]).fetchall()
            ids = {i for r in rows for i in (r[3], r[4], r[5]) if i is not None and i not in names}
            if ids:
                for aid, addr in con.execute(
                        f"SELECT address_id, address FROM {p}_addresses WHERE address_id IN "
                        "(SELECT unnest(?::BIGINT[]))", [sorted(ids)]).fetchall():
                    names[aid] = account_text(bytes(addr), chain=chain)
            for (number, ts, kind, f, to, asset, amount, token_id, log_index, trace_address,
                 success, tx_hash) in rows:
                obj = {
                    "tx_hash": tx_hash_text(bytes(tx_hash), chain=chain) if tx_hash is not None else None,
                    "block_number": number, "time": ts, "kind": TRANSFER_KINDS[kind],
                    "from": names.get(f) if f is not None else None,
                    "to": names.get(to) if to is not None else None,
                    "asset": native if asset is None else names[asset],
                    "amount": str(int.from_bytes(bytes(amount), "big")),
                    "token_id": str(int.from_bytes(bytes(token_id), "big")) if token_id is not None else None,
                    "success": bool(success),
                }
                if log_index is not None:
                    obj["log_index"] = log_index
                if trace_address is not None:
                    obj["trace_address"] = list(trace_address)
                yield obj


def _native_symbol(chain: str) -> str:
    from fundtrail.model.chains import ACCOUNT_CHAINS

    known = ACCOUNT_CHAINS.get(chain)
    return known.native_symbol if known else "ETH"
