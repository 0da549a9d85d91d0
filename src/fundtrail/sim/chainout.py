"""Streaming output of simulated blocks as Bitcoin Core blk*.dat files.

`writer.write_blocks_dir` needs every block in memory; a ten-million-transaction run cannot afford
that, so blocks are appended to the current blk file as they are mined and a new file starts at the
size limit, exactly as `write_blocks_dir` lays them out (optionally XOR-obfuscated like Core 28+).
Transactions arrive already serialized (`SimTx`) so each is serialized and hashed once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import Network


@dataclass(frozen=True)
class SimTx:
    """A transaction with its serialization and hashes computed once."""

    raw: bytes
    txid: bytes
    wtxid: bytes
    segwit: bool

    @classmethod
    def of(cls, tx: w.Tx) -> SimTx:
        """Serialize and hash `tx`."""
        raw = tx.serialize()
        seg = tx.has_witness
        txid = w.sha256d(tx.serialize(with_witness=False)) if seg else w.sha256d(raw)
        return cls(raw, txid, w.sha256d(raw) if seg else txid, seg)


def assemble_block(prev: bytes, coinbase_outs: list[w.TxOut], height: int, txs: list[SimTx],
                   time: int, tag: bytes) -> tuple[bytes, SimTx]:
    """Coinbase (with BIP141 commitment when needed), merkle root, mined header, body."""
    seg = any(t.segwit for t in txs)
    cb = w.coinbase_tx(height, coinbase_outs, tag, witness_commitment=seg)
    if seg:
        root = w.merkle_root([bytes(32)] + [t.wtxid for t in txs])
        commitment = w.sha256d(root + w.WITNESS_RESERVED_VALUE)
        outs = list(cb.outputs)
        outs[-1] = w.TxOut(0, w.WITNESS_COMMITMENT_PREFIX + commitment)
        cb = w.Tx(cb.version, cb.inputs, outs, cb.locktime)
    cbx = SimTx.of(cb)
    root = w.merkle_root([cbx.txid] + [t.txid for t in txs])
    target = w.bits_to_target(w.REGTEST_BITS)
    prefix = w.block_header(0x20000000, prev, root, time, w.REGTEST_BITS, 0)[:76]
    nonce = 0
    while True:
        header = prefix + struct.pack("<I", nonce)
        if int.from_bytes(w.sha256d(header), "little") <= target:
            break
        nonce += 1
    body = w.compact_size(len(txs) + 1) + cbx.raw + b"".join(t.raw for t in txs)
    return header + body, cbx


class BlkSink:
    """Append blocks to blk00000.dat, blk00001.dat, ... under `path`, bounded in memory."""

    def __init__(self, path: Path, network: Network, *, max_file_size: int = 128 << 20,
                 xor_key: bytes | None = None) -> None:
        if xor_key is not None and len(xor_key) != 8:
            raise ValueError("xor_key must be 8 bytes")
        self.path, self.network, self.max_file_size, self.xor_key = path, network, max_file_size, xor_key
        path.mkdir(parents=True, exist_ok=True)
        if xor_key is not None:
            (path / "xor.dat").write_bytes(xor_key)
        self.files: list[Path] = []
        self._fh: BinaryIO | None = None
        self._size = 0

    def _open_next(self) -> None:
        if self._fh is not None:
            self._fh.close()
        p = self.path / f"blk{len(self.files):05d}.dat"
        self.files.append(p)
        self._fh = open(p, "wb")  # noqa: SIM115 - closed in close()/_open_next
        self._size = 0

    def write(self, raw_block: bytes) -> None:
        """Append one block record, starting a new file when this one would pass the limit."""
        rec = w.blk_record(raw_block, self.network)
        if self._fh is None or (self._size and self._size + len(rec) > self.max_file_size):
            self._open_next()
        assert self._fh is not None
        data = w.xor_obfuscate(rec, self.xor_key, self._size) if self.xor_key else rec
        self._fh.write(data)
        self._size += len(rec)

    def close(self) -> None:
        """Flush and close the current file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
