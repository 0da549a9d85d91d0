"""Transaction and block hashing over a parsed batch.

Txids hash the transaction without its witness (version, inputs and outputs, locktime), so for segwit
transactions three slices of the buffer are fed to one SHA-256 state instead of building a copy.
hashlib's OpenSSL SHA-256 is faster per byte than anything compiled here; the loop overhead is one
Python iteration per transaction.
"""

from __future__ import annotations

import hashlib

import numpy as np

from fundtrail.chains.bitcoin.parser import ParsedBatch


def compute_txids(pb: ParsedBatch) -> np.ndarray:
    """Return the txids of all transactions in the batch as an (n_tx, 32) uint8 array (internal order)."""
    n = pb.n_tx
    out = bytearray(32 * n)
    mv = memoryview(pb.buf)
    sha = hashlib.sha256
    starts = pb.tx_start.tolist()
    ends = pb.tx_end.tolist()
    segwit = pb.tx_segwit.tolist()
    io_s = pb.tx_io_start.tolist()
    io_e = pb.tx_io_end.tolist()
    pos = 0
    for i in range(n):
        s = starts[i]
        e = ends[i]
        if segwit[i]:
            h = sha(mv[s:s + 4])
            h.update(mv[io_s[i]:io_e[i]])
            h.update(mv[e - 4:e])
            out[pos:pos + 32] = sha(h.digest()).digest()
        else:
            out[pos:pos + 32] = sha(sha(mv[s:e]).digest()).digest()
        pos += 32
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(n, 32)


def block_hashes(pb: ParsedBatch) -> list[bytes]:
    """Return the hash (internal byte order) of each block header in the batch."""
    mv = memoryview(pb.buf)
    sha = hashlib.sha256
    return [sha(sha(mv[s:s + 80]).digest()).digest() for s in pb.blk_start.tolist()]


def merkle_root(txids: np.ndarray) -> bytes:
    """Merkle root of a block's txids (internal order), duplicating the last hash on odd levels."""
    level = [bytes(row) for row in txids]
    if not level:
        return b"\x00" * 32
    sha = hashlib.sha256
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha(sha(level[i] + level[i + 1]).digest()).digest() for i in range(0, len(level), 2)]
    return level[0]
