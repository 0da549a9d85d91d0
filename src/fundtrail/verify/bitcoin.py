"""Bitcoin's evidence primitives, in plain standard-library Python.

Everything a court needs to re-check that a transaction is in the Bitcoin chain: the txid recomputed
from the raw bytes, the merkle path from that txid to a block header, the header's proof of work and
the headers linking up. Written to be read: one function per idea, no dependencies; the transaction
reader is one pass over the bytes (a bundle holds tens of thousands of transactions).

Byte order: hashes are kept in Bitcoin's internal order (as the double SHA-256 produces them); the
hex strings people quote (explorers, bitcoind) are the same bytes reversed, see `display`.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass
from typing import NamedTuple

# Bitcoin mainnet's easiest allowed target (Bitcoin Core chainparams, consensus.powLimit).
MAINNET_POW_LIMIT = 0x00000000FFFF0000000000000000000000000000000000000000000000000000


class VerifyError(Exception):
    """Malformed or inconsistent evidence; the message names what and where, in one line."""


def double_sha256(data: bytes) -> bytes:
    """SHA-256 of SHA-256: Bitcoin's hash for txids, block hashes and merkle nodes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def display(h: bytes) -> str:
    """Internal-order hash to the hex people quote (reversed bytes, as bitcoind prints it)."""
    return h[::-1].hex()


def internal(hex_hash: str) -> bytes:
    """Quoted hex hash back to internal order; the inverse of `display`."""
    raw = bytes.fromhex(hex_hash)
    if len(raw) != 32:
        raise VerifyError(f"hash {hex_hash!r}: {len(raw)} bytes, expected 32")
    return raw[::-1]


# -- reading bytes strictly ------------------------------------------------------------------------
#
# A transaction is read in one pass with a local offset `pos`. Before each field, the bytes it needs
# are checked to be there (`_need`): a truncated transaction is refused, naming the field and the
# byte offset. Field names are a format and a number ("input {} script", 3), spelled out only in an
# error: a bundle holds tens of thousands of transactions of dozens of fields each.

_OUTPOINT = struct.Struct("<32sI")  # previous txid, previous output index
_I32, _U32, _U64 = struct.Struct("<i"), struct.Struct("<I"), struct.Struct("<Q")  # little-endian
_LONG_COMPACT = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}  # width, smallest allowed


def _need(raw: bytes, pos: int, n: int, what: str, field: str, i: int = 0) -> None:
    """Refuse to read `n` bytes at `pos` past the end of `raw`."""
    if pos + n > len(raw):
        raise VerifyError(f"{what}: truncated at byte {pos}: {field.format(i)} needs {n} bytes, "
                          f"{max(len(raw) - pos, 0)} left")


def _compact(raw: bytes, pos: int, what: str, field: str, i: int = 0) -> tuple[int, int]:
    """Bitcoin's CompactSize length at `pos` (1 byte below 0xFD, else a marker byte and 2, 4 or 8
    bytes) and the offset after it; a non-minimal encoding is refused, as Bitcoin Core does."""
    _need(raw, pos, 1, what, field, i)
    first = raw[pos]
    if first < 0xFD:
        return first, pos + 1
    width, least = _LONG_COMPACT[first]
    _need(raw, pos + 1, width, what, field, i)
    n = int.from_bytes(raw[pos + 1:pos + 1 + width], "little")
    if n < least:
        raise VerifyError(f"{what}: non-canonical length at byte {pos} ({field.format(i)})")
    return n, pos + 1 + width


def _var_bytes(raw: bytes, pos: int, what: str, field: str, i: int = 0) -> tuple[bytes, int]:
    """A CompactSize length then that many bytes (a script, a witness item), and the offset after."""
    n, pos = _compact(raw, pos, what, field + " length", i)
    _need(raw, pos, n, what, field, i)
    return raw[pos:pos + n], pos + n


# -- transactions ----------------------------------------------------------------------------------

class TxIn(NamedTuple):
    """One input: the output it spends (txid in internal order, index), its script and sequence."""

    prev_txid: bytes
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()


class TxOut(NamedTuple):
    """One output: the amount in satoshi and the locking script."""

    value: int
    script: bytes


class Tx(NamedTuple):
    """A parsed transaction with the hashes recomputed from its bytes (internal order)."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    segwit: bool
    txid: bytes
    wtxid: bytes


def _read_tx(raw: bytes, start: int, what: str) -> tuple[Tx, int]:
    """Read one transaction at byte `start`: the transaction and the offset after it.

    Version (4 bytes); BIP144: a marker byte 0x00 and a flag 0x01 announce witnesses; the inputs
    (previous txid 32, index 4, script, sequence 4); the outputs (value 8, script); with the marker,
    each input's witness items; locktime (4). The txid covers all but marker, flag and witnesses.
    """
    _need(raw, start, 4, what, "version")
    version = _I32.unpack_from(raw, start)[0]
    pos = start + 4
    segwit = pos < len(raw) and raw[pos] == 0
    if segwit:
        _need(raw, pos, 2, what, "segwit marker and flag")
        if raw[pos + 1] != 1:
            raise VerifyError(f"{what}: unknown segwit flag {raw[pos + 1]} at byte {pos + 1}")
        pos += 2
    body = pos  # inputs and outputs: the part the txid covers besides version and locktime
    count, pos = _compact(raw, pos, what, "input count")
    spends = []
    for i in range(count):
        _need(raw, pos, 32, what, "input {} previous txid", i)
        _need(raw, pos + 32, 4, what, "input {} previous index", i)
        prev_txid, prev_vout = _OUTPOINT.unpack_from(raw, pos)
        script, pos = _var_bytes(raw, pos + 36, what, "input {} script", i)
        _need(raw, pos, 4, what, "input {} sequence", i)
        spends.append((prev_txid, prev_vout, script, _U32.unpack_from(raw, pos)[0]))
        pos += 4
    count, pos = _compact(raw, pos, what, "output count")
    outputs = []
    for i in range(count):
        _need(raw, pos, 8, what, "output {} value", i)
        value = _U64.unpack_from(raw, pos)[0]
        if value >= 1 << 63:
            raise VerifyError(f"{what}: output {i} has a negative value")
        script, pos = _var_bytes(raw, pos + 8, what, "output {} script", i)
        outputs.append(TxOut(value, script))
    body_end = pos
    witnesses: list[tuple[bytes, ...]] = [()] * len(spends)
    if segwit:
        for i in range(len(spends)):
            count, pos = _compact(raw, pos, what, "input {} witness count", i)
            items = []
            for _ in range(count):
                item, pos = _var_bytes(raw, pos, what, "input {} witness item", i)
                items.append(item)
            witnesses[i] = tuple(items)
        if not any(witnesses):
            raise VerifyError(f"{what}: segwit marker but every witness is empty (byte {start + 4})")
    _need(raw, pos, 4, what, "locktime")
    locktime = _U32.unpack_from(raw, pos)[0]
    pos += 4
    whole = raw[start:pos]
    stripped = whole[:4] + raw[body:body_end] + whole[-4:] if segwit else whole
    inputs = tuple(TxIn(*spend, witness) for spend, witness in zip(spends, witnesses))
    return Tx(version, inputs, tuple(outputs), locktime, segwit, double_sha256(stripped), double_sha256(whole)), pos


def parse_tx(raw: bytes, what: str = "transaction") -> Tx:
    """Parse exactly one transaction, legacy or segwit; truncated or trailing bytes are an error."""
    tx, end = _read_tx(raw, 0, what)
    if end != len(raw):
        raise VerifyError(f"{what}: {len(raw) - end} trailing bytes at byte {end}")
    return tx


def txid(raw: bytes) -> str:
    """The txid as quoted: double SHA-256 of the serialization without witnesses, reversed."""
    return display(parse_tx(raw).txid)


def wtxid(raw: bytes) -> str:
    """The witness txid as quoted: double SHA-256 of the full serialization (equals txid if legacy)."""
    return display(parse_tx(raw).wtxid)


def split_block(raw: bytes, what: str = "block") -> tuple[bytes, list[bytes]]:
    """A serialized block's 80-byte header and the raw bytes of each of its transactions."""
    _need(raw, 0, 80, what, "header")
    count, pos = _compact(raw, 80, what, "transaction count")
    txs = []
    for i in range(count):
        _, end = _read_tx(raw, pos, f"{what} transaction {i}")
        txs.append(raw[pos:end])
        pos = end
    if pos != len(raw):
        raise VerifyError(f"{what}: {len(raw) - pos} trailing bytes at byte {pos}")
    return raw[:80], txs

# -- block headers and proof of work ---------------------------------------------------------------

@dataclass(frozen=True)
class Header:
    """The six fields of an 80-byte block header and its hash (hashes in internal order)."""

    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int
    hash: bytes


def parse_header(raw80: bytes) -> Header:
    """Split a header into its fields: version, previous hash, merkle root, time, bits, nonce."""
    if len(raw80) != 80:
        raise VerifyError(f"block header: {len(raw80)} bytes, expected 80")
    version, prev, root, time, bits, nonce = struct.unpack("<i32s32sIII", raw80)
    return Header(version, prev, root, time, bits, nonce, double_sha256(raw80))


def header_hash(raw80: bytes) -> str:
    """The block hash as quoted: double SHA-256 of the 80 header bytes, reversed."""
    return display(parse_header(raw80).hash)


def bits_to_target(bits: int) -> int:
    """Decode the compact target (Bitcoin Core's SetCompact): mantissa * 256**(exponent - 3).

    The mantissa's top bit is a sign, and a large exponent overflows 256 bits; both are invalid as
    a proof-of-work target and refused here rather than silently reinterpreted.
    """
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    target = mantissa >> 8 * (3 - exponent) if exponent <= 3 else mantissa << 8 * (exponent - 3)
    if target and bits & 0x00800000:
        raise VerifyError(f"bits {bits:#010x}: negative compact target")
    if target >> 256:
        raise VerifyError(f"bits {bits:#010x}: compact target overflows 256 bits")
    return target


def meets_pow(raw80: bytes, limit: int = MAINNET_POW_LIMIT) -> bool:
    """Is the header's hash, read as a little-endian number, at or below its own target?

    The target must also be positive and no easier than the chain's limit, or anyone could claim an
    easy target and "meet" it (Bitcoin Core's CheckProofOfWork).
    """
    header = parse_header(raw80)
    try:
        target = bits_to_target(header.bits)
    except VerifyError:
        return False
    return 0 < target <= limit and int.from_bytes(header.hash, "little") <= target


def check_chain(headers: list[bytes]) -> list[str]:
    """Problems with a run of consecutive headers: a wrong size or a previous-hash that does not
    name the header before it. Empty when they link up."""
    problems = [f"header {i}: {len(h)} bytes, expected 80" for i, h in enumerate(headers) if len(h) != 80]
    if problems:
        return problems
    parsed = [parse_header(h) for h in headers]
    return [f"header {i}: previous hash {display(cur.prev_hash)} is not header {i - 1}'s hash "
            f"{display(prev.hash)}" for i, (prev, cur) in enumerate(itertools.pairwise(parsed), start=1)
            if cur.prev_hash != prev.hash]


# -- merkle trees ----------------------------------------------------------------------------------

def _next_level(level: list[bytes]) -> list[bytes]:
    """Hash pairs into the level above; an odd level pairs its last hash with itself."""
    if len(level) % 2:
        level = [*level, level[-1]]
    return [double_sha256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]


def merkle_root(txids: list[bytes]) -> bytes:
    """The merkle root of a block's txids (internal order), as its header commits to it."""
    if not txids:
        raise VerifyError("merkle root of no transactions")
    level = list(txids)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_branch(txids: list[bytes], index: int) -> list[bytes]:
    """The sibling hashes from txid `index` up to the root: what proves its inclusion."""
    if not 0 <= index < len(txids):
        raise VerifyError(f"merkle branch: index {index} outside 0..{len(txids) - 1}")
    level, branch = list(txids), []
    while len(level) > 1:
        sibling = index ^ 1
        branch.append(level[sibling] if sibling < len(level) else level[index])
        level, index = _next_level(level), index // 2
    return branch


def merkle_root_from_branch(txid: bytes, index: int, branch: list[bytes], n_tx: int | None = None,
                            memo: dict[bytes, bytes] | None = None) -> bytes:
    """Climb from a txid to the root: at each level the index's low bit says which side we are on.

    With the block's transaction count `n_tx`, also refuse an index past the last transaction or a
    branch of the wrong length (a phantom position made by the odd-level duplication). `memo`: the
    pairs already hashed on this block's climbs (transactions of one block share their branches'
    upper levels), pair to parent; it saves hashing, not checking: every level is still climbed.
    """
    if index < 0 or index >> len(branch):
        raise VerifyError(f"merkle branch: index {index} does not fit a branch of {len(branch)} hashes")
    if n_tx is not None:
        depth = max(n_tx - 1, 0).bit_length()
        if not index < n_tx or len(branch) != depth:
            raise VerifyError(f"merkle branch: index {index} with {len(branch)} hashes does not fit "
                              f"{n_tx} transactions (expected {depth} hashes)")
    sha256, h, memo = hashlib.sha256, txid, {} if memo is None else memo
    for sibling in branch:
        pair = sibling + h if index & 1 else h + sibling
        h = memo.get(pair) or memo.setdefault(pair, sha256(sha256(pair).digest()).digest())  # double_sha256
        index >>= 1
    return h
