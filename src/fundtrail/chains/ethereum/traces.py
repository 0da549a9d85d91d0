"""Internal calls from the two trace styles nodes offer, mapped to one trace row shape.

Erigon, reth, nethermind and the old parity/openethereum answer `trace_block` with a flat list of
traces carrying their own trace address; geth (and reth, anvil) answer `debug_traceBlockByNumber`
with the `callTracer` as one nested call tree per transaction. Both become the same rows so that
internal value transfers do not depend on which node a case was built from. A trace whose call, or
any enclosing call, failed moved nothing: `status` is 0 for it (ethereum-etl's rule), and the rows
are kept because an attempted payment is itself evidence.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fundtrail.chains.ethereum.fields import JsonFields as _Obj
from fundtrail.errors import DataError

_GETH_CALLS = {"CALL": "call", "CALLCODE": "callcode", "DELEGATECALL": "delegatecall",
               "STATICCALL": "staticcall"}
_GETH_CREATES = {"CREATE", "CREATE2"}
_GETH_SUICIDES = {"SELFDESTRUCT", "SUICIDE"}


def _row(block_number: int, tx_hash: bytes | None, tx_index: int | None, trace_address: list[int],
         subtraces: int, trace_type: str, **fields: Any) -> dict:
    row = {
        "block_number": block_number, "transaction_hash": tx_hash, "transaction_index": tx_index,
        "trace_address": trace_address, "subtraces": subtraces, "trace_type": trace_type,
        "call_type": None, "reward_type": None, "from_address": None, "to_address": None, "value": 0,
        "input": None, "output": None, "gas": None, "gas_used": None, "error": None,
        "status": 1, "trace_id": "",
    }
    row.update(fields)
    return row


def parity_trace_rows(trace_block_result: list[dict]) -> list[dict]:
    """Rows of a `trace_block` result (parity/erigon style), in the node's order."""
    if not isinstance(trace_block_result, list):
        raise DataError(f"trace_block: expected a list of traces, got {type(trace_block_result).__name__}")
    rows = [_parity_row(t, i) for i, t in enumerate(trace_block_result)]
    _finish(rows)
    return rows


def _parity_row(trace: Any, i: int) -> dict:
    t = _Obj(trace, f"trace {i}")
    number = t.int("blockNumber")
    if number is None:
        raise DataError(f"trace {i}: field blockNumber is missing")
    tx_hash = t.hash("transactionHash")
    t.where = f"block {number} trace {i}" + (f" (tx 0x{tx_hash.hex()})" if tx_hash else "")
    ta = trace.get("traceAddress")
    if not isinstance(ta, list) or not all(isinstance(x, int) and x >= 0 for x in ta):
        raise DataError(f"{t.where}: field traceAddress must be a list of positions")
    kind = trace.get("type")
    a = _Obj(trace.get("action"), f"{t.where} action")
    result = trace.get("result")
    r = _Obj(result if isinstance(result, dict) else {}, f"{t.where} result")
    common = {"error": trace.get("error")}
    if kind == "call":
        fields = {"call_type": a.obj.get("callType"), "from_address": a.address("from"),
                  "to_address": a.address("to"), "value": a.int("value") or 0, "input": a.data("input"),
                  "output": r.data("output"), "gas": a.int("gas"), "gas_used": r.int("gasUsed")}
    elif kind == "create":
        fields = {"from_address": a.address("from"), "to_address": r.address("address"),
                  "value": a.int("value") or 0, "input": a.data("init"), "output": r.data("code"),
                  "gas": a.int("gas"), "gas_used": r.int("gasUsed")}
    elif kind == "suicide":
        fields = {"from_address": a.address("address"), "to_address": a.address("refundAddress"),
                  "value": a.int("balance") or 0}
    elif kind == "reward":
        fields = {"reward_type": a.obj.get("rewardType"), "to_address": a.address("author"),
                  "value": a.int("value") or 0}
    else:
        raise DataError(f"{t.where}: unknown trace type {kind!r}")
    subtraces = t.int("subtraces")
    return _row(number, tx_hash, t.int("transactionPosition"), list(ta), subtraces or 0, kind,
                **fields, **common)


def geth_trace_rows(block_number: int, tx_hashes: list[bytes], debug_trace_result: list[dict]) -> list[dict]:
    """Rows of a `debug_traceBlockByNumber` result with the `callTracer`, one call tree per tx.

    The node gives no transaction hashes in older versions, so the caller passes the block's
    (in block order); each entry may be `{"result": frame}`, `{"txHash": ..., "result": frame}`
    or the bare frame, depending on the client and its version.
    """
    where = f"block {block_number} debug_traceBlockByNumber"
    if not isinstance(debug_trace_result, list):
        raise DataError(f"{where}: expected a list, got {type(debug_trace_result).__name__}")
    if len(debug_trace_result) != len(tx_hashes):
        raise DataError(f"{where}: {len(debug_trace_result)} call trees for {len(tx_hashes)} transactions")
    rows: list[dict] = []
    for index, (tx_hash, entry) in enumerate(zip(tx_hashes, debug_trace_result)):
        tx_where = f"block {block_number} tx 0x{tx_hash.hex()}"
        if not isinstance(entry, dict):
            raise DataError(f"{tx_where}: call trace is not an object")
        if "result" in entry or "error" in entry:
            if entry.get("error") is not None and entry.get("result") is None:
                raise DataError(f"{tx_where}: the node could not trace it: {entry['error']}")
            recorded = _Obj(entry, tx_where).hash("txHash")
            if recorded is not None and recorded != tx_hash:
                raise DataError(f"{tx_where}: call trace {index} is for tx 0x{recorded.hex()}")
            frame = entry["result"]
        else:
            frame = entry
        rows.extend(_geth_tree(block_number, tx_hash, index, frame, tx_where))
    _finish(rows)
    return rows


def _geth_tree(block_number: int, tx_hash: bytes, tx_index: int, root: Any, where: str) -> list[dict]:
    """Depth-first rows of one call tree (iterative: EVM calls nest up to 1024 deep)."""
    rows = []
    stack: list[tuple[Any, list[int]]] = [(root, [])]
    while stack:
        frame, ta = stack.pop()
        f = _Obj(frame, f"{where} call [{','.join(map(str, ta))}]")
        calls = frame.get("calls") or []
        if not isinstance(calls, list):
            raise DataError(f"{f.where}: field calls must be a list")
        kind = frame.get("type")
        common = {"error": frame.get("error"), "from_address": f.address("from"),
                  "to_address": f.address("to"), "value": f.int("value") or 0}
        fields: dict[str, Any]
        if kind in _GETH_CALLS:
            fields = {"trace_type": "call", "call_type": _GETH_CALLS[kind], "input": f.data("input"),
                      "output": f.data("output"), "gas": f.int("gas"), "gas_used": f.int("gasUsed")}
        elif kind in _GETH_CREATES:
            fields = {"trace_type": "create", "input": f.data("input"), "output": f.data("output"),
                      "gas": f.int("gas"), "gas_used": f.int("gasUsed")}
        elif kind in _GETH_SUICIDES:
            fields = {"trace_type": "suicide"}  # old geth records no from/to/value here at all
        else:
            raise DataError(f"{f.where}: unknown call type {kind!r}")
        rows.append(_row(block_number, tx_hash, tx_index, ta, len(calls), **fields, **common))
        stack.extend((child, ta + [pos]) for pos, child in reversed(list(enumerate(calls))))
    return rows


def _finish(rows: list[dict]) -> None:
    """Fill `status` (0 when the trace or an ancestor failed) and ethereum-etl-style `trace_id`."""
    failed: dict[bytes, set[tuple[int, ...]]] = defaultdict(set)
    for row in rows:
        if row["error"] is not None and row["transaction_hash"] is not None:
            failed[row["transaction_hash"]].add(tuple(row["trace_address"]))
    block_scoped: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for row in rows:
        tx_hash = row["transaction_hash"]
        if tx_hash is None:
            row["status"] = 0 if row["error"] is not None else 1
            block_scoped[(row["block_number"], row["trace_type"])].append(row)
            continue
        ta = tuple(row["trace_address"])
        bad = failed.get(tx_hash)
        row["status"] = 0 if bad and any(ta[:k] in bad for k in range(len(ta) + 1)) else 1
        row["trace_id"] = f"{row['trace_type']}_0x{tx_hash.hex()}_{'_'.join(map(str, ta))}"
    for (number, kind), group in block_scoped.items():
        # rewards have no trace address: number them by content so the id does not depend on order
        group.sort(key=lambda r: (r["reward_type"] or "", (r["from_address"] or b"").hex(),
                                  (r["to_address"] or b"").hex(), r["value"]))
        for i, row in enumerate(group):
            row["trace_id"] = f"{kind}_{number}_{i}"
