"""JSON-RPC hex strings to exact Python values, and 20-byte addresses to EIP-55 text and back.

Inside fundtrail an address is its 20 raw bytes and an amount an exact `int` (uint256 values exceed
what floats or 128-bit integers hold); strings exist only at the edges. Values from a node that do
not parse raise `DataError` (the node's data is bad); text typed by a user raises `UsageError`.
"""

from __future__ import annotations

from functools import lru_cache

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.errors import DataError, UsageError

U256_LIMIT = 1 << 256
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def hex_to_int(s: str | int | None) -> int | None:
    """A JSON-RPC quantity ("0x1a") as an exact int; None stays None.

    JSON integers pass through too: parity-style `trace_block` gives blockNumber and
    transactionPosition as plain numbers.
    """
    if s is None:
        return None
    if isinstance(s, str):
        if s[:2] in ("0x", "0X") and len(s) > 2 and _HEX_DIGITS.issuperset(s[2:]):
            return int(s, 16)
        raise DataError(f"not a hex quantity: {_show(s)}")
    if isinstance(s, int) and not isinstance(s, bool) and s >= 0:
        return s
    raise DataError(f"not a hex quantity: {_show(s)}")


def hex_to_bytes(s: str) -> bytes:
    """A JSON-RPC data string ("0x" + even number of hex digits) as bytes."""
    if isinstance(s, str) and s[:2] in ("0x", "0X"):
        try:
            raw = bytes.fromhex(s[2:])
        except ValueError:
            pass
        else:
            if 2 * len(raw) + 2 == len(s):  # fromhex skips whitespace: refuse it
                return raw
    raise DataError(f"not hex data: {_show(s)}")


def address(s: str | None) -> bytes | None:
    """A 20-byte address from node output, in any letter case; None stays None."""
    if s is None:
        return None
    raw = hex_to_bytes(s)
    if len(raw) != 20:
        raise DataError(f"address must be 20 bytes, got {len(raw)}: {_show(s)}")
    return raw


@lru_cache(maxsize=1 << 16)
def eip55(addr: bytes) -> str:
    """The EIP-55 mixed-case checksum form of a 20-byte address (cached: exports repeat addresses)."""
    if len(addr) != 20:
        raise ValueError(f"address must be 20 bytes, got {len(addr)}")
    lower = addr.hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if c > "9" and digest[i] >= "8" else c for i, c in enumerate(lower))


def parse_address(text: str) -> bytes:
    """A user-typed address ("0x" + 40 hex digits); mixed case must carry a valid EIP-55 checksum.

    All-lower and all-upper input carries no checksum and is accepted as is; a mixed-case string
    with a wrong checksum is almost always a typo, so it is refused rather than silently used.
    """
    s = text.strip() if isinstance(text, str) else ""
    body = s[2:]
    if s[:2] not in ("0x", "0X") or len(body) != 40 or not _HEX_DIGITS.issuperset(body):
        raise UsageError(f"not an Ethereum address: {_show(text)}",
                         hint="expected 0x followed by 40 hex digits")
    raw = bytes.fromhex(body)
    if body != body.lower() and body != body.upper() and eip55(raw)[2:] != body:
        raise UsageError(f"bad EIP-55 checksum in address {s}",
                         hint=f"check for a typo; the checksummed form of these digits is {eip55(raw)}")
    return raw


def u256_to_be(n: int) -> bytes:
    """A uint256 as 32 big-endian bytes (the ABI word and the store's exact raw column)."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < U256_LIMIT:
        raise ValueError(f"not a uint256: {_show(n)}")
    return n.to_bytes(32, "big")


def u256_from_be(b: bytes) -> int:
    """The uint256 held in at most 32 big-endian bytes."""
    if len(b) > 32:
        raise ValueError(f"a uint256 has at most 32 bytes, got {len(b)}")
    return int.from_bytes(b, "big")
