"""Service operations: search (filled in by its owner; see fundtrail.workspace)."""

from __future__ import annotations

from fundtrail.workspace.core import WorkspaceBase


class SearchOps(WorkspaceBase):
    """Operations on search."""
