"""Ethereum/EVM ingest: JSON-RPC transport, replay of recorded responses, batch pipeline."""
