"""Decode a parsed batch into store rows: integer ids, address ids, input resolution, values, fees.

Everything here is vectorised (numpy, numba) over the batch; Python loops run only over the rare
cases (P2PK keys to hash, multisig and non-standard scripts, prevouts supplied by undo data). The
half that needs only the batch's bytes is `decode_free` (run ahead in a worker thread by the
pipeline); `decode_state` is the half that reads and updates the ingest state, batch after batch.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fundtrail.chains.bitcoin.address import classify_script
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.parser import MAX_MONEY, ParsedBatch
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.decode_free import (
    FreeDecode,
    binary_column,
    decode_free,
    outpoint_keys,  # noqa: F401  (re-exported: state, links)
    segment_sums,
)
from fundtrail.ingest.bitcoin.fptable import FingerprintTable
from fundtrail.ingest.bitcoin.source import Prevout
from fundtrail.store.tables import (
    RESOLVED_NONE,
    RESOLVED_PREVOUT_DATA,
    RESOLVED_STORE,
    UTXO_TABLES,
)


@dataclass
class Counters:
    """Next free dense ids of a chain; persisted in each batch row of the catalog."""

    block_id: int = 0
    tx_id: int = 0
    output_id: int = 0
    address_id: int = 0


@dataclass
class ChainState:
    """In-memory indexes ingest needs: address fingerprints and the unspent output set."""

    counters: Counters = field(default_factory=Counters)
    addresses: FingerprintTable = field(default_factory=lambda: FingerprintTable(1))
    utxo: FingerprintTable = field(default_factory=lambda: FingerprintTable(3))


@dataclass
class BlockMeta:
    """What the pipeline knows about each block of the batch besides its bytes."""

    height: int | None
    origin: str
    prevouts: tuple[Prevout, ...] | None = None


def decode_batch(pb: ParsedBatch, txids: np.ndarray, metas: list[BlockMeta],
                 state: ChainState) -> dict[str, pa.Table]:
    """Turn a parsed batch into Arrow tables for the lake, updating `state` (ids, UTXO set)."""
    return decode_state(decode_free(pb, txids, metas), state)


def decode_state(fd: FreeDecode, state: ChainState) -> dict[str, pa.Table]:
    """The state half of decoding: address ids, input resolution against the unspent set, values,
    and the batch's tables; updates `state`. Runs on the pipeline's main thread, batches in order."""
    pb, txids, metas = fd.pb, fd.txids, fd.metas
    c = state.counters
    raw = pb.buf.data  # a memoryview of the buffer
    n_tx, n_out = pb.n_tx, pb.n_out
    tx_ids = np.arange(c.tx_id, c.tx_id + n_tx, dtype=np.int64)
    out_ids = np.arange(c.output_id, c.output_id + n_out, dtype=np.int64)
    block_ids = np.arange(c.block_id, c.block_id + pb.n_blocks, dtype=np.int64)
    tx_height, tx_index, is_coinbase = fd.tx_height, fd.tx_index, fd.is_coinbase

    # -- addresses -------------------------------------------------------------------------
    a, b, kind, flag, special_payload = fd.fp_a, fd.fp_b, fd.kind, fd.flag, fd.special_payload
    addr_rows = fd.addr_rows
    ids, is_new, c_next_addr = state.addresses.get_or_assign(a[addr_rows], b[addr_rows], c.address_id)
    out_addr = np.full(n_out, -1, np.int64)
    out_addr[addr_rows] = ids
    new_rows = addr_rows[is_new]
    new_std = new_rows[flag[new_rows] == 1]
    new_special = new_rows[flag[new_rows] == 2]

    # -- UTXO: add this batch's outputs, then spend inputs ---------------------------------
    out_n, spendable, ka, kb = fd.out_n, fd.spendable, fd.out_ka, fd.out_kb
    state.utxo.insert(ka, kb, np.stack([out_ids[spendable], pb.out_value[spendable],
                                        out_addr[spendable]], axis=1))
    real_in, prev_bytes, prev_vout = fd.real_in, fd.prev_bytes, fd.prev_vout
    found_vals, found = state.utxo.pop(fd.in_ka, fd.in_kb)
    prev_out_id = np.where(found, found_vals[:, 0], -1)
    in_value = np.where(found, found_vals[:, 1], -1)
    in_addr = np.where(found, found_vals[:, 2], -1)
    resolved_by = np.where(found, RESOLVED_STORE, RESOLVED_NONE).astype(np.uint8)
    extra_addr_rows: list[tuple[int, int, bytes, int, int, int]] = []
    prevout_seen: list[tuple[int, int]] = []
    c_next_addr = _apply_prevout_data(pb, metas, real_in, found, in_value, in_addr, resolved_by,
                                      state, c_next_addr, tx_ids, extra_addr_rows, prevout_seen)
    first_key = None
    if extra_addr_rows:
        first_key = _canonical_address_ids(pb, state, c.address_id, c_next_addr, out_addr, in_addr,
                                           real_in, prevout_seen, a, b, new_rows, extra_addr_rows,
                                           out_ids, spendable, ka, kb, found_vals, found)

    # -- per transaction values -------------------------------------------------------------
    tx_nin_real, out_value_tx, in_tx_of_real = fd.tx_nin_real, fd.out_value_tx, fd.in_tx_of_real
    first_real, cnt_real = fd.first_real, fd.cnt_real
    _check_input_sums(pb, metas, in_value, first_real, cnt_real)
    val_full = segment_sums(np.where(in_value >= 0, in_value, 0), first_real, cnt_real)
    known_cnt = segment_sums((in_value >= 0).astype(np.int64), first_real, cnt_real)
    complete = (known_cnt == tx_nin_real) | is_coinbase
    in_value_tx = np.where(complete, val_full, -1)
    fee_tx = np.where(complete & ~is_coinbase, val_full - out_value_tx, np.where(is_coinbase, 0, -1))
    base, total, weight = fd.base, fd.total, fd.weight
    _check_values(pb, metas, fee_tx, complete, is_coinbase)

    # -- tables ---------------------------------------------------------------------------------
    def h32(arr: np.ndarray) -> pa.Array:
        arr = np.ascontiguousarray(arr)
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), len(arr), [None, pa.py_buffer(arr)])

    def opt(arr: np.ndarray) -> pa.Array:
        return pa.array(arr, mask=arr < 0)

    tables: dict[str, pa.Table] = {}
    tables["transactions"] = pa.table({
        "tx_id": tx_ids, "txid": h32(txids), "block_id": block_ids[pb.tx_block],
        "block_height": opt(tx_height), "tx_index": tx_index, "version": pb.tx_version,
        "locktime": pb.tx_locktime, "size": total.astype(np.int32),
        "vsize": ((weight + 3) // 4).astype(np.int32), "weight": weight.astype(np.int32),
        "is_coinbase": is_coinbase, "is_segwit": pb.tx_segwit, "input_count": tx_nin_real.astype(np.int32),
        "output_count": pb.tx_nout, "first_output_id": out_ids[pb.tx_first_out] if n_out else pb.tx_first_out,
        "output_value": out_value_tx, "input_value": opt(in_value_tx), "fee": opt(fee_tx),
    }, schema=UTXO_TABLES["transactions"])
    tables["outputs"] = pa.table({
        "output_id": out_ids, "tx_id": tx_ids[pb.out_tx], "n": out_n.astype(np.int32),
        "value": pb.out_value, "script_type": pb.out_type, "address_id": opt(out_addr),
        "block_height": opt(tx_height[pb.out_tx]),
    }, schema=UTXO_TABLES["outputs"])
    in_n = fd.in_n
    tables["inputs"] = pa.table({
        "tx_id": tx_ids[in_tx_of_real], "n": in_n, "prev_txid": h32(prev_bytes),
        "prev_vout": prev_vout, "sequence": pb.in_seq[real_in], "prev_output_id": opt(prev_out_id),
        "value": opt(in_value), "address_id": opt(in_addr), "resolved_by": resolved_by,
        "block_height": opt(tx_height[in_tx_of_real]),
    }, schema=UTXO_TABLES["inputs"])
    extra = extra_addr_rows
    special_rows = new_special.tolist()
    if first_key is None:
        first_tx = np.concatenate([tx_ids[pb.out_tx[new_std]], tx_ids[pb.out_tx[new_special]]])
    else:  # canonical first appearance, which may be an input's prevout
        ids_all = np.concatenate([out_addr[new_std], out_addr[new_special],
                                  np.array([r[0] for r in extra], np.int64)])
        first_tx = tx_ids[first_key[ids_all - c.address_id] >> 33]
    tables["addresses"] = pa.table({
        "address_id": np.concatenate([out_addr[new_std], out_addr[new_special],
                                      np.array([r[0] for r in extra], np.int64)]),
        "script_type": np.concatenate([kind[new_std], kind[new_special],
                                       np.array([r[1] for r in extra], np.uint8)]),
        "payload": pa.concat_arrays([
            binary_column(pb.buf, pb.out_pay_off[new_std], pb.out_pay_len[new_std]),
            pa.array([special_payload[i] for i in special_rows] + [r[2] for r in extra], pa.binary())]),
        "fp1": np.concatenate([a[new_std], a[new_special], np.array([r[3] for r in extra], np.uint64)]),
        "fp2": np.concatenate([b[new_std], b[new_special], np.array([r[4] for r in extra], np.uint64)]),
        "first_tx_id": first_tx if first_key is not None else np.concatenate(
            [first_tx, np.array([r[5] for r in extra], np.int64)]),
    }, schema=UTXO_TABLES["addresses"]).sort_by("address_id")
    tables["blocks"] = _blocks_table(pb, raw, metas, block_ids, tx_ids, base, total)
    c.block_id += pb.n_blocks
    c.tx_id += n_tx
    c.output_id += n_out
    c.address_id = c_next_addr
    return tables


def _canonical_address_ids(pb, state, base, nxt, out_addr, in_addr, real_in, prevout_seen, a, b,
                           new_rows, extra, out_ids, spendable, ka, kb, found_vals, found) -> np.ndarray:
    """Renumber this batch's new addresses in order of first appearance in the chain.

    Outputs get ids in one vectorised pass and prevout-data addresses after them, so without this
    the ids would depend on where batches are cut. The canonical order is (transaction, inputs
    before outputs, position); everything that already holds a new id is rewritten. Returns the
    first-appearance key per new id (transaction index << 33 | ...).
    """
    n_new = nxt - base
    big = np.iinfo(np.int64).max
    keys = np.full(n_new, big, np.int64)
    sel = np.flatnonzero(out_addr >= base)
    np.minimum.at(keys, out_addr[sel] - base, (pb.out_tx[sel].astype(np.int64) << 33) | (1 << 32) | sel)
    if prevout_seen:
        pids = np.array([p for p, _ in prevout_seen], np.int64)
        js = np.array([j for _, j in prevout_seen], np.int64)
        keep = pids >= base
        tx_of = pb.in_tx[real_in[js[keep]]].astype(np.int64)
        np.minimum.at(keys, pids[keep] - base, (tx_of << 33) | js[keep])
    order = np.argsort(keys, kind="stable")
    remap = np.empty(n_new, np.int64)
    remap[order] = base + np.arange(n_new)
    new_keys = np.empty(n_new, np.int64)
    new_keys[remap - base] = keys
    for arr in (out_addr, in_addr):
        m = arr >= base
        arr[m] = remap[arr[m] - base]
    for r, row in enumerate(extra):
        extra[r] = (int(remap[row[0] - base]), *row[1:])
    # the address index and this batch's unspent outputs hold the provisional ids: rewrite them
    fa = np.concatenate([a[new_rows], np.array([r[3] for r in extra], np.uint64)])
    fb = np.concatenate([b[new_rows], np.array([r[4] for r in extra], np.uint64)])
    ids = np.concatenate([out_addr[new_rows], np.array([r[0] for r in extra], np.int64)])
    state.addresses.insert(fa, fb, ids.reshape(-1, 1))
    vals, still = state.utxo.lookup(ka, kb)
    if still.any():
        vals[still, 2] = out_addr[spendable][still]
        state.utxo.insert(ka[still], kb[still], vals[still])
    return new_keys


def _apply_prevout_data(pb, metas, real_in, found, in_value, in_addr, resolved_by, state,
                        next_addr, tx_ids, extra_rows, seen) -> int:
    """Resolve inputs the UTXO set lacks from prevouts the source supplied (undo data, RPC v3)."""
    if not any(m.prevouts for m in metas):
        return next_addr
    blk_of_in = pb.tx_block[pb.in_tx[real_in]]
    for blk, meta in enumerate(metas):
        idx = np.flatnonzero(blk_of_in == blk)
        if meta.prevouts is None:
            continue
        if len(meta.prevouts) != len(idx):
            raise DataError(f"{meta.origin}: prevout data has {len(meta.prevouts)} entries but the "
                            f"block has {len(idx)} non-coinbase inputs")
        for k, (j, pv) in enumerate(zip(idx.tolist(), meta.prevouts)):
            if not 0 <= pv.value <= MAX_MONEY:
                raise DataError(f"{meta.origin}: prevout data gives non-coinbase input {k} a value of "
                                f"{pv.value} sat, outside 0..21,000,000 BTC")
            if found[j]:
                if in_value[j] != pv.value:
                    raise DataError(f"{meta.origin}: prevout data says non-coinbase input {k} spends "
                                    f"{pv.value} sat but the store has {in_value[j]}")
                continue
            t, payload = classify_script(pv.script)
            in_value[j] = pv.value
            resolved_by[j] = RESOLVED_PREVOUT_DATA
            if t != ScriptType.OP_RETURN:
                kind, p = address_key(t, payload)
                fa, fb = fingerprint(kind, p)
                ids, new, next_addr = state.addresses.get_or_assign(
                    np.array([fa], np.uint64), np.array([fb], np.uint64), next_addr)
                in_addr[j] = ids[0]
                seen.append((int(ids[0]), j))
                if new[0]:
                    extra_rows.append((int(ids[0]), int(kind), p, fa, fb, int(tx_ids[pb.in_tx[real_in[j]]])))
    return next_addr


def _check_input_sums(pb, metas, in_value, first_real, cnt_real) -> None:
    """Core's CheckTxInputs MoneyRange rule: the inputs of a transaction add up to at most
    21M BTC. Screened in float (no int64 overflow whatever the values), confirmed exactly."""
    known = np.where(in_value >= 0, in_value, 0).astype(np.float64)
    cs = np.concatenate(([0.0], np.cumsum(known)))
    approx = cs[first_real + cnt_real] - cs[first_real]
    for t in np.flatnonzero(approx > MAX_MONEY * 0.999).tolist():
        a, n = int(first_real[t]), int(cnt_real[t])
        if sum(int(v) for v in in_value[a:a + n] if v >= 0) > MAX_MONEY:
            blk = int(pb.tx_block[t])
            raise DataError(f"{metas[blk].origin}: transaction {t - int(pb.blk_first_tx[blk])}: input "
                            "values add up to more than 21,000,000 BTC")


def _check_values(pb, metas, fee_tx, complete, is_coinbase) -> None:
    bad = np.flatnonzero(complete & ~is_coinbase & (fee_tx < 0))
    if len(bad):
        t = int(bad[0])
        blk = int(pb.tx_block[t])
        raise DataError(f"{metas[blk].origin}: transaction {t - int(pb.blk_first_tx[blk])} spends "
                        f"less than it pays out (fee {int(fee_tx[t])} sat)")


def _blocks_table(pb, raw, metas, block_ids, tx_ids, base, total) -> pa.Table:
    rows: dict[str, list] = {k: [] for k in UTXO_TABLES["blocks"].names}
    for i, meta in enumerate(metas):
        s = int(pb.blk_start[i])
        version, prev, merkle, t, bits, nonce = struct.unpack_from("<i32s32sIII", raw, s)
        first = int(pb.blk_first_tx[i])
        ntx = int(pb.blk_ntx[i])
        size = int(pb.blk_end[i]) - s
        stripped = size - int((total[first:first + ntx] - base[first:first + ntx]).sum())
        cb_off = int(pb.in_script_off[pb.tx_first_in[first]]) if ntx else 0
        cb_len = int(pb.in_script_len[pb.tx_first_in[first]]) if ntx else 0
        rows["block_id"].append(int(block_ids[i]))
        rows["height"].append(meta.height)
        rows["hash"].append(hashlib.sha256(hashlib.sha256(raw[s:s + 80]).digest()).digest())
        rows["prev_hash"].append(prev)
        rows["version"].append(version)
        rows["merkle_root"].append(merkle)
        rows["time"].append(t)
        rows["bits"].append(bits)
        rows["nonce"].append(nonce)
        rows["tx_count"].append(ntx)
        rows["size"].append(size)
        rows["stripped_size"].append(stripped)
        rows["weight"].append(stripped * 3 + size)
        rows["first_tx_id"].append(int(tx_ids[first]) if ntx else None)
        rows["coinbase_script"].append(bytes(raw[cb_off:cb_off + cb_len]))
    return pa.table(rows, schema=UTXO_TABLES["blocks"])
