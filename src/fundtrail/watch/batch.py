"""A decoded ingest batch as the watch rules read it: transactions in chain order with their
inputs (the spent outpoint, its value and address where resolved) and outputs, by position.

Built from the tables the Bitcoin ingest decoded (`ingest.bitcoin.decode`), before they are
committed; the columns are turned into Python lists once, and only when a rule needs them.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa


class BatchView:
    """Lookups over one batch's `blocks`, `transactions`, `inputs` and `outputs` tables."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables
        blocks = tables["blocks"]
        self.blocks = {int(b): (h, bytes(x)[::-1].hex(), int(t)) for b, h, x, t in zip(
            blocks.column("block_id").to_pylist(), blocks.column("height").to_pylist(),
            blocks.column("hash").to_pylist(), blocks.column("time").to_pylist())}
        txs = tables["transactions"]
        self.tx_ids = txs.column("tx_id").to_numpy()
        self.tx0 = int(self.tx_ids[0]) if self.tx_ids.size else 0
        self._txid = txs.column("txid").to_pylist()
        self._tx_block = txs.column("block_id").to_pylist()
        outs = tables["outputs"]
        out0 = int(outs.column("output_id")[0].as_py()) if outs.num_rows else 0
        self.out_first = (txs.column("first_output_id").to_numpy() - out0).tolist()
        self.out_count = txs.column("output_count").to_pylist()
        self.in_tx = tables["inputs"].column("tx_id").to_numpy()
        # each transaction's inputs as [lo, hi) positions, found once for the whole batch
        self._in_lo = np.searchsorted(self.in_tx, self.tx_ids, "left").tolist()
        self._in_hi = np.searchsorted(self.in_tx, self.tx_ids, "right").tolist()

    # -- transactions ---------------------------------------------------------------------------
    def txid(self, tx: int) -> bytes:
        """Internal byte order txid of transaction id `tx` (an id of this batch)."""
        return bytes(self._txid[tx - self.tx0])

    def txid_hex(self, tx: int) -> str:
        return self.txid(tx)[::-1].hex()

    def block_of(self, tx: int) -> tuple[int | None, str, int]:
        """(height, display block hash, block time) of a transaction of the batch."""
        return self.blocks[int(self._tx_block[tx - self.tx0])]

    # -- inputs -----------------------------------------------------------------------------------
    @cached_property
    def in_prev(self) -> list[tuple[bytes, int]]:
        inputs = self.tables["inputs"]
        return list(zip(inputs.column("prev_txid").to_pylist(), inputs.column("prev_vout").to_pylist()))

    @cached_property
    def in_value(self) -> list[int]:
        return [v or 0 for v in self.tables["inputs"].column("value").to_pylist()]

    @cached_property
    def in_address(self) -> np.ndarray:
        """Address id of each input's spent output (-1: unresolved or no address)."""
        return self.tables["inputs"].column("address_id").fill_null(-1).to_numpy()

    @cached_property
    def spender(self) -> dict[tuple[bytes, int], int]:
        """Outpoint (internal txid, vout) -> the transaction of the batch spending it."""
        return dict(zip(self.in_prev, self.in_tx.tolist()))

    def inputs_of(self, tx: int) -> range:
        i = tx - self.tx0
        return range(self._in_lo[i], self._in_hi[i])

    # -- outputs ----------------------------------------------------------------------------------
    @cached_property
    def out_value(self) -> list[int]:
        return self.tables["outputs"].column("value").to_pylist()

    @cached_property
    def out_address(self) -> np.ndarray:
        return self.tables["outputs"].column("address_id").fill_null(-1).to_numpy()

    @cached_property
    def out_tx(self) -> np.ndarray:
        return self.tables["outputs"].column("tx_id").to_numpy()

    def outputs_of(self, tx: int) -> range:
        i = tx - self.tx0
        return range(self.out_first[i], self.out_first[i] + self.out_count[i])


def sorted_keys(values: np.ndarray) -> np.ndarray:
    """`values` sorted and unique: the key array `member` looks values up in."""
    return np.unique(values)


def member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of `values` are in `keys` (sorted, unique): `np.isin` without re-sorting the keys on
    every call (100,000 watched addresses cost ~25 ms a call that way, < 1 ms here)."""
    if keys.size == 0 or values.size == 0:
        return np.zeros(values.shape, bool)
    idx = np.searchsorted(keys, values)
    idx[idx == keys.size] = 0
    return np.asarray(keys[idx] == values)


def with_keys(keys: np.ndarray, more: np.ndarray) -> np.ndarray:
    """`keys` (sorted, unique) with `more` added, still sorted and unique."""
    more = np.unique(more.astype(keys.dtype))
    more = more[~member(more, keys)]
    return np.insert(keys, np.searchsorted(keys, more), more) if more.size else keys
