"""The small numba kernels of the block parser (split from `parser.py` to keep it small):
integer and CompactSize reads, the null outpoint, and script classification.

Script types are `script.ScriptType` as integer codes (numba cannot use the IntEnum); the
pure-Python `address.classify_script` is the test oracle.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: An integer in a kernel: numba compiles it as int64; run as Python (NUMBA_DISABLE_JIT) it is an
#: int or a NumPy scalar. Annotations of locals are not compiled, so numba never sees this alias.
Int = int | np.int64

@nb.njit(cache=True, inline="always")
def _varint(buf: np.ndarray, pos: Int, end: Int) -> tuple[Int, Int]:
    """Read a CompactSize at `pos`; returns (value, new_pos), (-1, pos) if it runs past `end`, or
    (-2, pos) if it is not in its shortest form (Core rejects those: "non-canonical ReadCompactSize")."""
    if pos >= end:
        return -1, pos
    b = buf[pos]
    if b < 0xFD:
        return np.int64(b), pos + 1
    if b == 0xFD:
        if pos + 3 > end:
            return -1, pos
        v = np.int64(buf[pos + 1]) | (np.int64(buf[pos + 2]) << 8)
        return (v, pos + 3) if v >= 0xFD else (np.int64(-2), pos)
    if b == 0xFE:
        if pos + 5 > end:
            return -1, pos
        v = np.int64(0)
        for i in range(4):
            v |= np.int64(buf[pos + 1 + i]) << (8 * i)
        return (v, pos + 5) if v >= 0x10000 else (np.int64(-2), pos)
    if pos + 9 > end:
        return -1, pos
    if buf[pos + 8] >= 0x80:
        return -1, pos  # larger than any buffer (and than int64)
    v = np.int64(0)
    for i in range(8):
        v |= np.int64(buf[pos + 1 + i]) << (8 * i)
    return (v, pos + 9) if v >= 0x100000000 else (np.int64(-2), pos)


@nb.njit(cache=True, inline="always")
def _u32(buf: np.ndarray, pos: Int) -> Int:
    return (
        np.int64(buf[pos])
        | (np.int64(buf[pos + 1]) << 8)
        | (np.int64(buf[pos + 2]) << 16)
        | (np.int64(buf[pos + 3]) << 24)
    )


@nb.njit(cache=True, inline="always")
def _i64(buf: np.ndarray, pos: Int) -> Int:
    v = np.uint64(0)
    for i in range(8):
        v |= np.uint64(buf[pos + i]) << np.uint64(8 * i)
    return np.int64(v)


@nb.njit(cache=True, inline="always")
def _is_null_prevout(buf: np.ndarray, pos: Int) -> bool:
    """The null outpoint (32 zero bytes, index 0xffffffff): only a coinbase input spends it."""
    if _u32(buf, pos + 32) != 0xFFFFFFFF:
        return False
    for i in range(32):  # noqa: SIM110 (a plain loop is what numba compiles best)
        if buf[pos + i] != 0:
            return False
    return True


# Script type codes, mirrored from script.ScriptType (numba cannot use the IntEnum).
_NONSTANDARD, _P2PK, _P2PKH, _P2SH, _P2WPKH, _P2WSH, _P2TR = 0, 1, 2, 3, 4, 5, 6
_MULTISIG, _OP_RETURN, _P2A, _WITNESS_UNKNOWN = 7, 8, 9, 10


@nb.njit(cache=True)
def classify(buf: np.ndarray, s: Int, n: Int) -> tuple[int, Int, Int]:
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
        op: Int = -1
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
