"""Recursive Length Prefix encoding, the serialization Ethereum hashes headers, transactions,
receipts and trie nodes with (Yellow Paper appendix B).

Only encoding is needed: fundtrail re-encodes what a node says and compares hashes, it never
parses RLP from the network. Items are bytes, non-negative ints (big-endian, no leading zeros,
0 as the empty string), lists of items, or `Raw` (bytes already encoded, spliced in as they are:
trie nodes under 32 bytes are embedded in their parent this way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union


class Raw(bytes):
    """Bytes that are already RLP: inserted verbatim rather than encoded as a string."""


Item = Union[bytes, int, "Sequence[Item]"]


def _length(n: int, offset: int) -> bytes:
    if n < 56:
        return bytes([offset + n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def int_bytes(n: int) -> bytes:
    """A non-negative int as minimal big-endian bytes (0 -> b"")."""
    if n < 0:
        raise ValueError(f"RLP cannot encode a negative integer: {n}")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def encode(item: Item) -> bytes:
    """The RLP encoding of `item`."""
    if isinstance(item, Raw):
        return bytes(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length(len(data), 0x80) + data
    if isinstance(item, bool):
        raise TypeError("RLP has no booleans")
    if isinstance(item, int):
        return encode(int_bytes(item))
    if isinstance(item, (list, tuple)):
        payload = b"".join(encode(x) for x in item)
        return _length(len(payload), 0xC0) + payload
    raise TypeError(f"cannot RLP-encode {type(item).__name__}")
