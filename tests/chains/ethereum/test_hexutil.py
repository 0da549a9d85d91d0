"""Hex quantities and data, addresses (EIP-55 spec vectors), and exact uint256 handling."""

from __future__ import annotations

import pytest

from fundtrail.chains.ethereum.hexutil import (
    address,
    eip55,
    hex_to_bytes,
    hex_to_int,
    parse_address,
    u256_from_be,
    u256_to_be,
)
from fundtrail.errors import DataError, UsageError

# the test vectors of EIP-55 itself (all caps, all lower, mixed)
EIP55_VECTORS = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
MAX = 2**256 - 1


def test_hex_to_int() -> None:
    assert hex_to_int("0x0") == 0
    assert hex_to_int(None) is None
    assert hex_to_int("0x1a") == 26 and hex_to_int("0X1A") == 26
    assert hex_to_int(1000000) == 1000000  # parity trace_block gives plain JSON numbers
    assert hex_to_int("0x" + "f" * 64) == MAX
    assert hex_to_int("0x" + "1" + "0" * 64) == 2**256  # quantities are not capped


@pytest.mark.parametrize("bad", ["12", "0x", "0xzz", "0x1 ", " 0x1", "0x1_0", "-0x1", -1, True, 1.5, [], {}])
def test_hex_to_int_rejects(bad: object) -> None:
    with pytest.raises(DataError, match="not a hex quantity"):
        hex_to_int(bad)  # type: ignore[arg-type]


def test_hex_to_bytes() -> None:
    assert hex_to_bytes("0x") == b""
    assert hex_to_bytes("0x00ff") == b"\x00\xff" and hex_to_bytes("0X00FF") == b"\x00\xff"
    for bad in ["0x0", "00ff", "0x00 ff", "0xgg", None, 5]:
        with pytest.raises(DataError, match="not hex data"):
            hex_to_bytes(bad)  # type: ignore[arg-type]


def test_address() -> None:
    raw = bytes.fromhex("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
    assert address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == raw
    assert address("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED") == raw
    assert address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") == raw
    assert address(None) is None
    with pytest.raises(DataError, match="20 bytes, got 19"):
        address("0x" + "ab" * 19)
    with pytest.raises(DataError, match="20 bytes, got 32"):
        address("0x" + "00" * 12 + "ab" * 20)


@pytest.mark.parametrize("text", EIP55_VECTORS)
def test_eip55_spec_vectors(text: str) -> None:
    raw = bytes.fromhex(text[2:])
    assert eip55(raw) == text
    assert parse_address(text) == raw
    assert parse_address(text.lower()) == raw and parse_address("0x" + text[2:].upper()) == raw


def test_eip55_wrong_length() -> None:
    with pytest.raises(ValueError):
        eip55(b"\x00" * 19)


def test_parse_address_refuses_bad_checksum_and_shapes() -> None:
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # last letter's case flipped
    with pytest.raises(UsageError, match="bad EIP-55 checksum") as err:
        parse_address(typo)
    assert good in err.value.one_line()  # the hint shows the correctly checksummed form
    assert parse_address(f"  {good}\n") == bytes.fromhex(good[2:].lower())
    for bad in ["5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x1234", "0x" + "g" * 40, "", None]:
        with pytest.raises(UsageError, match="not an Ethereum address"):
            parse_address(bad)  # type: ignore[arg-type]


def test_u256_round_trip_is_exact_at_the_limits() -> None:
    for n in [0, 1, 2**128, 2**255, MAX - 1, MAX]:
        assert u256_from_be(u256_to_be(n)) == n
    assert u256_to_be(MAX) == b"\xff" * 32
    assert u256_to_be(0) == bytes(32)
    assert hex_to_int("0x" + u256_to_be(MAX).hex()) == MAX
    assert u256_from_be(b"\x01\x00") == 256 and u256_from_be(b"") == 0


@pytest.mark.parametrize("bad", [-1, 2**256, 2**300, True, 1.0])
def test_u256_to_be_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="not a uint256"):
        u256_to_be(bad)  # type: ignore[arg-type]


def test_u256_from_be_rejects_more_than_32_bytes() -> None:
    with pytest.raises(ValueError):
        u256_from_be(b"\x00" * 33)
