"""RLP, trie roots and the re-encoding of node JSON, against real mainnet block hashes.

Oracles: the block hashes, transaction hashes, transactionsRoot and receiptsRoot of real mainnet
blocks recorded by ethereum-etl (a node's answers: the hashes were computed by the network, not
by us), the Yellow Paper's empty-trie and empty-list constants, and the pure-Python Keccak for
the C one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.ethereum.encode import header_fork, header_rlp, receipt_bytes, transaction_bytes
from fundtrail.chains.ethereum.keccak import keccak256, keccak256_py
from fundtrail.chains.ethereum.rlp import encode
from fundtrail.chains.ethereum.trie import EMPTY_TRIE_ROOT, ordered_trie_root, trie_root
from fundtrail.errors import DataError


def _result(path: Path) -> Any:
    doc = json.loads(path.read_text())
    return doc["result"] if isinstance(doc, dict) and "result" in doc else doc


def _blocks(etl: Path) -> list[dict[str, Any]]:
    return [_result(p) for p in sorted(etl.glob("*/*/web3_response.eth_getBlockByNumber_*.json"))]


def test_rlp_vectors() -> None:  # from the Ethereum wiki's RLP page
    assert encode(b"dog") == b"\x83dog"
    assert encode([b"cat", b"dog"]) == b"\xc8\x83cat\x83dog"
    assert encode(b"") == b"\x80" and encode([]) == b"\xc0" and encode(0) == b"\x80"
    assert encode(15) == b"\x0f" and encode(1024) == b"\x82\x04\x00"
    assert encode([[], [[]], [[], [[]]]]) == bytes.fromhex("c7c0c1c0c3c0c1c0")
    assert encode(b"L" * 56)[:2] == b"\xb8\x38"


def test_trie_constants_and_a_known_root() -> None:
    assert EMPTY_TRIE_ROOT.hex() == "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    assert keccak256(encode([])).hex() == "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
    # the classic trie test vector (ethereum/tests trietest "puppy")
    root = trie_root({b"do": b"verb", b"horse": b"stallion", b"doge": b"coin", b"dog": b"puppy"})
    assert root.hex() == "5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84"


def test_c_keccak_equals_the_pure_one() -> None:
    for n in (0, 1, 135, 136, 137, 300, 1000):
        data = bytes(range(256)) * 4
        assert keccak256(data[:n]) == keccak256_py(data[:n])


def test_recorded_mainnet_blocks_hash_to_their_hashes(etl_fixtures: Path) -> None:
    blocks = _blocks(etl_fixtures)
    assert len(blocks) >= 8
    for b in blocks:
        assert "0x" + keccak256(header_rlp(b, "t")).hex() == b["hash"], b["number"]


def test_recorded_transactions_and_roots(etl_fixtures: Path) -> None:
    checked = 0
    for b in _blocks(etl_fixtures):
        txs = b["transactions"]
        if not txs or not isinstance(txs[0], dict):
            continue
        raw = [transaction_bytes(t, "t") for t in txs]
        assert ["0x" + keccak256(r).hex() for r in raw] == [t["hash"] for t in txs]
        assert "0x" + ordered_trie_root(raw).hex() == b["transactionsRoot"]
        checked += len(txs)
    assert checked >= 10


def test_recorded_receipts_root(etl_fixtures: Path) -> None:
    d = etl_fixtures / "test_stream" / "blocks_1755634_1755635"
    block = _result(d / "web3_response.eth_getBlockByNumber_0x1ac9f3_true.json")
    receipts = [_result(d / f"web3_response.eth_getTransactionReceipt_{t['hash']}.json")
                for t in block["transactions"]]
    assert "0x" + ordered_trie_root([receipt_bytes(r, "r") for r in receipts]).hex() == block["receiptsRoot"]
    receipts[0]["cumulativeGasUsed"] = "0x1"
    assert "0x" + ordered_trie_root([receipt_bytes(r, "r") for r in receipts]).hex() != block["receiptsRoot"]


def test_fork_fields_and_malformed_headers(etl_fixtures: Path) -> None:
    b = _blocks(etl_fixtures)[0]
    assert header_fork(b) == "Frontier"
    with pytest.raises(DataError, match="withdrawalsRoot .*earlier fork"):
        header_rlp({**b, "withdrawalsRoot": "0x" + "00" * 32}, "block x")
    with pytest.raises(DataError, match="^block x: field mixHash is missing"):
        header_rlp({k: v for k, v in b.items() if k != "mixHash"}, "block x")
    with pytest.raises(DataError, match="field type: transaction type 0x7e"):
        transaction_bytes({"type": "0x7e", "hash": "0x00"}, "tx")
