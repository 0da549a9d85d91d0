"""Service operations on cases: verifying an evidence bundle (no store needed) (issue 16; being built)."""

from __future__ import annotations

from fundtrail.workspace.cases import CaseOps

__all__ = ["VerificationOps"]


class VerificationOps(CaseOps):
    """Cases: verifying an evidence bundle (no store needed)."""
