"""Service operations: clusters (filled in by its owner; see fundtrail.workspace)."""

from __future__ import annotations

from fundtrail.workspace.core import WorkspaceBase


class ClusterOps(WorkspaceBase):
    """Operations on clusters."""
