"""The identity of a Bitcoin address inside fundtrail: its key and 128-bit fingerprint.

An output's script (type, payload) maps to an address key (P2PK outputs count as the P2PKH address
of their key, as explorers show them); the key maps to a 128-bit fingerprint. Ingest assigns address
ids by fingerprint (`ingest.bitcoin.decode`, whose numba fast path computes the same values), the
graph index keeps the fingerprints sorted, and every lookup of a typed address computes the same
fingerprint (`chains.resolve`): one rule, so an address typed by a user finds the id ingest gave it.
"""

from __future__ import annotations

import hashlib
import struct

from fundtrail.chains.bitcoin.hashing import hash160
from fundtrail.chains.bitcoin.script import ScriptType

_MASK64 = (1 << 64) - 1
#: The 64-bit golden-ratio constant mixed into fingerprints (and into outpoint keys by ingest).
MIX = 0x9E3779B97F4A7C15
#: Address kinds whose payload is already a uniformly random hash: its first 16 bytes are the key.
HASH_TYPES = (ScriptType.P2PKH, ScriptType.P2SH, ScriptType.P2WPKH, ScriptType.P2WSH, ScriptType.P2TR)


def fingerprint(kind: int, payload: bytes) -> tuple[int, int]:
    """The 128-bit fingerprint of an address key, as (fp1, fp2); equals ingest's numba fast path."""
    if kind in HASH_TYPES:
        x, y = struct.unpack_from("<QQ", payload)
        return x ^ ((kind * MIX) & _MASK64), y
    d = hashlib.sha256(bytes([kind]) + payload).digest()
    a, b = struct.unpack_from("<QQ", d)
    return int(a), int(b)


def address_key(script_type: int, script_payload: bytes) -> tuple[int, bytes]:
    """Map an output's (type, payload) to its address (kind, payload): P2PK becomes its key's P2PKH."""
    if script_type == ScriptType.P2PK:
        return int(ScriptType.P2PKH), hash160(script_payload)
    return int(script_type), script_payload
