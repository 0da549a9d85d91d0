"""Roll a chain back to a fork point after a reorganisation.

Ids are dense and assigned in block order, so everything that belongs to blocks above the fork has
ids at or above the counters recorded for the first dropped block. Partitions wholly above the fork
are deleted; a partition that straddles it is rewritten without the dropped rows. Afterwards the
store is exactly what an ingest that stopped at the fork point would have written, and the ingest
state is rebuilt from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from fundtrail.ingest.crash import crash_point
from fundtrail.store.integrity import load_records, read_verified
from fundtrail.store.sql import scalar

if TYPE_CHECKING:
    from fundtrail.ingest.bitcoin.pipeline import BitcoinIngest

# table -> (column, which boundary counter it is compared with)
_ID_COLUMNS = {
    "blocks": ("block_id", 0), "transactions": ("tx_id", 1), "outputs": ("output_id", 2),
    "inputs": ("tx_id", 1), "addresses": ("address_id", 3), "tx_updates": ("tx_id", 1),
}


def rollback_to(ing: BitcoinIngest, keep_height: int) -> int:
    """Drop every stored block above `keep_height`; returns the number of blocks dropped."""
    store, chain = ing.store, ing.chain
    with store.connect(read_only=True) as con:
        row = con.execute(
            "SELECT block_id, first_tx_id, first_output_id, first_address_id FROM block_index "
            "WHERE chain = ? AND height > ? ORDER BY block_id LIMIT 1", [chain, keep_height]).fetchone()
        if row is None:
            return 0
        dropped = scalar(con.execute("SELECT count(*) FROM block_index WHERE chain = ? AND block_id >= ?",
                                     [chain, row[0]]))
        rows = con.execute(
            "SELECT batch_id, files, next_block_id, next_tx_id, next_output_id, next_address_id "
            "FROM batches WHERE chain = ? ORDER BY batch_id", [chain]).fetchall()
        records = load_records(con, chain)  # a writer: the catalog is migrated
    bound = tuple(int(x) for x in row)
    # Every id in a batch is below the counters recorded after it: batches wholly below the bound
    # stay as they are, unread (a reorg of the last blocks touches the last batches only).
    batches = [(batch_id, files) for batch_id, files, *after in rows
               if any(int(n) > b for n, b in zip(after, bound))]
    # A kept transaction whose fee became known through a link to a dropped output loses the fee.
    unlinked: set[int] = set()
    for _, files in batches:
        for rel in files:
            if rel.startswith("input_links/"):
                # verified (SHA-256, page checksums) as every file a rewrite copies from
                data = read_verified(store.lake / chain / rel, records.get((chain, rel)))
                lost = data.filter(pc.and_(pc.less(data["tx_id"], bound[1]),
                                           pc.greater_equal(data["prev_output_id"], bound[2])))
                unlinked.update(lost["tx_id"].to_pylist())
    unlinked_ids = pa.array(sorted(unlinked), pa.int64())

    # Addresses first seen in undo data given for a stored block (undo_stored.py) have ids above
    # the blocks after it; those of kept transactions are kept, and new ids start above them.
    kept_addr_max = [bound[3] - 1]

    def keep_rows(table: str, data: pa.Table) -> pa.Table | None:
        if table == "addresses":
            mask = pc.or_(pc.less(data["address_id"], bound[3]), pc.less(data["first_tx_id"], bound[1]))
            kept = data.filter(mask)
            if kept.num_rows:
                kept_addr_max[0] = max(kept_addr_max[0], pc.max(kept["address_id"]).as_py())
            return None if kept.num_rows == data.num_rows else kept
        if table == "input_links":
            mask = pc.and_(pc.less(data["tx_id"], bound[1]), pc.less(data["prev_output_id"], bound[2]))
        else:
            col, which = _ID_COLUMNS[table]
            mask = pc.less(data[col], bound[which])
            if table == "tx_updates" and unlinked:
                mask = pc.and_(mask, pc.invert(pc.is_in(data["tx_id"], unlinked_ids)))
        filtered = data.filter(mask)
        return None if filtered.num_rows == data.num_rows else filtered

    plan, obsolete = store.rewrite_partitions(chain, batches, keep_rows, f"rb{bound[0]}",
                                              after_write=lambda: crash_point("rollback_write"))
    # The state snapshot describes the store before the rollback; drop it before the commit so
    # that a crash between the two cannot leave a snapshot that looks current.
    cache = store.root / "cache" / chain
    if cache.exists():
        for snap in cache.glob("state-*"):
            snap.unlink()
    crash_point("rollback_before_commit")
    extra = None
    if ing.hook is not None:  # e.g. retract the watch alerts of the dropped blocks, in the same transaction
        with store.connect(read_only=True) as con:
            gone = con.execute("SELECT height, hash FROM block_index WHERE chain = ? AND block_id >= ? "
                               "ORDER BY block_id", [chain, bound[0]]).fetchall()
        extra = ing.hook.on_rollback(chain, [(int(h) if h is not None else -1, bytes(x)[::-1].hex())
                                             for h, x in gone])
    with store.connect() as con:
        con.execute("BEGIN")
        for batch_id, kept in plan:
            if kept:
                con.execute(
                    "UPDATE batches SET files = ?, next_block_id = least(next_block_id, ?), "
                    "next_tx_id = least(next_tx_id, ?), next_output_id = least(next_output_id, ?), "
                    "next_address_id = least(next_address_id, ?), "
                    "last_block_id = CASE WHEN last_block_id >= ? THEN ? - 1 ELSE last_block_id END "
                    "WHERE chain = ? AND batch_id = ?",
                    [kept, *bound[:3], kept_addr_max[0] + 1, bound[0], bound[0], chain, batch_id])
            else:
                con.execute("DELETE FROM batches WHERE chain = ? AND batch_id = ?", [chain, batch_id])
        con.execute("DELETE FROM block_index WHERE chain = ? AND block_id >= ?", [chain, bound[0]])
        if extra is not None:
            extra(con)
        con.execute("COMMIT")
    crash_point("rollback_after_commit")
    store.delete_files(chain, obsolete)
    ing._load()  # block index, batch counter and state as the store now holds them
    return int(dropped)
