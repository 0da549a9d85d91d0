"""Service operations on cases: verifying an evidence bundle (docs/bundle.md) with no store at all.

The checking is done by `fundtrail.verify`, the standalone verifier a court's expert can run alone;
this module only turns its report into a result model. `verify_bundle` is a plain function as well
as a `Workspace` method, because `fundtrail verify` must run where no store exists.
"""

from __future__ import annotations

from pathlib import Path

from fundtrail.errors import UsageError
from fundtrail.verify.bundle import verify_bundle as _verify
from fundtrail.verify.report import render
from fundtrail.workspace.cases import CaseOps
from fundtrail.workspace.core import Model

__all__ = ["BundleVerification", "TraceVerification", "VerificationOps", "render_verification", "verify_bundle"]


class TraceVerification(Model):
    """One saved trace of the bundle: `status` `recomputed` (every amount equal to the satoshi),
    `edges proven` (an account trace: every edge a transfer its proven transaction and receipt
    show; internal transfers and fees stated), `failed` or `not recomputable` (a follow-change
    walk, a chain bundled without proofs, a truncated graph);
    `stops` are where it stopped and why, as stated, with the tag records behind them."""

    id: str
    chain: str
    policy: str
    direction: str
    status: str
    detail: str
    edges: int
    endpoints: int
    stops: list[str]


class BundleVerification(Model):
    """The verdict on a bundle: `ok` when every check passed (`readable` False: the bundle could not
    be read at all). `bundle_hash` is the SHA-256 of its SHA256SUMS; `failures` one line each,
    naming the file, line or transaction and what differs; `facts` what the bundle proves,
    `inferences` what it states with a basis and confidence; `counts` checks, files, headers,
    transactions (and not proven), traces recomputed (and not recomputable), account traces with
    every edge proven and the transfers they state, facts verified, inferences."""

    path: str
    bundle_hash: str | None
    expected_hash: str | None
    ok: bool
    readable: bool
    summary: str
    counts: dict[str, int]
    failures: list[str]
    notes: list[str]
    facts: list[str]
    inferences: list[str]
    traces: list[TraceVerification]

    @property
    def exit_code(self) -> int:
        """0 verified, 1 a check failed, 2 unreadable (docs/bundle.md)."""
        return 0 if self.ok else 1 if self.readable else 2


def verify_bundle(path: Path | str, *, expect: str | None = None, exact: bool = False) -> BundleVerification:
    """Check the bundle at `path` (and, with `expect`, that its hash is that one); no store needed.
    `exact`: haircut traces in exact fractions rather than on the verifier's 2^-256-sat grid (the
    same satoshi within the bound docs/verify.md proves; slow on big traces). A path that is not a
    file is a UsageError on `bundle`; a file that is not a bundle is a result with `readable` False."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"bundle {str(path)[:200]!r}: no such file", field="bundle")
    if expect is not None and not (len(expect) == 64 and all(c in "0123456789abcdefABCDEF" for c in expect)):
        raise UsageError(f"expect {expect[:80]!r} is not a bundle hash (64 hex digits)", field="expect")
    return BundleVerification.model_validate(_verify(str(p), expect=expect, exact=exact).as_dict())


def render_verification(result: BundleVerification) -> str:
    """The text report a person reads (the verifier's own rendering)."""
    return render(result.model_dump(mode="json"))


class VerificationOps(CaseOps):
    """Cases: verifying an evidence bundle (no store needed)."""

    def verify_bundle(self, path: Path | str, *, expect: str | None = None, exact: bool = False) -> BundleVerification:
        """Check an evidence bundle with the standalone verifier (the store is not used)."""
        return verify_bundle(path, expect=expect, exact=exact)
