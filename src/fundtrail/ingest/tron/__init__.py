"""TRON ingest: java-tron's HTTP API (or a recording of it) into the account-chain pipeline."""
