"""bitcoind's JSON answers read field by field, each checked for its type.

A node is an untrusted source: `getblock` may answer null, a string or a list, a prevout value may
be "abc", `getblockcount` may be null. Every field the ingest reads goes through these readers,
so a wrong answer is a one-line SourceError naming the method (in `where`) and the field.
The raw block is rebuilt from the fields (header) and the transactions' `hex`, so RPC blocks go
through the same parser as blk-file blocks.
"""

from __future__ import annotations

import hashlib
import struct
from decimal import Decimal
from typing import Any

from fundtrail.errors import SourceError
from fundtrail.ingest.bitcoin.source import Prevout

ZERO_HASH = "00" * 32
_MAX_SAT = 21_000_000 * 100_000_000
_HEX = frozenset("0123456789abcdefABCDEF")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    """Bitcoin's variable-length integer encoding (CompactSize)."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def to_satoshi(value: object, where: str = "") -> int:
    """Convert a BTC amount from the node's JSON to satoshi, exactly or not at all."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise SourceError(f"amount {_show(value)} is not a number{where}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise SourceError(f"amount {value} BTC is not a finite number{where}")
    sat = Decimal(value) * 100_000_000
    if sat != sat.to_integral_value():
        raise SourceError(f"amount {value} BTC is not a whole number of satoshi{where}")
    if not 0 <= sat <= _MAX_SAT:
        raise SourceError(f"amount {value} BTC is outside 0..21,000,000 BTC{where}")
    return int(sat)


def want_obj(value: Any, where: str, what: str = "answer") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError(f"{where}: {what} is {_show(value)}, not a JSON object")
    return value


def want_list(doc: dict[str, Any], key: str, where: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise SourceError(f"{where}: field {key} is {_show(value)}, not a list")
    return value


def want_int(value: Any, where: str, field: str, lo: int = 0, hi: int = (1 << 32) - 1) -> int:
    """A JSON integer within lo..hi (bool and float refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SourceError(f"{where}: field {field} is {_show(value)}, not an integer in {lo}..{hi}")
    return value


def want_hex(value: Any, where: str, field: str, size: int | None = None) -> bytes:
    """Hex text as bytes; `size` bytes exactly when given."""
    if not isinstance(value, str) or len(value) % 2 or not _HEX.issuperset(value):
        raise SourceError(f"{where}: field {field} is {_show(value)}, not hex")
    if size is not None and len(value) != 2 * size:
        raise SourceError(f"{where}: field {field} is {len(value) // 2} bytes, not {size}")
    return bytes.fromhex(value)


def want_hash(value: Any, where: str, field: str) -> str:
    """A 32-byte hash in the node's display order (lower-case hex)."""
    return want_hex(value, where, field, 32).hex()


def build_block(doc: Any, where: str, with_prevouts: bool
                ) -> tuple[bytes, str, str, int, tuple[Prevout, ...] | None]:
    """(raw block, its hash, its parent's hash, its height, prevouts) from `getblock` 2/3 JSON."""
    doc = want_obj(doc, where)
    prev = doc.get("previousblockhash")
    prev_hash = ZERO_HASH if prev is None else want_hash(prev, where, "previousblockhash")
    bits = doc.get("bits")
    header = (struct.pack("<i", want_int(doc.get("version"), where, "version", -(1 << 31), (1 << 31) - 1))
              + bytes.fromhex(prev_hash)[::-1]
              + want_hex(doc.get("merkleroot"), where, "merkleroot", 32)[::-1]
              + struct.pack("<I", want_int(doc.get("time"), where, "time"))
              + want_hex(bits, where, "bits", 4)[::-1]
              + struct.pack("<I", want_int(doc.get("nonce"), where, "nonce")))
    txs = want_list(doc, "tx", where)
    parts = [header, compact_size(len(txs))]
    for i, tx in enumerate(txs):
        tx = want_obj(tx, where, f"field tx[{i}]")
        parts.append(want_hex(tx.get("hex"), where, f"tx[{i}].hex"))
    got_hash = want_hash(doc.get("hash"), where, "hash")
    height = want_int(doc.get("height"), where, "height")
    if sha256d(header)[::-1].hex() != got_hash:
        raise SourceError(f"{where}: header rebuilt from the JSON does not hash to {got_hash}")
    if "nTx" in doc and doc["nTx"] != len(txs):
        raise SourceError(f"{where}: field nTx is {_show(doc['nTx'])} but {len(txs)} transactions came")
    prevouts = prevouts_of(txs, where) if with_prevouts else None
    return b"".join(parts), got_hash, prev_hash, height, prevouts


def prevouts_of(txs: list[Any], where: str) -> tuple[Prevout, ...]:
    """The spent outputs `getblock` verbosity 3 gives with each non-coinbase input."""
    out = []
    for i, tx in enumerate(txs):
        for j, vin in enumerate(want_list(tx, "vin", f"{where} tx[{i}]")):
            field = f"tx[{i}].vin[{j}]"
            vin = want_obj(vin, where, f"field {field}")
            if "coinbase" in vin:
                continue
            if vin.get("prevout") is None:
                raise SourceError(f"{where}: getblock 3 returned an input without prevout ({field})")
            p = want_obj(vin["prevout"], where, f"field {field}.prevout")
            value = to_satoshi(p.get("value"), f" in {where} field {field}.prevout.value")
            spk = want_obj(p.get("scriptPubKey"), where, f"field {field}.prevout.scriptPubKey")
            out.append(Prevout(value, want_hex(spk.get("hex"), where,
                                               f"{field}.prevout.scriptPubKey.hex")))
    return tuple(out)
