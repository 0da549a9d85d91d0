"""Fast columnar parsing of serialized Bitcoin blocks.

Parsing is the hot path of ingest, so it runs as numba-compiled loops over one byte buffer holding a
whole batch of blocks. It produces flat column arrays (one row per transaction, input and output)
holding offsets into the buffer instead of copied bytes: no Python object is made per transaction,
input or output. Scripts are classified in the same pass (see `script.ScriptType`; the pure-Python
reference classifier in `address.classify_script` is the test oracle).

Two passes: the first counts transactions, inputs and outputs so the second can fill arrays of the
exact size. Malformed data never raises inside compiled code: the kernels return an error code and
the byte offset, which `parse_batch` turns into a `DataError` naming the block's origin and offset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from fundtrail.chains.bitcoin.hashing import sha256d
from fundtrail.chains.bitcoin.kernels import Int, _i64, _is_null_prevout, _u32, _varint
from fundtrail.chains.bitcoin.kernels import classify as _classify
from fundtrail.errors import DataError

# Error codes returned by the kernels (offset says where).
_OK = 0
_E_TRUNCATED = 1
_E_BAD_VARINT = 2
_E_TRAILING = 3
_E_TOO_MANY = 4
_E_BAD_SEGWIT = 5
_E_NONCANONICAL = 6
_E_VALUE_RANGE = 7
_E_VALUE_SUM = 8
_E_NO_INPUTS = 9
_E_NO_OUTPUTS = 10
_E_NO_COINBASE = 11
_E_EXTRA_COINBASE = 12
_E_NULL_PREVOUT = 13
_E_CB_LENGTH = 14

MAX_MONEY = 21_000_000 * 100_000_000  # Core's MoneyRange: no amount or sum of amounts above it

_ERRORS = {
    _E_TRUNCATED: "data ends inside a transaction (truncated block)",
    _E_BAD_VARINT: "count or length field is larger than the block",
    _E_TRAILING: "bytes left over after the last transaction (wrong length or corrupt block)",
    _E_TOO_MANY: "transaction count is implausible for the block size",
    _E_BAD_SEGWIT: "segwit marker without the flag byte 0x01",
    _E_NONCANONICAL: "non-canonical CompactSize (a count or length encoded in more bytes than needed)",
    _E_VALUE_RANGE: "output value is negative or above 21,000,000 BTC",
    _E_VALUE_SUM: "output values add up to more than 21,000,000 BTC",
    _E_NO_INPUTS: "transaction has no inputs",
    _E_NO_OUTPUTS: "transaction has no outputs",
    _E_NO_COINBASE: "the first transaction is not a coinbase",
    _E_EXTRA_COINBASE: "a coinbase transaction after the first",
    _E_NULL_PREVOUT: "a non-coinbase input spends the null outpoint",
    _E_CB_LENGTH: "coinbase scriptSig is not 2 to 100 bytes long",
}

HEADER_SIZE = 80


@nb.njit(cache=True)
def _walk_tx(buf, pos, end, fill, ti, ii, oi,
             tx_start, tx_end, tx_io_start, tx_io_end, tx_version, tx_locktime, tx_nin, tx_nout,
             tx_segwit, in_prev, in_vout, in_script_off, in_script_len, in_seq, in_wit_off, in_wit_len,
             out_value, out_script_off, out_script_len, out_type, out_pay_off, out_pay_len):
    """Walk one transaction at `pos`.

    Returns (err, err_pos, new_pos, n_in, n_out, n_null, first_script_len): `n_null` counts inputs
    spending the null outpoint (a coinbase has exactly one input, and it is one of those).
    """
    start = pos
    if pos + 10 > end:
        return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
    version = _u32(buf, pos)
    pos += 4
    segwit = False
    if buf[pos] == 0x00:
        if buf[pos + 1] != 0x01:
            return _E_BAD_SEGWIT, pos, pos, 0, 0, 0, 0
        segwit = True
        pos += 2
    io_start = pos
    n_in, pos2 = _varint(buf, pos, end)
    if n_in == -2:
        return _E_NONCANONICAL, pos, pos, 0, 0, 0, 0
    if n_in < 0 or n_in * 41 > end - pos2:
        return _E_BAD_VARINT, pos, pos, 0, 0, 0, 0
    if n_in == 0:
        return _E_NO_INPUTS, pos, pos, 0, 0, 0, 0
    pos = pos2
    n_null = 0
    first_sl: Int = 0
    for k in range(n_in):
        if pos + 36 > end:
            return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
        prev = pos
        vout = _u32(buf, pos + 32)
        if _is_null_prevout(buf, pos):
            n_null += 1
        pos += 36
        sl, pos2 = _varint(buf, pos, end)
        if sl == -2:
            return _E_NONCANONICAL, pos, pos, 0, 0, 0, 0
        if sl < 0 or pos2 + sl + 4 > end:
            return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
        if k == 0:
            first_sl = sl
        if fill:
            j = ii + k
            in_prev[j] = prev
            in_vout[j] = vout
            in_script_off[j] = pos2
            in_script_len[j] = sl
            in_seq[j] = _u32(buf, pos2 + sl)
            in_wit_off[j] = 0
            in_wit_len[j] = 0
        pos = pos2 + sl + 4
    n_out, pos2 = _varint(buf, pos, end)
    if n_out == -2:
        return _E_NONCANONICAL, pos, pos, 0, 0, 0, 0
    if n_out < 0 or n_out * 9 > end - pos2:
        return _E_BAD_VARINT, pos, pos, 0, 0, 0, 0
    if n_out == 0:
        return _E_NO_OUTPUTS, pos, pos, 0, 0, 0, 0
    pos = pos2
    total = np.int64(0)
    for k in range(n_out):
        if pos + 9 > end:
            return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
        value = _i64(buf, pos)
        if value < 0 or value > MAX_MONEY:
            return _E_VALUE_RANGE, pos, pos, 0, 0, 0, 0
        total += value
        if total > MAX_MONEY:
            return _E_VALUE_SUM, pos, pos, 0, 0, 0, 0
        sl, pos2 = _varint(buf, pos + 8, end)
        if sl == -2:
            return _E_NONCANONICAL, pos + 8, pos, 0, 0, 0, 0
        if sl < 0 or pos2 + sl > end:
            return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
        if fill:
            j = oi + k
            out_value[j] = value
            out_script_off[j] = pos2
            out_script_len[j] = sl
            t, po, pl = _classify(buf, pos2, sl)
            out_type[j] = t
            out_pay_off[j] = po
            out_pay_len[j] = pl
        pos = pos2 + sl
    io_end = pos
    if segwit:
        for k in range(n_in):
            wstart = pos
            items, pos2 = _varint(buf, pos, end)
            if items == -2:
                return _E_NONCANONICAL, pos, pos, 0, 0, 0, 0
            if items < 0:
                return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
            pos = pos2
            for _ in range(items):
                ln, pos2 = _varint(buf, pos, end)
                if ln == -2:
                    return _E_NONCANONICAL, pos, pos, 0, 0, 0, 0
                if ln < 0 or pos2 + ln > end:
                    return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
                pos = pos2 + ln
            if fill:
                in_wit_off[ii + k] = wstart
                in_wit_len[ii + k] = pos - wstart
    if pos + 4 > end:
        return _E_TRUNCATED, pos, pos, 0, 0, 0, 0
    if fill:
        tx_start[ti] = start
        tx_end[ti] = pos + 4
        tx_io_start[ti] = io_start
        tx_io_end[ti] = io_end
        tx_version[ti] = version
        tx_locktime[ti] = _u32(buf, pos)
        tx_nin[ti] = n_in
        tx_nout[ti] = n_out
        tx_segwit[ti] = segwit
    return _OK, 0, pos + 4, n_in, n_out, n_null, first_sl


@nb.njit(cache=True)
def _walk_blocks(buf, blk_start, blk_end, fill, blk_ntx, blk_first_tx,
                 tx_block, tx_start, tx_end, tx_io_start, tx_io_end, tx_version, tx_locktime, tx_nin,
                 tx_nout, tx_segwit, tx_first_in, tx_first_out,
                 in_tx, in_prev, in_vout, in_script_off, in_script_len, in_seq, in_wit_off, in_wit_len,
                 out_tx, out_value, out_script_off, out_script_len, out_type, out_pay_off, out_pay_len,
                 totals):
    """Walk every block; in the counting pass (fill=False) only totals are computed.

    Returns (err, err_block, err_pos, err_tx): err_tx is the transaction's index in its block, -1
    where the error is not inside a transaction.
    """
    ti = 0
    ii = 0
    oi = 0
    for b in range(blk_start.shape[0]):
        end = blk_end[b]
        pos = blk_start[b] + 80
        if pos > end:
            return _E_TRUNCATED, b, blk_start[b], -1
        ntx, pos2 = _varint(buf, pos, end)
        if ntx == -2:
            return _E_NONCANONICAL, b, pos, -1
        pos = pos2
        if ntx < 0:
            return _E_TRUNCATED, b, pos, -1
        if ntx * 60 > end - pos + 60:
            return _E_TOO_MANY, b, pos, -1
        if fill:
            blk_ntx[b] = ntx
            blk_first_tx[b] = ti
        for t in range(ntx):
            err, epos, npos, nin, nout, nnull, sl0 = _walk_tx(
                buf, pos, end, fill, ti, ii, oi, tx_start, tx_end, tx_io_start, tx_io_end,
                tx_version, tx_locktime, tx_nin, tx_nout, tx_segwit, in_prev, in_vout,
                in_script_off, in_script_len, in_seq, in_wit_off, in_wit_len, out_value,
                out_script_off, out_script_len, out_type, out_pay_off, out_pay_len)
            if err != _OK:
                return err, b, epos, t
            coinbase = nin == 1 and nnull == 1
            if t == 0 and not coinbase:
                return _E_NO_COINBASE, b, pos, t
            if t == 0 and (sl0 < 2 or sl0 > 100):
                return _E_CB_LENGTH, b, pos, t
            if t > 0 and coinbase:
                return _E_EXTRA_COINBASE, b, pos, t
            if t > 0 and nnull > 0:
                return _E_NULL_PREVOUT, b, pos, t
            if fill:
                tx_block[ti] = b
                tx_first_in[ti] = ii
                tx_first_out[ti] = oi
                for k in range(nin):
                    in_tx[ii + k] = ti
                for k in range(nout):
                    out_tx[oi + k] = ti
            ti += 1
            ii += nin
            oi += nout
            pos = npos
        if pos != end:
            return _E_TRAILING, b, pos, -1
    totals[0] = ti
    totals[1] = ii
    totals[2] = oi
    return _OK, -1, 0, -1


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


def parse_batch(raws: list[bytes], origins: list[str]) -> ParsedBatch:
    """Parse serialized blocks into columns; raise DataError naming origin and offset if malformed."""
    sizes = np.fromiter((len(r) for r in raws), dtype=np.int64, count=len(raws))
    blk_end = np.cumsum(sizes)
    blk_start = blk_end - sizes
    buf = np.frombuffer(b"".join(raws), dtype=np.uint8)
    totals = np.zeros(3, np.int64)
    empty = _arrays(0, 0, 0, 0)
    err, eb, epos, etx = _walk_blocks(buf, blk_start, blk_end, False, *[*(empty[k] for k in _ORDER), totals])
    if err != _OK:
        raise DataError(parse_error_message(raws[eb], origins[eb], err, int(epos - blk_start[eb]), int(etx)))
    arrays = _arrays(len(raws), int(totals[0]), int(totals[1]), int(totals[2]))
    err, eb, epos, etx = _walk_blocks(buf, blk_start, blk_end, True, *[*(arrays[k] for k in _ORDER), totals])
    assert err == _OK, "second pass disagrees with the first"
    return ParsedBatch(buf=buf, blk_start=blk_start, blk_end=blk_end, **arrays)


def parse_error_message(raw: bytes, origin: str, err: int, rel: int, tx: int) -> str:
    """One line: where (origin, block hash, transaction index, byte of the block) and what."""
    where = f"block {sha256d(raw[:80])[::-1].hex()}" if len(raw) >= 80 else "block"
    if tx >= 0:
        where += f", transaction {tx}"
    return f"{origin}: {where}: {_ERRORS[err]} at byte {rel} of the block"
