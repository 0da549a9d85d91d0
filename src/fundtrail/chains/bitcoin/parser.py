"""Fast columnar parsing of serialized Bitcoin blocks.

Parsing is the hot path of ingest, so it runs as numba-compiled loops over one byte buffer holding a
whole batch of blocks. It produces flat column arrays (one row per transaction, input and output)
holding offsets into the buffer instead of copied bytes: no Python object is made per transaction,
input or output. Scripts are classified in the same pass (see `script.ScriptType`; the pure-Python
reference classifier in `address.classify_script` is the test oracle).

Two passes: the first counts transactions, inputs and outputs so the second can fill arrays of the
exact size. The kernels (`walk.py`) run without the GIL: the ingest pipeline parses the next
batch in a worker thread while the main thread stores the previous one. Malformed data never
raises inside compiled code: the kernels return an error code and the byte offset, which
`parse_batch` turns into a `DataError` naming the block's origin and offset.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from fundtrail.chains.bitcoin.hashing import sha256d
from fundtrail.chains.bitcoin.walk import _ERRORS, _OK, HEADER_SIZE, MAX_MONEY, _walk_blocks
from fundtrail.errors import DataError

__all__ = ["HEADER_SIZE", "MAX_MONEY", "ParsedBatch", "join_blocks", "parse_batch", "parse_error_message"]
T = TypeVar("T")

@dataclass
class ParsedBatch:
    """Column arrays for a batch of blocks; offsets index into `buf`."""

    buf: np.ndarray  # uint8, all blocks of the batch back to back
    blk_start: np.ndarray
    blk_end: np.ndarray
    blk_ntx: np.ndarray
    blk_first_tx: np.ndarray
    tx_block: np.ndarray
    tx_start: np.ndarray
    tx_end: np.ndarray
    tx_io_start: np.ndarray
    tx_io_end: np.ndarray
    tx_version: np.ndarray
    tx_locktime: np.ndarray
    tx_nin: np.ndarray
    tx_nout: np.ndarray
    tx_segwit: np.ndarray
    tx_first_in: np.ndarray
    tx_first_out: np.ndarray
    in_tx: np.ndarray
    in_prev: np.ndarray  # offset of the 32-byte prevout txid
    in_vout: np.ndarray
    in_script_off: np.ndarray
    in_script_len: np.ndarray
    in_seq: np.ndarray
    in_wit_off: np.ndarray
    in_wit_len: np.ndarray
    out_tx: np.ndarray
    out_value: np.ndarray
    out_script_off: np.ndarray
    out_script_len: np.ndarray
    out_type: np.ndarray
    out_pay_off: np.ndarray
    out_pay_len: np.ndarray

    @property
    def n_blocks(self) -> int:
        return int(self.blk_start.shape[0])

    @property
    def n_tx(self) -> int:
        return int(self.tx_start.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.in_tx.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.out_tx.shape[0])


def _arrays(n_blk: int, n_tx: int, n_in: int, n_out: int) -> dict[str, np.ndarray]:
    i64, i32 = np.int64, np.int32
    return {
        "blk_ntx": np.zeros(n_blk, i64), "blk_first_tx": np.zeros(n_blk, i64),
        "tx_block": np.zeros(n_tx, i32), "tx_start": np.zeros(n_tx, i64),
        "tx_end": np.zeros(n_tx, i64), "tx_io_start": np.zeros(n_tx, i64),
        "tx_io_end": np.zeros(n_tx, i64), "tx_version": np.zeros(n_tx, i64),
        "tx_locktime": np.zeros(n_tx, i64), "tx_nin": np.zeros(n_tx, i32),
        "tx_nout": np.zeros(n_tx, i32), "tx_segwit": np.zeros(n_tx, np.bool_),
        "tx_first_in": np.zeros(n_tx, i64), "tx_first_out": np.zeros(n_tx, i64),
        "in_tx": np.zeros(n_in, i32), "in_prev": np.zeros(n_in, i64),
        "in_vout": np.zeros(n_in, i64), "in_script_off": np.zeros(n_in, i64),
        "in_script_len": np.zeros(n_in, i64), "in_seq": np.zeros(n_in, i64),
        "in_wit_off": np.zeros(n_in, i64), "in_wit_len": np.zeros(n_in, i64),
        "out_tx": np.zeros(n_out, i32), "out_value": np.zeros(n_out, i64),
        "out_script_off": np.zeros(n_out, i64), "out_script_len": np.zeros(n_out, i64),
        "out_type": np.zeros(n_out, np.uint8), "out_pay_off": np.zeros(n_out, i64),
        "out_pay_len": np.zeros(n_out, i64),
    }


_ORDER = [
    "blk_ntx", "blk_first_tx", "tx_block", "tx_start", "tx_end", "tx_io_start", "tx_io_end",
    "tx_version", "tx_locktime", "tx_nin", "tx_nout", "tx_segwit", "tx_first_in", "tx_first_out",
    "in_tx", "in_prev", "in_vout", "in_script_off", "in_script_len", "in_seq", "in_wit_off",
    "in_wit_len", "out_tx", "out_value", "out_script_off", "out_script_len", "out_type",
    "out_pay_off", "out_pay_len",
]


_GROUPS = {"blk": 0, "tx": 1, "in": 2, "out": 3}


def parse_batch(raws: list[bytes], origins: list[str], helper: Executor | None = None) -> ParsedBatch:
    """Parse serialized blocks into columns; raise DataError naming origin and offset if malformed.

    With `helper` (an executor with a thread to spare) the blocks are parsed in two halves at once,
    the second half in the helper, into the same arrays: the result is the same.
    """
    n = len(raws)
    sizes = np.fromiter((len(r) for r in raws), dtype=np.int64, count=n)
    blk_end = np.cumsum(sizes)
    blk_start = blk_end - sizes
    buf = join_blocks(raws, blk_start, int(blk_end[-1]) if n else 0)
    cut = n if helper is None or n < 2 else min(n - 1, max(1, int(np.searchsorted(blk_end, blk_end[-1] // 2))))
    parts = [(0, cut), (cut, n)] if cut < n else [(0, n)]
    empty = [_arrays(0, 0, 0, 0)[k] for k in _ORDER]

    def count(i: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
        lo, hi = parts[i]
        totals = np.zeros(3, np.int64)
        return _walk_blocks(buf, blk_start[lo:hi], blk_end[lo:hi], False, *[*empty, totals]), totals

    counted = _in_parts(helper, count, len(parts))
    for (lo, _), ((err, eb, epos, etx), _) in zip(parts, counted):
        if err != _OK:
            b = lo + eb
            raise DataError(parse_error_message(raws[b], origins[b], err, int(epos - blk_start[b]), int(etx)))
    firsts: list[tuple[int, ...]] = [(lo, 0, 0, 0) for lo, _ in parts]
    if len(parts) == 2:
        firsts[1] = (cut, *(int(x) for x in counted[0][1]))
    arrays = _arrays(n, *(int(sum(c[1][j] for c in counted)) for j in range(3)))

    def fill(i: int) -> None:
        lo, hi = parts[i]
        first = firsts[i]
        views = [arrays[k][first[_GROUPS[k.split("_")[0]]]:] for k in _ORDER]
        views[0], views[1] = views[0][:hi - lo], views[1][:hi - lo]  # blk_ntx, blk_first_tx
        totals = np.zeros(3, np.int64)
        err, _, _, _ = _walk_blocks(buf, blk_start[lo:hi], blk_end[lo:hi], True, *[*views, totals])
        assert err == _OK, "second pass disagrees with the first"
        if lo:  # the kernel numbered transactions, inputs and outputs from 0 within its part
            t0, i0, o0 = first[1:]
            nt, ni, no = (int(x) for x in totals)
            arrays["blk_first_tx"][lo:hi] += t0
            arrays["tx_block"][t0:t0 + nt] += lo
            arrays["tx_first_in"][t0:t0 + nt] += i0
            arrays["tx_first_out"][t0:t0 + nt] += o0
            arrays["in_tx"][i0:i0 + ni] += t0
            arrays["out_tx"][o0:o0 + no] += t0

    _in_parts(helper, fill, len(parts))
    return ParsedBatch(buf=buf, blk_start=blk_start, blk_end=blk_end, **arrays)


def _in_parts(helper: Executor | None, fn: Callable[[int], T], n: int) -> list[T]:
    """fn(0), ..., fn(n - 1): all but the first in `helper` while this thread runs fn(0)."""
    if n == 1 or helper is None:
        return [fn(i) for i in range(n)]
    futures = [helper.submit(fn, i) for i in range(1, n)]
    first = fn(0)
    return [first, *(f.result() for f in futures)]


def join_blocks(raws: list[bytes], starts: np.ndarray, total: int) -> np.ndarray:
    """The blocks back to back in one array. numpy copies without the GIL (bytes.join holds it),
    so a worker thread assembling the next batch leaves the main thread free."""
    buf = np.empty(total, np.uint8)
    for raw, s in zip(raws, starts.tolist()):
        buf[s:s + len(raw)] = np.frombuffer(raw, np.uint8)
    return buf


def parse_error_message(raw: bytes, origin: str, err: int, rel: int, tx: int) -> str:
    """One line: where (origin, block hash, transaction index, byte of the block) and what."""
    where = f"block {sha256d(raw[:80])[::-1].hex()}" if len(raw) >= 80 else "block"
    if tx >= 0:
        where += f", transaction {tx}"
    return f"{origin}: {where}: {_ERRORS[err]} at byte {rel} of the block"
