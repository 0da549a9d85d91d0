"""Numbered schema migrations of the catalog. Append new steps; never edit an applied one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "catalog: chains, batches, block index, ingest runs",
        [
            """CREATE TABLE chains (
                chain VARCHAR PRIMARY KEY, family VARCHAR NOT NULL, network VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL DEFAULT now())""",
            """CREATE TABLE batches (
                chain VARCHAR NOT NULL, batch_id BIGINT NOT NULL, committed_at TIMESTAMP NOT NULL,
                run_id BIGINT, source VARCHAR,
                first_block_id BIGINT, last_block_id BIGINT, min_height BIGINT, max_height BIGINT,
                n_blocks BIGINT, n_tx BIGINT, n_inputs BIGINT, n_outputs BIGINT,
                n_new_addresses BIGINT, next_block_id BIGINT, next_tx_id BIGINT,
                next_output_id BIGINT, next_address_id BIGINT, files VARCHAR[] NOT NULL,
                PRIMARY KEY (chain, batch_id))""",
            """CREATE TABLE block_index (
                chain VARCHAR NOT NULL, block_id BIGINT NOT NULL, hash BLOB NOT NULL,
                prev_hash BLOB NOT NULL, height BIGINT, batch_id BIGINT NOT NULL,
                first_tx_id BIGINT NOT NULL, first_output_id BIGINT NOT NULL,
                first_address_id BIGINT NOT NULL, PRIMARY KEY (chain, block_id))""",
            "CREATE UNIQUE INDEX block_index_hash ON block_index (chain, hash)",
            """CREATE TABLE ingest_runs (
                run_id BIGINT PRIMARY KEY, chain VARCHAR NOT NULL, source VARCHAR NOT NULL,
                started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
                blocks BIGINT DEFAULT 0, transactions BIGINT DEFAULT 0, message VARCHAR)""",
        ],
    ),
]

MIGRATIONS.append((
    2,
    "account chains: transfer id counter per batch",
    ["ALTER TABLE batches ADD COLUMN next_transfer_id BIGINT"],
))

# -- migration 3: tags and actors (attribution, issue 6) goes here --

# -- migration 4: clustering runs, cluster tables and analyst overrides (issue 5) goes here --

MIGRATIONS.sort(key=lambda m: m[0])
LATEST = MIGRATIONS[-1][0]
