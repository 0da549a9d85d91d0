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

from fundtrail.errors import DataError

# Error codes returned by the kernels (offset says where).
_OK = 0
_E_TRUNCATED = 1
_E_BAD_VARINT = 2
_E_TRAILING = 3
_E_TOO_MANY = 4
_E_BAD_SEGWIT = 5

_ERRORS = {
    _E_TRUNCATED: "data ends inside a transaction (truncated block)",
    _E_BAD_VARINT: "count or length field is larger than the block",
    _E_TRAILING: "bytes left over after the last transaction (wrong length or corrupt block)",
    _E_TOO_MANY: "transaction count is implausible for the block size",
    _E_BAD_SEGWIT: "segwit marker without the flag byte 0x01",
}

# Script type codes, mirrored from script.ScriptType (numba cannot use the IntEnum).
_NONSTANDARD, _P2PK, _P2PKH, _P2SH, _P2WPKH, _P2WSH, _P2TR = 0, 1, 2, 3, 4, 5, 6
_MULTISIG, _OP_RETURN, _P2A, _WITNESS_UNKNOWN = 7, 8, 9, 10

HEADER_SIZE = 80


@nb.njit(cache=True, inline="always")
def _varint(buf: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """Read a CompactSize at `pos`; returns (value, new_pos) or (-1, pos) if it runs past `end`."""
    if pos >= end:
        return -1, pos
    b = buf[pos]
    if b < 0xFD:
        return np.int64(b), pos + 1
    if b == 0xFD:
        if pos + 3 > end:
            return -1, pos
        return np.int64(buf[pos + 1]) | (np.int64(buf[pos + 2]) << 8), pos + 3
    if b == 0xFE:
        if pos + 5 > end:
            return -1, pos
        v = np.int64(0)
        for i in range(4):
            v |= np.int64(buf[pos + 1 + i]) << (8 * i)
        return v, pos + 5
    if pos + 9 > end:
        return -1, pos
    v = np.int64(0)
    for i in range(8):
        v |= np.int64(buf[pos + 1 + i]) << (8 * i)
    return v, pos + 9


@nb.njit(cache=True, inline="always")
def _u32(buf: np.ndarray, pos: int) -> int:
    return (
        np.int64(buf[pos])
        | (np.int64(buf[pos + 1]) << 8)
        | (np.int64(buf[pos + 2]) << 16)
        | (np.int64(buf[pos + 3]) << 24)
    )


@nb.njit(cache=True, inline="always")
def _i64(buf: np.ndarray, pos: int) -> int:
    v = np.uint64(0)
    for i in range(8):
        v |= np.uint64(buf[pos + i]) << np.uint64(8 * i)
    return np.int64(v)


@nb.njit(cache=True)
def _classify(buf: np.ndarray, s: int, n: int) -> tuple[int, int, int]:
    """Classify the script buf[s:s+n]; returns (type, payload offset, payload length).

    Payload conventions (docs/schema.md): hash or key bytes for the standard types, the witness
    program for P2A and unknown witness versions, the whole script for multisig and non-standard.
    """
    if n == 25 and buf[s] == 0x76 and buf[s + 1] == 0xA9 and buf[s + 2] == 0x14 \
            and buf[s + 23] == 0x88 and buf[s + 24] == 0xAC:
        return _P2PKH, s + 3, 20
    if n == 22 and buf[s] == 0x00 and buf[s + 1] == 0x14:
        return _P2WPKH, s + 2, 20
    if n == 34 and buf[s] == 0x51 and buf[s + 1] == 0x20:
        return _P2TR, s + 2, 32
    if n == 23 and buf[s] == 0xA9 and buf[s + 1] == 0x14 and buf[s + 22] == 0x87:
        return _P2SH, s + 2, 20
    if n == 34 and buf[s] == 0x00 and buf[s + 1] == 0x20:
        return _P2WSH, s + 2, 32
    if n >= 1 and buf[s] == 0x6A:
        return _OP_RETURN, s, 0
    if n == 35 and buf[s] == 0x21 and buf[s + 34] == 0xAC and (buf[s + 1] == 2 or buf[s + 1] == 3):
        return _P2PK, s + 1, 33
    if n == 67 and buf[s] == 0x41 and buf[s + 66] == 0xAC and \
            (buf[s + 1] == 4 or buf[s + 1] == 6 or buf[s + 1] == 7):
        return _P2PK, s + 1, 65
    if n == 4 and buf[s] == 0x51 and buf[s + 1] == 0x02 and buf[s + 2] == 0x4E and buf[s + 3] == 0x73:
        return _P2A, s + 2, 2
    if 4 <= n <= 42 and 0x51 <= buf[s] <= 0x60 and buf[s + 1] == n - 2:
        return _WITNESS_UNKNOWN, s + 2, n - 2
    if n >= 37 and buf[s + n - 1] == 0xAE and 0x51 <= buf[s] <= 0x60 and 0x51 <= buf[s + n - 2] <= 0x60:
        # Same rule as address.classify_script (Bitcoin Core's MatchMultisig): pushes of
        # valid-size public keys (the header byte must match the length: 02/03 for 33 bytes,
        # 04/06/07 for 65), in any push encoding, then OP_n and OP_CHECKMULTISIG.
        m = buf[s] - 0x50
        end = s + n
        p = s + 1
        keys = 0
        op = -1
        while p < end:
            op = np.int64(buf[p])
            p += 1
            if op > 0x4E:
                break  # not a push: must be OP_n
            if op < 0x4C:
                size = op
            else:
                width = 1 if op == 0x4C else (2 if op == 0x4D else 4)
                if p + width > end:
                    op = -1
                    break
                size = np.int64(0)
                for k in range(width):
                    size |= np.int64(buf[p + k]) << (8 * k)
                p += width
            if p + size > end:
                op = -1
                break
            hdr = buf[p] if size > 0 else 0
            valid = (size == 33 and (hdr == 2 or hdr == 3)) or \
                (size == 65 and (hdr == 4 or hdr == 6 or hdr == 7))
            p += size
            if not valid:
                break
            keys += 1
            op = -1
        if 0x51 <= op <= 0x60 and op - 0x50 == keys and m <= keys and p + 1 == end:
            return _MULTISIG, s, n
    return _NONSTANDARD, s, n


@nb.njit(cache=True)
def _walk_tx(buf, pos, end, fill, ti, ii, oi,
             tx_start, tx_end, tx_io_start, tx_io_end, tx_version, tx_locktime, tx_nin, tx_nout,
             tx_segwit, in_prev, in_vout, in_script_off, in_script_len, in_seq, in_wit_off, in_wit_len,
             out_value, out_script_off, out_script_len, out_type, out_pay_off, out_pay_len):
    """Walk one transaction at `pos`. Returns (err, err_pos, new_pos, n_in, n_out)."""
    start = pos
    if pos + 10 > end:
        return _E_TRUNCATED, pos, pos, 0, 0
    version = _u32(buf, pos)
    pos += 4
    segwit = False
    if buf[pos] == 0x00:
        if buf[pos + 1] != 0x01:
            return _E_BAD_SEGWIT, pos, pos, 0, 0
        segwit = True
        pos += 2
    io_start = pos
    n_in, pos2 = _varint(buf, pos, end)
    if n_in < 0 or n_in * 41 > end - pos2:
        return _E_BAD_VARINT, pos, pos, 0, 0
    pos = pos2
    for k in range(n_in):
        if pos + 36 > end:
            return _E_TRUNCATED, pos, pos, 0, 0
        prev = pos
        vout = _u32(buf, pos + 32)
        pos += 36
        sl, pos2 = _varint(buf, pos, end)
        if sl < 0 or pos2 + sl + 4 > end:
            return _E_TRUNCATED, pos, pos, 0, 0
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
    if n_out < 0 or n_out * 9 > end - pos2:
        return _E_BAD_VARINT, pos, pos, 0, 0
    pos = pos2
    for k in range(n_out):
        if pos + 9 > end:
            return _E_TRUNCATED, pos, pos, 0, 0
        value = _i64(buf, pos)
        sl, pos2 = _varint(buf, pos + 8, end)
        if sl < 0 or pos2 + sl > end:
            return _E_TRUNCATED, pos, pos, 0, 0
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
            if items < 0:
                return _E_TRUNCATED, pos, pos, 0, 0
            pos = pos2
            for _ in range(items):
                ln, pos2 = _varint(buf, pos, end)
                if ln < 0 or pos2 + ln > end:
                    return _E_TRUNCATED, pos, pos, 0, 0
                pos = pos2 + ln
            if fill:
                in_wit_off[ii + k] = wstart
                in_wit_len[ii + k] = pos - wstart
    if pos + 4 > end:
        return _E_TRUNCATED, pos, pos, 0, 0
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
    return _OK, 0, pos + 4, n_in, n_out


@nb.njit(cache=True)
def _walk_blocks(buf, blk_start, blk_end, fill, blk_ntx, blk_first_tx,
                 tx_block, tx_start, tx_end, tx_io_start, tx_io_end, tx_version, tx_locktime, tx_nin,
                 tx_nout, tx_segwit, tx_first_in, tx_first_out,
                 in_tx, in_prev, in_vout, in_script_off, in_script_len, in_seq, in_wit_off, in_wit_len,
                 out_tx, out_value, out_script_off, out_script_len, out_type, out_pay_off, out_pay_len,
                 totals):
    """Walk every block; in the counting pass (fill=False) only totals are computed.

    Returns (err, err_block, err_pos).
    """
    ti = 0
    ii = 0
    oi = 0
    for b in range(blk_start.shape[0]):
        end = blk_end[b]
        pos = blk_start[b] + 80
        if pos > end:
            return _E_TRUNCATED, b, blk_start[b]
        ntx, pos = _varint(buf, pos, end)
        if ntx < 0:
            return _E_TRUNCATED, b, pos
        if ntx * 60 > end - pos + 60:
            return _E_TOO_MANY, b, pos
        if fill:
            blk_ntx[b] = ntx
            blk_first_tx[b] = ti
        for _ in range(ntx):
            err, epos, npos, nin, nout = _walk_tx(
                buf, pos, end, fill, ti, ii, oi, tx_start, tx_end, tx_io_start, tx_io_end,
                tx_version, tx_locktime, tx_nin, tx_nout, tx_segwit, in_prev, in_vout,
                in_script_off, in_script_len, in_seq, in_wit_off, in_wit_len, out_value,
                out_script_off, out_script_len, out_type, out_pay_off, out_pay_len)
            if err != _OK:
                return err, b, epos
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
            return _E_TRAILING, b, pos
    totals[0] = ti
    totals[1] = ii
    totals[2] = oi
    return _OK, -1, 0


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
    err, eb, epos = _walk_blocks(buf, blk_start, blk_end, False, *[empty[k] for k in _ORDER], totals)
    if err != _OK:
        rel = int(epos - blk_start[eb])
        raise DataError(f"{origins[eb]}: {_ERRORS[err]} at byte {rel} of the block")
    arrays = _arrays(len(raws), int(totals[0]), int(totals[1]), int(totals[2]))
    err, eb, epos = _walk_blocks(buf, blk_start, blk_end, True, *[arrays[k] for k in _ORDER], totals)
    assert err == _OK, "second pass disagrees with the first"
    return ParsedBatch(buf=buf, blk_start=blk_start, blk_end=blk_end, **arrays)

