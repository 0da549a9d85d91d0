"""The state-free half of decoding a batch: everything that needs only the batch's own bytes.

Address fingerprints, outpoint keys, per-transaction sizes and output sums, the positions of the
real (non-coinbase) inputs: none of it reads the address index or the unspent set, so the ingest
pipeline computes it for the next batch in a worker thread while the main thread resolves and
writes the previous one (`pipeline`, docs/benchmarks.md "Bitcoin ingest"). The heavy loops are
numba kernels compiled with `nogil=True`, so they really run beside the main thread.
`decode.decode_state` is the other half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba as nb
import numpy as np
import pyarrow as pa

from fundtrail.chains.bitcoin.addresskey import MIX, address_key, fingerprint
from fundtrail.chains.bitcoin.parser import ParsedBatch
from fundtrail.chains.bitcoin.script import ScriptType

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.decode import BlockMeta


@nb.njit(cache=True, nogil=True)
def _address_fps(buf, out_type, pay_off, a, b, kind, flag):
    """Fingerprint standard hash-type outputs in place; flag 1 = done, 2 = needs Python, 0 = none."""
    mix = np.uint64(0x9E3779B97F4A7C15)
    for i in range(out_type.shape[0]):
        t = out_type[i]
        if t == 2 or t == 3 or t == 4 or t == 5 or t == 6:
            p = pay_off[i]
            x = np.uint64(0)
            y = np.uint64(0)
            for k in range(8):
                x |= np.uint64(buf[p + k]) << np.uint64(8 * k)
                y |= np.uint64(buf[p + 8 + k]) << np.uint64(8 * k)
            a[i] = x ^ (np.uint64(t) * mix)
            b[i] = y
            kind[i] = t
            flag[i] = 1
        elif t == 8:
            flag[i] = 0
        else:
            flag[i] = 2


@nb.njit(cache=True, nogil=True)
def _gather32(buf, offs):
    out = np.empty((offs.shape[0], 32), np.uint8)
    for i in range(offs.shape[0]):
        out[i, :] = buf[offs[i]:offs[i] + 32]
    return out


@nb.njit(cache=True, nogil=True)
def _gather(buf, offs, lens):
    """Concatenate buf[offs[i]:offs[i]+lens[i]]; returns (data, int32 offsets) for an Arrow binary array."""
    offsets = np.zeros(offs.shape[0] + 1, np.int32)
    for i in range(offs.shape[0]):
        offsets[i + 1] = offsets[i] + lens[i]
    data = np.empty(offsets[-1], np.uint8)
    for i in range(offs.shape[0]):
        data[offsets[i]:offsets[i + 1]] = buf[offs[i]:offs[i] + lens[i]]
    return data, offsets


def binary_column(buf: np.ndarray, offs: np.ndarray, lens: np.ndarray) -> pa.Array:
    """An Arrow binary array of the byte ranges buf[offs[i]:offs[i]+lens[i]]."""
    data, offsets = _gather(buf, offs.astype(np.int64), lens.astype(np.int64))
    return pa.Array.from_buffers(pa.binary(), len(offs), [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _special_payload(buf: memoryview, t: int, script_off: int, script_len: int, pay_off: int, pay_len: int) -> bytes:
    if t == ScriptType.WITNESS_UNKNOWN:
        return bytes([buf[script_off] - 0x50]) + bytes(buf[pay_off:pay_off + pay_len])
    return bytes(buf[pay_off:pay_off + pay_len])


def outpoint_keys(txid_bytes: np.ndarray, vout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints of outpoints from (n, >=16) uint8 txid rows and their output indexes."""
    words = np.ascontiguousarray(txid_bytes[:, :16]).view(np.uint64)
    mixed = (vout.astype(np.uint64) + np.uint64(1)) * np.uint64(MIX)
    return words[:, 0].copy(), words[:, 1] ^ mixed


def segment_sums(values: np.ndarray, first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Sums of values[first[i]:first[i]+count[i]] for every i."""
    cs = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return cs[first + count] - cs[first]


@dataclass
class FreeDecode:
    """What `decode_free` derives from a parsed batch without touching the ingest state."""

    pb: ParsedBatch
    txids: np.ndarray
    metas: list[BlockMeta]
    tx_height: np.ndarray  # -1 where the block's height is unknown
    tx_index: np.ndarray
    is_coinbase: np.ndarray
    fp_a: np.ndarray  # address fingerprints of the outputs (valid where flag != 0)
    fp_b: np.ndarray
    kind: np.ndarray
    flag: np.ndarray  # 0 = no address, 1 = standard hash type, 2 = computed in Python
    special_payload: dict[int, bytes]
    addr_rows: np.ndarray  # outputs that pay an address
    out_n: np.ndarray
    spendable: np.ndarray  # outputs that enter the unspent set (not OP_RETURN)
    out_ka: np.ndarray  # outpoint keys of the spendable outputs
    out_kb: np.ndarray
    real_in: np.ndarray  # positions of the non-coinbase inputs
    prev_bytes: np.ndarray
    prev_vout: np.ndarray
    in_ka: np.ndarray  # outpoint keys the real inputs spend
    in_kb: np.ndarray
    in_tx_of_real: np.ndarray
    in_n: np.ndarray
    first_real: np.ndarray  # per transaction: its first real input and how many it has
    cnt_real: np.ndarray
    tx_nin_real: np.ndarray
    out_value_tx: np.ndarray
    base: np.ndarray  # per transaction: size without the witness, and the full size
    total: np.ndarray
    weight: np.ndarray


def decode_free(pb: ParsedBatch, txids: np.ndarray, metas: list[BlockMeta]) -> FreeDecode:
    """Derive everything the batch's bytes alone determine (thread-safe: reads only its arguments)."""
    raw = pb.buf.data  # a memoryview of the buffer
    n_tx, n_out = pb.n_tx, pb.n_out
    heights = np.array([m.height if m.height is not None else -1 for m in metas], np.int64)
    tx_height = heights[pb.tx_block]
    tx_index = (np.arange(n_tx) - pb.blk_first_tx[pb.tx_block]).astype(np.int32)
    is_coinbase = tx_index == 0

    a = np.zeros(n_out, np.uint64)
    b = np.zeros(n_out, np.uint64)
    kind = np.zeros(n_out, np.uint8)
    flag = np.zeros(n_out, np.uint8)
    _address_fps(pb.buf, pb.out_type, pb.out_pay_off, a, b, kind, flag)
    special_payload: dict[int, bytes] = {}
    for i in np.flatnonzero(flag == 2).tolist():
        t = int(pb.out_type[i])
        payload = _special_payload(raw, t, int(pb.out_script_off[i]), int(pb.out_script_len[i]),
                                   int(pb.out_pay_off[i]), int(pb.out_pay_len[i]))
        k, p = address_key(t, payload)
        a[i], b[i] = fingerprint(k, p)
        kind[i] = k
        special_payload[i] = p

    out_n = (np.arange(n_out) - pb.tx_first_out[pb.out_tx]).astype(np.int64)
    spendable = pb.out_type != ScriptType.OP_RETURN
    ka, kb = outpoint_keys(txids[pb.out_tx[spendable]], out_n[spendable])
    real_in = np.flatnonzero(~is_coinbase[pb.in_tx])
    prev_bytes = _gather32(pb.buf, pb.in_prev[real_in])
    prev_vout = pb.in_vout[real_in]
    ia, ib = outpoint_keys(prev_bytes, prev_vout)

    in_tx_of_real = pb.in_tx[real_in]
    # inputs are in transaction order, so per-transaction sums are differences of a running sum
    first_real = np.searchsorted(in_tx_of_real, np.arange(n_tx))
    cnt_real = np.searchsorted(in_tx_of_real, np.arange(n_tx), side="right") - first_real
    base = 8 + (pb.tx_io_end - pb.tx_io_start)
    total = pb.tx_end - pb.tx_start
    return FreeDecode(
        pb=pb, txids=txids, metas=metas, tx_height=tx_height, tx_index=tx_index,
        is_coinbase=is_coinbase, fp_a=a, fp_b=b, kind=kind, flag=flag,
        special_payload=special_payload, addr_rows=np.flatnonzero(flag != 0), out_n=out_n,
        spendable=spendable, out_ka=ka, out_kb=kb, real_in=real_in, prev_bytes=prev_bytes,
        prev_vout=prev_vout, in_ka=ia, in_kb=ib, in_tx_of_real=in_tx_of_real,
        in_n=(real_in - pb.tx_first_in[in_tx_of_real]).astype(np.int32),
        first_real=first_real, cnt_real=cnt_real,
        tx_nin_real=np.where(is_coinbase, 0, pb.tx_nin).astype(np.int64),
        out_value_tx=segment_sums(pb.out_value, pb.tx_first_out, pb.tx_nout.astype(np.int64)),
        base=base, total=total, weight=base * 3 + total,
    )
