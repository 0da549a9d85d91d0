"""Pure-Python Keccak-256 against published vectors and, through the shared sponge, against
hashlib's FIPS-202 SHA3 (same permutation, different domain byte) at every length around the
rate boundaries, which exercises padding and multi-block absorption."""

from __future__ import annotations

import hashlib

import pytest

from fundtrail.chains.ethereum.keccak import keccak256, sponge

VECTORS = {
    b"": "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    b"Transfer(address,address,uint256)": "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    b"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    b"Approval(address,address,uint256)": "8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
}


@pytest.mark.parametrize("message", sorted(VECTORS))
def test_known_vectors(message: bytes) -> None:
    assert keccak256(message).hex() == VECTORS[message]


def test_not_sha3() -> None:
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()


def test_sponge_equals_hashlib_sha3_at_rate_boundaries() -> None:
    data = bytes(range(256)) * 3
    for n in list(range(300)) + [543, 544, 545, 767, 768]:
        assert sponge(data[:n], domain=0x06) == hashlib.sha3_256(data[:n]).digest(), n
        assert sponge(data[:n], rate=72, domain=0x06, out_len=64) == hashlib.sha3_512(data[:n]).digest(), n


def test_accepts_bytearray_and_memoryview() -> None:
    assert keccak256(bytearray(b"abc")) == keccak256(memoryview(b"abc")) == bytes.fromhex(VECTORS[b"abc"])
