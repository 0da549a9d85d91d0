"""Service operations on cases: attachments, proposed tags, saved graph layouts, exports (CSV/JSON,
FollowTheMoney, TagPack) (issue 16; being built)."""

from __future__ import annotations

from fundtrail.workspace.cases import CaseOps

__all__ = ["CaseFilesOps"]


class CaseFilesOps(CaseOps):
    """Cases: attachments, proposed tags, saved graph layouts, exports (CSV/JSON, FollowTheMoney, TagPack)."""
