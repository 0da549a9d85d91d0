"""A columnar view of a range of UTXO transactions: the one input shape of every Bitcoin heuristic.

Heuristics (CoinJoin detectors, change heuristics) are vectorised functions over this view, so the
same code runs on a store batch (`load_txview`, in the clustering engine) and on hand-built views in
unit tests. Inputs and outputs are CSR arrays: transaction `i` owns inputs `in_ptr[i]:in_ptr[i+1]`
and outputs `out_ptr[i]:out_ptr[i+1]` (outputs in `n` order, inputs in spending order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fundtrail.store.tables import hash32_numpy

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

#: Marker for an unknown address id or value (unresolved input, output without an address).
UNKNOWN = -1


@dataclass(frozen=True)
class TxView:
    """Transactions `tx_id[0..T)` with their inputs and outputs as flat numpy arrays.

    Per transaction (length T): `tx_id`, `height`, `time` (block time, unix s), `version`,
    `locktime`, `is_coinbase`, `in_ptr`/`out_ptr` (length T+1).
    Per input (length I): `in_address` (address id or UNKNOWN), `in_value` (sat or UNKNOWN),
    `in_script` (ScriptType code of the spent output, 0 when unknown), `in_sequence`,
    `in_prev_output` (output id spent, or UNKNOWN).
    Per output (length O): `out_id` (output id), `out_address` (address id or UNKNOWN for
    OP_RETURN/nonstandard), `out_value`, `out_script` (ScriptType code), `out_addr_first_tx`
    (tx_id where the output's address first appeared in the chain: `< tx_id` of the paying
    transaction means the address was used before, i.e. not fresh; UNKNOWN when no address),
    `out_spent_by` (tx_id of the spending transaction as far as the store knows, or UNKNOWN).
    Optionally `txid` (T, 32) uint8: the transaction hashes as stored, which the evidence of a
    clustering run records (loading them with the range saves a query per run).
    """

    tx_id: np.ndarray
    height: np.ndarray
    time: np.ndarray
    version: np.ndarray
    locktime: np.ndarray
    is_coinbase: np.ndarray
    in_ptr: np.ndarray
    in_address: np.ndarray
    in_value: np.ndarray
    in_script: np.ndarray
    in_sequence: np.ndarray
    in_prev_output: np.ndarray
    out_ptr: np.ndarray
    out_id: np.ndarray
    out_address: np.ndarray
    out_value: np.ndarray
    out_script: np.ndarray
    out_addr_first_tx: np.ndarray
    out_spent_by: np.ndarray
    txid: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.tx_id.shape[0])

    def n_inputs(self) -> np.ndarray:
        """Input count per transaction."""
        return np.diff(self.in_ptr)

    def n_outputs(self) -> np.ndarray:
        """Output count per transaction."""
        return np.diff(self.out_ptr)


@dataclass(frozen=True)
class AddressFacts:
    """Per-address facts indexed by address id: script type code and the tx_id of first appearance.

    Loaded once per clustering run (one byte plus eight per address) so that loading a range of
    transactions does not join the whole addresses table each time.
    """

    script: np.ndarray
    first_tx: np.ndarray

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, prefix: str) -> AddressFacts:
        """From the `<prefix>_addresses` view of a `Store.query()` connection."""
        tbl = con.sql(
            f"SELECT address_id, script_type, first_tx_id FROM {prefix}_addresses"
        ).to_arrow_table()
        ids = _np(tbl, "address_id", np.int64)
        size = int(ids.max()) + 1 if ids.size else 0
        script = np.zeros(size, np.uint8)
        first = np.full(size, UNKNOWN, np.int64)
        script[ids] = _np(tbl, "script_type", np.uint8)
        first[ids] = _np(tbl, "first_tx_id", np.int64)
        return cls(script=script, first_tx=first)


def _np(tbl: pa.Table, name: str, dtype: type, fill: int = UNKNOWN) -> np.ndarray:
    col = tbl.column(name)
    if col.null_count:
        col = col.fill_null(fill)
    return col.to_numpy().astype(dtype, copy=False)


def _lookup(table: np.ndarray, ids: np.ndarray, default: int) -> np.ndarray:
    out = np.full(ids.shape, default, table.dtype)
    ok = (ids >= 0) & (ids < table.shape[0])
    out[ok] = table[ids[ok]]
    return out


def load_txview(con: duckdb.DuckDBPyConnection, chain: str, tx_lo: int, tx_hi: int,
                facts: AddressFacts | None = None, *, txids: bool = False) -> TxView:
    """Transactions with `tx_lo <= tx_id < tx_hi` of a UTXO chain, from a `Store.query()` connection.

    `facts` (from `AddressFacts.load`) is reused across calls; without it, it is loaded here.
    With `txids`, the view carries the transaction hashes too.
    """
    p = chain.replace("-", "_")
    if facts is None:
        facts = AddressFacts.load(con, p)
    rng = [tx_lo, tx_hi]
    txs = con.sql(
        f"""SELECT t.tx_id, coalesce(t.block_height, -1) AS height, coalesce(b.time, 0) AS time,
                   t.version, t.locktime, t.is_coinbase, t.input_count, t.output_count{", t.txid" if txids else ""}
            FROM {p}_transactions t LEFT JOIN {p}_blocks b ON t.block_id = b.block_id
            WHERE t.tx_id >= ? AND t.tx_id < ? ORDER BY t.tx_id""", params=rng).to_arrow_table()
    ins = con.sql(
        f"""SELECT tx_id, prev_output_id, value, address_id, sequence FROM {p}_inputs
            WHERE tx_id >= ? AND tx_id < ? ORDER BY tx_id, n""", params=rng).to_arrow_table()
    outs = con.sql(
        f"""SELECT output_id, tx_id, value, script_type, address_id FROM {p}_outputs
            WHERE tx_id >= ? AND tx_id < ? ORDER BY tx_id, n""", params=rng).to_arrow_table()
    out_id = _np(outs, "output_id", np.int64)
    spent = np.full(out_id.shape, UNKNOWN, np.int64)
    if out_id.size:
        lo, hi = int(out_id.min()), int(out_id.max())
        # A spend comes after its output in chain order, so only inputs of transactions from
        # tx_lo on can spend these outputs (lets the scan skip earlier partitions by their tx_id
        # statistics); late-resolved inputs carry their link in input_links.
        sp = con.sql(
            f"""SELECT prev_output_id, tx_id FROM {p}__inputs
                WHERE tx_id >= ? AND prev_output_id >= ? AND prev_output_id <= ?
                UNION ALL
                SELECT prev_output_id, tx_id FROM {p}__input_links
                WHERE prev_output_id >= ? AND prev_output_id <= ?""",
            params=[tx_lo, lo, hi, lo, hi]).to_arrow_table()
        pos = np.searchsorted(out_id, _np(sp, "prev_output_id", np.int64))
        spent[pos] = _np(sp, "tx_id", np.int64)
    tx_id = _np(txs, "tx_id", np.int64)
    in_tx = _np(ins, "tx_id", np.int64)
    out_tx = _np(outs, "tx_id", np.int64)
    in_ptr = np.zeros(tx_id.size + 1, np.int64)
    out_ptr = np.zeros(tx_id.size + 1, np.int64)
    in_ptr[1:] = np.searchsorted(in_tx, tx_id, side="right")
    out_ptr[1:] = np.searchsorted(out_tx, tx_id, side="right")
    in_address = _np(ins, "address_id", np.int64)
    out_address = _np(outs, "address_id", np.int64)
    return TxView(
        tx_id=tx_id,
        height=_np(txs, "height", np.int64),
        time=_np(txs, "time", np.int64, 0),
        version=_np(txs, "version", np.int64, 0),
        locktime=_np(txs, "locktime", np.int64, 0),
        is_coinbase=_np(txs, "is_coinbase", np.bool_, 0),
        in_ptr=in_ptr,
        in_address=in_address,
        in_value=_np(ins, "value", np.int64),
        in_script=_lookup(facts.script, in_address, 0),
        in_sequence=_np(ins, "sequence", np.int64, 0),
        in_prev_output=_np(ins, "prev_output_id", np.int64),
        out_ptr=out_ptr,
        out_id=out_id,
        out_address=out_address,
        out_value=_np(outs, "value", np.int64, 0),
        out_script=_np(outs, "script_type", np.uint8, 0),
        out_addr_first_tx=_lookup(facts.first_tx, out_address, UNKNOWN),
        out_spent_by=spent,
        txid=hash32_numpy(txs.column("txid")) if txids else None,
    )
