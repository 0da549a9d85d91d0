"""Block, transaction, receipt and log decoding beyond what the pre-Cancun fixtures cover.

Hand-built Cancun-era JSON (blobs, withdrawals, type-3 transactions, receipts with status and
blob gas), the optional-field rules for other clients, and bad input: every malformed field
raises DataError with a one-line message naming the block, transaction or log and the field.
The withdrawal test re-encodes ethereum-etl's expected block 17173049 as JSON-RPC (there is no
recorded response for it) and checks the decoder returns the same values: it checks the field
mapping on real post-Shanghai data, not a node's encoding.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from fundtrail.chains.ethereum.decode import (
    block_row,
    log_row,
    receipt_row,
    transaction_rows,
)
from fundtrail.errors import DataError


def H(b: int) -> str:
    """A 32-byte hash made of one repeated byte."""
    return "0x" + bytes([b]).hex() * 32


def AD(b: int) -> str:
    """A 20-byte address made of one repeated byte."""
    return "0x" + bytes([b]).hex() * 20


BLOCK_HASH = H(0xBB)
TX_HASH = H(0xAA)


def cancun_block() -> dict:
    return {
        "number": "0x1312d00", "hash": BLOCK_HASH, "parentHash": H(0x01), "nonce": "0x0000000000000000",
        "sha3Uncles": H(0x02), "logsBloom": "0x" + "00" * 256, "transactionsRoot": H(0x03),
        "stateRoot": H(0x04), "receiptsRoot": H(0x05), "miner": AD(0x06), "difficulty": "0x0",
        "size": "0x1f4", "extraData": "0x6265617665726275696c642e6f7267", "gasLimit": "0x1c9c380",
        "gasUsed": "0xf4240", "timestamp": "0x65f1b057", "baseFeePerGas": "0x3b9aca00",
        "withdrawalsRoot": H(0x07), "blobGasUsed": "0x40000", "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": H(0x08), "uncles": [],
        "withdrawals": [{"index": "0x2", "validatorIndex": "0x3", "address": AD(0x09), "amount": "0x10"}],
        "transactions": [{
            "blockHash": BLOCK_HASH, "blockNumber": "0x1312d00", "hash": TX_HASH, "type": "0x3",
            "from": AD(0x0A), "to": AD(0x0B), "nonce": "0x7", "value": "0x" + "f" * 64, "gas": "0x5208",
            "gasPrice": "0x3b9aca01", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1",
            "maxFeePerBlobGas": "0x3", "input": "0x", "transactionIndex": "0x0",
            "blobVersionedHashes": [H(0x01), H(0x02)], "chainId": "0x1", "v": "0x0", "r": "0x1", "s": "0x2",
        }, {
            "blockHash": BLOCK_HASH, "blockNumber": "0x1312d00", "hash": H(0xAC), "type": "0x0",
            "from": AD(0x0A), "to": None, "nonce": "0x8", "value": "0x0", "gas": "0x30d40",
            "gasPrice": "0x3b9aca01", "input": "0x6080", "transactionIndex": "0x1",
        }],
    }


def test_cancun_block_and_transactions() -> None:
    raw = cancun_block()
    blk = block_row(raw)
    assert blk["number"] == 20_000_000 and blk["hash"] == bytes([0xBB]) * 32
    assert (blk["base_fee_per_gas"], blk["blob_gas_used"], blk["excess_blob_gas"]) == (10**9, 0x40000, 0)
    assert blk["total_difficulty"] is None and blk["difficulty"] == 0 and blk["nonce"] == bytes(8)
    assert blk["withdrawals"] == [{"index": 2, "validator_index": 3, "address": bytes([9]) * 20, "amount": 16}]
    assert blk["transaction_count"] == 2 and blk["extra_data"] == b"beaverbuild.org"
    blob_tx, create_tx = transaction_rows(raw)
    assert blob_tx["value"] == 2**256 - 1  # exact, not a float
    assert (blob_tx["transaction_type"], blob_tx["max_fee_per_blob_gas"]) == (3, 3)
    assert blob_tx["blob_versioned_hashes"] == [bytes([1]) * 32, bytes([2]) * 32]
    assert (blob_tx["block_number"], blob_tx["block_timestamp"]) == (20_000_000, 0x65F1B057)
    assert create_tx["to_address"] is None and create_tx["input"] == b"\x60\x80"
    assert create_tx["max_fee_per_gas"] is None and create_tx["blob_versioned_hashes"] == []


def test_client_variants() -> None:
    raw = cancun_block()
    del raw["miner"]
    raw["author"] = AD(0x0C)  # parity/openethereum
    for key in ("nonce", "baseFeePerGas", "withdrawals", "withdrawalsRoot", "blobGasUsed", "size"):
        del raw[key]
    tx = raw["transactions"][1]
    tx["data"] = tx.pop("input")  # some clients used "data"
    del tx["type"]
    blk = block_row(raw)
    assert blk["miner"] == bytes([0x0C]) * 20 and blk["withdrawals"] == [] and blk["nonce"] is None
    assert blk["base_fee_per_gas"] is None and blk["size"] is None
    assert transaction_rows(raw)[1]["input"] == b"\x60\x80" and transaction_rows(raw)[1]["transaction_type"] is None


def test_receipt_with_status_blob_gas_and_logs_without_context() -> None:
    receipt = {
        "transactionHash": TX_HASH, "transactionIndex": "0x0", "blockHash": BLOCK_HASH,
        "blockNumber": "0x1312d00", "cumulativeGasUsed": "0x5208", "gasUsed": "0x5208",
        "contractAddress": AD(0x0D), "status": "0x1", "effectiveGasPrice": "0x3b9aca01",
        "blobGasUsed": "0x40000", "blobGasPrice": "0x1", "type": "0x3", "logsBloom": "0x" + "00" * 256,
        "logs": [{"address": AD(0x0E), "topics": [H(0x11)], "data": "0x01", "logIndex": "0x4"}],
    }
    row = receipt_row(receipt)
    assert (row["status"], row["root"], row["contract_address"]) == (1, None, bytes([0x0D]) * 20)
    assert (row["blob_gas_used"], row["blob_gas_price"], row["effective_gas_price"]) == (0x40000, 1, 10**9 + 1)
    [lg] = row["logs"]
    assert lg == {"log_index": 4, "transaction_hash": bytes([0xAA]) * 32, "transaction_index": 0,
                  "block_hash": bytes([0xBB]) * 32, "block_number": 20_000_000, "address": bytes([0x0E]) * 20,
                  "data": b"\x01", "topics": [bytes([0x11]) * 32]}


def _mutate(path: list, value: object) -> dict:
    raw = cancun_block()
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


@pytest.mark.parametrize("path, value, message", [
    (["gasUsed"], "0xzz", r"^block 20000000: field gasUsed: not a hex quantity: '0xzz'$"),
    (["hash"], KeyError, r"^block 20000000: field hash is missing$"),
    (["parentHash"], "0x1234", r"^block 20000000: field parentHash must be 32 bytes, got 2$"),
    (["miner"], "0x1234", r"^block 20000000: field miner: address must be 20 bytes, got 2"),
    (["number"], "12", r"^block '12': field number: not a hex quantity"),
    (["withdrawals", 0, "amount"], None, r"^block 20000000 withdrawal 0: field amount is missing$"),
    (["transactions", 0, "from"], None, rf"^block 20000000 tx {TX_HASH}: field from is missing$"),
    (["transactions", 0, "value"], "0x-1", rf"^block 20000000 tx {TX_HASH}: field value: not a hex quantity"),
    (["transactions", 0, "blobVersionedHashes", 1], "0x12",
     rf"^block 20000000 tx {TX_HASH}: field blobVersionedHashes\[1\] must be 32 bytes, got 1$"),
    (["transactions", 0, "blockHash"], H(0x99), rf"^block 20000000 tx {TX_HASH}: field blockHash differs"),
    (["transactions", 0, "blockNumber"], "0x1", rf"^block 20000000 tx {TX_HASH}: field blockNumber is 1"),
    (["transactions", 1], "0x" + "ac" * 32, r"^block 20000000: transaction 1 is not an object"),
    (["transactions"], "nope", r"^block 20000000: field transactions must be a list$"),
])
def test_bad_block_data_names_block_tx_and_field(path: list, value: object, message: str) -> None:
    raw = _mutate(path, value)
    with pytest.raises(DataError, match=message) as err:
        block_row(raw)
        transaction_rows(raw)
    assert "\n" not in err.value.one_line()


def test_missing_block_receipt_and_bad_logs() -> None:
    with pytest.raises(DataError, match="null"):
        block_row(None)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="null"):
        receipt_row(None)  # type: ignore[arg-type]
    log = {"address": AD(1), "topics": [H(1)], "data": "0x", "logIndex": "0x3", "transactionHash": TX_HASH}
    with pytest.raises(DataError, match=rf"^log 3 of tx {TX_HASH}: field topics\[0\] must be 32 bytes"):
        log_row(dict(log, topics=["0x01"]))
    with pytest.raises(DataError, match=r"^log 3 of tx .*: field data: not hex data"):
        log_row(dict(log, data="0x1"))
    with pytest.raises(DataError, match=r"field topics must be a list"):
        log_row(dict(log, topics=None))
    with pytest.raises(DataError, match=r"^receipt of tx .*: field gasUsed is missing"):
        receipt_row({"transactionHash": TX_HASH, "transactionIndex": "0x0", "blockHash": BLOCK_HASH,
                     "blockNumber": "0x1", "cumulativeGasUsed": "0x1", "logs": []})


def test_decoding_does_not_modify_the_input() -> None:
    raw = cancun_block()
    before = copy.deepcopy(raw)
    block_row(raw)
    transaction_rows(raw)
    assert raw == before


def test_withdrawals_of_block_17173049(testdata: Path) -> None:
    path = testdata / "eth" / "ethereum-etl-fixtures" / "test_export_blocks_job" / \
        "blocks_with_transactions_and_withdrawals" / "expected_blocks.json"
    if not path.is_file():
        reason = f"{path} not found"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    exp = json.loads(path.read_text().splitlines()[0])
    raw = cancun_block()
    raw.update(number=hex(exp["number"]), hash=exp["hash"], withdrawalsRoot=exp["withdrawals_root"],
               baseFeePerGas=hex(exp["base_fee_per_gas"]), transactions=[],
               withdrawals=[{"index": hex(w["index"]), "validatorIndex": hex(w["validator_index"]),
                             "address": w["address"], "amount": hex(w["amount"])} for w in exp["withdrawals"]])
    blk = block_row(raw)
    got = [dict(w, address="0x" + w["address"].hex()) for w in blk["withdrawals"]]
    assert got == exp["withdrawals"] and len(got) == 16
    assert (blk["number"], blk["base_fee_per_gas"]) == (exp["number"], exp["base_fee_per_gas"])


def test_row_keys_are_the_published_contract() -> None:
    """Other packages (ingest/ethereum/rows.py) index these rows by name: the key sets are API."""
    raw = cancun_block()
    assert list(block_row(raw)) == [
        "number", "hash", "parent_hash", "nonce", "sha3_uncles", "logs_bloom", "transactions_root", "state_root",
        "receipts_root", "miner", "difficulty", "total_difficulty", "size", "extra_data", "gas_limit", "gas_used",
        "timestamp", "transaction_count", "base_fee_per_gas", "withdrawals_root", "blob_gas_used",
        "excess_blob_gas", "withdrawals"]
    assert list(transaction_rows(raw)[0]) == [
        "hash", "nonce", "block_number", "block_hash", "block_timestamp", "transaction_index", "from_address",
        "to_address", "value", "gas", "gas_price", "input", "max_fee_per_gas", "max_priority_fee_per_gas",
        "max_fee_per_blob_gas", "transaction_type", "blob_versioned_hashes"]
    receipt = receipt_row({"transactionHash": TX_HASH, "transactionIndex": "0x0", "blockHash": BLOCK_HASH,
                           "blockNumber": "0x1", "cumulativeGasUsed": "0x1", "gasUsed": "0x1", "logs": [
                               {"address": AD(1), "topics": [], "data": "0x", "logIndex": "0x0"}]})
    assert list(receipt) == [
        "transaction_hash", "transaction_index", "block_hash", "block_number", "cumulative_gas_used", "gas_used",
        "contract_address", "root", "status", "effective_gas_price", "blob_gas_used", "blob_gas_price", "logs"]
    assert list(receipt["logs"][0]) == ["log_index", "transaction_hash", "transaction_index", "block_hash",
                                        "block_number", "address", "data", "topics"]
