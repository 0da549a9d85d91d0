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

MIGRATIONS.append((
    3,
    "attribution: tags with provenance, actors, tag import runs and imported file versions",
    [
        """CREATE TABLE tag_imports (
            import_id BIGINT PRIMARY KEY, path VARCHAR, sha256 VARCHAR, format VARCHAR NOT NULL,
            imported_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL, n_tags BIGINT, n_added BIGINT,
            n_removed BIGINT, n_changed BIGINT, n_invalid BIGINT, n_warnings BIGINT,
            n_duplicates BIGINT, n_actors BIGINT)""",
        """CREATE TABLE tag_files (
            path VARCHAR PRIMARY KEY, sha256 VARCHAR NOT NULL, format VARCHAR NOT NULL,
            import_id BIGINT NOT NULL)""",
        """CREATE TABLE tags (
            import_id BIGINT NOT NULL, origin VARCHAR NOT NULL, line INTEGER,
            subject VARCHAR NOT NULL, currency VARCHAR NOT NULL, address VARCHAR NOT NULL,
            validation VARCHAR NOT NULL, label VARCHAR NOT NULL, category VARCHAR,
            concepts VARCHAR[], confidence VARCHAR NOT NULL, confidence_level INTEGER NOT NULL,
            source VARCHAR, creator VARCHAR, lastmod DATE, actor VARCHAR, is_cluster_definer BOOLEAN,
            context VARCHAR, visibility VARCHAR NOT NULL, case_id VARCHAR, entity VARCHAR NOT NULL,
            tag_key VARCHAR NOT NULL, content_hash VARCHAR NOT NULL)""",
        "CREATE INDEX tags_by_address ON tags (address)",
        """CREATE TABLE actors (
            actor_id VARCHAR PRIMARY KEY, label VARCHAR NOT NULL, uri VARCHAR, categories VARCHAR[],
            jurisdictions VARCHAR[], aliases VARCHAR[], context VARCHAR, origin VARCHAR, line INTEGER,
            import_id BIGINT)""",
        """CREATE TABLE tags_merged (
            address VARCHAR NOT NULL, tag_key VARCHAR NOT NULL, subject VARCHAR, currency VARCHAR,
            category VARCHAR, entity VARCHAR, label VARCHAR, labels VARCHAR[], confidence VARCHAR,
            confidence_level INTEGER, actor VARCHAR, visibility VARCHAR,
            sources STRUCT(origin VARCHAR, line INTEGER, import_id BIGINT, label VARCHAR,
                           source VARCHAR, creator VARCHAR, lastmod DATE, confidence VARCHAR,
                           visibility VARCHAR, case_id VARCHAR, validation VARCHAR,
                           concepts VARCHAR[], context VARCHAR, is_cluster_definer BOOLEAN)[])""",
        "CREATE INDEX tags_merged_by_address ON tags_merged (address)",
    ],
))

MIGRATIONS.append((
    4,
    "clustering: cluster runs (one committed state each) and analyst overrides",
    [
        """CREATE TABLE cluster_runs (
            run_id BIGINT PRIMARY KEY, chain VARCHAR NOT NULL, mode VARCHAR NOT NULL,
            reason VARCHAR, parent_run BIGINT, heuristics VARCHAR NOT NULL, change_floor DOUBLE,
            coinjoin_floor DOUBLE, tx_lo BIGINT, tx_hi BIGINT, last_batch_id BIGINT,
            last_block_id BIGINT, last_block_hash BLOB, n_addresses BIGINT, n_tx BIGINT,
            n_links BIGINT, n_unions BIGINT, n_clusters BIGINT, largest BIGINT,
            started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL,
            message VARCHAR, path VARCHAR, checkpoint BOOLEAN, suspects VARCHAR,
            overrides_applied BIGINT)""",
        """CREATE TABLE cluster_overrides (
            override_id BIGINT PRIMARY KEY, chain VARCHAR NOT NULL, kind VARCHAR NOT NULL,
            addresses BIGINT[] NOT NULL, reason VARCHAR NOT NULL, author VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL)""",
    ],
))

MIGRATIONS.append((
    5,
    "integrity: size, row count, SHA-256 and stamp of every lake file",
    [
        """CREATE TABLE lake_files (
            chain VARCHAR NOT NULL, path VARCHAR NOT NULL, bytes BIGINT NOT NULL, rows BIGINT NOT NULL,
            sha256 VARCHAR NOT NULL, mtime_ns BIGINT NOT NULL, recorded_at TIMESTAMP NOT NULL,
            PRIMARY KEY (chain, path))""",
    ],
))

MIGRATIONS.append((
    6,
    "access: users (roles; password hash reserved) and API tokens (slow salted hashes only)",
    [
        """CREATE TABLE users (
            name VARCHAR PRIMARY KEY, role VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
            created_by VARCHAR, disabled_at TIMESTAMP, disabled_by VARCHAR, password_hash VARCHAR)""",
        """CREATE TABLE api_tokens (
            token_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, secret_hash VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, created_by VARCHAR, revoked_at TIMESTAMP,
            revoked_by VARCHAR)""",
    ],
))

MIGRATIONS.append((
    7,
    "web workbench: browser sessions (slow salted hashes only; passwords use users.password_hash of 6)",
    [
        """CREATE TABLE web_sessions (
            session_id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, secret_hash VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, expires_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    ],
))

MIGRATIONS.append((
    8,
    "web workbench: saved graphs (a canvas's JSON document, owned by one user)",
    [
        """CREATE TABLE saved_graphs (
            graph_id VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL, name VARCHAR NOT NULL,
            chain VARCHAR NOT NULL, document VARCHAR NOT NULL, bytes BIGINT NOT NULL,
            created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)""",
    ],
))

MIGRATIONS.append((
    9,
    "cases: case files, per-case members and roles, seeds with reported facts, notes, findings",
    [
        """CREATE TABLE cases (
            case_id VARCHAR PRIMARY KEY, title VARCHAR NOT NULL, agency VARCHAR, case_number VARCHAR,
            status VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL,
            closed_at TIMESTAMP, closed_by VARCHAR)""",
        """CREATE TABLE case_members (
            case_id VARCHAR NOT NULL, user_name VARCHAR NOT NULL, case_role VARCHAR NOT NULL,
            added_at TIMESTAMP NOT NULL, added_by VARCHAR NOT NULL, PRIMARY KEY (case_id, user_name))""",
        """CREATE TABLE case_seeds (
            case_id VARCHAR NOT NULL, seed_id VARCHAR NOT NULL, text VARCHAR NOT NULL, chain VARCHAR NOT NULL,
            note VARCHAR, facts VARCHAR, added_at TIMESTAMP NOT NULL, added_by VARCHAR NOT NULL,
            PRIMARY KEY (case_id, seed_id))""",
        """CREATE TABLE case_notes (
            note_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, author VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, text VARCHAR NOT NULL, PRIMARY KEY (case_id, note_id))""",
        """CREATE TABLE case_findings (
            finding_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, text VARCHAR NOT NULL,
            basis VARCHAR, confidence DOUBLE, source VARCHAR, created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL, PRIMARY KEY (case_id, finding_id))""",
    ],
))

MIGRATIONS.append((
    10,
    "cases: saved traces with their request, result and the store state they were computed on",
    [
        """CREATE TABLE case_traces (
            trace_id VARCHAR NOT NULL, case_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL, seed VARCHAR NOT NULL, policy VARCHAR, rerun_of VARCHAR,
            request VARCHAR NOT NULL, result VARCHAR NOT NULL, state VARCHAR NOT NULL,
            PRIMARY KEY (case_id, trace_id))""",
    ],
))

MIGRATIONS.sort(key=lambda m: m[0])
MIGRATIONS.append((
    11,
    "cases: attachments (by SHA-256), evidence bundles made, saved graph layouts, finding references",
    [
        """CREATE TABLE case_attachments (
            case_id VARCHAR NOT NULL, attachment_id VARCHAR NOT NULL, name VARCHAR NOT NULL,
            media_type VARCHAR, bytes BIGINT NOT NULL, sha256 VARCHAR NOT NULL, note VARCHAR,
            added_at TIMESTAMP NOT NULL, added_by VARCHAR NOT NULL, PRIMARY KEY (case_id, attachment_id))""",
        """CREATE TABLE case_bundles (
            case_id VARCHAR NOT NULL, bundle_hash VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL,
            created_by VARCHAR NOT NULL, path VARCHAR, bytes BIGINT NOT NULL, transactions BIGINT NOT NULL,
            PRIMARY KEY (case_id, bundle_hash))""",
        """CREATE TABLE case_layouts (
            case_id VARCHAR NOT NULL, graph_id VARCHAR NOT NULL, added_at TIMESTAMP NOT NULL,
            added_by VARCHAR NOT NULL, PRIMARY KEY (case_id, graph_id))""",
        "ALTER TABLE case_findings ADD COLUMN refs VARCHAR",
    ],
))

MIGRATIONS.append((
    12,
    "monitoring: watch items with their rule, taint frontiers, alerts, the delivery outbox, webhooks",
    [
        """CREATE TABLE watch_items (
            item_id VARCHAR PRIMARY KEY, chain VARCHAR NOT NULL, kind VARCHAR NOT NULL, target VARCHAR NOT NULL,
            rule VARCHAR NOT NULL, name VARCHAR NOT NULL, severity VARCHAR NOT NULL, category VARCHAR,
            policy VARCHAR, min_value VARCHAR, threshold DOUBLE, case_id VARCHAR, owner VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, removed_at TIMESTAMP, removed_by VARCHAR)""",
        """CREATE TABLE watch_frontier (
            item_id VARCHAR NOT NULL, output VARCHAR NOT NULL, amount VARCHAR NOT NULL, state VARCHAR,
            height BIGINT, PRIMARY KEY (item_id, output))""",
        """CREATE TABLE alerts (
            alert_id VARCHAR PRIMARY KEY, item_id VARCHAR NOT NULL, chain VARCHAR NOT NULL, rule VARCHAR NOT NULL,
            severity VARCHAR NOT NULL, kind VARCHAR NOT NULL, retracts VARCHAR, height BIGINT, block_hash VARCHAR,
            txid VARCHAR, title VARCHAR NOT NULL, document VARCHAR NOT NULL, idempotency_key VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, acked_at TIMESTAMP, acked_by VARCHAR, retracted_by VARCHAR)""",
        "CREATE UNIQUE INDEX alerts_by_key ON alerts (idempotency_key)",
        """CREATE TABLE webhooks (
            webhook_id VARCHAR PRIMARY KEY, url VARCHAR NOT NULL, secret_ref VARCHAR NOT NULL, owner VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL, removed_at TIMESTAMP)""",
        """CREATE TABLE alert_outbox (
            alert_id VARCHAR NOT NULL, webhook_id VARCHAR NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMP NOT NULL, last_error VARCHAR, delivered_at TIMESTAMP,
            PRIMARY KEY (alert_id, webhook_id))""",
    ],
))

MIGRATIONS.append((
    13,
    "monitoring: transfers registered for screening (KYT) and the attribution state rules last ran on",
    [
        """CREATE TABLE kyt_transfers (
            transfer_id VARCHAR PRIMARY KEY, chain VARCHAR NOT NULL, txid VARCHAR, output VARCHAR, address VARCHAR,
            direction VARCHAR NOT NULL, customer_ref VARCHAR, registered_at TIMESTAMP NOT NULL,
            registered_by VARCHAR NOT NULL, score DOUBLE, result VARCHAR NOT NULL)""",
        """CREATE TABLE watch_attribution (
            chain VARCHAR PRIMARY KEY, cluster_run_id BIGINT, tag_state VARCHAR, evaluated_at TIMESTAMP NOT NULL)""",
    ],
))

LATEST = MIGRATIONS[-1][0]
