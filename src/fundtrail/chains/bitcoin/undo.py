"""Undo data: the outputs a block's inputs spent, as nodes store them next to the blocks.

A block alone does not say what its inputs spend. When the spent outputs are not in the store (an
isolated block, a range that starts mid-chain) the node's undo data supplies value and script of
each spent output. Three layouts are read here:

* Bitcoin Core `rev*.dat`: framed, checksummed CBlockUndo records with compressed coins;
* bcoin's test undo files: a flat list of plain TxOuts;
* btcd's test `utxostore` files: outpoint-keyed compressed UTXO entries.

Core 28+ may XOR-obfuscate blk/rev files with the key in `blocks/xor.dat`; `deobfuscate` undoes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from fundtrail.errors import DataError
from fundtrail.chains.bitcoin.prevout import Prevout

Buffer = bytes | bytearray | memoryview

_CHECKSUM_SIZE = 32
_SPECIAL_SCRIPTS = 6  # compressed-script size codes 0..5 denote templates
_MAX_SCRIPT_SIZE = 10_000  # Core stores longer (unspendable) scripts as a lone OP_RETURN
_U64_MAX = 2**64 - 1
_MAX_MONEY = 21_000_000 * 100_000_000
_SECP256K1_P = 2**256 - 2**32 - 977
# P2PKH around its hash: OP_DUP OP_HASH160 push-20 ... OP_EQUALVERIFY OP_CHECKSIG
_P2PKH_HEAD, _P2PKH_TAIL = b"\x76\xa9\x14", b"\x88\xac"
_XOR_CHUNK = 1 << 24  # bytes per numpy pass, bounds temporaries on multi-hundred-MB blk files


class CoinUndo(NamedTuple):
    """One spent output as Core's undo data restores it: where it was created and what it held.

    A NamedTuple rather than a dataclass: rev files hold millions of coins and tuples build fastest.
    """

    height: int  # height of the block that created the output
    coinbase: bool  # created by a coinbase transaction
    value: int  # satoshi
    script: bytes  # scriptPubKey, decompressed

    @property
    def prevout(self) -> Prevout:
        """The part the pipeline needs to resolve an input: value and script."""
        return Prevout(self.value, self.script)


@dataclass(frozen=True, slots=True)
class RevRecord:
    """One CBlockUndo record of a rev file; it names no block, only its checksum binds it to one."""

    offset: int  # file offset of the record's magic
    tx_undos: list[list[CoinUndo]]  # one list per non-coinbase tx, one coin per input, block order
    checksum: bytes  # sha256d(parent block hash || raw_undo)
    raw_undo: memoryview | bytes  # the CBlockUndo serialization the checksum covers


# --- primitive readers: each returns (value, new position) and raises DataError past `end` ----


def _fail(origin: str, offset: int, what: str) -> DataError:
    return DataError(f"{origin}: byte offset {offset}: {what}")


def _take(buf: Buffer, pos: int, n: int, end: int, origin: str, what: str) -> tuple[bytes, int]:
    if pos + n > end:
        raise _fail(origin, pos, f"truncated {what}: need {n} bytes, {end - pos} left")
    return bytes(buf[pos : pos + n]), pos + n


def _varint(buf: Buffer, pos: int, end: int, origin: str, what: str) -> tuple[int, int]:
    """Core's VARINT (serialize.h): MSB-first base-128 where each continuation adds one."""
    start, n = pos, 0
    while True:
        if pos >= end:
            raise _fail(origin, start, f"truncated VARINT {what}")
        ch = buf[pos]
        pos += 1
        n = (n << 7) | (ch & 0x7F)
        if ch < 0x80:
            return n, pos
        n += 1
        if n > _U64_MAX >> 7:  # the next shift would leave 64 bits, which Core rejects
            raise _fail(origin, start, f"VARINT {what} exceeds 64 bits")


_COMPACT_WIDE = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}  # width, minimum


def read_compact_size(buf: Buffer, pos: int, end: int, origin: str, what: str) -> tuple[int, int]:
    """Bitcoin's CompactSize; non-canonical encodings are rejected as Core does."""
    if pos >= end:
        raise _fail(origin, pos, f"truncated CompactSize {what}")
    first = buf[pos]
    if first < 0xFD:
        return first, pos + 1
    width, smallest = _COMPACT_WIDE[first]
    raw, new = _take(buf, pos + 1, width, end, origin, f"CompactSize {what}")
    n = int.from_bytes(raw, "little")
    if n < smallest:
        raise _fail(origin, pos, f"non-canonical CompactSize {what}")
    return n, new


# --- amount and script compression (Core compressor.cpp; btcd compress.go is identical) --------


def compress_amount(n: int) -> int:
    """Core's CompressAmount: strips trailing decimal zeros so round amounts encode short."""
    if n == 0:
        return 0
    e = 0
    while n % 10 == 0 and e < 9:
        n //= 10
        e += 1
    if e < 9:
        d = n % 10
        n //= 10
        return 1 + (n * 9 + d - 1) * 10 + e
    return 1 + (n - 1) * 10 + 9


def decompress_amount(x: int) -> int:
    """Core's DecompressAmount, the inverse of `compress_amount`."""
    if x == 0:
        return 0
    x -= 1
    e = x % 10
    x //= 10
    if e < 9:
        d = x % 9 + 1
        x //= 9
        n = x * 10 + d
    else:
        n = x + 1
    return n * 10**e


def _uncompressed_pubkey(x: bytes, odd: int, origin: str, offset: int) -> bytes:
    """Rebuild 04||x||y from x and y's parity; Core stores uncompressed P2PK keys that way."""
    p = _SECP256K1_P
    xi = int.from_bytes(x, "big")
    rhs = (pow(xi, 3, p) + 7) % p
    y = pow(rhs, (p + 1) // 4, p)
    if xi >= p or y * y % p != rhs:
        raise _fail(origin, offset, "compressed P2PK key is not on secp256k1")
    if y & 1 != odd:
        y = p - y
    return b"\x04" + x + y.to_bytes(32, "big")


def _compressed_script(buf: Buffer, pos: int, end: int, origin: str) -> tuple[bytes, int]:
    """Read a ScriptCompression-encoded scriptPubKey and return it expanded."""
    start = pos
    code, pos = _varint(buf, pos, end, origin, "script size")
    if code in (0, 1):
        h, pos = _take(buf, pos, 20, end, origin, "script hash")
        if code == 0:
            return _P2PKH_HEAD + h + _P2PKH_TAIL, pos
        return b"\xa9\x14" + h + b"\x87", pos  # P2SH
    if code < _SPECIAL_SCRIPTS:
        x, pos = _take(buf, pos, 32, end, origin, "P2PK key")
        if code < 4:
            return b"\x21" + bytes([code]) + x + b"\xac", pos
        return b"\x41" + _uncompressed_pubkey(x, code - 4, origin, start) + b"\xac", pos
    size = code - _SPECIAL_SCRIPTS
    if size > _MAX_SCRIPT_SIZE:
        if pos + size > end:
            raise _fail(origin, pos, f"truncated script: need {size} bytes, {end - pos} left")
        return b"\x6a", pos + size
    return _take(buf, pos, size, end, origin, "script")


def _compressed_txout(buf: Buffer, pos: int, end: int, origin: str) -> tuple[int, bytes, int]:
    start = pos
    amount, pos = _varint(buf, pos, end, origin, "amount")
    value = decompress_amount(amount)
    if value > _MAX_MONEY:
        raise _fail(origin, start, f"amount {value} exceeds 21M BTC")
    script, pos = _compressed_script(buf, pos, end, origin)
    return value, script, pos


# --- Bitcoin Core rev*.dat -----------------------------------------------------------------------


def _block_undo(buf: bytes, pos: int, end: int, origin: str) -> list[list[CoinUndo]]:
    """Parse one CBlockUndo occupying exactly buf[pos:end].

    The hot loop of rev-file reading, so P2PKH scripts are expanded inline.
    """
    n_tx, pos = read_compact_size(buf, pos, end, origin, "CTxUndo count")
    txs: list[list[CoinUndo]] = []
    for _ in range(n_tx):
        n_coin, pos = read_compact_size(buf, pos, end, origin, "coin count")
        coins: list[CoinUndo] = []
        for _ in range(n_coin):
            code, pos = _varint(buf, pos, end, origin, "height code")
            if code > 1:  # legacy version field, only written for nHeight > 0
                _, pos = _varint(buf, pos, end, origin, "dummy version")
            at = pos
            amount, pos = _varint(buf, pos, end, origin, "amount")
            value = decompress_amount(amount)
            if value > _MAX_MONEY:
                raise _fail(origin, at, f"amount {value} exceeds 21M BTC")
            if pos + 21 <= end and buf[pos] == 0:  # P2PKH, by far the most common
                script = _P2PKH_HEAD + buf[pos + 1 : pos + 21] + _P2PKH_TAIL
                pos += 21
            else:
                script, pos = _compressed_script(buf, pos, end, origin)
            coins.append(CoinUndo(code >> 1, bool(code & 1), value, script))
        txs.append(coins)
    if pos != end:
        raise _fail(origin, pos, f"{end - pos} unparsed bytes at the end of a CBlockUndo")
    return txs


def iter_rev_records(data: Buffer, magic: bytes, origin: str) -> Iterator[RevRecord]:
    """Yield the records of a (de-obfuscated) rev file in file order.

    Core preallocates rev files, so zero bytes where a magic is expected end the file cleanly.
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    view = memoryview(buf)
    size = len(buf)
    pos = 0
    while pos < size:
        head = buf[pos : pos + 8]
        if not any(head[:4]):
            return  # preallocated zero padding
        if len(head) < 8 and magic.startswith(head[:4]):
            raise _fail(origin, pos, f"truncated record header: {len(head)} of 8 bytes")
        if head[:4] != magic:
            raise _fail(origin, pos, f"bad magic {head[:4].hex()}, expected {magic.hex()}")
        length = int.from_bytes(head[4:8], "little")
        body = pos + 8
        if body + length + _CHECKSUM_SIZE > size:
            raise _fail(
                origin, pos,
                f"truncated record: length {length} + checksum runs past end of data ({size})",
            )
        tx_undos = _block_undo(buf, body, body + length, origin)
        checksum = buf[body + length : body + length + _CHECKSUM_SIZE]
        yield RevRecord(pos, tx_undos, checksum, view[body : body + length])
        pos = body + length + _CHECKSUM_SIZE


def _sha256d(*parts: Buffer) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return hashlib.sha256(h.digest()).digest()


def record_matches_parent(rec: RevRecord, prev_block_hash: bytes) -> bool:
    """True if `rec` is the undo of a block whose parent hash (internal byte order) is given."""
    return _sha256d(prev_block_hash, rec.raw_undo) == rec.checksum


def match_records(records: Iterable[RevRecord], parents: Iterable[bytes]) -> dict[bytes, RevRecord]:
    """Pair records with blocks by parent hash (internal order); unmatched parents are left out.

    Core writes undo roughly in connection order, so each search starts after the last match and
    the common case costs one hash per block rather than one per (block, record) pair.
    """
    pending = list(records)
    found: dict[bytes, RevRecord] = {}
    cursor = 0
    for parent in parents:
        for step in range(len(pending)):
            i = (cursor + step) % len(pending)
            if record_matches_parent(pending[i], parent):
                found[parent] = pending.pop(i)
                cursor = i
                break
    return found


def flatten_prevouts(rec: RevRecord) -> tuple[Prevout, ...]:
    """All spent outputs of the record's block in input order, the shape `SourceBlock` carries."""
    return tuple(Prevout(c.value, c.script) for coins in rec.tx_undos for c in coins)


# --- XOR obfuscation (Core 28+ blocks/xor.dat) ---------------------------------------------------


def load_xor_key(data: bytes, origin: str) -> bytes:
    """Validate the contents of `xor.dat`: exactly 8 key bytes."""
    if len(data) != 8:
        raise DataError(f"{origin}: byte offset 0: xor key must be 8 bytes, found {len(data)}")
    return bytes(data)


def deobfuscate(data: Buffer, key: bytes, start: int = 0) -> bytes:
    """XOR `data` with the repeating 8-byte `key`, as if `data` began at file position `start`.

    XOR is its own inverse, so this also obfuscates. Works in 64-bit words with numpy, chunked so
    a blk file of hundreds of MB costs one output buffer and no large temporaries.
    """
    if len(key) != 8:
        raise ValueError(f"xor key must be 8 bytes, got {len(key)}")
    src = np.frombuffer(data, dtype=np.uint8)
    if not any(key):
        return src.tobytes()
    phase = start % 8
    rotated = key[phase:] + key[:phase]  # rotated[i] applies to data[i], data[i+8], ...
    word = np.frombuffer(rotated, dtype=np.uint64)[0]
    out = np.empty_like(src)
    n_words = len(src) // 8
    words_in = src[: n_words * 8].view(np.uint64)
    words_out = out[: n_words * 8].view(np.uint64)
    step = _XOR_CHUNK // 8
    for i in range(0, n_words, step):
        np.bitwise_xor(words_in[i : i + step], word, out=words_out[i : i + step])
    tail = len(src) - n_words * 8
    if tail:
        tail_key = np.frombuffer(rotated[:tail], dtype=np.uint8)
        np.bitwise_xor(src[n_words * 8 :], tail_key, out=out[n_words * 8 :])
    return out.tobytes()


# --- bcoin flat undo -----------------------------------------------------------------------------


def parse_flat_undo(data: Buffer, origin: str) -> tuple[Prevout, ...]:
    """bcoin's test undo: `int64 LE value + CompactSize script` per non-coinbase input, in order."""
    view = memoryview(data)
    end = len(view)
    pos = 0
    out: list[Prevout] = []
    while pos < end:
        raw, vpos = _take(view, pos, 8, end, origin, "value")
        value = int.from_bytes(raw, "little", signed=True)
        if not 0 <= value <= _MAX_MONEY:
            raise _fail(origin, pos, f"output value {value} out of range")
        n, vpos = read_compact_size(view, vpos, end, origin, "script length")
        script, pos = _take(view, vpos, n, end, origin, "script")
        out.append(Prevout(value, script))
    return tuple(out)


# --- btcd utxostore ------------------------------------------------------------------------------


def parse_btcd_utxostore(data: Buffer, origin: str) -> dict[tuple[bytes, int], Prevout]:
    """btcd's test UTXO set: `txid(32) vout(u32 LE) len(u32 LE) entry` repeated.

    The entry is btcd's compressed UTXO (chainio.go): VLQ height<<1|coinbase, then the same
    compressed txout as Core. Keys are (txid in internal byte order, vout).
    """
    view = memoryview(data)
    end = len(view)
    pos = 0
    out: dict[tuple[bytes, int], Prevout] = {}
    while pos < end:
        txid, p = _take(view, pos, 32, end, origin, "txid")
        head, p = _take(view, p, 8, end, origin, "outpoint index and entry length")
        vout = int.from_bytes(head[:4], "little")
        length = int.from_bytes(head[4:], "little")
        if p + length > end:
            raise _fail(origin, p, f"truncated utxo entry: length {length}, {end - p} bytes left")
        stop = p + length
        _, q = _varint(view, p, stop, origin, "header code")  # height<<1 | coinbase, unused
        value, script, q = _compressed_txout(view, q, stop, origin)
        if q != stop:
            raise _fail(origin, q, f"{stop - q} unparsed bytes at the end of a utxo entry")
        out[(txid, vout)] = Prevout(value, script)
        pos = stop
    return out
