"""Transaction ids and merkle roots over a parsed batch.

Hashing is most of the work of ingest after parsing. The fast path calls OpenSSL's SHA-256 (the
libcrypto that Python's own hashlib uses, so it is always present where hashlib is) directly from
numba-compiled loops: no Python object per transaction, and SHA extensions where the CPU has them.
Where libcrypto lacks the low-level SHA256_Init/Update/Final symbols, the same results come from a
hashlib loop. Txids hash the transaction without its witness: version, inputs and outputs, locktime.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
from concurrent.futures import Executor

import numba as nb
import numpy as np

from fundtrail.chains.bitcoin.parser import ParsedBatch

log = logging.getLogger(__name__)


def _load_libcrypto():
    for name in ("libcrypto.so.3", "libcrypto.so", "libcrypto.so.1.1", "libcrypto.dylib"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if all(hasattr(lib, s) for s in ("SHA256_Init", "SHA256_Update", "SHA256_Final")):
            return lib
    return None


_LIB = _load_libcrypto()
NATIVE = _LIB is not None
# The libcrypto functions are passed to the kernels as arguments (not globals) so that numba can
# cache the compiled kernels on disk. The kernels release the GIL (the pipeline hashes the next
# batch in a worker thread); OpenSSL's SHA-256 functions are thread-safe on separate contexts.

if NATIVE:
    _init = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(("SHA256_Init", _LIB))
    _update = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)(
        ("SHA256_Update", _LIB))
    _final = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(("SHA256_Final", _LIB))

    @nb.njit(cache=True, nogil=True)
    def _txids_native(_init, _update, _final, buf, starts, ends, io_s, io_e, segwit, out, ctx, tmp):
        b = buf.ctypes.data
        c = ctx.ctypes.data
        t = tmp.ctypes.data
        o = out.ctypes.data
        for i in range(starts.shape[0]):
            _init(c)
            s = starts[i]
            e = ends[i]
            if segwit[i]:
                _update(c, b + s, 4)
                _update(c, b + io_s[i], io_e[i] - io_s[i])
                _update(c, b + e - 4, 4)
            else:
                _update(c, b + s, e - s)
            _final(t, c)
            _init(c)
            _update(c, t, 32)
            _final(o + 32 * i, c)

    @nb.njit(cache=True, nogil=True)
    def _merkle_native(_init, _update, _final, txids, first, count, roots, mutated, scratch, ctx, tmp):
        c = ctx.ctypes.data
        t = tmp.ctypes.data
        w = scratch.ctypes.data
        for blk in range(first.shape[0]):
            n = count[blk]
            if n == 0:
                continue
            scratch[:32 * n] = txids[first[blk]:first[blk] + n].ravel()
            while n > 1:
                for j in range(n // 2):  # two equal siblings: CVE-2012-2459 (Core's `mutated`)
                    same = True
                    for k in range(32):
                        if scratch[64 * j + k] != scratch[64 * j + 32 + k]:
                            same = False
                            break
                    if same:
                        mutated[blk] = True
                if n % 2 == 1:
                    scratch[32 * n:32 * n + 32] = scratch[32 * (n - 1):32 * n]
                    n += 1
                for j in range(n // 2):
                    _init(c)
                    _update(c, w + 64 * j, 64)
                    _final(t, c)
                    _init(c)
                    _update(c, t, 32)
                    _final(w + 32 * j, c)
                n //= 2
            roots[blk, :] = scratch[:32]


def compute_txids(pb: ParsedBatch, helper: Executor | None = None) -> np.ndarray:
    """Return the txids of all transactions in the batch as an (n_tx, 32) uint8 array (internal order).

    With `helper` (an executor with a thread to spare) the second half is hashed there at once."""
    n = pb.n_tx
    if NATIVE:
        out = np.zeros((n, 32), np.uint8)

        def part(lo: int, hi: int) -> None:
            _txids_native(_init, _update, _final, pb.buf, pb.tx_start[lo:hi], pb.tx_end[lo:hi],
                          pb.tx_io_start[lo:hi], pb.tx_io_end[lo:hi], pb.tx_segwit[lo:hi], out[lo:hi],
                          np.zeros(256, np.uint8), np.zeros(32, np.uint8))

        if helper is None or n < 2:
            part(0, n)
        else:
            later = helper.submit(part, n // 2, n)
            part(0, n // 2)
            later.result()
        return out
    return _txids_hashlib(pb)


def _txids_hashlib(pb: ParsedBatch) -> np.ndarray:
    n = pb.n_tx
    out = bytearray(32 * n)
    mv = pb.buf.data  # a memoryview of the buffer
    sha = hashlib.sha256
    starts, ends = pb.tx_start.tolist(), pb.tx_end.tolist()
    segwit, io_s, io_e = pb.tx_segwit.tolist(), pb.tx_io_start.tolist(), pb.tx_io_end.tolist()
    for i in range(n):
        s, e = starts[i], ends[i]
        if segwit[i]:
            h = sha(mv[s:s + 4])
            h.update(mv[io_s[i]:io_e[i]])
            h.update(mv[e - 4:e])
        else:
            h = sha(mv[s:e])
        out[32 * i:32 * i + 32] = sha(h.digest()).digest()
    return np.frombuffer(bytes(out), dtype=np.uint8).reshape(n, 32)


def merkle_roots(pb: ParsedBatch, txids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merkle root of every block in the batch, as an (n_blocks, 32) uint8 array, and whether each
    tree is mutated (two equal siblings on some level: the same root as a block without the
    duplicated transactions, CVE-2012-2459; Bitcoin Core rejects such a block)."""
    roots = np.zeros((pb.n_blocks, 32), np.uint8)
    mutated = np.zeros(pb.n_blocks, np.bool_)
    if NATIVE and pb.n_blocks:
        biggest = int(pb.blk_ntx.max()) if pb.n_blocks else 0
        _merkle_native(_init, _update, _final, txids, pb.blk_first_tx, pb.blk_ntx, roots, mutated,
                       np.zeros(32 * (biggest + 2), np.uint8), np.zeros(256, np.uint8), np.zeros(32, np.uint8))
        return roots, mutated
    for b in range(pb.n_blocks):
        first, n = int(pb.blk_first_tx[b]), int(pb.blk_ntx[b])
        root, mutated[b] = merkle_root_mutated(txids[first:first + n])
        roots[b] = np.frombuffer(root, np.uint8)
    return roots, mutated


def merkle_root_mutated(txids: np.ndarray) -> tuple[bytes, bool]:
    """Merkle root of one block's txids (internal order), duplicating the last hash on odd levels,
    and whether two siblings on some level are equal (Core's ComputeMerkleRoot `mutated`)."""
    level = [bytes(row) for row in txids]
    if not level:
        return b"\x00" * 32, False
    sha = hashlib.sha256
    mutated = False
    while len(level) > 1:
        mutated = mutated or any(level[i] == level[i + 1] for i in range(0, len(level) - 1, 2))
        if len(level) % 2:
            level.append(level[-1])
        level = [sha(sha(level[i] + level[i + 1]).digest()).digest() for i in range(0, len(level), 2)]
    return level[0], mutated


def merkle_root(txids: np.ndarray) -> bytes:
    """Merkle root of one block's txids (internal order), duplicating the last hash on odd levels."""
    return merkle_root_mutated(txids)[0]
