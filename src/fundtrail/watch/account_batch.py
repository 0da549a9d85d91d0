"""A decoded account-chain ingest batch as the watch rules read it: value events in execution order.

Built from the tables the EVM/TRON ingest decoded (`ingest.ethereum.rows.build_tables`), before they
are committed. An *event* is what the account graph index keeps (`trace.account_graph`): a
successful transfer of a fungible asset (native, internal, token, withdrawal, fee, reward), the
zero address standing for no one, native value as asset -1, in execution order (block,
transaction, transfer id). The same definition as the trace engine, so a watched frontier moves
exactly as `trace` would move it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fundtrail.store.tables import hash32_numpy
from fundtrail.trace.account_graph import KIND_FEE, VALUE_KINDS

NATIVE = -1


@dataclass(frozen=True)
class Event:
    """One value event of the batch."""

    pos: int  # position in the batch's execution order
    transfer_id: int
    sender: int  # address id, -1 none (mint, reward, withdrawal)
    receiver: int  # -1 none (burn, burnt fee)
    asset: int  # -1 native, else the token contract's address id
    amount: int
    kind: int
    tx: int  # tx id, -1 none
    block: int


class AccountBatch:
    """Events, transaction hashes and block hashes of one batch."""

    def __init__(self, tables: dict[str, pa.Table], zero_id: int | None, *, bare_hashes: bool = False) -> None:
        """`bare_hashes`: block and transaction hashes as hex without 0x (TRON's convention)."""
        pre = "" if bare_hashes else "0x"
        tr = tables["transfers"]
        blocks = tables["blocks"]
        self.blocks: dict[int, tuple[str, int]] = {
            int(n): (pre + bytes(h).hex(), int(t or 0)) for n, h, t in zip(
                blocks.column("number").to_pylist(), blocks.column("hash").to_pylist(),
                blocks.column("timestamp").to_pylist())}
        txs = tables["transactions"]
        self.tx_hash: dict[int, str] = {int(i): pre + bytes(h).hex() for i, h in zip(
            txs.column("tx_id").to_pylist(), txs.column("hash").to_pylist())}
        self.events: list[Event] = []
        self.addresses = np.zeros(0, np.int64)
        if tr.num_rows == 0:
            return
        keep = np.isin(tr.column("kind").to_numpy(zero_copy_only=False), VALUE_KINDS) & \
            tr.column("success").fill_null(False).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(keep)
        if not idx.size:
            return
        tr = tr.take(pa.array(idx))

        def ids(name: str) -> np.ndarray:
            col = tr.column(name).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            if zero_id is not None:
                col = np.where(col == zero_id, -1, col)
            return col

        sender, receiver = ids("from_id"), ids("to_id")
        asset = tr.column("asset_id").fill_null(NATIVE).to_numpy(zero_copy_only=False).astype(np.int64)
        raw = hash32_numpy(tr.column("amount_raw"))
        amounts = [int.from_bytes(bytes(r), "big") for r in raw]
        tx = tr.column("tx_id").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        block = tr.column("block_number").to_numpy(zero_copy_only=False)
        tid = tr.column("transfer_id").to_numpy(zero_copy_only=False)
        kind = tr.column("kind").to_numpy(zero_copy_only=False)
        # execution order: block, transaction (none last), transfer id
        order = np.lexsort((tid, np.where(tx < 0, np.iinfo(np.int64).max, tx), block))
        for pos, k in enumerate(order.tolist()):
            self.events.append(Event(pos, int(tid[k]), int(sender[k]), int(receiver[k]), int(asset[k]),
                                     amounts[k], int(kind[k]), int(tx[k]), int(block[k])))
        self.addresses = np.unique(np.concatenate([sender, receiver]))

    def where(self, ev: Event) -> tuple[int, str, str | None, int]:
        """(height, block hash, tx hash or None, block time) of an event."""
        block_hash, when = self.blocks.get(ev.block, ("", 0))
        return ev.block, block_hash, self.tx_hash.get(ev.tx), when

    @staticmethod
    def is_fee(ev: Event) -> bool:
        return ev.kind == KIND_FEE
