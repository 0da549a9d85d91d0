"""Service operations on cases: court reports and freeze-request letters (issue 16; being built)."""

from __future__ import annotations

from fundtrail.workspace.cases import CaseOps

__all__ = ["CaseReportOps"]


class CaseReportOps(CaseOps):
    """Cases: court reports and freeze-request letters."""
