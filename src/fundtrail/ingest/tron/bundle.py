"""One java-tron block and its execution results -> the `BlockBundle` every account chain shares.

`block` is `/wallet/getblockbynum` (or an element of `getblockbylimitnext`'s `block` list) and
`infos` the `/wallet/gettransactioninfobyblocknum` answer for it, both with `visible=false` (the
default: addresses `41…` hex, bytes hex). The bundle carries the rows in the EVM decoder's shapes so
`ingest/ethereum/rows.build_tables` writes them (docs/tron.md has the mapping): the transaction's
TRX as its value, TRC-10 and TVM token `Transfer` logs as token moves, `internal_transactions` as
traces, the fee (`info.fee`, all burnt) in the receipt, rewards as moves and staking, delegation,
votes and account administration as typed events. Logs of a transaction that did not succeed are
stored but decode to nothing (java-tron's own advice). What must be there and is not is a
`DataError` naming block, transaction and field; an unknown contract type is kept and noted.
"""

from __future__ import annotations

import logging

from fundtrail.chains.ethereum.tokens import token_moves
from fundtrail.chains.tron.address import log_address, node_address
from fundtrail.chains.tron.contracts import Decoded, asset_address, decode_contract, hex_field, integer
from fundtrail.errors import DataError
from fundtrail.ingest.ethereum.rows import BlockBundle
from fundtrail.model.chains import TRON_CHAINS

_logger = logging.getLogger(__name__)
_WTRX = TRON_CHAINS["tron"].wrapped_native
#: contractRet values that mean the contract took effect (DEFAULT: pre-TVM transactions of 2018)
_OK = frozenset({"SUCCESS", "DEFAULT"})
_NOTES = {"63616c6c": "call", "637265617465": "create", "73756963696465": "suicide"}


def _hash(obj: dict, key: str, where: str) -> bytes:
    raw = hex_field(obj, key, where)
    if raw is None or len(raw) != 32:
        raise DataError(f"{where}: field {key} is {obj.get(key)!r}, expected 32 bytes of hex")
    return raw


def _obj(value: object, where: str, name: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(f"{where}: field {name} is {type(value).__name__}, expected an object")
    return value


def _header(block: object) -> dict:
    if not isinstance(block, dict) or not block:
        raise DataError("java-tron block: empty or not an object (block not found?)")
    header = _obj(block.get("block_header"), "java-tron block", "block_header")
    raw = _obj(header.get("raw_data"), "java-tron block", "block_header.raw_data")
    number = integer(raw, "number", "java-tron block", default=0)  # protobuf omits 0 (genesis)
    where = f"block {number}"
    ts = integer(raw, "timestamp", where, required=True)
    witness = raw.get("witness_address")
    try:
        miner = node_address(witness, f"{where}, field witness_address") if witness else None
    except DataError:
        if number:
            raise
        miner = None  # the genesis block's "witness" is a text, not an account
    return {"number": number, "hash": _hash(block, "blockID", where),
            "parent_hash": _hash(raw, "parentHash", where), "timestamp": (ts or 0) // 1000,
            "miner": miner, "transactions_root": hex_field(raw, "txTrieRoot", where) or None,
            "gas_limit": None, "gas_used": None, "size": None}


def _infos(infos: object, number: int) -> dict[str, dict]:
    where = f"block {number}, transaction infos"
    if infos in ({}, None):  # java-tron answers {} for an empty block or block 0
        return {}
    if not isinstance(infos, list):
        raise DataError(f"{where}: expected a list, got {type(infos).__name__}")
    out: dict[str, dict] = {}
    for i, info in enumerate(infos):
        info = _obj(info, where, f"[{i}]")
        txid = info.get("id")
        if not isinstance(txid, str) or len(txid) != 64:
            raise DataError(f"{where}: field [{i}].id is {txid!r}, expected a transaction id")
        got = info.get("blockNumber", number)
        if got != number:
            raise DataError(f"block {number}, tx {txid}: its info is of block {got}")
        out[txid.lower()] = info
    return out


def _succeeded(tx: dict, info: dict, where: str) -> bool:
    ret = tx.get("ret") or [{}]
    if not isinstance(ret, list) or not isinstance(ret[0], dict):
        raise DataError(f"{where}: field ret is {ret!r}, expected a list of results")
    if ret[0].get("ret") == "FAILED" or info.get("result") == "FAILED":
        return False
    return ret[0].get("contractRet", "DEFAULT") in _OK


def to_bundle(block: dict, infos: list[dict], *, solidified: bool = False) -> BlockBundle:
    """The bundle of one java-tron block; DataError (block, tx, field) when the answer is malformed."""
    blk = _header(block)
    number = blk["number"]
    by_id = _infos(infos, number)
    txs = block.get("transactions", [])
    if not isinstance(txs, list):
        raise DataError(f"block {number}: field transactions is {type(txs).__name__}, expected a list")
    b = BlockBundle(block=blk, transactions=[], receipts=[], trace_mode="tron", solidified=solidified)
    log_index = 0
    for i, tx in enumerate(txs):
        tx = _obj(tx, f"block {number}", f"transactions[{i}]")
        txid = tx.get("txID")
        if not isinstance(txid, str) or len(txid) != 64:
            raise DataError(f"block {number}: field transactions[{i}].txID is {txid!r}, expected a transaction id")
        where = f"block {number}, tx {txid}"
        info = by_id.pop(txid.lower(), {})
        raw_data = _obj(tx.get("raw_data"), where, "raw_data")
        contracts = raw_data.get("contract")
        if not isinstance(contracts, list) or not contracts:
            raise DataError(f"{where}: field raw_data.contract is missing")
        d = decode_contract(contracts[0], info, where, genesis=number == 0)
        if d.type_code is None:
            b.notes.append(f"{where}: unknown contract type {d.type_name} (kept, not decoded)")
            _logger.warning("block %s, tx %s: unknown contract type %s (kept, not decoded)", number, txid,
                            d.type_name)
        log_index = _transaction(b, tx, info, d, i, log_index, _hash(tx, "txID", where), where)
    if by_id:
        raise DataError(f"block {number}: transaction infos name {len(by_id)} transaction(s) not in the "
                        f"block (first {next(iter(by_id))})")
    return b


def _transaction(b: BlockBundle, tx: dict, info: dict, d: Decoded, index: int, log_index: int,
                 txhash: bytes, where: str) -> int:
    """Append one transaction's rows to `b`; the next block-wide log index."""
    number = b.block["number"]
    ok = _succeeded(tx, info, where)
    ret0 = (tx.get("ret") or [{}])[0]
    fee = integer(info, "fee", where) if info else integer(ret0, "fee", where)
    receipt = _obj(info.get("receipt") or {}, where, "receipt")
    created = None
    if d.creates and info.get("contract_address"):
        created = node_address(info["contract_address"], f"{where}, field contract_address")
    raw_data = tx["raw_data"]
    b.transactions.append({
        "hash": txhash, "transaction_index": index, "from_address": d.owner, "to_address": d.to,
        "value": d.value, "nonce": None, "gas": integer(raw_data, "fee_limit", where, default=None),
        "gas_price": None, "transaction_type": d.type_code, "input": d.input})
    logs = []
    for j, lg in enumerate(info.get("log") or []):
        lg = _obj(lg, where, f"log[{j}]")
        topics = lg.get("topics") or []
        if not isinstance(topics, list):
            raise DataError(f"{where}: field log[{j}].topics is not a list")
        logs.append({"address": log_address(lg.get("address"), f"{where}, field log[{j}].address"),
                     "topics": [_hash({"t": t}, "t", f"{where}, log[{j}] topic") for t in topics],
                     "data": hex_field(lg, "data", where) or b"", "log_index": log_index,
                     "transaction_hash": txhash, "block_number": number})
        log_index += 1
    b.receipts.append({"status": 1 if ok else 0, "gas_used": integer(receipt, "energy_usage_total", where),
                       "cumulative_gas_used": None, "contract_address": created, "logs": logs,
                       "fee": fee or 0})
    if ok:
        for lg in logs:
            b.token_moves.extend(token_moves(lg, wrapped_native=_WTRX))
    to = created if d.creates else d.to
    if d.asset is not None and d.asset_amount:
        b.token_moves.append(_trc10(d.asset, d.owner, to, d.asset_amount, txhash, None, ok))
    if d.reward:
        b.moves.append({"kind": "reward", "transaction_hash": txhash, "from_address": None,
                        "to_address": d.owner, "amount": d.reward, "success": ok})
    for ev in d.events:
        b.events.append({**ev, "transaction_hash": txhash, "from_address": d.owner,
                         "asset": asset_address(ev["asset"]) if ev.get("asset") else None, "success": ok})
    for j, it in enumerate(info.get("internal_transactions") or []):
        _internal(b, _obj(it, where, f"internal_transactions[{j}]"), j, txhash, ok, f"{where}, internal[{j}]")
    return log_index


def _trc10(key: str, sender: bytes | None, receiver: bytes | None, amount: int, txhash: bytes,
           trace: list[int] | None, ok: bool, batch: int | None = None) -> dict:
    return {"kind": "trc10", "token": asset_address(key), "asset_key": key, "from_address": sender,
            "to_address": receiver, "amount": amount, "token_id": None, "log_index": None,
            "batch_index": batch, "transaction_hash": txhash, "trace_address": trace, "success": ok}


def _internal(b: BlockBundle, it: dict, j: int, txhash: bytes, ok: bool, where: str) -> None:
    """An internal transaction: a trace (TRX value) plus a TRC-10 move per token call value."""
    sender = node_address(it.get("caller_address"), f"{where}, field caller_address")
    receiver = node_address(it.get("transferTo_address"), f"{where}, field transferTo_address")
    rejected = bool(it.get("rejected"))
    note = it.get("note") or ""
    note = _NOTES.get(note, note) if isinstance(note, str) else ""
    trx = 0
    infos = it.get("callValueInfo") or []
    if not isinstance(infos, list):
        raise DataError(f"{where}: field callValueInfo is not a list")
    taken = ok and not rejected
    for k, cv in enumerate(infos):
        cv = _obj(cv, where, f"callValueInfo[{k}]")
        amount = integer(cv, "callValue", where) or 0
        token = cv.get("tokenId")
        if token in (None, "", "_"):  # "_" is how java-tron names TRX among assets
            trx += amount
        elif amount:
            b.token_moves.append(_trc10(str(token), sender, receiver, amount, txhash, [j], taken, batch=k))
    kind = note if note in ("create", "suicide") else "call"
    b.traces.append({"block_number": b.block["number"], "transaction_hash": txhash, "from_address": sender,
                     "to_address": receiver, "value": trx, "trace_address": [j], "trace_type": kind,
                     "call_type": note or None, "status": 1 if taken else 0,
                     "error": "rejected" if rejected else (None if ok else "transaction failed")})
