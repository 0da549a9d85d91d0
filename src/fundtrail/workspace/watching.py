"""Service operations: watch items and alerts (domain: `fundtrail.watch`; docs/watch.md). Being built."""

from __future__ import annotations

from fundtrail.workspace.core import WorkspaceBase

__all__ = ["WatchOps"]


class WatchOps(WorkspaceBase):
    """Watch items, their alerts, acknowledgement."""
