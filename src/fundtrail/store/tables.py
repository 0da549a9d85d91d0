"""Arrow schemas of the lake tables, per chain family, and the public SQL views over them.

Amounts are exact integers in base units (satoshi). Identifiers are dense integers assigned at
ingest; hashes are 32-byte binaries in internal (little-endian) byte order, reversed to display
hex only at the edges. docs/schema.md documents every column.
"""

from __future__ import annotations

import pyarrow as pa

H32 = pa.binary(32)

UTXO_TABLES: dict[str, pa.Schema] = {
    "blocks": pa.schema([
        ("block_id", pa.int64()), ("height", pa.int64()), ("hash", H32), ("prev_hash", H32),
        ("version", pa.int64()), ("merkle_root", H32), ("time", pa.int64()), ("bits", pa.int64()),
        ("nonce", pa.int64()), ("tx_count", pa.int32()), ("size", pa.int32()),
        ("stripped_size", pa.int32()), ("weight", pa.int64()), ("first_tx_id", pa.int64()),
        ("coinbase_script", pa.binary()),
    ]),
    "transactions": pa.schema([
        ("tx_id", pa.int64()), ("txid", H32), ("block_id", pa.int64()), ("block_height", pa.int64()),
        ("tx_index", pa.int32()), ("version", pa.int64()), ("locktime", pa.int64()),
        ("size", pa.int32()), ("vsize", pa.int32()), ("weight", pa.int32()),
        ("is_coinbase", pa.bool_()), ("is_segwit", pa.bool_()), ("input_count", pa.int32()),
        ("output_count", pa.int32()), ("first_output_id", pa.int64()), ("output_value", pa.int64()),
        ("input_value", pa.int64()), ("fee", pa.int64()),
    ]),
    "outputs": pa.schema([
        ("output_id", pa.int64()), ("tx_id", pa.int64()), ("n", pa.int32()), ("value", pa.int64()),
        ("script_type", pa.uint8()), ("address_id", pa.int64()), ("block_height", pa.int64()),
    ]),
    "inputs": pa.schema([
        ("tx_id", pa.int64()), ("n", pa.int32()), ("prev_txid", H32), ("prev_vout", pa.int64()),
        ("sequence", pa.int64()), ("prev_output_id", pa.int64()), ("value", pa.int64()),
        ("address_id", pa.int64()), ("resolved_by", pa.uint8()), ("block_height", pa.int64()),
    ]),
    "addresses": pa.schema([
        ("address_id", pa.int64()), ("script_type", pa.uint8()), ("payload", pa.binary()),
        ("fp1", pa.uint64()), ("fp2", pa.uint64()), ("first_tx_id", pa.int64()),
    ]),
    # Late resolution of inputs stored unresolved: written when their prevout arrives later.
    "input_links": pa.schema([
        ("tx_id", pa.int64()), ("n", pa.int32()), ("prev_output_id", pa.int64()),
        ("value", pa.int64()), ("address_id", pa.int64()),
    ]),
    "tx_updates": pa.schema([
        ("tx_id", pa.int64()), ("input_value", pa.int64()), ("fee", pa.int64()),
    ]),
}

# -- account chains (Ethereum and EVM chains) -------------------------------------------------
#: uint256 quantities are stored twice: `<name>_raw` (32-byte big-endian, exact for every value)
#: and `<name>` as DECIMAL(38,0) for SQL arithmetic, NULL when the value does not fit (>= 10^38).
U256_DEC = pa.decimal128(38, 0)
A20 = pa.binary(20)

ACCOUNT_TABLES: dict[str, pa.Schema] = {
    "blocks": pa.schema([
        ("number", pa.int64()), ("hash", H32), ("parent_hash", H32), ("timestamp", pa.int64()),
        ("miner_id", pa.int64()), ("gas_limit", pa.int64()), ("gas_used", pa.int64()),
        ("base_fee_per_gas", U256_DEC), ("difficulty", U256_DEC), ("size", pa.int64()),
        ("tx_count", pa.int32()), ("nonce", pa.binary()), ("extra_data", pa.binary()),
        ("state_root", H32), ("transactions_root", H32), ("receipts_root", H32),
        ("withdrawals_root", H32), ("blob_gas_used", pa.int64()), ("excess_blob_gas", pa.int64()),
        ("first_tx_id", pa.int64()), ("trace_mode", pa.string()),
        ("verified", pa.bool_()),
    ]),
    "transactions": pa.schema([
        ("tx_id", pa.int64()), ("hash", H32), ("block_number", pa.int64()), ("tx_index", pa.int32()),
        ("from_id", pa.int64()), ("to_id", pa.int64()), ("contract_created_id", pa.int64()),
        ("value", U256_DEC), ("value_raw", H32), ("nonce", pa.int64()), ("gas", pa.int64()),
        ("gas_price", U256_DEC), ("max_fee_per_gas", U256_DEC), ("max_priority_fee_per_gas", U256_DEC),
        ("tx_type", pa.int16()), ("input", pa.binary()), ("status", pa.int8()),
        ("gas_used", pa.int64()), ("cumulative_gas_used", pa.int64()),
        ("effective_gas_price", U256_DEC), ("fee", U256_DEC), ("burnt_fee", U256_DEC),
        ("block_time", pa.int64()),
    ]),
    "logs": pa.schema([
        ("tx_id", pa.int64()), ("log_index", pa.int32()), ("block_number", pa.int64()),
        ("address_id", pa.int64()), ("topic0", H32), ("topic1", H32), ("topic2", H32),
        ("topic3", H32), ("data", pa.binary()),
    ]),
    "traces": pa.schema([
        ("tx_id", pa.int64()), ("block_number", pa.int64()), ("trace_address", pa.list_(pa.int32())),
        ("trace_type", pa.string()), ("call_type", pa.string()), ("from_id", pa.int64()),
        ("to_id", pa.int64()), ("value", U256_DEC), ("value_raw", H32), ("gas", pa.int64()),
        ("gas_used", pa.int64()), ("subtraces", pa.int32()), ("error", pa.string()),
        ("status", pa.int8()),
    ]),
    "transfers": pa.schema([
        ("transfer_id", pa.int64()), ("block_number", pa.int64()), ("block_time", pa.int64()),
        ("tx_id", pa.int64()), ("kind", pa.uint8()), ("from_id", pa.int64()), ("to_id", pa.int64()),
        ("asset_id", pa.int64()), ("amount", U256_DEC), ("amount_raw", H32),
        ("token_id_raw", H32), ("log_index", pa.int32()), ("batch_index", pa.int32()),
        ("trace_address", pa.list_(pa.int32())), ("success", pa.bool_()),
    ]),
    "addresses": pa.schema([
        ("address_id", pa.int64()), ("address", A20), ("first_block", pa.int64()),
    ]),
    "tokens": pa.schema([
        ("address_id", pa.int64()), ("standard", pa.string()), ("symbol", pa.string()),
        ("name", pa.string()), ("decimals", pa.int32()),
    ]),
    # A stablecoin issuer's freeze actions (Tether's AddedBlackList/RemovedBlackList/DestroyedBlackFunds,
    # Circle's Blacklisted/UnBlacklisted): facts an investigator cites ("frozen by the issuer at block X").
    # action: "blacklisted" | "unblacklisted" | "destroyed"; amount where the event gives one.
    "freezes": pa.schema([
        ("block_number", pa.int64()), ("block_time", pa.int64()), ("tx_id", pa.int64()),
        ("log_index", pa.int32()), ("token_id", pa.int64()), ("address_id", pa.int64()),
        ("action", pa.string()), ("amount", U256_DEC), ("amount_raw", H32),
    ]),
    # Typed events that move no value but are evidence (TRON: staking, resource delegation, votes):
    # kind names the contract (e.g. "delegate_resource"), from_id the owner, to_id the receiver or
    # candidate, amount in base units where given, resource ("bandwidth" | "energy"), detail JSON.
    "events": pa.schema([
        ("block_number", pa.int64()), ("block_time", pa.int64()), ("tx_id", pa.int64()),
        ("kind", pa.string()), ("from_id", pa.int64()), ("to_id", pa.int64()), ("asset_id", pa.int64()),
        ("amount", U256_DEC), ("resource", pa.string()), ("detail", pa.string()), ("success", pa.bool_()),
    ]),
}

#: Columns added to a table after stores were written with it: partitions written before lack them,
#: and the table's view reads old and new partitions together, NULL where a column is missing.
ADDED_COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {("account", "blocks"): ("verified",)}

#: transfers.kind codes (permanent) and their export names.
TRANSFER_KINDS = ("native", "internal", "erc20", "erc721", "erc1155", "withdrawal", "fee", "reward", "trc10")

ACCOUNT_VIEWS: dict[str, str] = {name: "SELECT * FROM {p}__" + name for name in ACCOUNT_TABLES}

#: How an input's spent output became known (inputs.resolved_by).
RESOLVED_NONE, RESOLVED_STORE, RESOLVED_PREVOUT_DATA = 0, 1, 2

TABLES_BY_FAMILY: dict[str, dict[str, pa.Schema]] = {"utxo": UTXO_TABLES, "account": ACCOUNT_TABLES}
TABLES = UTXO_TABLES  # kept for callers that only know UTXO chains

#: Public views over the base tables: late input resolutions folded in.
UTXO_VIEWS: dict[str, str] = {
    "blocks": "SELECT * FROM {p}__blocks",
    "outputs": "SELECT * FROM {p}__outputs",
    "addresses": "SELECT * FROM {p}__addresses",
    "inputs": """
        SELECT i.tx_id, i.n, i.prev_txid, i.prev_vout, i.sequence,
               coalesce(i.prev_output_id, l.prev_output_id) AS prev_output_id,
               coalesce(i.value, l.value) AS value,
               coalesce(i.address_id, l.address_id) AS address_id,
               CASE WHEN l.tx_id IS NOT NULL AND i.resolved_by = 0 THEN 1 ELSE i.resolved_by END
                   AS resolved_by,
               i.block_height
        FROM {p}__inputs i LEFT JOIN {p}__input_links l ON i.tx_id = l.tx_id AND i.n = l.n""",
    "transactions": """
        SELECT t.* REPLACE (coalesce(t.input_value, u.input_value) AS input_value,
                            coalesce(t.fee, u.fee) AS fee)
        FROM {p}__transactions t LEFT JOIN {p}__tx_updates u ON t.tx_id = u.tx_id""",
}
VIEWS_BY_FAMILY = {"utxo": UTXO_VIEWS, "account": ACCOUNT_VIEWS}


def hash32_numpy(column: pa.Array | pa.ChunkedArray):  # -> numpy.ndarray (n, 32)
    """32-byte hash column (fixed-size or DuckDB's variable BLOB) as an (n, 32) uint8 array."""
    return fixed_numpy(column, 32)


def fixed_numpy(column: pa.Array | pa.ChunkedArray, width: int):  # -> numpy.ndarray (n, width)
    """A column of `width`-byte values (fixed-size or DuckDB's variable BLOB) as an (n, width)
    uint8 array over the column's buffer (no copy when it is already fixed-size)."""
    import numpy as np

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.type != pa.binary(width):
        arr = arr.cast(pa.binary(width))
    data = np.frombuffer(arr.buffers()[1], np.uint8)
    return data[arr.offset * width:(arr.offset + len(arr)) * width].reshape(-1, width)


#: Parquet encodings. Dictionary encoding pays only on low-cardinality columns (attempting it on
#: ids and hashes costs write time for nothing); ids that increase row by row delta-encode well.
DICTIONARY_COLUMNS = frozenset({
    "script_type", "resolved_by", "block_height", "n", "tx_index", "version", "sequence",
    "is_coinbase", "is_segwit", "input_count", "output_count", "locktime", "block_id", "height",
    "time", "bits", "block_number", "kind", "success", "status", "tx_type", "trace_type",
    "call_type", "log_index", "block_time", "asset_id",
})
DELTA_COLUMNS = frozenset({"tx_id", "output_id", "first_output_id", "first_tx_id", "transfer_id"})
