"""Bitcoin's evidence primitives, in plain standard-library Python.

Everything a court needs to re-check that a transaction is in the Bitcoin chain: the txid recomputed
from the raw bytes, the merkle path from that txid to a block header, the header's proof of work and
the headers linking up. Written to be read, not to be fast: one function per idea, no dependencies.

Byte order: hashes are kept in Bitcoin's internal order (as the double SHA-256 produces them); the
hex strings people quote (explorers, bitcoind) are the same bytes reversed, see `display`.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from dataclasses import dataclass

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

class _Reader:
    """A cursor over bytes that refuses to read past the end, naming the field and the offset."""

    def __init__(self, raw: bytes, what: str) -> None:
        self.raw, self.pos, self.what = raw, 0, what

    def take(self, n: int, field: str) -> bytes:
        if n > len(self.raw) - self.pos:
            raise VerifyError(f"{self.what}: truncated at byte {self.pos}: {field} needs {n} bytes, "
                              f"{len(self.raw) - self.pos} left")
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int, field: str) -> int:
        return int.from_bytes(self.take(n, field), "little")

    def compact(self, field: str) -> int:
        """Bitcoin's CompactSize length prefix; a non-minimal encoding is refused, as Bitcoin Core does."""
        at = self.pos
        first = self.uint(1, field)
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}.get(first, 0)
        if not size:
            return first
        n = self.uint(size, field)
        if n < {2: 0xFD, 4: 0x10000, 8: 0x100000000}[size]:
            raise VerifyError(f"{self.what}: non-canonical length at byte {at} ({field})")
        return n

    def var_bytes(self, field: str) -> bytes:
        return self.take(self.compact(field + " length"), field)

    def end(self) -> None:
        if self.pos != len(self.raw):
            raise VerifyError(f"{self.what}: {len(self.raw) - self.pos} trailing bytes at byte {self.pos}")


# -- transactions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TxIn:
    """One input: the output it spends (txid in internal order, index), its script and sequence."""

    prev_txid: bytes
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class TxOut:
    """One output: the amount in satoshi and the locking script."""

    value: int
    script: bytes


@dataclass(frozen=True)
class Tx:
    """A parsed transaction with the hashes recomputed from its bytes (internal order)."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    segwit: bool
    txid: bytes
    wtxid: bytes


def _read_tx(r: _Reader) -> Tx:
    """Read one transaction at the cursor (BIP144: marker 0x00 and flag 0x01 announce witnesses)."""
    start = r.pos
    version = r.uint(4, "version")
    segwit = r.pos < len(r.raw) and r.raw[r.pos] == 0
    if segwit:
        flag = r.take(2, "segwit marker and flag")[1]
        if flag != 1:
            raise VerifyError(f"{r.what}: unknown segwit flag {flag} at byte {r.pos - 1}")
    body = r.pos  # inputs and outputs: the part the txid covers besides version and locktime
    inputs = [_read_input(r, i) for i in range(r.compact("input count"))]
    outputs = [TxOut(r.uint(8, f"output {i} value"), r.var_bytes(f"output {i} script"))
                for i in range(r.compact("output count"))]
    body_end = r.pos
    if segwit:
        inputs = [TxIn(i.prev_txid, i.prev_vout, i.script_sig, i.sequence,
                       tuple(r.var_bytes(f"input {n} witness item") for _ in range(r.compact("witness count"))))
                  for n, i in enumerate(inputs)]
        if not any(i.witness for i in inputs):
            raise VerifyError(f"{r.what}: segwit marker but every witness is empty (byte {start + 4})")
    locktime = r.uint(4, "locktime")
    whole = r.raw[start:r.pos]
    stripped = whole[:4] + r.raw[body:body_end] + whole[-4:] if segwit else whole
    negative = [n for n, o in enumerate(outputs) if o.value >= 1 << 63]
    if negative:
        raise VerifyError(f"{r.what}: output {negative[0]} has a negative value")
    return Tx(version, tuple(inputs), tuple(outputs), locktime, segwit,
              double_sha256(stripped), double_sha256(whole))


def _read_input(r: _Reader, i: int) -> TxIn:
    return TxIn(r.take(32, f"input {i} previous txid"), r.uint(4, f"input {i} previous index"),
                r.var_bytes(f"input {i} script"), r.uint(4, f"input {i} sequence"))


def parse_tx(raw: bytes, what: str = "transaction") -> Tx:
    """Parse exactly one transaction, legacy or segwit; truncated or trailing bytes are an error."""
    r = _Reader(raw, what)
    tx = _read_tx(r)
    r.end()
    return tx


def txid(raw: bytes) -> str:
    """The txid as quoted: double SHA-256 of the serialization without witnesses, reversed."""
    return display(parse_tx(raw).txid)


def wtxid(raw: bytes) -> str:
    """The witness txid as quoted: double SHA-256 of the full serialization (equals txid if legacy)."""
    return display(parse_tx(raw).wtxid)


def split_block(raw: bytes, what: str = "block") -> tuple[bytes, list[bytes]]:
    """A serialized block's 80-byte header and the raw bytes of each of its transactions."""
    r = _Reader(raw, what)
    header = r.take(80, "header")
    txs = []
    for i in range(r.compact("transaction count")):
        start = r.pos
        r.what = f"{what} transaction {i}"
        _read_tx(r)
        txs.append(raw[start:r.pos])
    r.what = what
    r.end()
    return header, txs


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


def merkle_root_from_branch(txid: bytes, index: int, branch: list[bytes], n_tx: int | None = None) -> bytes:
    """Climb from a txid to the root: at each level the index's low bit says which side we are on.

    With the block's transaction count `n_tx`, also refuse an index past the last transaction or a
    branch of the wrong length (a phantom position made by the odd-level duplication).
    """
    if index < 0 or index >> len(branch):
        raise VerifyError(f"merkle branch: index {index} does not fit a branch of {len(branch)} hashes")
    if n_tx is not None:
        depth = max(n_tx - 1, 0).bit_length()
        if not index < n_tx or len(branch) != depth:
            raise VerifyError(f"merkle branch: index {index} with {len(branch)} hashes does not fit "
                              f"{n_tx} transactions (expected {depth} hashes)")
    h = txid
    for sibling in branch:
        h = double_sha256(sibling + h) if index & 1 else double_sha256(h + sibling)
        index >>= 1
    return h
