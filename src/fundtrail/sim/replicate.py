"""Disjoint copies of a simulated Bitcoin chain, chained after it: a larger chain for scale runs.

The simulator makes 3,200-6,100 transactions a second (10M took 27-52 minutes here), too slow for
the cost model's "largest size this machine allows" (issue 19). A copy keeps the original's structure
(every spend, CoinJoin, change pattern, fee and value) under new keys, so every stage's work per
transaction is the original's, and the copies share nothing with it or with each other:

- every standard output script (P2PKH, P2SH, P2WPKH, P2WSH, P2TR, P2PK) has one byte of its hash
  or key XORed with the copy's number, so each address of the original has one new address per
  copy; other scripts (OP_RETURN, bare multisig, non-standard) are kept and so are shared;
- every input names the copied transaction it spends (its new txid), and the coinbase's BIP141
  witness commitment is recomputed from the new wtxids;
- the blocks are chained after the previous copy's tip (copy 1 after the original), with their times
  shifted by the original's span, merkle roots recomputed and headers mined at the original's bits.

Clustering therefore gives each copy the original's partition: (copies + 1) times its clusters,
as `tests/sim/test_replicate.py` checks through the real ingest and clustering.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.header import Header
from fundtrail.chains.bitcoin.params import Network
from fundtrail.chains.bitcoin.undo import read_compact_size
from fundtrail.errors import DataError, UsageError

_COINBASE_PREV = bytes(32)
_MAX_FILE = 128 * 1024 * 1024


@dataclass
class ReplicaReport:
    """What `replicate` wrote: per copy, its blocks, transactions and blk files; shared scripts."""

    copies: int
    blocks: int
    txs: int
    kept_scripts: int
    files: list[Path]


def _key_byte(script: bytes) -> int:
    """The index of the byte a copy changes in a standard script, or -1 to keep the script.

    For a hash or taproot key, its first byte: ingest's address fingerprint is the first 16 bytes
    of such a payload (`chains.bitcoin.addresskey`), so a later byte would not make a new address.
    For a public key, its last byte (the prefix stays valid; the address is the key's hash160)."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return 3  # P2PKH
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return 2  # P2SH
    if (n == 22 and script[:2] == b"\x00\x14") or (n == 34 and script[:2] in (b"\x00\x20", b"\x51\x20")):
        return 2  # P2WPKH, P2WSH, P2TR
    if ((n == 35 and script[0] == 0x21) or (n == 67 and script[0] == 0x41)) and script[-1] == 0xAC:
        return n - 2  # P2PK
    return -1


@dataclass
class _Tx:
    """One transaction's spans in the source block, parsed once and re-serialized per copy."""

    version: bytes
    inputs: list[tuple[bytes, bytes]]  # (prev txid, the rest: vout, scriptSig, sequence)
    outputs: list[tuple[bytes, bytes]]  # (value, script)
    witness: bytes  # the whole witness section, b"" for a legacy transaction
    locktime: bytes
    old_txid: bytes


def _parse_tx(buf: bytes, pos: int, origin: str) -> tuple[_Tx, int]:
    end = len(buf)

    def size(at: int, what: str) -> tuple[int, int]:
        return read_compact_size(buf, at, end, origin, what)

    start = pos
    version = buf[pos:pos + 4]
    pos += 4
    segwit = buf[pos] == 0 and buf[pos + 1] != 0
    if segwit:
        pos += 2
    n_in, pos = size(pos, "input count")
    inputs = []
    for _ in range(n_in):
        slen, p = size(pos + 36, "scriptSig length")
        inputs.append((buf[pos:pos + 32], buf[pos + 32:p + slen + 4]))
        pos = p + slen + 4
    n_out, pos = size(pos, "output count")
    outputs = []
    for _ in range(n_out):
        slen, p = size(pos + 8, "script length")
        outputs.append((buf[pos:pos + 8], buf[p:p + slen]))
        pos = p + slen
    wit_start = pos
    if segwit:
        for _ in range(n_in):
            items, pos = size(pos, "witness item count")
            for _ in range(items):
                ilen, pos = size(pos, "witness item length")
                pos += ilen
    witness = buf[wit_start:pos]
    locktime = buf[pos:pos + 4]
    pos += 4
    legacy = version + buf[start + 6:wit_start] + locktime if segwit else buf[start:pos]
    return _Tx(version, inputs, outputs, witness, locktime, w.sha256d(legacy)), pos


class _Copier:
    """Re-keys transactions for copies 1..k; remembers each original txid's new txids."""

    def __init__(self, copies: int) -> None:
        self.copies = copies
        self.index: dict[bytes, int] = {}
        self.new_txids = [bytearray() for _ in range(copies)]
        self.kept_scripts = 0

    def _scripts(self, outputs: list[tuple[bytes, bytes]], k: int, count: bool) -> bytes:
        parts = [w.compact_size(len(outputs))]
        for value, script in outputs:
            i = _key_byte(script)
            if i >= 0:
                s = bytearray(script)
                s[i] ^= k
                script = bytes(s)
            elif count:
                self.kept_scripts += 1
            parts.append(value + w.compact_size(len(script)) + script)
        return b"".join(parts)

    def serialize(self, tx: _Tx, k: int, outputs: list[tuple[bytes, bytes]] | None = None) -> tuple[bytes, bytes]:
        """(legacy, full) serialization of `tx` in copy `k` (1-based)."""
        parts = [w.compact_size(len(tx.inputs))]
        for prev, rest in tx.inputs:
            if prev != _COINBASE_PREV:
                at = self.index.get(prev)
                if at is None:
                    raise DataError(f"transaction {prev[::-1].hex()} spent before it appears in the chain: "
                                    "a copy needs the blocks in chain order")
                prev = bytes(self.new_txids[k - 1][32 * at:32 * at + 32])
            parts.append(prev + rest)
        body = b"".join(parts) + self._scripts(outputs if outputs is not None else tx.outputs, k, k == 1)
        legacy = tx.version + body + tx.locktime
        full = tx.version + b"\x00\x01" + body + tx.witness + tx.locktime if tx.witness else legacy
        return legacy, full

    def remember(self, tx: _Tx, new: list[bytes]) -> None:
        self.index[tx.old_txid] = len(self.index)
        for k, txid in enumerate(new):
            self.new_txids[k] += txid


def _commitment_fixed(cb: _Tx, wtxids: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The coinbase's outputs with its last witness commitment set for these wtxids."""
    marked = [i for i, (_, s) in enumerate(cb.outputs) if w.is_commitment(s)]
    if not marked:
        return cb.outputs
    reserved = bytes(32)
    items, p = read_compact_size(cb.witness, 0, len(cb.witness), "coinbase witness", "item count")
    if items:
        ilen, p = read_compact_size(cb.witness, p, len(cb.witness), "coinbase witness", "item length")
        reserved = cb.witness[p:p + ilen]
    outs = list(cb.outputs)
    value, old = outs[marked[-1]]
    outs[marked[-1]] = (value, w.WITNESS_COMMITMENT_PREFIX + w.witness_commitment(wtxids, reserved) + old[38:])
    return outs


def _blocks(blocks_dir: Path, network: Network) -> Iterator[tuple[str, bytes]]:
    files = sorted(blocks_dir.glob("blk*.dat"))
    if not files:
        raise UsageError(f"{blocks_dir}: no blk*.dat files")
    if (blocks_dir / "xor.dat").exists():
        raise UsageError(f"{blocks_dir}: obfuscated blk files (xor.dat) are not supported here")
    for f in files:
        data = f.read_bytes()
        pos = 0
        while pos + 8 <= len(data) and data[pos:pos + 4] == network.magic:
            (size,) = struct.unpack_from("<I", data, pos + 4)
            yield f"{f}:{pos}", data[pos + 8:pos + 8 + size]
            pos += 8 + size
        if any(data[pos:]):
            raise DataError(f"{f}, offset {pos}: not a block record (magic {data[pos:pos + 4].hex()})")


class _Writer:
    """Appends blk records of one copy to blk files of at most 128 MB; remembers header offsets."""

    def __init__(self, out: Path, network: Network) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.network = out, network
        self.files: list[Path] = []
        self.headers: list[tuple[Path, int]] = []
        self._fh: BinaryIO | None = None
        self._size = 0

    def add(self, block: bytes) -> None:
        rec = w.blk_record(block, self.network)
        if self._fh is None or self._size + len(rec) > _MAX_FILE:
            if self._fh is not None:
                self._fh.close()
            path = self.out / f"blk{len(self.files):05d}.dat"
            self.files.append(path)
            self._fh = open(path, "wb")  # noqa: SIM115 (kept open across records; closed in close())
            self._size = 0
        self.headers.append((self.files[-1], self._size + 8))
        self._fh.write(rec)
        self._size += len(rec)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def _rechain(writer: _Writer, prev: bytes, shift: int) -> bytes:
    """Set each header's parent and time (the original's plus `shift`) and mine it; returns the tip."""
    by_file: dict[Path, list[int]] = {}
    for path, off in writer.headers:
        by_file.setdefault(path, []).append(off)
    for path in writer.files:
        with open(path, "r+b") as fh:
            for off in by_file.get(path, []):
                fh.seek(off)
                h = Header.parse(fh.read(80))
                new = w.mine_header(h.version, prev, h.merkle_root, h.time + shift, h.bits)
                fh.seek(off)
                fh.write(new)
                prev = w.sha256d(new)
    return prev


def replicate(blocks_dir: Path, out_dir: Path, copies: int, network: Network,
              progress: Callable[[int, int], None] | None = None) -> ReplicaReport:
    """Write `copies` re-keyed copies of the chain in `blocks_dir` (blk files in chain order) as
    blk files under `out_dir/copy-<k>/`, each chained after the one before it (copy 1 after the
    original's last block). `progress(blocks, txs)` is called after every block of the original."""
    if copies < 1 or copies > 255:
        raise UsageError(f"copies must be 1..255 (a copy XORs one key byte with its number), not {copies}")
    copier = _Copier(copies)
    writers = [_Writer(out_dir / f"copy-{k}", network) for k in range(1, copies + 1)]
    first_time = last_time = None
    tip = None
    n_blocks = n_txs = 0
    try:
        for origin, raw in _blocks(blocks_dir, network):
            head = Header.parse(raw[:80])
            if tip is not None and head.prev_hash != tip:
                raise DataError(f"{origin}: block does not extend the one before it; "
                                "a copy needs the blk files in chain order without forks")
            tip = head.hash
            first_time = head.time if first_time is None else first_time
            last_time = head.time
            n_tx, pos = read_compact_size(raw, 80, len(raw), origin, "transaction count")
            txs = []
            for _ in range(n_tx):
                tx, pos = _parse_tx(raw, pos, origin)
                txs.append(tx)
            if pos != len(raw):
                raise DataError(f"{origin}: {len(raw) - pos} bytes after the last transaction")
            fulls: list[list[bytes]] = [[] for _ in writers]
            txids: list[list[bytes]] = [[] for _ in writers]
            for tx in txs[1:]:  # in order: a transaction may spend an earlier one of its block
                ids = []
                for k in range(1, copies + 1):
                    legacy, full = copier.serialize(tx, k)
                    ids.append(w.sha256d(legacy))
                    fulls[k - 1].append(full)
                copier.remember(tx, ids)
                for k, txid in enumerate(ids):
                    txids[k].append(txid)
            cb, cb_ids = txs[0], []
            for k in range(1, copies + 1):  # the coinbase last: its commitment covers the others
                wtxids = [w.sha256d(full) for full in fulls[k - 1]]
                cb_legacy, cb_full = copier.serialize(cb, k, _commitment_fixed(cb, wtxids))
                cb_ids.append(w.sha256d(cb_legacy))
                root = w.merkle_root([cb_ids[-1], *txids[k - 1]])
                header = w.block_header(head.version, bytes(32), root, head.time, head.bits, 0)
                writers[k - 1].add(header + w.compact_size(n_tx) + cb_full + b"".join(fulls[k - 1]))
            copier.remember(cb, cb_ids)
            n_blocks += 1
            n_txs += n_tx
            if progress:
                progress(n_blocks, n_txs)
    finally:
        for wr in writers:
            wr.close()
    if tip is None or first_time is None or last_time is None:
        raise UsageError(f"{blocks_dir}: no blocks")
    span = last_time - first_time + 600
    for k, wr in enumerate(writers, start=1):
        tip = _rechain(wr, tip, span * k)
    return ReplicaReport(copies, n_blocks, n_txs, copier.kept_scripts, [f for wr in writers for f in wr.files])
