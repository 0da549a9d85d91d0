"""Service operations: status (filled in by its owner; see fundtrail.workspace)."""

from __future__ import annotations

from fundtrail.workspace.core import WorkspaceBase


class StatusOps(WorkspaceBase):
    """Operations on status."""
