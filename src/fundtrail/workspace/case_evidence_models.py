"""Result models of the evidence bundle operations (`workspace/case_evidence.py`, docs/bundle.md)."""

from __future__ import annotations

from fundtrail.workspace.case_models import CaseBundleRecord
from fundtrail.workspace.core import Model

__all__ = ["BundleList", "BundleResult"]


class BundleResult(Model):
    """An evidence bundle written (`case bundle`): the file, its `bundle_hash` (the SHA-256 of its
    SHA256SUMS, recorded in the case and checked by `fundtrail verify --expect`), its size in
    bytes, the transactions it proves (all and per chain), the tag records and cluster links it
    carries, the findings listed, the seconds it took, and `warnings` (what it could not prove:
    a transaction no longer in the store, an input whose funding transaction the store lacks, a
    tag whose record changed since the trace)."""

    case_id: str
    path: str
    bundle_hash: str
    bytes: int
    transactions: int
    chains: dict[str, int]
    tags: int
    cluster_links: int
    findings: int
    seconds: float
    warnings: list[str]


class BundleList(Model):
    """The evidence bundles made of a case, oldest first."""

    case_id: str
    bundles: list[CaseBundleRecord]
