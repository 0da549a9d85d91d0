"""Roll an account chain back to a fork point: drop every row of blocks above it.

Like the Bitcoin rollback, partitions wholly above the fork are deleted and a straddling one is
rewritten, then one catalog transaction switches; ids are dense in block order, so the counters
return to those recorded for the first dropped block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from fundtrail.store.sql import scalar

if TYPE_CHECKING:
    from fundtrail.ingest.ethereum.pipeline import EthIngest

_BLOCK_COLUMN = {"blocks": "number", "transactions": "block_number", "logs": "block_number",
                 "traces": "block_number", "transfers": "block_number", "freezes": "block_number",
                 "events": "block_number"}


def rollback_to(ing: EthIngest, keep: int) -> int:
    """Drop stored blocks above `keep`; returns how many were dropped."""
    store, chain = ing.store, ing.name
    with store.connect(read_only=True) as con:
        row = con.execute(
            "SELECT first_tx_id, first_output_id, first_address_id FROM block_index "
            "WHERE chain = ? AND height > ? ORDER BY height LIMIT 1", [chain, keep]).fetchone()
        if row is None:
            return 0
        dropped = scalar(con.execute("SELECT count(*) FROM block_index WHERE chain = ? AND height > ?",
                                     [chain, keep]))
        batches = con.execute("SELECT batch_id, files FROM batches WHERE chain = ? ORDER BY batch_id",
                              [chain]).fetchall()
    first_tx, first_transfer, first_address = (int(x) for x in row)

    def keep_rows(table: str, data: pa.Table) -> pa.Table | None:
        if table in _BLOCK_COLUMN:
            mask = pc.less_equal(data[_BLOCK_COLUMN[table]], keep)
        else:  # addresses, tokens
            mask = pc.less(data["address_id"], first_address)
        filtered = data.filter(mask)
        return None if filtered.num_rows == data.num_rows else filtered

    plan, obsolete = store.rewrite_partitions(chain, batches, keep_rows, f"rb{keep}")
    extra = None
    if ing.hook is not None:  # e.g. retract the watch alerts of the dropped blocks, in the same transaction
        with store.connect(read_only=True) as con:
            gone = con.execute("SELECT height, hash FROM block_index WHERE chain = ? AND height > ? "
                               "ORDER BY height", [chain, keep]).fetchall()
        pre = "" if ing.chain.address_format == "base58check" else "0x"  # TRON writes hashes without 0x
        extra = ing.hook.on_rollback(chain, [(int(h), pre + bytes(x).hex()) for h, x in gone])
    with store.connect() as con:
        con.execute("BEGIN")
        for batch_id, kept in plan:
            if kept:
                con.execute(
                    "UPDATE batches SET files = ?, next_tx_id = least(next_tx_id, ?), "
                    "next_transfer_id = least(next_transfer_id, ?), "
                    "next_address_id = least(next_address_id, ?), next_block_id = least(next_block_id, ?) "
                    "WHERE chain = ? AND batch_id = ?",
                    [kept, first_tx, first_transfer, first_address, keep + 1, chain, batch_id])
            else:
                con.execute("DELETE FROM batches WHERE chain = ? AND batch_id = ?", [chain, batch_id])
        con.execute("DELETE FROM block_index WHERE chain = ? AND height > ?", [chain, keep])
        if extra is not None:
            extra(con)
        con.execute("COMMIT")
    store.delete_files(chain, obsolete)
    ing.load()
    return int(dropped)
