"""Trace rows from hand-built call trees: positions, failure propagation, node-format variants and
bad input. Real-block comparisons with ethereum-etl live in tests/ingest/ethereum/test_replay_traces.py."""

from __future__ import annotations

import random

import pytest

from fundtrail.chains.ethereum.traces import geth_trace_rows, parity_trace_rows
from fundtrail.errors import DataError

TX1, TX2 = bytes([0xA1]) * 32, bytes([0xA2]) * 32


def ad(b: int) -> str:
    return "0x" + bytes([b]).hex() * 20


def frame(kind: str, src: int, dst: int | None, value: int | None = None, calls: list | None = None,
          error: str | None = None) -> dict:
    f = {"type": kind, "from": ad(src), "gas": "0x100", "gasUsed": "0x10", "input": "0x01", "output": "0x02"}
    if dst is not None:
        f["to"] = ad(dst)
    if value is not None:
        f["value"] = hex(value)
    if calls:
        f["calls"] = calls
    if error:
        f["error"] = error
        del f["output"]
    return f


def tree() -> dict:
    return frame("CALL", 1, 2, 5, calls=[
        frame("CALL", 2, 3, 1, calls=[frame("DELEGATECALL", 3, 4)]),
        frame("CALL", 2, 5, 2, error="execution reverted", calls=[frame("CALL", 5, 6, 1)]),
        frame("CREATE2", 2, 7, 0),
        {"type": "SELFDESTRUCT", "from": ad(7), "to": ad(1), "value": "0x3", "gas": "0x0", "gasUsed": "0x0",
         "input": "0x"},
        frame("STATICCALL", 2, 8),
    ])


def test_geth_tree_positions_status_and_ids() -> None:
    rows = geth_trace_rows(9, [TX1], [{"result": tree()}])
    got = [(r["trace_address"], r["subtraces"], r["trace_type"], r["call_type"], r["status"]) for r in rows]
    assert got == [([], 5, "call", "call", 1), ([0], 1, "call", "call", 1), ([0, 0], 0, "call", "delegatecall", 1),
                   ([1], 1, "call", "call", 0), ([1, 0], 0, "call", "call", 0), ([2], 0, "create", None, 1),
                   ([3], 0, "suicide", None, 1), ([4], 0, "call", "staticcall", 1)]
    assert [r["trace_id"] for r in rows][:3] == [f"call_0x{TX1.hex()}_", f"call_0x{TX1.hex()}_0",
                                                 f"call_0x{TX1.hex()}_0_0"]
    reverted, child = rows[3], rows[4]
    assert reverted["error"] == "execution reverted" and reverted["output"] is None and child["error"] is None
    create, suicide, static = rows[5], rows[6], rows[7]
    assert create["to_address"] == bytes([7]) * 20 and create["input"] == b"\x01"
    assert (suicide["from_address"], suicide["to_address"], suicide["value"]) == (bytes([7]) * 20, bytes([1]) * 20, 3)
    assert (suicide["input"], suicide["gas"], suicide["gas_used"]) == (None, None, None)  # parity's shape
    assert static["value"] == 0  # geth omits value for static calls
    assert {(r["block_number"], r["transaction_hash"], r["transaction_index"]) for r in rows} == {(9, TX1, 0)}


def test_geth_entry_formats() -> None:
    simple = frame("CALL", 1, 2, 1)
    by_hash = geth_trace_rows(5, [TX1, TX2], [{"txHash": "0x" + TX1.hex(), "result": simple},
                                              {"txHash": "0x" + TX2.hex(), "result": simple}])
    bare = geth_trace_rows(5, [TX1, TX2], [simple, simple])
    assert by_hash == bare and [r["transaction_index"] for r in bare] == [0, 1]
    assert geth_trace_rows(5, [], []) == []


@pytest.mark.parametrize("tx_hashes, result, message", [
    ([TX1], [], r"^block 5 debug_traceBlockByNumber: 0 call trees for 1 transactions$"),
    ([TX1], None, r"expected a list"),
    ([TX1], [{"txHash": "0x" + TX2.hex(), "result": {"type": "CALL"}}], r"call trace 0 is for tx 0x" + TX2.hex()),
    ([TX1], [{"error": "execution timeout"}],
     rf"^block 5 tx 0x{TX1.hex()}: the node could not trace it: execution timeout$"),
    ([TX1], [{"result": frame("CALL", 1, 2, calls=[{"type": "JUMP"}])}], r"call \[0\]: unknown call type 'JUMP'"),
    ([TX1], [{"result": frame("CALL", 1, 2, 1) | {"value": "0xq"}}], r"call \[\]: field value: not a hex quantity"),
    ([TX1], [{"result": frame("CALL", 1, 2) | {"to": "0x12"}}], r"field to: address must be 20 bytes"),
    ([TX1], ["oops"], r"call trace is not an object"),
])
def test_geth_bad_input(tx_hashes: list[bytes], result: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        geth_trace_rows(5, tx_hashes, result)  # type: ignore[arg-type]


def test_geth_deep_nesting_is_not_recursive() -> None:
    root = leaf = frame("CALL", 1, 2, 0)
    for _ in range(3000):
        child = frame("CALL", 2, 2, 0)
        leaf["calls"] = [child]
        leaf = child
    rows = geth_trace_rows(1, [TX1], [{"result": root}])
    assert len(rows) == 3001 and rows[-1]["trace_address"] == [0] * 3000


def ptrace(ta: list[int], tx: bytes | None = TX1, error: str | None = None, kind: str = "call", **action) -> dict:
    call = {"callType": "call", "from": ad(1), "to": ad(2), "value": "0x1", "gas": "0x5", "input": "0x"}
    t = {"action": call | action,
         "blockNumber": 77, "result": None if error else {"gasUsed": "0x1", "output": "0x"}, "subtraces": 0,
         "traceAddress": ta, "transactionHash": "0x" + tx.hex() if tx else None,
         "transactionPosition": 0 if tx else None, "type": kind}
    if error:
        t["error"] = error
    return t


def test_parity_failure_propagates_to_descendants_only() -> None:
    rows = parity_trace_rows([ptrace([]), ptrace([0], error="Reverted"), ptrace([0, 0]), ptrace([0, 0, 3]),
                              ptrace([1]), ptrace([], tx=TX2)])
    assert [r["status"] for r in rows] == [1, 0, 0, 0, 1, 1]
    assert rows[1]["gas_used"] is None and rows[1]["output"] is None
    assert rows[3]["trace_id"] == f"call_0x{TX1.hex()}_0_0_3"


def test_parity_reward_ids_do_not_depend_on_order() -> None:
    rewards = [ptrace([], tx=None, kind="reward", author=ad(a), rewardType=rt, value=hex(v))
               for a, rt, v in [(3, "uncle", 9), (1, "block", 5), (2, "uncle", 7), (1, "uncle", 8)]]
    ids = None
    for seed in range(5):
        random.Random(seed).shuffle(rewards)
        got = {(r["reward_type"], r["to_address"][0], r["value"]): r["trace_id"] for r in parity_trace_rows(rewards)}
        assert ids is None or got == ids
        ids = got
    assert ids == {("block", 1, 5): "reward_77_0", ("uncle", 1, 8): "reward_77_1", ("uncle", 2, 7): "reward_77_2",
                   ("uncle", 3, 9): "reward_77_3"}


@pytest.mark.parametrize("trace, message", [
    (ptrace([], kind="vmTrace"), r"^block 77 trace 0 \(tx 0x[0-9a-f]{64}\): unknown trace type 'vmTrace'$"),
    (ptrace(["0"]), r"field traceAddress must be a list of positions"),
    (ptrace([]) | {"blockNumber": None}, r"^trace 0: field blockNumber is missing$"),
    (ptrace([], value="1"), r"action: field value: not a hex quantity"),
    ("x", r"^trace 0: expected a JSON object"),
])
def test_parity_bad_input(trace: object, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parity_trace_rows([trace])  # type: ignore[list-item]


def test_parity_not_a_list() -> None:
    with pytest.raises(DataError, match="expected a list of traces"):
        parity_trace_rows(None)  # type: ignore[arg-type]


def test_row_keys_are_the_published_contract() -> None:
    keys = ["block_number", "transaction_hash", "transaction_index", "trace_address", "subtraces", "trace_type",
            "call_type", "reward_type", "from_address", "to_address", "value", "input", "output", "gas",
            "gas_used", "error", "status", "trace_id"]
    assert list(parity_trace_rows([ptrace([])])[0]) == keys
    assert list(geth_trace_rows(1, [TX1], [tree()])[0]) == keys
