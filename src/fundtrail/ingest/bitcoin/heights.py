"""Height back-fill: blocks stored without a height get one when their ancestry arrives.

An isolated block with no BIP34 height (or a branch whose root's parent was not yet stored) is
stored with height NULL. When a later run stores the missing ancestors, the heights follow from the
parent links. Partitions are immutable, so every partition holding a height column of an affected
block is rewritten under a new name and swapped in by one catalog transaction, exactly as rollback
does: a crash before the commit leaves the old files in force and the new ones as debris.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest

log = logging.getLogger(__name__)

# table -> (height column, how a row finds its block: by block_id or by tx_id)
_HEIGHT_COLUMNS = {
    "blocks": ("height", "block_id"), "transactions": ("block_height", "block_id"),
    "outputs": ("block_height", "tx_id"), "inputs": ("block_height", "tx_id"),
}


def missing_heights(ing: BitcoinIngest) -> dict[int, int]:
    """block_id -> height for stored blocks without a height whose ancestry now gives one."""
    with ing.store.connect(read_only=True) as con:
        rows = con.execute("SELECT block_id, hash, prev_hash, height FROM block_index WHERE chain = ?",
                           [ing.chain]).fetchall()
    if all(r[3] is not None for r in rows):
        return {}
    height = {bytes(h): ht for _, h, _, ht in rows}
    children: dict[bytes, list[tuple[int, bytes]]] = {}
    for bid, h, prev, ht in rows:
        if ht is None:
            children.setdefault(bytes(prev), []).append((bid, bytes(h)))
    found: dict[int, int] = {}
    stack = [(h, ht) for h, ht in height.items() if ht is not None and h in children]
    while stack:
        parent, ht = stack.pop()
        for bid, h in children.get(parent, ()):
            if height.get(h) is None:
                height[h] = ht + 1
                found[bid] = ht + 1
                stack.append((h, ht + 1))
    return found


def backfill_heights(ing: BitcoinIngest) -> int:
    """Give stored blocks the heights their newly stored ancestry implies; returns how many."""
    found = missing_heights(ing)
    if not found:
        return 0
    store, chain = ing.store, ing.chain
    with store.connect(read_only=True) as con:
        spans = con.execute(
            "SELECT block_id, first_tx_id, lead(first_tx_id) OVER (ORDER BY block_id) "
            "FROM block_index WHERE chain = ? ORDER BY block_id", [chain]).fetchall()
        batches = con.execute("SELECT batch_id, files FROM batches WHERE chain = ? ORDER BY batch_id",
                              [chain]).fetchall()
    next_tx = ing.state.counters.tx_id
    by_block = pa.table({"block_id": pa.array(list(found), pa.int64()),
                         "new_height": pa.array(list(found.values()), pa.int64())})
    tx_ranges = [(s, e if e is not None else next_tx, found[b]) for b, s, e in spans if b in found]

    def with_heights(table: str, data: pa.Table) -> pa.Table | None:
        col, key = _HEIGHT_COLUMNS[table]
        return _with_heights(data, col, key, by_block, tx_ranges)

    plan, obsolete = store.rewrite_partitions(chain, batches, with_heights, f"h{min(found)}",
                                              tables=frozenset(_HEIGHT_COLUMNS))
    with store.connect() as con:
        con.execute("BEGIN")
        for batch_id, kept in plan:
            con.execute("UPDATE batches SET files = ? WHERE chain = ? AND batch_id = ?", [kept, chain, batch_id])
        con.executemany("UPDATE block_index SET height = ? WHERE chain = ? AND block_id = ?",
                        [(h, chain, b) for b, h in found.items()])
        con.execute("COMMIT")
    store.delete_files(chain, obsolete)
    log.info("back-filled the heights of %d blocks whose ancestry arrived", len(found))
    return len(found)


def _with_heights(data: pa.Table, col: str, key: str, by_block: pa.Table,
                  tx_ranges: list[tuple[int, int, int]]) -> pa.Table | None:
    """`data` with heights filled in for the affected rows, or None if no row is affected."""
    ids = data[key].to_numpy()
    if key == "block_id":
        keys = by_block["block_id"].to_numpy()
        order = np.argsort(keys)
        starts, ends, hs = keys[order], keys[order] + 1, by_block["new_height"].to_numpy()[order]
    else:
        tx_ranges = sorted(tx_ranges)
        starts = np.array([r[0] for r in tx_ranges], np.int64)
        ends = np.array([r[1] for r in tx_ranges], np.int64)
        hs = np.array([r[2] for r in tx_ranges], np.int64)
    pos = np.searchsorted(starts, ids, side="right") - 1
    hit = pos >= 0
    hit[hit] = ids[hit] < ends[pos[hit]]
    if not hit.any():
        return None
    heights = pc.fill_null(data[col], -1).to_numpy().astype(np.int64)  # -1: unknown, back to NULL below
    heights[hit] = hs[pos[hit]]
    field = data.schema.field(col)
    idx = data.schema.get_field_index(col)
    return data.set_column(idx, field, pa.array(heights, field.type, mask=heights < 0))
