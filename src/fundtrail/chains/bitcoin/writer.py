"""Write Bitcoin transactions, blocks and Bitcoin Core `blocks/` directories.

fundtrail ingests Core's on-disk format, so tests and the demo need chains in exactly that format
without running a node. This module is the write side: wire serialization (legacy and BIP144
segwit), BIP34 coinbases, merkle roots, header mining against an easy target, output-script
builders, and blk*.dat / xor.dat files as Bitcoin Core 28+ lays them out.

Hashes are `bytes` in internal byte order (as serialized); display hex is the reverse, see
`display_hex`. Hashing uses hashlib directly so this module has no dependencies inside fundtrail
beyond `Network`.
"""

from __future__ import annotations

import bz2
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from fundtrail.chains.bitcoin.params import Network

MAX_NONCE = 0xFFFFFFFF
REGTEST_BITS = 0x207FFFFF
SEQUENCE_FINAL = 0xFFFFFFFF
COIN = 100_000_000
#: Prefix of the BIP141 witness commitment output: OP_RETURN, push 36, 0xaa21a9ed.
WITNESS_COMMITMENT_PREFIX = bytes.fromhex("6a24aa21a9ed")
WITNESS_RESERVED_VALUE = bytes(32)

# Opcodes the builders need.
OP_0, OP_PUSHDATA1, OP_PUSHDATA2, OP_PUSHDATA4 = 0x00, 0x4C, 0x4D, 0x4E
OP_1NEGATE, OP_1 = 0x4F, 0x51
OP_RETURN, OP_DUP, OP_EQUAL, OP_EQUALVERIFY = 0x6A, 0x76, 0x87, 0x88
OP_HASH160, OP_CHECKSIG, OP_CHECKMULTISIG = 0xA9, 0xAC, 0xAE


def sha256d(data: bytes) -> bytes:
    """Double SHA-256, the hash of txids, block hashes and merkle nodes."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def display_hex(h: bytes) -> str:
    """Hex of an internal-order hash as explorers and Core's RPC show it (byte-reversed)."""
    return h[::-1].hex()


def compact_size(n: int) -> bytes:
    """CompactSize ("varint") encoding of counts and lengths in the wire format."""
    if not 0 <= n <= 0xFFFFFFFFFFFFFFFF:
        raise ValueError(f"CompactSize cannot encode {n}")
    if n < 0xFD:
        return bytes((n,))
    for prefix, width in ((b"\xfd", 2), (b"\xfe", 4), (b"\xff", 8)):
        if n >> (8 * width) == 0:
            return prefix + n.to_bytes(width, "little")
    raise AssertionError("unreachable")


def var_bytes(data: bytes) -> bytes:
    """CompactSize length followed by the bytes (scripts, witness items)."""
    return compact_size(len(data)) + data


def push_data(data: bytes) -> bytes:
    """Minimal script push of a byte string, as `CScript() << vector` emits it."""
    n = len(data)
    if n < OP_PUSHDATA1:
        return bytes((n,)) + data
    if n <= 0xFF:
        return bytes((OP_PUSHDATA1, n)) + data
    if n <= 0xFFFF:
        return bytes((OP_PUSHDATA2,)) + n.to_bytes(2, "little") + data
    return bytes((OP_PUSHDATA4,)) + n.to_bytes(4, "little") + data


def script_num(n: int) -> bytes:
    """Minimal CScriptNum: little-endian magnitude, sign in the top bit of the last byte."""
    if n == 0:
        return b""
    neg, mag = n < 0, abs(n)
    out = bytearray()
    while mag:
        out.append(mag & 0xFF)
        mag >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0x00)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def push_int(n: int) -> bytes:
    """Push an integer exactly as `CScript() << int64_t` does: OP_0, OP_1NEGATE, OP_1..OP_16, else
    a push of its CScriptNum encoding. BIP34 heights are pushed this way by Core's miner."""
    if n == 0:
        return bytes((OP_0,))
    if n == -1:
        return bytes((OP_1NEGATE,))
    if 1 <= n <= 16:
        return bytes((OP_1 + n - 1,))
    return push_data(script_num(n))


def small_int_op(n: int) -> int:
    """Opcode OP_0 / OP_1..OP_16 for a small integer (multisig counts, witness versions)."""
    if n == 0:
        return OP_0
    if 1 <= n <= 16:
        return OP_1 + n - 1
    raise ValueError(f"{n} is not a small integer (0..16)")


@dataclass(frozen=True)
class TxIn:
    """A transaction input; `prev_txid` is in internal byte order."""

    prev_txid: bytes
    prev_vout: int
    script_sig: bytes = b""
    sequence: int = SEQUENCE_FINAL
    witness: list[bytes] = field(default_factory=list)

    def serialize(self) -> bytes:
        """Outpoint, scriptSig and sequence (the witness goes at the end of the transaction)."""
        if len(self.prev_txid) != 32:
            raise ValueError("prev_txid must be 32 bytes")
        outpoint = self.prev_txid + struct.pack("<I", self.prev_vout)
        return outpoint + var_bytes(self.script_sig) + struct.pack("<I", self.sequence)


@dataclass(frozen=True)
class TxOut:
    """A transaction output: value in satoshi and the output script."""

    value: int
    script: bytes

    def serialize(self) -> bytes:
        """8-byte little-endian value followed by the length-prefixed script."""
        return struct.pack("<q", self.value) + var_bytes(self.script)


@dataclass(frozen=True)
class Tx:
    """A transaction; serialized with BIP144 marker/flag when any input carries a witness."""

    version: int
    inputs: list[TxIn]
    outputs: list[TxOut]
    locktime: int = 0

    @property
    def has_witness(self) -> bool:
        """Whether the segwit serialization applies (an empty witness on every input does not)."""
        return any(inp.witness for inp in self.inputs)

    def serialize(self, with_witness: bool = True) -> bytes:
        """Wire serialization; `with_witness=False` gives the legacy form the txid hashes."""
        segwit = with_witness and self.has_witness
        parts = [struct.pack("<i", self.version)]
        if segwit:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        parts.extend(inp.serialize() for inp in self.inputs)
        parts.append(compact_size(len(self.outputs)))
        parts.extend(out.serialize() for out in self.outputs)
        if segwit:
            for inp in self.inputs:
                parts.append(compact_size(len(inp.witness)))
                parts.extend(var_bytes(item) for item in inp.witness)
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    def txid(self) -> bytes:
        """sha256d of the legacy serialization, internal byte order."""
        return sha256d(self.serialize(with_witness=False))

    def wtxid(self) -> bytes:
        """sha256d of the full serialization (equals the txid for non-witness transactions)."""
        return sha256d(self.serialize(with_witness=True))


def coinbase_tx(
    height: int, outputs: list[TxOut], extra: bytes = b"", witness_commitment: bool = False
) -> Tx:
    """A coinbase whose scriptSig starts with the BIP34 height push.

    The height is pushed like Core's `CScript() << nHeight`: OP_0 for 0, OP_1..OP_16 for 1..16,
    otherwise a minimal CScriptNum push (17 -> 01 11, 128 -> 02 80 00). `extra` follows as a
    data push; without it Core's miner appends OP_0, which we copy so the scriptSig always meets
    the 2-byte consensus minimum. With `witness_commitment` the input gets the 32-zero-byte
    reserved value as its witness and a placeholder commitment output is appended; `build_block`
    (or `fill_witness_commitment`) fills in the real commitment once the block's txs are known.
    """
    script_sig = push_int(height) + (push_data(extra) if extra else bytes((OP_0,)))
    if len(script_sig) > 100:
        raise ValueError("coinbase scriptSig exceeds 100 bytes")
    witness = [WITNESS_RESERVED_VALUE] if witness_commitment else []
    outs = list(outputs)
    if witness_commitment:
        outs.append(TxOut(0, WITNESS_COMMITMENT_PREFIX + bytes(32)))
    return Tx(2, [TxIn(bytes(32), 0xFFFFFFFF, script_sig, SEQUENCE_FINAL, witness)], outs, 0)


def fill_witness_commitment(txs: Sequence[Tx]) -> list[Tx]:
    """Return `txs` with the coinbase's BIP141 commitment output set for these transactions.

    Only the last output carrying the commitment prefix is rewritten (the one consensus reads);
    a coinbase without one is returned unchanged. Call it before using the coinbase txid.
    """
    txs = list(txs)
    cb = txs[0] if txs else None
    marked = [i for i, o in enumerate(cb.outputs if cb else ()) if is_commitment(o.script)]
    if cb is None or not marked:
        return txs
    idx = marked[-1]
    reserved = cb.inputs[0].witness[0] if cb.inputs[0].witness else WITNESS_RESERVED_VALUE
    commitment = witness_commitment([tx.wtxid() for tx in txs[1:]], reserved)
    old = cb.outputs[idx]
    outs = list(cb.outputs)
    outs[idx] = TxOut(old.value, WITNESS_COMMITMENT_PREFIX + commitment + old.script[38:])
    txs[0] = replace(cb, outputs=outs)
    return txs


def is_commitment(script: bytes) -> bool:
    """Whether an output script carries the BIP141 witness commitment."""
    return len(script) >= 38 and script[:6] == WITNESS_COMMITMENT_PREFIX


def witness_commitment(wtxids: Sequence[bytes], reserved: bytes) -> bytes:
    """The BIP141 commitment for a block whose non-coinbase transactions have these wtxids: the
    witness merkle root (the coinbase's leaf is zeros) hashed with the coinbase's reserved value."""
    return sha256d(merkle_root([bytes(32), *wtxids]) + reserved)


def merkle_root(txids: Sequence[bytes]) -> bytes:
    """Merkle root of internal-order hashes; odd levels duplicate their last node, as Core does."""
    if not txids:
        raise ValueError("merkle root of no transactions")
    level = list(txids)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def bits_to_target(bits: int) -> int:
    """Decode the compact `nBits` difficulty encoding into the 256-bit target."""
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    if bits & 0x00800000 and mantissa:
        raise ValueError(f"negative compact target {bits:#010x}")
    target = mantissa >> (8 * (3 - exponent)) if exponent <= 3 else mantissa << (8 * (exponent - 3))
    if target >> 256:
        raise ValueError(f"compact target {bits:#010x} overflows 256 bits")
    return target


def block_header(
    version: int, prev_hash: bytes, merkle: bytes, time: int, bits: int, nonce: int
) -> bytes:
    """The 80-byte block header; `prev_hash` and `merkle` in internal byte order."""
    if len(prev_hash) != 32 or len(merkle) != 32:
        raise ValueError("prev_hash and merkle root must be 32 bytes")
    return struct.pack("<i", version) + prev_hash + merkle + struct.pack("<III", time, bits, nonce)


def check_pow(header: bytes) -> bool:
    """Whether the header's hash, read as a little-endian integer, is at most its target."""
    bits = struct.unpack_from("<I", header, 72)[0]
    return int.from_bytes(sha256d(header[:80]), "little") <= bits_to_target(bits)


def build_block(
    prev_hash: bytes,
    txs: list[Tx],
    time: int,
    bits: int = REGTEST_BITS,
    version: int = 0x20000000,
    *,
    nonce: int | None = None,
) -> bytes:
    """Serialize a block: header, tx count, transactions.

    The coinbase's witness commitment (if it has one) is filled in first. Without `nonce` the
    header is mined: the nonce counts up from 0 until the proof of work holds (about two tries
    at the regtest target). With `nonce` the header is taken as given, e.g. to reproduce a
    historical block such as mainnet's genesis.
    """
    if not txs:
        raise ValueError("a block needs at least a coinbase")
    txs = fill_witness_commitment(txs)
    root = merkle_root([tx.txid() for tx in txs])
    body = compact_size(len(txs)) + b"".join(tx.serialize() for tx in txs)
    if nonce is not None:
        return block_header(version, prev_hash, root, time, bits, nonce) + body
    return mine_header(version, prev_hash, root, time, bits) + body


def mine_header(version: int, prev_hash: bytes, merkle: bytes, time: int, bits: int) -> bytes:
    """The header with the first nonce, counting up from 0, whose hash meets the target of `bits`
    (about two tries at the regtest target)."""
    target = bits_to_target(bits)
    prefix = block_header(version, prev_hash, merkle, time, bits, 0)[:76]
    for n in range(MAX_NONCE + 1):
        header = prefix + struct.pack("<I", n)
        if int.from_bytes(sha256d(header), "little") <= target:
            return header
    raise ValueError(f"no nonce satisfies bits {bits:#010x}; change the time and retry")


def block_hash(raw_block: bytes) -> bytes:
    """Hash of a serialized block (sha256d of its header), internal byte order."""
    if len(raw_block) < 80:
        raise ValueError("a block is at least 80 bytes")
    return sha256d(raw_block[:80])


def _need(data: bytes, size: int, what: str) -> bytes:
    if len(data) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(data)}")
    return data


def p2pkh(h160: bytes) -> bytes:
    """OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG."""
    body = _need(h160, 20, "hash160")
    return bytes((OP_DUP, OP_HASH160, 20)) + body + bytes((OP_EQUALVERIFY, OP_CHECKSIG))


def p2sh(h160: bytes) -> bytes:
    """OP_HASH160 <20> OP_EQUAL."""
    return bytes((OP_HASH160, 20)) + _need(h160, 20, "hash160") + bytes((OP_EQUAL,))


def p2wpkh(h160: bytes) -> bytes:
    """Witness v0 keyhash: OP_0 <20>."""
    return bytes((OP_0, 20)) + _need(h160, 20, "hash160")


def p2wsh(h256: bytes) -> bytes:
    """Witness v0 scripthash: OP_0 <32>."""
    return bytes((OP_0, 32)) + _need(h256, 32, "sha256")


def p2tr(xonly32: bytes) -> bytes:
    """Taproot: OP_1 <32-byte x-only key>."""
    return bytes((OP_1, 32)) + _need(xonly32, 32, "x-only key")


def p2pk(pubkey: bytes) -> bytes:
    """<pubkey> OP_CHECKSIG, with a 33-byte compressed or 65-byte uncompressed key."""
    if len(pubkey) not in (33, 65):
        raise ValueError(f"pubkey must be 33 or 65 bytes, got {len(pubkey)}")
    return push_data(pubkey) + bytes((OP_CHECKSIG,))


def multisig(m: int, pubkeys: Sequence[bytes]) -> bytes:
    """Bare multisig: OP_m <keys...> OP_n OP_CHECKMULTISIG."""
    if not 1 <= m <= len(pubkeys) <= 16:
        raise ValueError(f"need 1 <= m <= n <= 16, got m={m}, n={len(pubkeys)}")
    keys = b"".join(push_data(k) for k in pubkeys)
    return bytes((small_int_op(m),)) + keys + bytes((small_int_op(len(pubkeys)), OP_CHECKMULTISIG))


def op_return(data: bytes) -> bytes:
    """Null-data output: OP_RETURN followed by one push of `data` (bare OP_RETURN when empty)."""
    return bytes((OP_RETURN,)) + (push_data(data) if data else b"")


def p2a() -> bytes:
    """Pay-to-anchor: OP_1 <0x4e73>."""
    return bytes((OP_1, 2, 0x4E, 0x73))


def witness_unknown(version: int, program: bytes) -> bytes:
    """A witness program of any version 0..16 (2..40 bytes), e.g. v2+ outputs no rule covers yet."""
    if not 2 <= len(program) <= 40:
        raise ValueError(f"witness program must be 2..40 bytes, got {len(program)}")
    return bytes((small_int_op(version), len(program))) + program


def blk_record(raw_block: bytes, network: Network) -> bytes:
    """One blk*.dat record: network magic, 4-byte little-endian length, the block."""
    return network.magic + struct.pack("<I", len(raw_block)) + raw_block


def xor_obfuscate(data: bytes, key: bytes, offset: int = 0) -> bytes:
    """XOR `data` that starts at file position `offset` with the repeating key, as Core 28+ does.

    The operation is its own inverse, so it also de-obfuscates.
    """
    n = len(key)
    if not n or not data:
        return bytes(data)
    start = offset % n
    stream = (key[start:] + key[:start]) * (len(data) // n + 1)
    value = int.from_bytes(data, "big") ^ int.from_bytes(stream[: len(data)], "big")
    return value.to_bytes(len(data), "big")


def write_blocks_dir(
    path: str | Path,
    blocks: Iterable[bytes],
    network: Network,
    *,
    max_file_size: int = 128 * 1024 * 1024,
    xor_key: bytes | None = None,
    zero_pad: int = 0,
) -> list[Path]:
    """Write blocks, in the order given, to blk00000.dat, blk00001.dat, ... under `path`.

    A new file starts when the next record would push the current one past `max_file_size` (a
    record larger than the limit gets a file of its own). With an 8-byte `xor_key`, xor.dat holds
    the key and every blk file is obfuscated from its first byte, as Bitcoin Core 28+ writes
    them. `zero_pad` > 0 appends raw zero bytes to the last file up to a multiple of that size,
    imitating Core's preallocation (fallocate'd space is zeros on disk, never XORed), which
    readers must skip. Returns the blk file paths in order.
    """
    if xor_key is not None and len(xor_key) != 8:
        raise ValueError("xor_key must be 8 bytes")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    files: list[list[bytes]] = [[]]
    size = 0
    for raw in blocks:
        rec = blk_record(raw, network)
        if files[-1] and size + len(rec) > max_file_size:
            files.append([])
            size = 0
        files[-1].append(rec)
        size += len(rec)
    if xor_key is not None:
        (out / "xor.dat").write_bytes(xor_key)
    paths: list[Path] = []
    for i, records in enumerate(files):
        data = b"".join(records)
        if xor_key is not None:
            data = xor_obfuscate(data, xor_key)
        if zero_pad > 0 and i == len(files) - 1 and len(data) % zero_pad:
            data += bytes(zero_pad - len(data) % zero_pad)
        p = out / f"blk{i:05d}.dat"
        p.write_bytes(data)
        paths.append(p)
    return paths


def write_raw_block(path: str | Path, raw: bytes, hex_text: bool = False) -> Path:
    """Write one block as raw bytes, or as hex text plus newline (`bitcoin-cli getblock <h> 0`)."""
    p = Path(path)
    if hex_text:
        p.write_text(raw.hex() + "\n", encoding="ascii")
    else:
        p.write_bytes(raw)
    return p


def write_bz2_stream(path: str | Path, blocks: Iterable[bytes], network: Network) -> Path:
    """Write a bzip2-compressed blk-format stream (records back to back), as archives ship them."""
    p = Path(path)
    with bz2.open(p, "wb") as fh:
        for raw in blocks:
            fh.write(blk_record(raw, network))
    return p
