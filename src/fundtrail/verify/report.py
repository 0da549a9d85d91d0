"""The verifier's result: every check it ran, passed or failed, each failure one line naming where.

`Report` collects checks as the bundle is read; `as_dict` is its JSON form (`--json`) and `render`
the text a person reads. A check that fails never stops the others: the expert sees every problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Failure lines kept per trace; the rest are counted (one altered amount changes many edges).
MAX_LINES_PER_TRACE = 20


@dataclass
class TraceResult:
    """One saved trace: recomputed and equal (`proven`), or why not."""

    id: str
    chain: str
    policy: str
    direction: str
    status: str  # "recomputed", "edges proven" (an account trace), "failed" or "not recomputable"
    detail: str
    edges: int = 0
    endpoints: int = 0
    stops: list[str] = field(default_factory=list)

    @property
    def proven(self) -> bool:
        return self.status == "recomputed"


@dataclass
class Report:
    """All checks of one bundle."""

    path: str
    bundle_hash: str | None = None
    expected_hash: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("checks", "files", "headers", "transactions", "transactions_not_proven", "traces_recomputed",
         "traces_edges_proven", "transfers_stated", "traces_not_recomputable", "facts_verified", "inferences"),
        0))
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    inferences: list[str] = field(default_factory=list)
    traces: list[TraceResult] = field(default_factory=list)
    readable: bool = True

    def check(self, ok: bool, failure: str) -> bool:
        """Count one check; record `failure` (one line: where, then what differs) when not `ok`."""
        self.counts["checks"] += 1
        if not ok:
            self.failures.append(failure)
        return ok

    def fail(self, failure: str) -> None:
        self.check(False, failure)

    @property
    def ok(self) -> bool:
        return self.readable and not self.failures

    def summary(self) -> str:
        c = self.counts
        text = (f"{c['transactions']} transactions verified, {c['headers']} headers, "
                f"{c['traces_recomputed']} traces recomputed, {c['facts_verified']} facts verified, "
                f"{c['inferences']} inferences listed")
        if c["traces_edges_proven"]:
            text += (f"; {c['traces_edges_proven']} account traces with every provable edge proven "
                     f"({c['transfers_stated']} internal transfers and fees stated, not proven)")
        if c["transactions_not_proven"] or c["traces_not_recomputable"]:
            text += (f"; not proven by this bundle: {c['transactions_not_proven']} transactions, "
                     f"{c['traces_not_recomputable']} traces")
        return text + f"; {len(self.failures)} failures"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "bundle_hash": self.bundle_hash, "expected_hash": self.expected_hash,
                "ok": self.ok, "readable": self.readable, "summary": self.summary(), "counts": dict(self.counts),
                "failures": list(self.failures), "notes": list(self.notes), "facts": list(self.facts),
                "inferences": list(self.inferences),
                "traces": [{"id": t.id, "chain": t.chain, "policy": t.policy, "direction": t.direction,
                            "status": t.status, "detail": t.detail, "edges": t.edges, "endpoints": t.endpoints,
                            "stops": list(t.stops)} for t in self.traces]}


def render(doc: dict[str, Any]) -> str:
    """The text report of `as_dict()` (or of the service layer's model dump, the same keys)."""
    lines = [f"Bundle {doc['path']}", f"Bundle hash: {doc['bundle_hash'] or '(none: SHA256SUMS unreadable)'}"]
    if doc.get("expected_hash"):
        same = doc["bundle_hash"] == doc["expected_hash"]
        lines.append(f"Expected:    {doc['expected_hash']} ({'matches' if same else 'DIFFERS'})")
    lines += [f"Note: {n}" for n in doc["notes"]]
    if doc["facts"]:
        lines.append("Facts (proven from the bundle's bytes):")
        lines += [f"  {f}" for f in doc["facts"]]
    if doc["traces"]:
        lines.append("Traces:")
        for t in doc["traces"]:
            lines.append(f"  {t['id']} ({t['chain']}, {t['policy']}, {t['direction']}): {t['status']}: {t['detail']}")
            lines += [f"    stop: {s}" for s in t["stops"]]
    if doc["inferences"]:
        lines.append("Inferences (stated, not proven: check their basis):")
        lines += [f"  {i}" for i in doc["inferences"]]
    lines.append(f"Summary: {doc['summary']}")
    lines += [f"FAILED: {f}" for f in doc["failures"]]
    lines.append("Result: " + ("verified" if doc["ok"] else "NOT VERIFIED" if doc["readable"] else "UNREADABLE"))
    return "\n".join(lines)
