"""A columnar view of a range of UTXO transactions: the one input shape of every Bitcoin heuristic.

Heuristics (CoinJoin detectors, change heuristics) are vectorised functions over this view, so the
same code runs on a store batch (`load_txview`, in the clustering engine) and on hand-built views in
unit tests. Inputs and outputs are CSR arrays: transaction `i` owns inputs `in_ptr[i]:in_ptr[i+1]`
and outputs `out_ptr[i]:out_ptr[i+1]` (outputs in `n` order, inputs in spending order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def __len__(self) -> int:
        return int(self.tx_id.shape[0])

    def n_inputs(self) -> np.ndarray:
        """Input count per transaction."""
        return np.diff(self.in_ptr)

    def n_outputs(self) -> np.ndarray:
        """Output count per transaction."""
        return np.diff(self.out_ptr)
