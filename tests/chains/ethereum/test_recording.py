"""The recording file format shared by the ingest's replay and the EVM simulator."""

from __future__ import annotations

from fundtrail.chains.ethereum import recording
from fundtrail.ingest.ethereum import replay
from fundtrail.sim.evm import record


def test_keys_of_known_calls() -> None:
    assert recording.request_key("eth_chainId", []) == "eth_chainId_"
    assert recording.request_key("eth_chainId", None) == "eth_chainId_"
    assert recording.request_key("eth_getBlockByNumber", ["0x1F", True]) == "eth_getBlockByNumber_0x1f_true"
    assert recording.request_key("debug_traceBlockByNumber", ["0xf4240", {"tracer": "callTracer"}]) == \
        "debug_traceBlockByNumber_0xf4240_tracer_calltracer"


def test_file_names_round_trip() -> None:
    key = recording.request_key("trace_block", ["0xa"])
    assert recording.file_name(key) == "web3_response.trace_block_0xa.json"
    assert recording.key_of(recording.file_name(key)) == key
    assert recording.key_of("receipts.json") is None
    assert recording.key_of("web3_response.json") is None


def test_writer_and_reader_share_one_definition() -> None:
    """The simulator writes and the ingest reads with the same function, so they cannot drift."""
    assert record.request_key is recording.request_key
    assert replay.request_key is recording.request_key
