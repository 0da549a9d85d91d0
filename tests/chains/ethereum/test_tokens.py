"""Token movements from log rows: hand-built logs for every kind and malformation, then real logs.

Real-data part: ethereum-etl's `extract_token_transfers` inputs (logs.csv of block 1452581, and the
681 logs of mainnet blocks 17173049-17173050 from test_stream) with its expected token transfers.
Field correspondence: token_address <- token, from_address, to_address, transaction_hash,
log_index, block_number; value <- amount for 3-topic (ERC-20) transfers and <- token_id for
4-topic (ERC-721) ones (ethereum-etl reads the last topic as "value"; we give amount 1 and the id).
No counterpart: block_timestamp, block_hash, item_id, item_timestamp, type (streaming envelope
and block context, which our moves take from the block row, not the log).
Beyond ethereum-etl, which only extracts Transfer, the same real logs contain WETH Deposit and
Withdrawal events and an ERC-1155 TransferSingle; those are checked for count and shape.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from fundtrail.chains.ethereum.hexutil import address, hex_to_bytes
from fundtrail.chains.ethereum.tokens import (
    DEPOSIT,
    TRANSFER,
    TRANSFER_BATCH,
    TRANSFER_SINGLE,
    WITHDRAWAL,
    token_moves,
)

A = bytes.fromhex("11" * 20)
B = bytes.fromhex("22" * 20)
OP = bytes.fromhex("33" * 20)
TOKEN = bytes.fromhex("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
TX = bytes.fromhex("ab" * 32)
MAX = 2**256 - 1


def topic(addr: bytes) -> bytes:
    return bytes(12) + addr


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def log(topics: list[bytes], data: bytes = b"", index: int = 7) -> dict:
    return {"log_index": index, "transaction_hash": TX, "transaction_index": 0, "block_hash": bytes(32),
            "block_number": 100, "address": TOKEN, "data": data, "topics": topics}


def test_event_signatures() -> None:
    assert TRANSFER.hex() == "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    assert TRANSFER_SINGLE.hex() == "c3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
    assert TRANSFER_BATCH.hex() == "4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
    assert DEPOSIT.hex() == "e1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"
    assert WITHDRAWAL.hex() == "7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"


def test_erc20_by_three_topics_exact_uint256() -> None:
    [mv] = token_moves(log([TRANSFER, topic(A), topic(B)], word(MAX)))
    assert mv == {"kind": "erc20", "token": TOKEN, "from_address": A, "to_address": B, "amount": MAX,
                  "token_id": None, "log_index": 7, "batch_index": None, "transaction_hash": TX,
                  "block_number": 100}
    assert mv["amount"] == 2**256 - 1 and isinstance(mv["amount"], int)


def test_erc721_by_four_topics() -> None:
    [mv] = token_moves(log([TRANSFER, topic(A), topic(B), word(MAX)]))
    assert (mv["kind"], mv["amount"], mv["token_id"]) == ("erc721", 1, MAX)
    assert (mv["from_address"], mv["to_address"]) == (A, B)


def test_erc20_longer_data_reads_first_word_shorter_gives_nothing() -> None:
    [mv] = token_moves(log([TRANSFER, topic(A), topic(B)], word(5) + word(99)))
    assert mv["amount"] == 5
    assert token_moves(log([TRANSFER, topic(A), topic(B)], word(5)[:31])) == []
    assert token_moves(log([TRANSFER, topic(A), topic(B)], b"")) == []


def test_mint_and_burn_keep_the_zero_address() -> None:
    zero = bytes(20)
    [mint] = token_moves(log([TRANSFER, topic(zero), topic(B)], word(3)))
    assert mint["from_address"] == zero  # the log's fact; interpreting it as a mint is later work


def test_erc1155_single() -> None:
    [mv] = token_moves(log([TRANSFER_SINGLE, topic(OP), topic(A), topic(B)], word(42) + word(10**30)))
    assert (mv["kind"], mv["token_id"], mv["amount"], mv["batch_index"]) == ("erc1155", 42, 10**30, None)
    assert (mv["from_address"], mv["to_address"]) == (A, B)  # the operator is not a party


def _batch_data(ids: list[int], values: list[int]) -> bytes:
    head = word(64) + word(64 + 32 + 32 * len(ids))
    return (head + word(len(ids)) + b"".join(map(word, ids))
            + word(len(values)) + b"".join(map(word, values)))


def test_erc1155_batch_one_move_per_pair() -> None:
    data = _batch_data([1, 2, MAX], [10, 0, 7])
    moves = token_moves(log([TRANSFER_BATCH, topic(OP), topic(A), topic(B)], data))
    assert [(m["token_id"], m["amount"], m["batch_index"]) for m in moves] == [(1, 10, 0), (2, 0, 1), (MAX, 7, 2)]
    assert {(m["kind"], m["from_address"], m["to_address"], m["log_index"]) for m in moves} == {("erc1155", A, B, 7)}
    assert token_moves(log([TRANSFER_BATCH, topic(OP), topic(A), topic(B)], _batch_data([], []))) == []


def test_erc1155_batch_malformed() -> None:
    topics = [TRANSFER_BATCH, topic(OP), topic(A), topic(B)]
    good = _batch_data([1, 2], [3, 4])
    assert token_moves(log(topics, _batch_data([1, 2], [3]))) == []  # lengths differ
    assert token_moves(log(topics, good[:-1])) == []  # truncated
    assert token_moves(log(topics, word(4096) + good[32:])) == []  # offset past the end
    assert token_moves(log(topics, word(65) + good[32:])) == []  # unaligned offset
    huge = word(64) + word(64) + word(2**200)  # claims a gigantic array: refused, not allocated
    assert token_moves(log(topics, huge)) == []
    assert token_moves(log(topics[:3], good)) == []  # operator topic missing


def test_weth_deposit_and_withdrawal() -> None:
    [dep] = token_moves(log([DEPOSIT, topic(A)], word(5 * 10**18)))
    assert (dep["kind"], dep["token"], dep["from_address"], dep["to_address"], dep["amount"]) == \
        ("weth_deposit", TOKEN, None, A, 5 * 10**18)
    [wd] = token_moves(log([WITHDRAWAL, topic(B)], word(2)))
    assert (wd["kind"], wd["from_address"], wd["to_address"], wd["amount"]) == ("weth_withdrawal", B, None, 2)
    assert token_moves(log([DEPOSIT, topic(A)], word(1)), wrapped_native={TOKEN}) != []
    assert token_moves(log([DEPOSIT, topic(A)], word(1)), wrapped_native={A}) == []  # some vault's Deposit
    assert token_moves(log([DEPOSIT], topic(A) + word(1))) == []  # non-indexed variant: not WETH-style
    assert token_moves(log([WITHDRAWAL, topic(B), topic(A)], word(1))) == []


@pytest.mark.parametrize("topics, data", [
    ([TRANSFER, topic(A)], word(1) + word(2)),  # 2 topics: neither standard
    ([TRANSFER], topic(A) + topic(B) + word(1)),  # CryptoKitties-style, nothing indexed
    ([TRANSFER, topic(A), topic(B), word(1), word(2)], b""),  # 5 topics
    ([TRANSFER, b"\x01" + topic(A)[1:], topic(B)], word(1)),  # dirty high bytes in an address topic
    ([TRANSFER, topic(A)[:31], topic(B)], word(1)),  # a 31-byte topic
    ([TRANSFER, topic(A), topic(B), word(1)[:31]], b""),  # a 31-byte token id topic
    ([TRANSFER_SINGLE, topic(OP), topic(A), topic(B)], word(1)),  # value word missing
    ([DEPOSIT, topic(A)], b""),
])
def test_malformed_logs_give_no_move_and_a_debug_message(topics: list[bytes], data: bytes,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="fundtrail.chains.ethereum.tokens"):
        assert token_moves(log(topics, data)) == []
    assert "no token move from log 7" in caplog.text


def test_unrelated_logs() -> None:
    assert token_moves(log([])) == []
    assert token_moves(log([bytes.fromhex("8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"),
                            topic(A), topic(B)], word(1))) == []  # Approval


# --- real logs -------------------------------------------------------------------------------

def _row_from_etl_log(d: dict) -> dict:
    """A log row from ethereum-etl's log export (its input to extract_token_transfers)."""
    topics = d["topics"] if isinstance(d["topics"], list) else [t for t in d["topics"].split(",") if t]
    return {"log_index": int(d["log_index"]), "transaction_hash": hex_to_bytes(d["transaction_hash"]),
            "transaction_index": int(d["transaction_index"]), "block_hash": hex_to_bytes(d["block_hash"]),
            "block_number": int(d["block_number"]), "address": address(d["address"]),
            "data": hex_to_bytes(d["data"]), "topics": [hex_to_bytes(t) for t in topics]}


def _as_etl(mv: dict) -> dict:
    return {"token_address": "0x" + mv["token"].hex(), "from_address": "0x" + mv["from_address"].hex(),
            "to_address": "0x" + mv["to_address"].hex(),
            "value": mv["amount"] if mv["kind"] == "erc20" else mv["token_id"],
            "transaction_hash": "0x" + mv["transaction_hash"].hex(), "log_index": mv["log_index"],
            "block_number": mv["block_number"]}


def test_extract_token_transfers_job_logs_csv(etl_fixtures: Path) -> None:
    case = etl_fixtures / "test_extract_token_transfers_job" / "logs"
    with open(case / "logs.csv", newline="") as fh:
        logs = [_row_from_etl_log(r) for r in csv.DictReader(fh)]
    with open(case / "expected_token_transfers.csv", newline="") as fh:
        expected = [dict(r, value=int(r["value"]), log_index=int(r["log_index"]),
                         block_number=int(r["block_number"])) for r in csv.DictReader(fh)]
    got = [_as_etl(mv) for lg in logs for mv in token_moves(lg)]
    assert got == expected and len(got) == 2


def test_stream_17173049_all_logs(etl_fixtures: Path) -> None:
    case = etl_fixtures / "test_stream" / "blocks_17173049_17173050"
    with open(case / "expected_logs.json") as fh:
        logs = [_row_from_etl_log(json.loads(line)) for line in fh if line.strip()]
    with open(case / "expected_token_transfers.json") as fh:
        expected = [json.loads(line) for line in fh if line.strip()]
    moves = [mv for lg in logs for mv in token_moves(lg)]
    keys = ["token_address", "from_address", "to_address", "value", "transaction_hash", "log_index",
            "block_number"]
    got = [_as_etl(mv) for mv in moves if mv["kind"] in ("erc20", "erc721")]
    assert got == [{k: e[k] for k in keys} for e in expected]
    assert len(got) == 291
    assert sum(mv["kind"] == "erc721" for mv in moves) == 9
    assert max(mv["amount"] for mv in moves) > 2**64  # real amounts beyond 64 bits stay exact

    def count(sig: bytes, n_topics: int) -> int:
        return sum(1 for lg in logs if lg["topics"][:1] == [sig] and len(lg["topics"]) == n_topics)

    kinds = [mv["kind"] for mv in moves]
    assert kinds.count("weth_deposit") == count(DEPOSIT, 2) == 30
    assert kinds.count("weth_withdrawal") == count(WITHDRAWAL, 2) == 31
    weth = bytes.fromhex("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2")
    assert all(mv["from_address"] is None and mv["to_address"] for mv in moves if mv["kind"] == "weth_deposit")
    assert {mv["token"] for mv in moves if mv["kind"].startswith("weth")} == {weth}  # all WETH here
    not_weth = [mv for lg in logs for mv in token_moves(lg, wrapped_native={bytes(20)})]
    assert len(not_weth) == len(moves) - 61
    [single] = [lg for lg in logs if lg["topics"][:1] == [TRANSFER_SINGLE]]
    [mv] = token_moves(single)
    assert mv["kind"] == "erc1155" and mv["from_address"] == single["topics"][2][12:]
    assert (mv["token_id"], mv["amount"]) == (int.from_bytes(single["data"][:32], "big"),
                                              int.from_bytes(single["data"][32:64], "big"))
