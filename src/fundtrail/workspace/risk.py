"""Service operations: risk scores, batch screening and exposure of addresses and transactions.

`risk(RiskRequest) -> RiskReport` (the JSON of `fundtrail risk TARGET --json`; the model is named
RiskReport because `fundtrail.risk.score.RiskResult` is the domain's), `risks` for several targets
checked together before any index is loaded, `screen(ScreenRequest) -> ScreenResult` (one row per
input, as the `screen` CSV) and `exposure(ExposureRequest) -> ExposureResult`.

Assessors (graph index, tag map, exposure index of a chain under a profile) are the slow part:
they are built once per chain and profile and kept in the workspace cache, sharing the graph
index and tag map with tracing (`trace_index.IndexOps`). Batches stay batches: one classification
pass and one exposure pass per chain, never a query per input.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SerializerFunctionWrapHandler, model_serializer

from fundtrail.errors import FundtrailError, TooLargeError, UsageError
from fundtrail.risk.account_assess import AccountAssessor
from fundtrail.risk.assess import Assessor, Screened, Step
from fundtrail.risk.profile import Profile, load_profile
from fundtrail.risk.score import RiskResult
from fundtrail.risk.score import reason_text as reason_text  # re-exported: the CLI renders reasons
from fundtrail.risk.screening import RiskService, Target
from fundtrail.workspace.core import Model, Progress, no_progress
from fundtrail.workspace.trace_index import IndexOps

#: Inputs one screening request may hold (the API's bound; HTTP 413 above it).
SCREEN_MAX_ROWS = 100_000
#: The result columns `screen` appends to each input row, in order.
SCREEN_COLUMNS = ("input", "kind", "currency", "chain", "score", "severity", "profile", "top_reasons",
                  "activity_in_store", "exposure_computed", "note", "error")


log = logging.getLogger(__name__)


class RiskRequest(Model):
    """Score one address or transaction. `profile`: a rule profile YAML file (None: the shipped one);
    `chain`: the chain of the target (None: inferred from its form)."""

    target: str
    chain: str | None = None
    profile: str | None = None


class RisksRequest(Model):
    """Score several addresses or transactions; every target is checked before any index is loaded."""

    targets: list[str] = Field(min_length=1)
    chain: str | None = None
    profile: str | None = None


class RiskReport(Model):
    """A score 0-100 with its reasons under a named, versioned profile (`fundtrail risk --json`).

    `reasons`, `exposure` and `transaction` keep the documented nested shapes of docs/risk.md;
    `transaction` (the two sides of a scored transaction) is present for transactions only."""

    address: str
    kind: Literal["address", "transaction"]
    currency: str | None
    chain: str | None
    profile: str
    score: float
    severity: str | None
    reasons: list[dict[str, Any]]
    activity_in_store: bool
    exposure_computed: bool
    exposure_reason: str | None
    note: str | None
    exposure: dict[str, Any] | None
    transaction: dict[str, Any] | None = None
    _lines: list[str] = PrivateAttr(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_absent_transaction(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        doc: dict[str, Any] = handler(self)
        if doc.get("transaction") is None:
            doc.pop("transaction", None)
        return doc

    @classmethod
    def of(cls, result: RiskResult) -> RiskReport:
        """The report of a domain result."""
        report = cls.model_validate(result.as_dict())
        report._lines = result.lines()
        return report

    def notes(self) -> list[str]:
        """The notes a reader must see, one line each (`note` joins them with '; ')."""
        return list(self._lines) if self._lines else [self.note] if self.note else []


class RiskReports(Model):
    """Reports in the order of the request's targets."""

    reports: list[RiskReport]


class ScreenRequest(Model):
    """Screen a batch of addresses and/or transaction ids (up to `SCREEN_MAX_ROWS` through the API);
    `top`: reasons per row."""

    inputs: list[str]
    chain: str | None = None
    profile: str | None = None
    top: int = 3


class ScreenRow(Model):
    """One screened input: its score and top reasons, or the one-line error for that input."""

    input: str
    kind: str
    currency: str | None = None
    chain: str | None = None
    score: float | None = None
    severity: str | None = None
    profile: str
    top_reasons: list[str] = Field(default_factory=list)
    activity_in_store: bool | None = None
    exposure_computed: bool | None = None
    note: str | None = None
    error: str | None = None

    def cells(self) -> list[str]:
        """The row's values as the `screen` CSV writes them (columns `SCREEN_COLUMNS`)."""
        def flag(v: bool | None) -> str:
            return "" if v is None else str(v).lower()

        return [self.input, self.kind, self.currency or "", self.chain or "",
                "" if self.score is None else f"{self.score:g}", self.severity or "", self.profile,
                " | ".join(self.top_reasons), flag(self.activity_in_store), flag(self.exposure_computed),
                self.note or "", self.error or ""]


class ScreenResult(Model):
    """Rows in input order; `failed` counts the rows with an error (the others are scored)."""

    profile: str
    rows: list[ScreenRow]
    failed: int


class ExposureRequest(Model):
    """Exposure of one address by category: `direction` incoming (where its funds came from),
    outgoing (where they went) or both."""

    address: str
    chain: str | None = None
    profile: str | None = None
    direction: Literal["incoming", "outgoing", "both"] = "both"


class ExposureResult(Model):
    """Direct (one transaction) and indirect (more hops) shares of funds by category, under the
    profile's exposure categories; for a clustered UTXO address also its cluster's. `exposure` is
    None when it could not be computed (`exposure_reason` says why: unknown, never zero)."""

    address: str
    chain: str | None
    currency: str | None
    profile: str
    categories: list[str]
    direction: Literal["incoming", "outgoing", "both"]
    exposure_computed: bool
    exposure_reason: str | None
    exposure: dict[str, Any] | None


def progress_step(progress: Progress) -> Step:
    """The domain's named steps as progress calls: (label, 0, 1) at the start, (label, 1, 1) at the end."""
    @contextlib.contextmanager
    def step(label: str) -> Iterator[None]:
        progress(label, 0, 1)
        yield
        progress(label, 1, 1)

    return step


class RiskOps(IndexOps):
    """Risk, screening and exposure (module docstring)."""

    def risk_profile(self, path: str | None = None) -> Profile:
        """The rule profile in `path` (None: the shipped default), loaded once per workspace."""
        def load() -> Profile:
            try:
                return load_profile(path)
            except FundtrailError as exc:
                exc.field = exc.field or "profile"
                raise

        return self.cached(("risk-profile", path), load)

    def warm(self, progress: Progress = no_progress) -> list[str]:
        """Load now what the first lookups would otherwise load (a server calls this before it
        accepts requests, so no investigator's request pays for it): per stored chain its graph
        index, tag map and risk assessor, and the store's merged tags (`tagged_addresses`: after
        this, no address summary visits the catalog). Returns the chains warmed; a chain whose
        indexes cannot be built is left for its requests to report."""
        warmed: list[str] = []
        self.tagged_addresses()
        for ref in self.chains():
            progress(f"loading the indexes of {ref.name}", len(warmed), 0)
            try:
                assessor = self._service(ref.name, None, no_progress).assessor(ref.name)
                if isinstance(assessor, Assessor):
                    assessor.prepare()  # the big clusters' exposure, summed before any request
            except FundtrailError as exc:
                log.warning("could not warm %s: %s", ref.name, exc.one_line())
                continue
            warmed.append(ref.name)
        return warmed

    def _service(self, chain: str | None, profile: str | None, progress: Progress) -> RiskService:
        prof = self.risk_profile(profile)
        step = progress_step(progress)

        def assessor_of(name: str) -> Assessor | AccountAssessor:
            family = self.chain(name).family

            def build() -> Assessor | AccountAssessor:
                tagmap = self.tag_map(name, family)
                if family == "account":
                    return AccountAssessor(self.store, name, prof, step, graph=self.account_graph(name),
                                           tagmap=tagmap, tagged=self.tagged_addresses())
                return Assessor(self.store, name, prof, step, graph=self.graph_index(name), tagmap=tagmap,
                                tagged=self.tagged_addresses(), memory_limit=self.settings.memory_limit_bytes)

            return self.cached(("risk-assessor", name, prof.label, prof.source), build, chain=name)

        def build() -> RiskService:
            try:
                return RiskService(self.store, prof, chain, step, assessor_of=assessor_of)
            except FundtrailError as exc:
                exc.field = exc.field or "chain"
                raise

        if progress is not no_progress:  # a job with its own progress display: not shared
            return build()
        return self.cached(("risk-service", chain, prof.label, prof.source), build, chain=chain)

    def risk(self, req: RiskRequest, progress: Progress = no_progress) -> RiskReport:
        """Score one address or transaction (`fundtrail risk TARGET --json`)."""
        return self._risks([req.target], req.chain, req.profile, "target", progress)[0]

    def risks(self, req: RisksRequest, progress: Progress = no_progress) -> RiskReports:
        """Score several targets; a malformed one fails the request before any index is loaded."""
        return RiskReports(reports=self._risks(req.targets, req.chain, req.profile, "targets", progress))

    def _risks(self, texts: list[str], chain: str | None, profile: str | None, field: str,
               progress: Progress) -> list[RiskReport]:
        service = self._service(chain, profile, progress)
        targets: list[Target] = []
        for text in texts:
            try:
                targets.append(service.classify(text))
            except FundtrailError as exc:
                exc.field = exc.field or field
                raise
        out = []
        for res in service.score(targets):
            if isinstance(res, FundtrailError):
                res.field = res.field or field
                raise res
            out.append(RiskReport.of(res))
        return out

    def screen(self, req: ScreenRequest, progress: Progress = no_progress, *,
               max_rows: int | None = SCREEN_MAX_ROWS) -> ScreenResult:
        """Score every input in batches; an input that cannot be scored gets its own error in its row.
        More than `max_rows` inputs (None: no bound) is a TooLargeError on field `inputs`."""
        if req.top < 0:
            raise UsageError(f"top must be 0 or more, not {req.top}", field="top")
        if max_rows is not None and len(req.inputs) > max_rows:
            raise TooLargeError(f"inputs holds {len(req.inputs):,} rows; at most {max_rows:,} per request",
                                field="inputs", hint="split the list into several requests")
        service = self._service(req.chain, req.profile, progress)
        with _collector_paused():
            rows = [_row(s, service.profile.label, req.top) for s in service.screen(req.inputs)]
        return ScreenResult(profile=service.profile.label, rows=rows,
                            failed=sum(1 for r in rows if r.error is not None))

    def exposure(self, req: ExposureRequest, progress: Progress = no_progress) -> ExposureResult:
        """Exposure of an address by category (the `exposure` part of its risk report)."""
        service = self._service(req.chain, req.profile, progress)
        try:
            target = service.classify(req.address)
        except FundtrailError as exc:
            exc.field = exc.field or "address"
            raise
        if target.kind != "address":
            raise UsageError(f"{req.address.strip()} is a transaction id; exposure is of an address",
                             field="address")
        (res,) = service.score([target])
        assert isinstance(res, RiskResult)
        exp = res.exposure
        if exp is not None and req.direction != "both":
            drop = "outgoing" if req.direction == "incoming" else "incoming"
            exp = {k: v for k, v in exp.items() if k != drop}
            if isinstance(exp.get("cluster"), dict):
                exp["cluster"] = {k: v for k, v in exp["cluster"].items() if k != drop}
        return ExposureResult(address=res.address, chain=res.chain, currency=res.currency, profile=res.profile,
                              categories=list(service.profile.exposure_categories), direction=req.direction,
                              exposure_computed=res.exposure_computed, exposure_reason=res.exposure_reason,
                              exposure=exp)


_paused = 0  # screenings running with the cyclic collector paused
_paused_lock = threading.Lock()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a screening builds its rows. A batch of 100,000
    keeps about a million result objects alive until it returns, and each of the collector's full
    passes that this growth triggers walks every object of the process (the workspace's tag and
    index caches too): a third of a screening's time, for objects that are never garbage. Results
    hold no cycles, and reference counting still frees everything else; the collector is back on
    when the last concurrent screening ends."""
    global _paused
    with _paused_lock:
        mine = _paused > 0 or gc.isenabled()  # off by the application: left alone
        if mine:
            _paused += 1
            gc.disable()
    try:
        yield
    finally:
        if mine:
            with _paused_lock:
                _paused -= 1
                if _paused == 0:
                    gc.enable()


def _row(s: Screened, profile: str, top: int) -> ScreenRow:
    r = s.result
    if r is None:
        return ScreenRow(input=s.input, kind=s.kind, profile=profile, error=s.error)
    return ScreenRow(input=s.input, kind=r.kind, currency=r.currency, chain=r.chain, score=r.score,
                     severity=r.severity, profile=r.profile, top_reasons=[reason_text(x) for x in r.reasons[:top]],
                     activity_in_store=r.activity, exposure_computed=r.exposure_computed,
                     note="; ".join(r.lines()) or None, error=None)
