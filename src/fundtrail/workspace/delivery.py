"""Service operations: webhooks and the delivery of alerts (domain: `fundtrail.watch`; docs/watch.md). Being built."""

from __future__ import annotations

from fundtrail.workspace.core import WorkspaceBase

__all__ = ["DeliveryOps"]


class DeliveryOps(WorkspaceBase):
    """Webhooks; delivering the outbox; the dead-letter list."""
