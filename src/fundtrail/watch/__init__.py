"""Monitoring (issue 17): watch items and their rules, evaluated on every committed ingest batch;
alerts written with the batch, delivered through a durable outbox to signed webhooks (docs/watch.md)."""
