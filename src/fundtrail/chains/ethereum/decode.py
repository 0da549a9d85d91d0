"""Ethereum JSON-RPC blocks, transactions, receipts and logs decoded into plain rows.

Rows hold raw values (20-byte addresses, 32-byte hashes, exact ints, None for what the node did not
send) so that the ingest can give ids and write columns without re-parsing text. One decoder serves
every node and EVM chain: fields that only some forks or clients have (base fee, withdrawals, blobs,
total difficulty, receipt status) are optional, and a field that is present but malformed raises
`DataError` naming the block, transaction or log and the field.
"""

from __future__ import annotations

from typing import Any

from fundtrail.chains.ethereum.hexutil import hex_to_int
from fundtrail.chains.ethereum.fields import JsonFields as _Fields
from fundtrail.errors import DataError


def _block_where(block_json: Any) -> str:
    number = block_json.get("number") if isinstance(block_json, dict) else None
    try:
        return f"block {hex_to_int(number)}" if number is not None else "block (no number)"
    except DataError:
        return f"block {number!r}"


def block_row(block_json: dict) -> dict:
    """The header fields of an `eth_getBlockByNumber` result (with or without full transactions)."""
    if block_json is None:
        raise DataError("block: the node returned null (block not found)")
    f = _Fields(block_json, _block_where(block_json))
    transactions = block_json.get("transactions")
    if transactions is None:
        transactions = []
    elif not isinstance(transactions, list):
        raise DataError(f"{f.where}: field transactions must be a list")
    miner = "miner" if block_json.get("miner") is not None else "author"  # parity/openethereum
    return {
        "number": f.int("number", True),
        "hash": f.hash("hash", True),
        "parent_hash": f.hash("parentHash", True),
        "nonce": f.data("nonce"),
        "sha3_uncles": f.hash("sha3Uncles"),
        "logs_bloom": f.data("logsBloom"),
        "transactions_root": f.hash("transactionsRoot"),
        "state_root": f.hash("stateRoot"),
        "receipts_root": f.hash("receiptsRoot"),
        "miner": f.address(miner),
        "difficulty": f.int("difficulty"),
        "total_difficulty": f.int("totalDifficulty"),
        "size": f.int("size"),
        "extra_data": f.data("extraData"),
        "gas_limit": f.int("gasLimit", True),
        "gas_used": f.int("gasUsed", True),
        "timestamp": f.int("timestamp", True),
        "transaction_count": len(transactions),
        "base_fee_per_gas": f.int("baseFeePerGas"),
        "withdrawals_root": f.hash("withdrawalsRoot"),
        "blob_gas_used": f.int("blobGasUsed"),
        "excess_blob_gas": f.int("excessBlobGas"),
        "withdrawals": _withdrawals(f),
    }


def _withdrawals(f: _Fields) -> list[dict]:
    """Post-Shanghai validator withdrawals; `amount` stays in gwei, as the node gives it."""
    items = f.obj.get("withdrawals")
    if items is None:
        return []
    if not isinstance(items, list):
        raise DataError(f"{f.where}: field withdrawals must be a list")
    out = []
    for i, item in enumerate(items):
        w = _Fields(item, f"{f.where} withdrawal {i}")
        out.append({
            "index": w.int("index", True),
            "validator_index": w.int("validatorIndex", True),
            "address": w.address("address", True),
            "amount": w.int("amount", True),
        })
    return out


def transaction_rows(block_json: dict) -> list[dict]:
    """One row per transaction of a block fetched with full transaction objects."""
    if block_json is None:
        raise DataError("block: the node returned null (block not found)")
    f = _Fields(block_json, _block_where(block_json))
    blk = {"number": f.int("number", True), "hash": f.hash("hash", True), "timestamp": f.int("timestamp", True)}
    transactions = block_json.get("transactions")
    if transactions is None:
        return []
    if not isinstance(transactions, list):
        raise DataError(f"{f.where}: field transactions must be a list")
    rows = []
    for i, tx in enumerate(transactions):
        if not isinstance(tx, dict):
            raise DataError(f"{f.where}: transaction {i} is not an object "
                            "(was the block fetched without full transactions?)")
        rows.append(_transaction_row(tx, blk, f"{f.where} tx {tx.get('hash') or i}"))
    return rows


def _transaction_row(tx: dict, blk: dict, where: str) -> dict:
    f = _Fields(tx, where)
    block_number = f.int("blockNumber")
    if block_number is not None and block_number != blk["number"]:
        raise DataError(f"{where}: field blockNumber is {block_number}, not the block's number")
    block_hash = f.hash("blockHash")
    if block_hash is not None and block_hash != blk["hash"]:
        raise DataError(f"{where}: field blockHash differs from the block's hash")
    return {
        "hash": f.hash("hash", True),
        "nonce": f.int("nonce", True),
        "block_number": blk["number"],
        "block_hash": blk["hash"],
        "block_timestamp": blk["timestamp"],
        "transaction_index": f.int("transactionIndex", True),
        "from_address": f.address("from", True),
        "to_address": f.address("to"),
        "value": f.int("value", True),
        "gas": f.int("gas", True),
        "gas_price": f.int("gasPrice"),
        "input": f.data("input" if "input" in tx else "data") or b"",
        "max_fee_per_gas": f.int("maxFeePerGas"),
        "max_priority_fee_per_gas": f.int("maxPriorityFeePerGas"),
        "max_fee_per_blob_gas": f.int("maxFeePerBlobGas"),
        "transaction_type": f.int("type"),
        "blob_versioned_hashes": f.hashes("blobVersionedHashes"),
    }


def receipt_row(receipt_json: dict) -> dict:
    """An `eth_getTransactionReceipt` / `eth_getBlockReceipts` item, with its logs decoded."""
    if receipt_json is None:
        raise DataError("receipt: the node returned null (transaction not found or not mined)")
    tx_hash = receipt_json.get("transactionHash") if isinstance(receipt_json, dict) else None
    f = _Fields(receipt_json, f"receipt of tx {tx_hash}")
    row: dict[str, Any] = {
        "transaction_hash": f.hash("transactionHash", True),
        "transaction_index": f.int("transactionIndex", True),
        "block_hash": f.hash("blockHash", True),
        "block_number": f.int("blockNumber", True),
        "cumulative_gas_used": f.int("cumulativeGasUsed", True),
        "gas_used": f.int("gasUsed", True),
        "contract_address": f.address("contractAddress"),
        "root": f.hash("root"),  # pre-Byzantium: intermediate state root instead of status
        "status": f.int("status"),
        "effective_gas_price": f.int("effectiveGasPrice"),
        "blob_gas_used": f.int("blobGasUsed"),
        "blob_gas_price": f.int("blobGasPrice"),
    }
    logs = receipt_json.get("logs")
    if logs is None:
        logs = []
    elif not isinstance(logs, list):
        raise DataError(f"{f.where}: field logs must be a list")
    decoded = [log_row(log) for log in logs]
    for log in decoded:  # some nodes leave the context fields of receipt logs out
        for key in ("transaction_hash", "transaction_index", "block_hash", "block_number"):
            if log[key] is None:
                log[key] = row[key]
    row["logs"] = decoded
    return row


def log_row(log_json: dict) -> dict:
    """One event log (from a receipt or `eth_getLogs`); topics are 32-byte values."""
    ident = log_json.get("logIndex") if isinstance(log_json, dict) else None
    tx_hash = log_json.get("transactionHash") if isinstance(log_json, dict) else None
    f = _Fields(log_json, f"log {_quantity_text(ident)} of tx {tx_hash}")
    topics = log_json.get("topics")
    if not isinstance(topics, list):
        raise DataError(f"{f.where}: field topics must be a list")
    return {
        "log_index": f.int("logIndex", True),
        "transaction_hash": f.hash("transactionHash"),
        "transaction_index": f.int("transactionIndex"),
        "block_hash": f.hash("blockHash"),
        "block_number": f.int("blockNumber"),
        "address": f.address("address", True),
        "data": f.data("data", True),
        "topics": f.hashes("topics"),
    }


def _quantity_text(value: Any) -> str:
    """A quantity for messages: decimal when it parses, else as given."""
    try:
        return str(hex_to_int(value))
    except DataError:
        return repr(value)
