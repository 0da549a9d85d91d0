"""Account-chain lookups on the account graph: an address's totals per asset and its transactions,
and a transaction with every transfer.

The account graph holds every successful fungible value transfer (native, internal, ERC-20, fees,
withdrawals, rewards) per address in execution order, with exact amounts; totals are vectorised sums
over those slices (split into 32-bit limbs, so sums of uint256 amounts stay exact). A transaction's
detail reads its row and all its transfers (NFTs and failed ones included) from the lake.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fundtrail.chains.resolve import account_text
from fundtrail.errors import NotFoundError
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.store.lake import Store
from fundtrail.store.tables import TRANSFER_KINDS
from fundtrail.store.txhash import tx_hash_text
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.workspace.lookup_base import iso
from fundtrail.workspace.lookup_models import AddressTransfer, AddressTx, AssetTotals, SeenAt, TxTag, TxTransfer

_M32 = np.uint64(0xFFFFFFFF)


def native(chain: str) -> tuple[str, int]:
    """(symbol, decimals) of the chain's native asset."""
    known = ACCOUNT_CHAINS.get(chain)
    return (known.native_symbol, known.native_decimals) if known else ("ETH", 18)


def tokens(store: Store, chain: str) -> dict[int, tuple[str | None, int | None]]:
    """Token contracts' (symbol, decimals) by address id, as ingest decoded them."""
    with store.query() as con:
        rows = con.execute(f"SELECT address_id, symbol, decimals FROM {chain.replace('-', '_')}_tokens").fetchall()
    return {int(a): (s, int(d) if d is not None else None) for a, s, d in rows}


def exact_sum(g: AccountGraph, events: np.ndarray) -> int:
    """The exact sum of the amounts of `events` (positions in the graph)."""
    if events.size == 0:
        return 0
    big = np.asarray(g.big_pos)
    is_big = np.isin(events, big) if big.size else np.zeros(events.shape, bool)
    small = events[~is_big]
    total = 0
    for arr, shift in ((g.ev_lo, 0), (g.ev_hi, 64)):
        part = np.asarray(arr[small], np.uint64)
        low, high = int((part & _M32).sum(dtype=np.uint64)), int((part >> np.uint64(32)).sum(dtype=np.uint64))
        total += (low + (high << 32)) << shift
    return total + sum(g.amount(int(e)) for e in events[is_big])


def seen_at(g: AccountGraph, e: int) -> SeenAt:
    tx = int(g.ev_tx[e])
    return SeenAt(height=int(g.ev_block[e]), time=iso(int(g.ev_time[e])), txid=g.tx_hash_hex(tx) if tx >= 0 else None)


def address_activity(g: AccountGraph, chain: str, address_id: int,
                     token_info: dict[int, tuple[str | None, int | None]]) -> dict[str, Any]:
    """Per-asset totals (native first), counts, and the address's entries (one per transaction, or
    per withdrawal/reward without one) as (first event position, last event position + 1)."""
    evs = np.asarray(g.events_of(address_id), np.int64)
    frm, to = np.asarray(g.ev_from[evs]), np.asarray(g.ev_to[evs])
    asset = np.asarray(g.ev_asset[evs])
    symbol, decimals = native(chain)
    assets: list[AssetTotals] = []
    for a in sorted(set(asset.tolist()), key=lambda x: (x != -1, x)):
        mine = asset == a
        got = exact_sum(g, evs[mine & (to == address_id)])
        gave = exact_sum(g, evs[mine & (frm == address_id)])
        if a == -1:
            entry = AssetTotals(asset=symbol, contract=None, symbol=symbol, decimals=decimals, received=str(got),
                                sent=str(gave), balance=str(got - gave), transfers=int(mine.sum()))
        else:
            sym, dec = token_info.get(int(a), (None, None))
            contract = account_text(g.address_bytes(int(a)), chain=g.chain)
            entry = AssetTotals(asset=contract, contract=contract, symbol=sym, decimals=dec, received=str(got),
                                sent=str(gave), balance=str(got - gave), transfers=int(mine.sum()))
        assets.append(entry)
    txs = np.asarray(g.ev_tx[evs], np.int64)
    new = np.ones(evs.shape, bool)
    new[1:] = (txs[1:] != txs[:-1]) | (txs[1:] < 0)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], evs.size)
    if not assets:
        assets.append(AssetTotals(asset=symbol, contract=None, symbol=symbol, decimals=decimals, received="0",
                                  sent="0", balance="0", transfers=0))
    return {"evs": evs, "assets": assets, "starts": starts, "ends": ends,
            "tx_count": int(np.unique(txs[txs >= 0]).size),
            "received_count": int((to == address_id).sum()), "sent_count": int((frm == address_id).sum())}


def page_of_txs(g: AccountGraph, chain: str, address_id: int, act: dict[str, Any], start: int, limit: int,
                token_info: dict[int, tuple[str | None, int | None]]) -> list[AddressTx]:
    """Entries `start:start+limit` of the address's activity with the transfers touching it."""
    symbol, native_decimals = native(chain)
    evs = act["evs"]
    out: list[AddressTx] = []
    for i in range(start, min(start + limit, int(act["starts"].shape[0]))):
        rows: list[AddressTransfer] = []
        for e in evs[int(act["starts"][i]):int(act["ends"][i])].tolist():
            f, t, a = int(g.ev_from[e]), int(g.ev_to[e]), int(g.ev_asset[e])
            direction = "self" if f == t else ("in" if t == address_id else "out")
            other = f if direction == "in" else t
            contract = account_text(g.address_bytes(a), chain=g.chain) if a >= 0 else None
            log = int(g.ev_log[e])
            trace = g.trace_address(e)
            rows.append(AddressTransfer(
                direction=direction, kind=TRANSFER_KINDS[int(g.ev_kind[e])],  # type: ignore[arg-type]
                asset=symbol if a < 0 else (token_info.get(a, (None, None))[0] or contract or ""),
                contract=contract, amount=str(g.amount(e)),
                counterparty=(account_text(g.address_bytes(other), chain=g.chain)
                              if other >= 0 and direction != "self" else None),
                log_index=log if log >= 0 else None, trace_address=trace or None,
                decimals=native_decimals if a < 0 else token_info.get(a, (None, None))[1]))
        first = int(evs[int(act["starts"][i])])
        seen = seen_at(g, first)
        out.append(AddressTx(txid=seen.txid, height=seen.height, time=seen.time, transfers=rows))
    return out


def _addr(g: AccountGraph, aid: Any) -> str | None:
    if aid is None or int(aid) < 0 or int(aid) >= g.n_addresses:
        return None
    return account_text(g.address_bytes(int(aid)), chain=g.chain)


def transaction(store: Store, g: AccountGraph, chain: str, tx: int,
                token_info: dict[int, tuple[str | None, int | None]],
                tags: Mapping[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Fields of `TransactionDetail` for transaction id `tx` of an account chain."""
    p = chain.replace("-", "_")
    with store.query() as con:
        head = con.execute(
            f"""SELECT t.block_number, t.tx_index, t.from_id, t.to_id, t.contract_created_id, t.value::VARCHAR,
                       t.value_raw, t.status, t.gas_used, t.fee::VARCHAR, t.block_time, b.hash
                FROM {p}_transactions t LEFT JOIN {p}_blocks b ON t.block_number = b.number
                WHERE t.tx_id = ?""", [tx]).fetchone()
        rows = con.execute(
            f"""SELECT kind, from_id, to_id, asset_id, amount_raw, token_id_raw, log_index, trace_address, success
                FROM {p}_transfers WHERE tx_id = ? ORDER BY transfer_id""", [tx]).fetchall()
    symbol, decimals = native(chain)
    involved: set[int] = set()
    transfers: list[TxTransfer] = []
    for kind, frm, to, asset, amount_raw, token_raw, log, trace, success in rows:
        involved.update(int(x) for x in (frm, to) if x is not None and int(x) >= 0)
        contract = _addr(g, asset) if asset is not None else None
        sym, dec = (symbol, decimals) if asset is None else token_info.get(int(asset), (None, None))
        transfers.append(TxTransfer(
            kind=TRANSFER_KINDS[int(kind)], asset=symbol if asset is None else (contract or str(asset)),
            contract=contract, symbol=sym, decimals=dec,
            amount=str(int.from_bytes(bytes(amount_raw), "big")) if amount_raw is not None else "0",
            token_id=str(int.from_bytes(bytes(token_raw), "big")) if token_raw is not None else None,
            from_address=_addr(g, frm), to_address=_addr(g, to), success=bool(success),
            log_index=int(log) if log is not None else None,
            trace_address=[int(x) for x in trace] if trace is not None else None))
    if head is None:
        raise NotFoundError(f"transaction {g.tx_hash_hex(tx)} is in the index but not in the lake of {chain}",
                            hint="run `fundtrail fsck`", field="txid")
    (block, index, frm, to, created, value, value_raw, status, gas_used, fee, btime, bhash) = head
    involved.update(int(x) for x in (frm, to, created) if x is not None and int(x) >= 0)
    tag_rows = [TxTag(address=_addr(g, a) or str(a), category=t["category"], label=t["label"], source=t["source"],
                      confidence=t["confidence"]) for a in sorted(involved) for t in tags.get(a, [])]
    exact_value = int.from_bytes(bytes(value_raw), "big") if value_raw is not None else int(value or 0)
    return {"txid": g.tx_hash_hex(tx), "height": int(block) if block is not None else None, "time": iso(btime),
            "block_hash": tx_hash_text(bytes(bhash), chain=chain) if bhash is not None else None,
            "position": int(index) if index is not None else None, "coinbase": False,
            "fee": fee if fee is not None else None, "status": int(status) if status is not None else None,
            "from_address": _addr(g, frm), "to_address": _addr(g, to), "contract_created": _addr(g, created),
            "value": str(exact_value), "gas_used": int(gas_used) if gas_used is not None else None,
            "transfers": transfers, "tags": tag_rows}
