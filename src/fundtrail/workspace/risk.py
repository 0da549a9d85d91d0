"""Service operations: risk, screening and exposure (being written by its owner; see fundtrail.workspace).

Contract fixed for the other mixins: `RiskRequest(target, chain=None, profile=None)` and
`RiskOps.risk(req) -> RiskReport`, whose JSON is `fundtrail risk TARGET --json`.
"""

from __future__ import annotations

from fundtrail.workspace.core import Model, WorkspaceBase


class RiskRequest(Model):
    """Score one address or transaction."""

    target: str
    chain: str | None = None
    profile: str | None = None


class RiskOps(WorkspaceBase):
    """Operations on risk."""
