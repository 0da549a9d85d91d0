"""Call data, addresses and recording keys of the EVM simulator, against known answers."""

from __future__ import annotations

import pytest

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.ingest.ethereum.replay import request_key as ingest_key
from fundtrail.sim.evm.abi import calldata, commitment, encode, sim_address
from fundtrail.sim.evm.artifacts import artefact
from fundtrail.sim.evm.record import TOKEN_CALLS, request_key


@pytest.mark.parametrize(("method", "params"), [
    ("eth_chainId", []),
    ("eth_getBlockByNumber", ["0x1f", True]),
    ("eth_getBlockReceipts", ["0xa"]),
    ("trace_block", ["0x0"]),
    ("eth_call", [{"to": "0xAbC0000000000000000000000000000000000001", "data": "0x06fdde03"},
                  "latest"]),
])
def test_recording_keys_are_the_ingest_replay_keys(method: str, params: list) -> None:
    assert request_key(method, params) == ingest_key(method, params)


def test_token_metadata_selectors() -> None:
    for name, selector in TOKEN_CALLS.items():
        assert "0x" + keccak256(f"{name}()".encode()).hex()[:8] == selector


def test_transfer_calldata_known_vector() -> None:
    # transfer(0x…01, 1) as every ERC-20 client encodes it
    data = calldata("SimStable", "transfer(address,uint256)", "0x" + "00" * 19 + "01", 1)
    assert data == "0xa9059cbb" + "00" * 31 + "01" + "00" * 31 + "01"


def test_dynamic_arrays_encoding() -> None:
    # disperseEther([a], [5]): two offsets (0x40, 0x80), then each array: length, items
    a = "0x" + "11" * 20
    enc = encode(["address[]", "uint256[]"], [[a], [5]])
    words = [int.from_bytes(enc[i:i + 32], "big") for i in range(0, len(enc), 32)]
    assert words == [0x40, 0x80, 1, int(a, 16), 1, 5]


def test_selectors_come_from_the_build() -> None:
    ids = artefact("SimPool")["method_identifiers"]
    sig = "withdraw(bytes32,bytes32,address,address,uint256)"
    assert ids[sig] == keccak256(sig.encode()).hex()[:8]


def test_addresses_and_commitments_are_deterministic() -> None:
    assert sim_address(1, "user-1") == sim_address(1, "user-1")
    assert sim_address(1, "user-1") != sim_address(2, "user-1")
    assert len(sim_address(1, "x")) == 42
    n, s = "0x" + "01" * 32, "0x" + "02" * 32
    assert commitment(n, s) == "0x" + keccak256(bytes([1] * 32 + [2] * 32)).hex()
