"""Ingest: read chain data from nodes and files, decode it, and commit it to the store in batches.

Ingest is resumable and idempotent: a batch is either fully committed (its catalog row exists) or
not at all; a rerun continues after the last committed block.
"""
