"""Decoded account-chain data of a batch of blocks -> Arrow tables for the lake (EVM and TRON).

Every movement of value becomes one row of `transfers` (DESIGN.md section 2): native value of a
transaction, internal value from traces, token events, withdrawals, fees and block rewards, each
with its source (transaction, log index or trace address) and whether it took effect. Failed
transactions and reverted calls move nothing but are recorded with success = false, because an
attempted payment is itself evidence. Both fetchers (`ingest/ethereum` over JSON-RPC,
`ingest/tron/bundle.py` from java-tron's HTTP API) produce `BlockBundle`s, so this is the one row
builder: stablecoin freezes (`freezes`) are decoded here from the logs of successful transactions of
either, and TRON's typed non-value events (`events`) arrive in the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from typing import Any
from decimal import Decimal

import pyarrow as pa

from fundtrail.chains.ethereum.freezes import FREEZE_TOPICS, decode_freeze
from fundtrail.ingest.ethereum.book import AddressBook, BatchIds
from fundtrail.store.tables import ACCOUNT_TABLES, TRANSFER_KINDS

KIND = {name: code for code, name in enumerate(TRANSFER_KINDS)}
_DEC_LIMIT = 10**38
_GWEI = 10**9
# token events -> transfer kind (WETH Deposit/Withdrawal are mints/burns of an ERC-20)
_TOKEN_KIND = {"erc20": "erc20", "erc721": "erc721", "erc1155": "erc1155",
               "weth_deposit": "erc20", "weth_withdrawal": "erc20", "trc10": "trc10"}
_VALUE_CALL_TYPES = {None, "call", "callcode"}
#: The columns holding address ids, per table: filled with a batch's local numbers, then resolved
#: (`ingest/ethereum/book.py`); `addresses` and `tokens` are written with resolved ids.
ADDRESS_COLUMNS = {"blocks": ("miner_id",), "transactions": ("from_id", "to_id", "contract_created_id"),
                   "logs": ("address_id",), "traces": ("from_id", "to_id"),
                   "transfers": ("from_id", "to_id", "asset_id"), "freezes": ("token_id", "address_id"),
                   "events": ("from_id", "to_id", "asset_id"), "addresses": (), "tokens": ()}


@dataclass
class BlockBundle:
    """Everything fetched and decoded for one block."""

    block: dict
    transactions: list[dict]
    receipts: list[dict]  # aligned with transactions
    trace_mode: str  # "parity" | "geth" | "none" | "tron" (internal_transactions of java-tron)
    traces: list[dict] = field(default_factory=list)
    token_moves: list[dict] = field(default_factory=list)
    verified: bool = False  # hash and roots checked (ingest/ethereum/verify.py)
    # chain-specific native movements outside a transaction's own value (TRON: rewards withdrawn):
    # {kind, transaction_hash, from_address, to_address, amount, success}
    moves: list[dict] = field(default_factory=list)
    # typed non-value events (TRON staking, delegation, votes): {transaction_hash, kind,
    # from_address, to_address, asset (token address or None), amount, resource, detail, success}
    events: list[dict] = field(default_factory=list)
    solidified: bool = False  # TRON: read from the solidity endpoint (irreversible)
    notes: list[str] = field(default_factory=list)  # decoder warnings to report (unknown contracts)


def dec(n: int | None) -> Decimal | None:
    """A uint256 as DECIMAL(38,0) when it fits, else None (the raw column stays exact)."""
    return None if n is None or n >= _DEC_LIMIT else Decimal(n)


def raw(n: int | None) -> bytes | None:
    return None if n is None else n.to_bytes(32, "big")


@dataclass
class Counters:
    tx_id: int = 0
    transfer_id: int = 0
    address_id: int = 0


def build_tables(bundles: list[BlockBundle], book: AddressBook, counters: Counters,
                 token_meta: dict[bytes, dict]) -> tuple[dict[str, pa.Table], list[tuple]]:
    """Tables for a batch, and per block (number, hash, parent hash, first tx id, first transfer
    id, first address id) for the catalog; `counters` and `book` advance past the ids used (and
    nothing of the batch stays in `book` if this raises)."""
    ids = book.batch()
    try:
        return _build(bundles, ids, counters, token_meta)
    except BaseException:
        ids.undo()
        raise


def _build(bundles: list[BlockBundle], book: BatchIds, counters: Counters,
           token_meta: dict[bytes, dict]) -> tuple[dict[str, pa.Table], list[tuple]]:
    rows: dict[str, dict[str, Any]] = {t: {c: [] for c in s.names} for t, s in ACCOUNT_TABLES.items()}
    tokens_seen: dict[bytes, tuple[str, str | None]] = {}
    marks: list[tuple] = []
    for b in bundles:
        blk = b.block
        number, ts = blk["number"], blk["timestamp"]
        marks.append((number, blk["hash"], blk["parent_hash"], counters.tx_id, counters.transfer_id,
                      book.count))  # a local number until resolved below
        miner = book.id(blk["miner"], number)
        _add(rows["blocks"], number=number, hash=blk["hash"], parent_hash=blk["parent_hash"],
             timestamp=ts, miner_id=miner, gas_limit=blk.get("gas_limit"), gas_used=blk.get("gas_used"),
             base_fee_per_gas=dec(blk.get("base_fee_per_gas")), difficulty=dec(blk.get("difficulty")),
             size=blk.get("size"), tx_count=len(b.transactions), nonce=blk.get("nonce"),
             extra_data=blk.get("extra_data"), state_root=blk.get("state_root"),
             transactions_root=blk.get("transactions_root"), receipts_root=blk.get("receipts_root"),
             withdrawals_root=blk.get("withdrawals_root"), blob_gas_used=blk.get("blob_gas_used"),
             excess_blob_gas=blk.get("excess_blob_gas"),
             first_tx_id=counters.tx_id if b.transactions else None, trace_mode=b.trace_mode,
             verified=b.verified)
        tx_ids: dict[bytes, int] = {}
        # before Byzantium receipts carry no status: a failed top-level trace says the tx failed
        failed = {tr["transaction_hash"] for tr in b.traces
                  if not tr["trace_address"] and tr.get("status") == 0}
        for tx, rc in zip(b.transactions, b.receipts):
            tid = counters.tx_id
            counters.tx_id += 1
            tx_ids[tx["hash"]] = tid
            _transaction(rows, tx, rc, tid, blk, book)
            for log in rc["logs"]:
                topics = list(log["topics"]) + [None] * (4 - len(log["topics"]))
                _add(rows["logs"], tx_id=tid, log_index=log["log_index"], block_number=number,
                     address_id=book.id(log["address"], number), topic0=topics[0], topic1=topics[1],
                     topic2=topics[2], topic3=topics[3], data=log["data"])
            ok = _value_and_fees(rows, tx, rc, tid, blk, book, counters, tx["hash"] not in failed)
            if ok:
                _freezes(rows, rc["logs"], tid, number, ts, book)
        for tr in b.traces:
            _trace(rows, tr, tx_ids, book, counters, ts)
        for mv in b.token_moves:
            kind = _TOKEN_KIND[mv["kind"]]
            if mv["token"] not in tokens_seen:
                tokens_seen[mv["token"]] = (kind, mv.get("asset_key"))
            _transfer(rows, counters, number, ts, tx_ids.get(mv["transaction_hash"]), kind,
                      book.id(mv["from_address"], number), book.id(mv["to_address"], number),
                      book.id(mv["token"], number), mv["amount"], token_id=mv.get("token_id"),
                      log_index=mv["log_index"], batch_index=mv.get("batch_index"),
                      trace_address=mv.get("trace_address"), success=mv.get("success", True))
        for mv in b.moves:
            _transfer(rows, counters, number, ts, tx_ids.get(mv["transaction_hash"]), mv["kind"],
                      book.id(mv["from_address"], number), book.id(mv["to_address"], number), None,
                      mv["amount"], success=mv.get("success", True))
        for ev in b.events:
            _add(rows["events"], block_number=number, block_time=ts, tx_id=tx_ids.get(ev["transaction_hash"]),
                 kind=ev["kind"], from_id=book.id(ev["from_address"], number),
                 to_id=book.id(ev["to_address"], number), asset_id=book.id(ev.get("asset"), number),
                 amount=dec(ev["amount"]), resource=ev.get("resource"),
                 detail=json.dumps(ev["detail"], sort_keys=True) if ev.get("detail") else None,
                 success=ev.get("success", True))
        for w in blk.get("withdrawals") or []:
            _transfer(rows, counters, number, ts, None, "withdrawal", None,
                      book.id(w["address"], number), None, w["amount"] * _GWEI)
    book.resolve()
    marks = [(*m[:5], book.first_new_id(m[5])) for m in marks]
    for token, (standard, key) in tokens_seen.items():
        meta = token_meta.get(token)
        if meta is None:
            continue
        # a TRC-10 asset without a name from the node keeps its id (or 2018 name) as the name
        _add(rows["tokens"], address_id=book.id_of(token), standard=standard, symbol=meta.get("symbol"),
             name=meta.get("name") or key, decimals=meta.get("decimals"))
    new_ids, new_addrs, first = book.new_rows()
    rows["addresses"] = {"address_id": new_ids, "address": [a.tobytes() for a in new_addrs],
                         "first_block": first}
    counters.address_id = book.book.next_id
    out = {}
    for t, cols in rows.items():
        arrays = {c: book.to_ids(v) if c in ADDRESS_COLUMNS[t] else v for c, v in cols.items()}
        out[t] = pa.table(arrays, schema=ACCOUNT_TABLES[t])
    return out, marks


def _add(table: dict[str, list], **values: object) -> None:
    for k, col in table.items():
        col.append(values.get(k))


def _transfer(rows, counters: Counters, number: int, ts: int, tx_id: int | None, kind: str,
              from_id: int | None, to_id: int | None, asset_id: int | None, amount: int, *,
              token_id: int | None = None, log_index: int | None = None,
              batch_index: int | None = None, trace_address: list[int] | None = None,
              success: bool = True) -> None:
    _add(rows["transfers"], transfer_id=counters.transfer_id, block_number=number, block_time=ts,
         tx_id=tx_id, kind=KIND[kind], from_id=from_id, to_id=to_id, asset_id=asset_id,
         amount=dec(amount), amount_raw=raw(amount), token_id_raw=raw(token_id), log_index=log_index,
         batch_index=batch_index, trace_address=trace_address, success=success)
    counters.transfer_id += 1


def _fees(tx: dict, rc: dict, blk: dict) -> tuple[int | None, int | None, int | None]:
    """(effective gas price, total fee, burnt part) of a transaction. A receipt with an explicit
    `fee` (TRON: bandwidth, energy and other fees, all burnt) gives it directly."""
    if "fee" in rc:
        return None, rc["fee"], rc["fee"]
    price = rc.get("effective_gas_price")
    if price is None:
        price = tx.get("gas_price")
    if price is None or rc.get("gas_used") is None:
        return price, None, None
    fee = rc["gas_used"] * price
    base = blk.get("base_fee_per_gas")
    burnt = rc["gas_used"] * base if base is not None else 0
    if rc.get("blob_gas_used") and rc.get("blob_gas_price"):
        blob = rc["blob_gas_used"] * rc["blob_gas_price"]
        fee += blob
        burnt += blob
    return price, fee, burnt


def _transaction(rows, tx: dict, rc: dict, tid: int, blk: dict, book: BatchIds) -> None:
    number = blk["number"]
    price, fee, burnt = _fees(tx, rc, blk)
    _add(rows["transactions"], tx_id=tid, hash=tx["hash"], block_number=number,
         tx_index=tx["transaction_index"], from_id=book.id(tx["from_address"], number),
         to_id=book.id(tx["to_address"], number),
         contract_created_id=book.id(rc.get("contract_address"), number), value=dec(tx["value"]),
         value_raw=raw(tx["value"]), nonce=tx["nonce"], gas=tx["gas"], gas_price=dec(tx.get("gas_price")),
         max_fee_per_gas=dec(tx.get("max_fee_per_gas")),
         max_priority_fee_per_gas=dec(tx.get("max_priority_fee_per_gas")), tx_type=tx.get("transaction_type"),
         input=tx.get("input"), status=rc.get("status"), gas_used=rc.get("gas_used"),
         cumulative_gas_used=rc.get("cumulative_gas_used"), effective_gas_price=dec(price),
         fee=dec(fee), burnt_fee=dec(burnt), block_time=blk["timestamp"])


def _value_and_fees(rows, tx: dict, rc: dict, tid: int, blk: dict, book: BatchIds,
                    counters: Counters, trace_ok: bool) -> bool:
    """Write the transaction's own value and fee transfers; whether the transaction succeeded."""
    number, ts = blk["number"], blk["timestamp"]
    sender = book.id(tx["from_address"], number)
    ok = rc.get("status") == 1 if rc.get("status") is not None else trace_ok
    if tx["value"]:
        to = tx["to_address"] if tx["to_address"] is not None else rc.get("contract_address")
        _transfer(rows, counters, number, ts, tid, "native", sender, book.id(to, number), None,
                  tx["value"], success=ok)
    _, fee, burnt = _fees(tx, rc, blk)
    if fee:
        tip = fee - (burnt or 0)
        if tip:
            _transfer(rows, counters, number, ts, tid, "fee", sender, book.id(blk["miner"], number),
                      None, tip)
        if burnt:
            _transfer(rows, counters, number, ts, tid, "fee", sender, None, None, burnt)
    return ok


def _freezes(rows, logs: list[dict], tid: int, number: int, ts: int, book: BatchIds) -> None:
    """Issuer freeze actions (Tether, Circle) among a successful transaction's logs."""
    for log in logs:
        topics = log["topics"]
        if not topics or topics[0] not in FREEZE_TOPICS:
            continue
        ev = decode_freeze(list(topics), log["data"] or b"")
        if ev is None:
            continue
        _add(rows["freezes"], block_number=number, block_time=ts, tx_id=tid, log_index=log["log_index"],
             token_id=book.id(log["address"], number), address_id=book.id(ev.address, number),
             action=ev.action, amount=dec(ev.amount), amount_raw=raw(ev.amount))


def _trace(rows, tr: dict, tx_ids: dict[bytes, int], book: BatchIds, counters: Counters,
           ts: int) -> None:
    number = tr["block_number"]
    tid = tx_ids.get(tr["transaction_hash"]) if tr["transaction_hash"] is not None else None
    from_id = book.id(tr["from_address"], number)
    to_id = book.id(tr["to_address"], number)
    value = tr["value"] or 0
    _add(rows["traces"], tx_id=tid, block_number=number, trace_address=tr["trace_address"],
         trace_type=tr["trace_type"], call_type=tr.get("call_type"), from_id=from_id, to_id=to_id,
         value=dec(value), value_raw=raw(value), gas=tr.get("gas"), gas_used=tr.get("gas_used"),
         subtraces=tr.get("subtraces"), error=tr.get("error"), status=tr.get("status"))
    if not value:
        return
    if tr["trace_type"] == "reward":
        _transfer(rows, counters, number, ts, None, "reward", None, to_id, None, value)
        return
    if not tr["trace_address"]:
        return  # the top-level call is the transaction's own value: already a native transfer
    if tr["trace_type"] == "call" and tr.get("call_type") not in _VALUE_CALL_TYPES:
        return  # delegatecall/staticcall carry the caller's value, they move nothing
    _transfer(rows, counters, number, ts, tid, "internal", from_id, to_id, None, value,
              trace_address=list(tr["trace_address"]), success=tr.get("status") != 0)
