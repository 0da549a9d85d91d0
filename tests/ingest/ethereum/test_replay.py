"""ReplayTransport: the request -> file key rule, both file shapes, batches, and missing recordings.

The key rule is checked against every recorded file name in ethereum-etl's etl_fixtures: the table
below writes each request the way a client sends it (checksummed addresses, Python booleans,
filter objects with unsorted keys), and the keys they give must be exactly the files on disk.
Files in the fixtures that are not named `web3_response.*` (ethereum-etl's own inputs such as
`geth_traces.json`, `logs.csv`, `eth_getBlockByNumber.json`, ipfs_*.json) are not JSON-RPC
recordings and are not served.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.errors import SourceError
from fundtrail.ingest.ethereum.replay import (
    METHOD_NOT_FOUND,
    ReplayTransport,
    request_key,
)

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
CALLS = {"name": "0x06fdde03", "totalSupply": "0x18160ddd", "decimals": "0x313ce567", "symbol": "0x95d89b41"}


def _token_calls(to: str) -> list[tuple[str, list]]:
    return [("eth_call", [{"to": to, "data": sel}, "latest"]) for sel in CALLS.values()] + [("eth_chainId", [])]


def _receipts(*hashes: str) -> list[tuple[str, list]]:
    return [("eth_getTransactionReceipt", [h]) for h in hashes]


def _tracer(number: str) -> tuple[str, list]:
    return ("debug_traceBlockByNumber", [number, {"tracer": "callTracer"}])


# fixture directory -> the requests ethereum-etl's jobs sent to record it
REQUESTS: dict[str, list[tuple[str, list]]] = {
    "test_export_blocks_job/block_with_logs": [("eth_getBlockByNumber", ["0x76250", True])],
    "test_export_blocks_job/block_without_transactions": [("eth_getBlockByNumber", ["0x0", True])],
    "test_export_blocks_job/blocks_with_transactions": [
        ("eth_getBlockByNumber", ["0xb872", True]), ("eth_getBlockByNumber", ["0xb873", True])],
    "test_export_blocks_job/blocks_with_transactions_and_withdrawals": [],
    "test_export_contracts_job/erc721_contract": [
        ("eth_getCode", ["0x06012c8CF97BEaD5deAe237070F9587f8E7A266d", "latest"])],
    "test_export_origin_job/blocks_with_logs": [
        ("eth_newFilter", [{"toBlock": "0x98d07f", "fromBlock": "0x98d07f",
                            "address": "0x698Ff47B84837d3971118a369c570172EE7e54c2"}]),
        ("eth_getFilterLogs", ["0x0"]), ("eth_uninstallFilter", ["0x0"])],
    "test_export_receipts_job/receipts_with_logs": _receipts(
        "0x04cbcb236043d8fb7839e07bbc7f5eed692fb2ca55d897f1101eac3e3ad4fab8",
        "0x05287a561f218418892ab053adfb3d919860988b19458c570c5c30f51c146f02",
        "0x463d53f0ad57677a3b430a007c1c31d15d62c37fab5eee598551697c297c235c",
        "0xcea6f89720cc1d2f46cc7a935463ae0b99dd5fad9c91bb7357de5421511cee49"),
    "test_export_token_transfers_job/block_with_transfers": [
        ("eth_newFilter", [{"topics": [TRANSFER_TOPIC], "fromBlock": "0x76250", "toBlock": "0x76250"}]),
        ("eth_getFilterLogs", ["0x0"]), ("eth_uninstallFilter", ["0x0"])],
    "test_export_tokens_job/token_with_alternative_return_type":
        _token_calls("0x86Fa049857E0209aa7D9e616F7eb3b3B78ECfdb0"),
    "test_export_tokens_job/token_with_invalid_data": _token_calls("0xf763be8b3263c268e9789abfb3934564a7b80054"),
    "test_export_traces_job/block_with_create": [("trace_block", ["0xf44f2"])],
    "test_export_traces_job/block_with_error": [("trace_block", ["0xf45bf"])],
    "test_export_traces_job/block_with_subtraces": [("trace_block", ["0xf4240"])],
    "test_export_traces_job/block_with_suicide": [("trace_block", ["0xf7105"])],
    "test_export_traces_job/block_without_transactions": [("trace_block", ["0x0"])],
    "test_extract_geth_traces_job/block_with_create": [_tracer("0xf44f2")],
    "test_extract_geth_traces_job/block_with_error": [_tracer("0xf45bf")],
    "test_extract_geth_traces_job/block_with_subtraces": [_tracer("0xf4240")],
    "test_extract_geth_traces_job/block_with_suicide": [_tracer("0xf7105")],
    "test_extract_geth_traces_job/block_without_transactions": [_tracer("0x1")],
    "test_extract_token_transfers_job/logs": [],
    "test_stream/blocks_17173049_17173050": [],
    "test_stream/blocks_1755634_1755635": [
        ("eth_getBlockByNumber", ["latest", False]), ("eth_getBlockByNumber", ["0x1ac9f2", True]),
        ("eth_getBlockByNumber", ["0x1ac9f3", True])] + _receipts(
        "0x2e3dcd051a91d3a694f6b8de2ac4b5fe7acdba55f58bcf8471ff00d4a430074d",
        "0x9a5437ec71b74ecf5930b406908ac6999966d38a86d1534b7190ece7599095eb"),
    "test_stream/blocks_2112234_2112234": [
        ("eth_getBlockByNumber", ["latest", False]), ("eth_getBlockByNumber", ["0x203aea", False]),
        ("trace_block", ["0x203aea"])] + _token_calls("0xdbdacfc9eb9d42559ac1efbdb40460c728139e6a"),
    "test_stream/blocks_508110_508110": [
        ("eth_getBlockByNumber", ["latest", False]), ("eth_getBlockByNumber", ["0x7c0ce", False]),
        ("trace_block", ["0x7c0ce"])],
}


def test_table_names_every_fixture_directory(etl_fixtures: Path) -> None:
    on_disk = {str(p.relative_to(etl_fixtures)) for p in etl_fixtures.glob("*/*") if p.is_dir()}
    assert on_disk == set(REQUESTS)


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_key_rule_matches_every_recorded_file_name(etl_fixtures: Path, case: str) -> None:
    transport = ReplayTransport(etl_fixtures / case)
    assert sorted(request_key(m, p) for m, p in REQUESTS[case]) == transport.keys()
    for i, (method, params) in enumerate(REQUESTS[case]):  # and each one is served
        response = transport.request({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        assert response["id"] == i and "result" in response and "error" not in response


def test_key_examples() -> None:
    assert request_key("eth_chainId", []) == "eth_chainId_"
    assert request_key("eth_chainId", None) == "eth_chainId_"
    assert request_key("debug_traceBlockByNumber", ["0xf4240", {"tracer": "callTracer"}]) == \
        "debug_traceBlockByNumber_0xf4240_tracer_calltracer"
    assert request_key("eth_call", [{"to": "0xDBDA", "data": "0x06fdde03"}, "latest"]) == \
        "eth_call_data_0x06fdde03_to_0xdbda_latest"


def test_full_response_and_bare_result_files(tmp_path: Path) -> None:
    block = {"number": "0x1", "hash": "0x" + "11" * 32}
    (tmp_path / "web3_response.eth_getBlockByNumber_0x1_false.json").write_text(
        json.dumps({"jsonrpc": "2.0", "id": 77, "result": block}))
    (tmp_path / "web3_response.eth_getBlockByNumber_0x2_false.json").write_text(json.dumps(block))
    (tmp_path / "web3_response.eth_getFilterLogs_0x0.json").write_text("[]")
    (tmp_path / "web3_response.eth_getBlockByNumber_0x3_false.json").write_text("null")
    (tmp_path / "web3_response.eth_getBlockByNumber_0x4_false.json").write_text(
        json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "header not found"}}))
    t = ReplayTransport(tmp_path)
    full = t.request({"jsonrpc": "2.0", "id": 5, "method": "eth_getBlockByNumber", "params": ["0x1", False]})
    assert full == {"jsonrpc": "2.0", "id": 5, "result": block}  # id is the request's, not the file's
    bare = t.request({"jsonrpc": "2.0", "id": 6, "method": "eth_getBlockByNumber", "params": ["0x2", False]})
    assert bare == {"jsonrpc": "2.0", "id": 6, "result": block}
    assert t.request({"id": 7, "method": "eth_getFilterLogs", "params": ["0x0"]})["result"] == []
    assert t.request({"id": 8, "method": "eth_getBlockByNumber", "params": ["0x3", False]})["result"] is None
    err = t.request({"id": 9, "method": "eth_getBlockByNumber", "params": ["0x4", False]})
    assert err["error"]["message"] == "header not found" and "result" not in err


def test_batch_answers_in_order(etl_fixtures: Path) -> None:
    t = ReplayTransport(etl_fixtures / "test_export_blocks_job" / "blocks_with_transactions")
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [n, True]}
             for i, n in enumerate(["0xb873", "0xb872"])]
    answers = t.request(batch)
    assert isinstance(answers, list) and [a["id"] for a in answers] == [0, 1]
    assert [a["result"]["number"] for a in answers] == ["0xb873", "0xb872"]
    assert t.served == ["eth_getBlockByNumber_0xb873_true", "eth_getBlockByNumber_0xb872_true"]


def test_missing_recording_names_the_key(etl_fixtures: Path) -> None:
    t = ReplayTransport(etl_fixtures / "test_export_blocks_job" / "block_with_logs")
    with pytest.raises(SourceError, match=r"eth_getBlockReceipts_0x76250"):
        t.request({"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockReceipts", "params": ["0x76250"]})
    with pytest.raises(SourceError, match=r"eth_getBlockByNumber_0x76251_true"):
        t.request([{"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": ["0x76250", True]},
                   {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["0x76251", True]}])


def test_missing_recording_as_rpc_error(etl_fixtures: Path) -> None:
    t = ReplayTransport(etl_fixtures / "test_export_blocks_job" / "block_with_logs", unrecorded_as_rpc_error=True)
    answer = t.request({"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockReceipts", "params": ["0x76250"]})
    assert answer["id"] == 3 and answer["error"]["code"] == METHOD_NOT_FOUND and "result" not in answer


def test_bad_recordings_and_requests(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a directory"):
        ReplayTransport(tmp_path / "nope")
    (tmp_path / "web3_response.eth_blockNumber_.json").write_text("{not json")
    t = ReplayTransport(tmp_path)
    with pytest.raises(SourceError, match="eth_blockNumber_.json is unreadable"):
        t.request({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []})
    with pytest.raises(SourceError, match="not a JSON-RPC request"):
        t.request({"jsonrpc": "2.0", "id": 1})
