"""Bitcoin ingest: sources (block files, raw blocks, JSON-RPC), undo data, and the batch pipeline."""
