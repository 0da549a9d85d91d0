"""The numba kernels that walk serialized blocks for `parser.parse_batch`.

Malformed data never raises inside compiled code: the kernels return an error code and the byte
offset, which `parse_batch` turns into a `DataError` naming the block's origin and offset. They run
without the GIL (`nogil=True`), so a worker thread can parse while the main thread works.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from fundtrail.chains.bitcoin.kernels import Int, _i64, _is_null_prevout, _u32, _varint
from fundtrail.chains.bitcoin.kernels import classify as _classify

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


@nb.njit(cache=True, nogil=True)
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
