"""GraphSense's TRON Spark test data (mainnet blocks 56,804,500-56,805,500 and 0-10,000) through
`to_bundle` + `build_tables`, as far as its rows allow.

56,804,500-56,805,500: GraphSense keeps block headers and internal traces, not the transactions. The
blocks are REBUILT from the headers, each traced transaction as a TriggerSmartContract whose owner
and contract are placeholders (the first trace's parties: not checked); its info carries the traces
as java-tron's `internal_transactions`. GraphSense's Spark rows hold callValue as a 32-bit integer
(its gasLimit too: negative values), so a negative callValue is unwrapped (+2^32) on both sides.
Checked: every header field GraphSense has, and every trace
(parties, TRX value, note, rejected) and the internal transfers they make.
0-10,000: GraphSense keeps TRX transfers and per-transaction fees (no contract types, no parent
hashes: placeholders). Rows with a receiver are rebuilt as TransferContract, with their fee row as the
info's `fee`/receipt; the 214 rows without a receiver and those with no value (TRC-10 or account
creations: their contract type is not in the rows) are not rebuilt. Checked: parties and amounts of
every transfer and the fee each paid, burnt.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict

import pytest
from support.tron_graphsense import data_dir

from fundtrail.ingest.ethereum.rows import KIND, AddressBook, Counters, build_tables
from fundtrail.ingest.tron.bundle import to_bundle

pytestmark = pytest.mark.skipif(not (data_dir() / "graphsense-lib").is_dir(), reason="no ../shared/data")


def _rows(path):
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _value(t: dict) -> int:
    return t["callValue"] + (1 << 32 if t["callValue"] < 0 else 0)


def _hex(b64: str | None) -> str | None:
    return None if b64 is None else base64.b64decode(b64).hex()


def _build(blocks, infos):
    bundles = [to_bundle(b, i) for b, i in zip(blocks, infos)]
    tables, marks = build_tables(bundles, AddressBook(), Counters(), {})
    out = {n: t.to_pylist() for n, t in tables.items()}
    return out, {r["address_id"]: r["address"].hex() for r in out["addresses"]}


@pytest.fixture(scope="module")
def traces_range():
    d = data_dir() / "graphsense-lib" / "56804500to56805500"
    headers = _rows(d / "blocks.json")
    traces = _rows(d / "traces.json")
    by_block: dict[int, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for t in sorted(traces, key=lambda t: t["traceIndex"]):
        by_block[t["blockId"]][_hex(t["txHash"])].append(t)
    blocks, infos = [], []
    for h in sorted(headers, key=lambda h: h["blockId"]):
        txs, inf = [], []
        for txid, ts in by_block[h["blockId"]].items():
            owner, contract = "41" + _hex(ts[0]["callerAddress"]), "41" + _hex(ts[0]["transfertoAddress"])
            txs.append({"txID": txid, "ret": [{"contractRet": "SUCCESS"}], "raw_data": {"contract": [
                {"type": "TriggerSmartContract",
                 "parameter": {"value": {"owner_address": owner, "contract_address": contract}}}]}})
            inf.append({"id": txid, "blockNumber": h["blockId"], "internal_transactions": [
                {"caller_address": "41" + _hex(t["callerAddress"]),
                 "transferTo_address": "41" + _hex(t["transfertoAddress"]),
                 "callValueInfo": [{"callValue": _value(t)} if t["callValue"] else {}],
                 "note": t["note"].encode().hex(), **({"rejected": True} if t["rejected"] else {})} for t in ts]})
        blocks.append({"blockID": _hex(h["blockHash"]), "transactions": txs, "block_header": {"raw_data": {
            "number": h["blockId"], "timestamp": h["timestamp"] * 1000, "parentHash": _hex(h["parentHash"]),
            "witness_address": "41" + _hex(h["miner"]), "txTrieRoot": _hex(h["transactionsRoot"])}}})
        infos.append(inf)
    return headers, traces, *_build(blocks, infos)


def test_range_headers(traces_range):
    headers, _, out, addr = traces_range
    assert len(out["blocks"]) == len(headers) == 1001
    got = {b["number"]: b for b in out["blocks"]}
    for h in headers:
        b = got[h["blockId"]]
        assert (b["hash"].hex(), b["parent_hash"].hex(), b["timestamp"], addr[b["miner_id"]]) == (
            _hex(h["blockHash"]), _hex(h["parentHash"]), h["timestamp"], _hex(h["miner"]))
        if h["blockId"] > 56_804_500:
            assert b["parent_hash"] == got[h["blockId"] - 1]["hash"]


def test_range_internal_traces(traces_range):
    _, traces, out, addr = traces_range
    tx_hash = {t["tx_id"]: t["hash"].hex() for t in out["transactions"]}
    got = Counter((tx_hash[r["tx_id"]], r["trace_address"][0], addr[r["from_id"]], addr[r["to_id"]], int(r["value"]),
                   r["call_type"], r["status"] == 0) for r in out["traces"])
    rank: dict[str, list[int]] = defaultdict(list)  # GraphSense's traceIndex need not start at 0
    for t in traces:
        rank[t["txHash"]].append(t["traceIndex"])
    expected = Counter((_hex(t["txHash"]), sorted(rank[t["txHash"]]).index(t["traceIndex"]), _hex(t["callerAddress"]),
                        _hex(t["transfertoAddress"]), _value(t), t["note"], t["rejected"]) for t in traces)
    assert len(traces) == 4957 and got == expected
    internal = [r for r in out["transfers"] if r["kind"] == KIND["internal"]]
    valued = [t for t in traces if t["callValue"]]
    assert len(internal) == len(valued) == 235
    assert Counter((addr[r["from_id"]], addr[r["to_id"]], int(r["amount"]), r["success"]) for r in internal) == Counter(
        (_hex(t["callerAddress"]), _hex(t["transfertoAddress"]), _value(t), not t["rejected"]) for t in valued)


def test_first_10000_blocks_transfers_and_fees():
    d = data_dir() / "graphsense-lib" / "0to10000"
    rows = [r for r in _rows(d / "transactions.json") if "toAddress" in r and r["value"]]
    fees = {_hex(f["txHash"]): f for f in _rows(d / "tx_fee.json")}
    by_block = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["blockId"], r["transactionIndex"])):
        by_block[r["blockId"]].append(r)
    blocks, infos = [], []
    for number, rs in sorted(by_block.items()):
        txs, inf = [], []
        for r in rs:
            txid, f = _hex(r["txHash"]), fees[_hex(r["txHash"])]
            txs.append({"txID": txid, "ret": [{}], "raw_data": {"contract": [{"type": "TransferContract", "parameter": {
                "value": {"owner_address": "41" + _hex(r["fromAddress"]), "to_address": "41" + _hex(r["toAddress"]),
                          "amount": r["value"]}}}]}})
            inf.append({"id": txid, "blockNumber": number, "fee": f["fee"],
                        "receipt": {"net_usage": f["netUsage"], "net_fee": f["netFee"]}})
        blocks.append({"blockID": _hex(rs[0]["blockHash"]), "transactions": txs, "block_header": {"raw_data": {
            "number": number, "timestamp": rs[0]["blockTimestamp"] * 1000, "parentHash": "00" * 32}}})
        infos.append(inf)
    out, addr = _build(blocks, infos)
    assert len(rows) > 1900
    native = [r for r in out["transfers"] if r["kind"] == KIND["native"]]
    assert all(r["success"] for r in native)  # ret [{}]: 2018's pre-TVM transactions carry no contractRet
    assert Counter((addr[r["from_id"]], addr[r["to_id"]], int(r["amount"])) for r in native) == Counter(
        (_hex(r["fromAddress"]), _hex(r["toAddress"]), r["value"]) for r in rows)
    tx_hash = {t["tx_id"]: t["hash"].hex() for t in out["transactions"]}
    paid = {tx_hash[r["tx_id"]]: (addr[r["from_id"]], r["to_id"], int(r["amount"]))
            for r in out["transfers"] if r["kind"] == KIND["fee"]}
    expected = {_hex(r["txHash"]): (_hex(r["fromAddress"]), None, fees[_hex(r["txHash"])]["fee"]) for r in rows
                if fees[_hex(r["txHash"])]["fee"]}
    assert expected and paid == expected
