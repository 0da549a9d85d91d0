"""Service operations on cases: evidence bundles (docs/bundle.md) (issue 16; being built)."""

from __future__ import annotations

from fundtrail.workspace.cases import CaseOps

__all__ = ["CaseEvidenceOps"]


class CaseEvidenceOps(CaseOps):
    """Cases: evidence bundles (docs/bundle.md)."""
