"""Undo data for blocks already stored: resolve their unresolved inputs afterwards.

A block ingested without its undo data keeps the inputs whose prevouts are not in the store as
unresolved. Given the undo data later (`ingest bitcoin --raw B --undo-file U` again, or `--undo`
on a blocks directory), those inputs get the value and address the undo data gives, exactly as
if it had been given at the first ingest (`resolved_by` = prevout data, fees of transactions now
complete): the block's `inputs` and `transactions` partitions are rewritten and swapped in by one
catalog transaction, as the height back-fill does. Addresses first seen in the undo data get new
ids in a batch of their own, committed first: a crash between the two leaves unused addresses
that a rerun reuses, so a rerun converges to the same store.

Undo data that disagrees with what the store already knows (another block's undo, a value that
differs) is a DataError naming the file, and nothing is changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fundtrail.chains.bitcoin.address import classify_script
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.source import Prevout
from fundtrail.ingest.bitcoin.state import save_snapshot
from fundtrail.store.tables import RESOLVED_PREVOUT_DATA, UTXO_TABLES

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest

log = logging.getLogger(__name__)
_N_BITS = 24  # (tx_id << 24 | n) identifies an input; a transaction has far fewer inputs


@dataclass
class _Resolution:
    keys: list[int]  # tx_id << _N_BITS | n of each input resolved
    values: list[int]
    addresses: list[int | None]
    tx_updates: dict[int, tuple[int, int]]  # tx_id -> (input_value, fee) of transactions now complete


def resolve_stored_from_undo(ing: BitcoinIngest, undo: dict[bytes, tuple[tuple[Prevout, ...], str]]) -> int:
    """Resolve the unresolved inputs of stored blocks (by hash) from their undo data; returns how
    many inputs were resolved. `undo` maps a block hash to (prevouts in input order, origin)."""
    if not undo:
        return 0
    chain = ing.chain
    with ing.store.connect(read_only=True) as con:
        spans = con.execute(
            "SELECT hash, block_id, first_tx_id, lead(first_tx_id) OVER (ORDER BY block_id) "
            "FROM block_index WHERE chain = ? ORDER BY block_id", [chain]).fetchall()
    where = {bytes(h): (int(b), int(s), int(e) if e is not None else ing.state.counters.tx_id)
             for h, b, s, e in spans if s is not None}
    res = _Resolution([], [], [], {})
    new_rows: list[tuple] = []
    block_ids: list[int] = []
    next_addr = ing.state.counters.address_id
    p = chain.replace("-", "_")
    with ing.store.query() as con:
        open_txs = np.sort(con.execute(
            f"SELECT DISTINCT i.tx_id FROM {p}_inputs i JOIN {p}_transactions t USING (tx_id) "
            "WHERE i.value IS NULL AND NOT t.is_coinbase").fetchnumpy()["tx_id"].astype(np.int64))
        for block_hash, (prevouts, origin) in undo.items():
            if block_hash not in where:
                continue
            block_id, first_tx, end_tx = where[block_hash]
            if np.searchsorted(open_txs, first_tx) == np.searchsorted(open_txs, end_tx):
                continue  # every input of the block is resolved already
            rows = con.execute(
                f"SELECT i.tx_id, i.n, i.value FROM {p}_inputs i JOIN {p}_transactions t USING (tx_id) "
                "WHERE i.tx_id >= ? AND i.tx_id < ? AND NOT t.is_coinbase ORDER BY i.tx_id, i.n",
                [first_tx, end_tx]).fetchall()
            if len(rows) != len(prevouts):
                raise DataError(f"{origin}: undo data has {len(prevouts)} entries but stored block "
                                f"{block_hash[::-1].hex()} has {len(rows)} non-coinbase inputs; it is "
                                "the undo data of another block")
            before = len(res.keys)
            for k, ((tx_id, n, value), pv) in enumerate(zip(rows, prevouts)):
                if value is not None:
                    if value != pv.value:
                        raise DataError(f"{origin}: undo data says non-coinbase input {k} spends "
                                        f"{pv.value} sat but the store has {value}")
                    continue
                t, payload = classify_script(pv.script)
                aid = None
                if t != ScriptType.OP_RETURN:
                    kind, pl = address_key(t, payload)
                    fa, fb = fingerprint(kind, pl)
                    ids, new, next_addr = ing.state.addresses.get_or_assign(
                        np.array([fa], np.uint64), np.array([fb], np.uint64), next_addr)
                    aid = int(ids[0])
                    if new[0]:
                        new_rows.append((aid, int(kind), pl, fa, fb, int(tx_id)))
                res.keys.append(int(tx_id) << _N_BITS | int(n))
                res.values.append(pv.value)
                res.addresses.append(aid)
            if len(res.keys) > before:
                block_ids.append(block_id)
        if not res.keys:
            return 0
        _complete_transactions(con, p, res)
    _commit(ing, res, new_rows, next_addr, block_ids)
    return len(res.keys)


def _complete_transactions(con, p: str, res: _Resolution) -> None:
    """Input value and fee of every transaction whose inputs are now all known."""
    add: dict[int, tuple[int, int]] = {}
    for key, value in zip(res.keys, res.values):
        n, s = add.get(key >> _N_BITS, (0, 0))
        add[key >> _N_BITS] = (n + 1, s + value)
    rows = con.execute(
        f"SELECT t.tx_id, t.input_count, t.output_value, count(i.value), coalesce(sum(i.value), 0) "
        f"FROM {p}_transactions t JOIN {p}_inputs i USING (tx_id) "
        "WHERE t.tx_id IN (SELECT unnest(?::BIGINT[])) GROUP BY ALL", [sorted(add)]).fetchall()
    for tx_id, count, out_value, known, known_sum in rows:
        n, s = add[tx_id]
        if known + n == count:
            total = int(known_sum) + s
            if total < out_value:
                raise DataError(f"undo data makes transaction {tx_id} spend less than it pays out "
                                f"({total} < {out_value} sat); it does not belong to this block")
            res.tx_updates[int(tx_id)] = (total, total - int(out_value))


def _commit(ing: BitcoinIngest, res: _Resolution, new_rows: list[tuple], next_addr: int,
            block_ids: list[int]) -> None:
    store, chain = ing.store, ing.chain
    c = ing.state.counters
    if new_rows:  # first: addresses the rewritten inputs will refer to
        cols = list(zip(*new_rows))
        schema = UTXO_TABLES["addresses"]
        table = pa.table({f.name: pa.array(col, f.type) for f, col in zip(schema, cols)}, schema=schema)
        batch_id = ing.next_batch
        name = f"batch-{batch_id:08d}.parquet"
        files = [store.write_partition(chain, "addresses", name, table)]
        ing._register_chain()
        store.commit_batch(chain, {
            "batch_id": batch_id, "source": "undo data for stored blocks", "first_block_id": None,
            "last_block_id": None, "min_height": None, "max_height": None, "n_blocks": 0, "n_tx": 0,
            "n_inputs": 0, "n_outputs": 0, "n_new_addresses": len(new_rows),
            "next_block_id": c.block_id, "next_tx_id": c.tx_id, "next_output_id": c.output_id,
            "next_address_id": next_addr, "run_id": ing.run_id}, files, [])
        ing.next_batch += 1
        c.address_id = next_addr
    order = np.argsort(np.array(res.keys, np.int64))
    keys = np.array(res.keys, np.int64)[order]
    values = np.array(res.values, np.int64)[order]
    addrs = np.array([-1 if a is None else a for a in res.addresses], np.int64)[order]
    tx_keys = np.array(sorted(res.tx_updates), np.int64)
    tx_vals = np.array([res.tx_updates[t] for t in sorted(res.tx_updates)], np.int64).reshape(-1, 2)

    def rewrite(table: str, data: pa.Table) -> pa.Table | None:
        if table == "inputs":
            k = (data["tx_id"].to_numpy().astype(np.int64) << _N_BITS) | data["n"].to_numpy().astype(np.int64)
            return _patch(data, k, keys, {"value": values, "address_id": addrs,
                                          "resolved_by": np.full(len(keys), RESOLVED_PREVOUT_DATA)})
        return _patch(data, data["tx_id"].to_numpy().astype(np.int64), tx_keys,
                      {"input_value": tx_vals[:, 0], "fee": tx_vals[:, 1]})

    with store.connect(read_only=True) as con:
        batches = con.execute(
            "SELECT batch_id, files FROM batches WHERE chain = ? AND first_block_id IS NOT NULL AND "
            "EXISTS (SELECT 1 FROM unnest(?::BIGINT[]) b(id) WHERE b.id BETWEEN first_block_id "
            "AND last_block_id) ORDER BY batch_id", [chain, block_ids]).fetchall()
    plan, obsolete = store.rewrite_partitions(chain, batches, rewrite, f"u{ing.next_batch}",
                                              tables=frozenset({"inputs", "transactions"}))
    with store.connect() as con:
        con.execute("BEGIN")
        for batch_id, kept in plan:
            con.execute("UPDATE batches SET files = ? WHERE chain = ? AND batch_id = ?", [kept, chain, batch_id])
        con.execute("COMMIT")
    store.delete_files(chain, obsolete)
    save_snapshot(store, chain, ing.state)
    log.info("resolved %d stored inputs from undo data", len(keys))


def _patch(data: pa.Table, row_keys: np.ndarray, keys: np.ndarray, columns: dict[str, np.ndarray]) -> pa.Table | None:
    """`data` with `columns` set on the rows whose key is in the sorted `keys` (None: no such row);
    a -1 in an id column stands for NULL."""
    if not len(keys):
        return None
    pos = np.clip(np.searchsorted(keys, row_keys), 0, len(keys) - 1)
    hit = keys[pos] == row_keys
    if not hit.any():
        return None
    for name, new in columns.items():
        idx = data.schema.get_field_index(name)
        field = data.schema.field(name)
        old = pc.fill_null(data[name].cast(pa.int64()), -1).to_numpy().astype(np.int64)
        was_null = data[name].is_null().to_numpy(zero_copy_only=False)
        merged = np.where(hit, new[pos], old)
        mask = np.where(hit, merged < 0, was_null) if name in ("address_id",) else np.where(hit, False, was_null)
        data = data.set_column(idx, field, pa.array(merged, field.type, mask=mask))
    return data
