"""Block headers: fields, proof-of-work target and chain work, BIP34 height from the coinbase."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

ZERO_HASH = b"\x00" * 32


@dataclass(frozen=True)
class Header:
    """The fields of an 80-byte block header; hashes in internal byte order."""

    hash: bytes
    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    @classmethod
    def parse(cls, raw80: bytes) -> Header:
        version, prev, merkle, t, bits, nonce = struct.unpack_from("<i32s32sIII", raw80)
        digest = hashlib.sha256(hashlib.sha256(raw80[:80]).digest()).digest()
        return cls(digest, version, prev, merkle, t, bits, nonce)

    @property
    def hash_hex(self) -> str:
        return self.hash[::-1].hex()


def target(bits: int) -> int:
    """Decode the compact `bits` encoding into the 256-bit proof-of-work target."""
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


def work(bits: int) -> int:
    """Expected number of hashes for a block at `bits` (Bitcoin Core's GetBlockProof)."""
    t = target(bits)
    return (1 << 256) // (t + 1) if t > 0 else 0


def meets_target(header: Header) -> bool:
    """Does the header's hash satisfy its own claimed target?"""
    return int.from_bytes(header.hash, "little") <= target(header.bits)


def bip34_height(coinbase_script: bytes) -> int | None:
    """Height pushed at the start of a coinbase scriptSig (BIP34), or None if there is none.

    Accepts OP_0, OP_1..OP_16 and a direct push of 1-5 bytes (a minimal CScriptNum), as Bitcoin
    Core writes them.
    """
    if not coinbase_script:
        return None
    op = coinbase_script[0]
    if op == 0x00:
        return 0
    if 0x51 <= op <= 0x60:
        return op - 0x50
    if 1 <= op <= 5 and len(coinbase_script) > op:
        data = coinbase_script[1:1 + op]
        if data[-1] & 0x80:
            return None  # negative numbers are never heights
        return int.from_bytes(data, "little")
    return None
