"""Service operations: tracing funds, paths between two points, and the graph index refresh job.

`trace(TraceRequest)` is the one place where a trace request becomes a trace: it checks every
option (naming the request field at fault), chooses the UTXO or account engine by the chain's
family, reads amounts in the traced asset's unit, builds the stop rule from tag categories and
listed addresses, and returns the documented JSON (`TraceResult`). Account-chain traces carry
the endpoints' and graph nodes' tags and clusters as UTXO traces do. The graph indexes and tag
maps come from the workspace cache (`trace_index.IndexOps`), loaded once per chain and state.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from fundtrail.errors import DataError, FundtrailError, NotFoundError, UsageError
from fundtrail.model.amounts import parse_base_units, parse_sat
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.model.times import parse_time
from fundtrail.store.coverage import Coverage, coverage
from fundtrail.trace.account_engine import trace_account
from fundtrail.trace.freezes import frozen_now
from fundtrail.trace.account_report import Unit, native_symbol, token_units
from fundtrail.trace.account_report import render_text as account_text
from fundtrail.trace.account_report import to_json as account_json
from fundtrail.trace.account_seeds import address_id as account_address_id
from fundtrail.trace.account_paths import account_paths_json, find_account_paths, first_hops, render_account_paths
from fundtrail.trace.account_seeds import asset_id, parse_account_seed, parse_account_seeds
from fundtrail.trace.attribution import TagMap, describe_with
from fundtrail.trace.engine import Limits, StopRule
from fundtrail.trace.engine import trace as utxo_trace
from fundtrail.trace.follow import DEFAULT_MAX_HOPS, follow_change
from fundtrail.trace.follow import render_text as follow_text
from fundtrail.trace.marks import MarkFacts, trace_marks
from fundtrail.trace.paths import find_paths, paths_to_json, render_paths
from fundtrail.trace.policies import policy as policy_by_name
from fundtrail.trace.report import render_text as utxo_text
from fundtrail.trace.report import to_json as utxo_json
from fundtrail.trace.seeds import SeedText, parse_seed, parse_seeds, read_seed_file
from fundtrail.trace.seeds import address_id as utxo_address_id
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES, StopList, combine, read_stop_file, stop_categories
from fundtrail.workspace.core import Progress, no_progress
from fundtrail.workspace.trace_index import IndexOps
from fundtrail.workspace.trace_models import (GraphBuildResult, PathsRequest, PathsResult, SeedInput, StopAddress,
                                              TraceRequest, TraceResult)

if TYPE_CHECKING:
    from fundtrail.trace.graph import GraphIndex

__all__ = ["DEFAULT_STOP_CATEGORIES", "GraphBuildResult", "PathsRequest", "PathsResult", "SeedInput", "StopAddress",
           "TraceOps", "TraceRequest", "TraceResult", "render_paths_text", "render_trace_text", "seeds_from_file",
           "stops_from_file"]

T = TypeVar("T")


def seeds_from_file(path: Path | str, *, max_field_kb: int = 1024) -> list[SeedInput]:
    """The seeds of a file ('-': standard input), each with its `file:line` (`trace.seeds.read_seed_file`)."""
    return [SeedInput(text=t, where=w) for t, w in read_seed_file(path, max_field_kb=max_field_kb)]


def stops_from_file(path: Path) -> list[StopAddress]:
    """The `address[,label]` lines of a stop file, each with its `file:line`."""
    return [StopAddress(address=a, label=label, where=w) for a, label, w in read_stop_file(path)]


def render_trace_text(result: TraceResult) -> str:
    """The plain-text report of a trace result, of whichever variant."""
    doc = result.document()
    if doc.get("mode") == "follow_change":
        return follow_text(doc)
    return account_text(doc) if "unit" in doc else utxo_text(doc)


def render_paths_text(result: PathsResult) -> str:
    """The plain-text form of a paths result."""
    doc = result.model_dump(mode="json")
    if any("asset" in p for p in doc["paths"]):  # an account chain's paths: transfers of an asset
        return render_account_paths(doc)
    return render_paths(doc)


def _limits(req: TraceRequest) -> Limits:
    """The request's bounds, each checked with the field it came from."""
    if req.direction not in ("forward", "backward"):
        raise UsageError(f"direction must be forward or backward, not {req.direction!r}", field="direction")
    policy_by_name(req.policy)
    if req.hops is not None and req.hops < 1:
        raise UsageError(f"hops must be at least 1 (got {req.hops})", field="hops")
    if req.max_txs < 1:
        raise UsageError(f"max_txs must be at least 1 (got {req.max_txs})", field="max_txs")
    if not (req.max_seconds > 0 and math.isfinite(req.max_seconds)):
        raise UsageError(f"max_seconds must be a positive number of seconds (got {req.max_seconds:g})",
                         field="max_seconds")
    if not 0 <= req.change_confidence <= 1:
        raise UsageError(f"change_confidence must be between 0 and 1, not {req.change_confidence}",
                         field="change_confidence")
    since, until = parse_time(req.since, "since"), parse_time(req.until, "until")
    if since is not None and until is not None and since > until:
        raise UsageError(f"since ({since}) is after `until` ({until}): the time window is empty", field="since")
    return Limits(hops=req.hops, since=since, until=until, max_txs=req.max_txs, max_seconds=req.max_seconds)


def _seed_texts(req: TraceRequest) -> list[SeedText]:
    texts = [(s, None) if isinstance(s, str) else (s.text, s.where) for s in req.seeds]
    if not texts:
        raise UsageError("no seed: give at least one address, transaction or output", field="seeds")
    return texts


def _stop_pairs(req: TraceRequest) -> list[StopAddress]:
    return [StopAddress(address=s) if isinstance(s, str) else s for s in req.stop_addresses]


def _stop_list(pairs: list[StopAddress], resolve: Callable[[str], int]) -> StopList | None:
    """Listed stop addresses by id; malformed: DataError at `where` (UsageError on the field
    without one); valid but without activity: skipped (a trace cannot reach it)."""
    if not pairs:
        return None
    labels: dict[int, str] = {}
    for p in pairs:
        try:
            labels[resolve(p.address.strip())] = p.label or "listed service"
        except NotFoundError:
            continue
        except UsageError as exc:
            if p.where:
                raise DataError(f"{p.where}: {exc.message}") from None
            raise UsageError(exc.message, field="stop_addresses") from None
    return StopList(labels) if labels else None


class TraceOps(IndexOps):
    """Trace, paths and the graph index refresh (module docstring)."""

    def trace(self, req: TraceRequest, progress: Progress = no_progress, *, max_edges: int = 5_000) -> TraceResult:
        """Follow the value of the seed set under a taint policy, to where it stopped and why;
        with `follow_change`, each seed's likely change output hop by hop instead (UTXO chains).
        The result's graph holds at most `max_edges` edges (`edges_truncated` says when cut): a
        screen draws 5,000; a case saves every edge, since its evidence bundle proves each one."""
        limits = _limits(req)
        categories = stop_categories(",".join(req.stop_at if req.stop_at is not None else DEFAULT_STOP_CATEGORIES))
        texts = _seed_texts(req)
        ref = self.chain(req.chain)
        stop_at = categories + ([req.stop_list or "stop_addresses"] if req.stop_addresses or req.stop_list else [])
        if ref.family == "account":
            return self._trace_account(ref.name, req, texts, limits, categories, stop_at, progress, max_edges)
        if req.asset is not None:
            raise UsageError("asset applies to account chains; a Bitcoin-family trace follows the chain's coin",
                             field="asset")
        limits = replace(limits, min_value=parse_sat(req.min_value, "min_value"))
        graph = self.graph_index(ref.name, progress)
        parsed = parse_seeds(graph, texts, since=limits.since, until=limits.until)
        listed = _stop_list(_stop_pairs(req), lambda t: utxo_address_id(graph, t))
        tagmap = self.tag_map(ref.name, "utxo")
        tagged = self.cached(("stop-rule", ref.name, tuple(categories)),  # built once per category set
                             lambda: tagmap.stop_rule(categories), chain=ref.name)
        stops = combine(listed, tagged)
        outputs = [o for sd in parsed for o in sd.outputs]
        if req.follow_change:
            walk = follow_change(self.store, graph, outputs, seed_input=" ".join(t for t, _ in texts),
                                 max_hops=req.hops or DEFAULT_MAX_HOPS, min_confidence=req.change_confidence,
                                 stop=stops)
            return TraceResult.of(walk.to_json())
        result = utxo_trace(graph, outputs, direction=req.direction, policy=req.policy, limits=limits, stop=stops,
                            exact=req.exact)
        doc = utxo_json(graph, parsed, result, stop_at=stop_at, describe=describe_with(tagmap),
                        coverage=self._coverage(ref.name), max_edges=max_edges)
        # CoinJoin and change evidence on the traced txs
        trace_marks(self.store, ref.name, graph, doc, self._mark_facts(ref.name, graph))
        return TraceResult.of(doc)

    def _coverage(self, chain: str) -> Coverage:
        """The chain's store coverage, read from the catalog once per workspace state: the block
        index changes only when a batch is committed, which `refresh()` sees (a catalog connection
        per trace was a tenth of a trace)."""
        return self.cached(("coverage", chain), lambda: coverage(self.store, chain), chain=chain)

    def _mark_facts(self, chain: str, graph: GraphIndex) -> MarkFacts | None:
        """The chain's `MarkFacts` for `graph`, loaded at the workspace's second UTXO trace of the
        chain and kept: a long-lived workspace (the server) then marks a trace from memory, while a
        one-shot trace (the CLI) queries only its own transactions instead of loading the chain's
        columns. None for the first trace and for a chain too large to hold them."""
        if next(self.cached(("traces", chain), itertools.count, chain=chain)) == 0:
            return None
        key = ("mark-facts", chain, graph.n_tx, graph.n_outputs, graph.n_addresses)  # a newer graph: new facts
        return self.cached(key, lambda: MarkFacts.load(self.store, chain, graph), chain=chain)

    def _trace_account(self, chain: str, req: TraceRequest, texts: list[SeedText], limits: Limits,
                       categories: list[str], stop_at: list[str], progress: Progress,
                       max_edges: int) -> TraceResult:
        """An account-chain trace: address-level policies per asset (docs/taint-policies.md)."""
        if req.follow_change:
            raise UsageError("follow_change applies to UTXO chains (change outputs); not to account chains",
                             field="follow_change")
        g = self.account_graph(chain, progress)
        parsed = parse_account_seeds(g, _account_seeds(texts), since=limits.since, until=limits.until)
        wanted = asset_id(g, req.asset, native_symbol(chain))
        known = ACCOUNT_CHAINS.get(chain)
        units = token_units(self.store, chain)
        unit = (Unit(native_symbol(chain), known.native_decimals if known else 18) if wanted in (None, -1)
                else units.get(wanted, Unit("", None)))
        limits = replace(limits, min_value=parse_base_units(req.min_value, unit.symbol, unit.decimals,
                                                            asset_given=wanted is not None))
        listed = _stop_list(_stop_pairs(req), lambda t: account_address_id(g, t))
        tagmap = self.tag_map(chain, "account")
        # stops by direct tags only: deposit-address clustering joins a customer with the exchange
        tagged: StopRule | None = TagMap(tagmap.chain, tagmap.direct).stop_rule(categories)
        result = trace_account(g, parsed, direction=req.direction, policy=req.policy, limits=limits,
                               stop=combine(listed, tagged), asset=wanted)
        doc = account_json(g, parsed, result, stop_at=stop_at, describe=describe_with(tagmap), units=units,
                           tip=coverage(self.store, chain).tip_height, max_edges=max_edges,
                           frozen=frozen_now(self.store, chain))
        return TraceResult.of(doc)

    def paths(self, req: PathsRequest, progress: Progress = no_progress) -> PathsResult:
        """The time-respecting paths by which value can have moved from source to target."""
        if req.max_hops < 1:
            raise UsageError(f"max_hops must be at least 1 (got {req.max_hops})", field="max_hops")
        if req.limit < 1:
            raise UsageError(f"limit must be at least 1 (got {req.limit})", field="limit")
        source, target = req.source.strip(), req.target.strip()
        if source == target:
            raise UsageError(f"source and target are the same ({source}): a path needs two ends", field="target")
        utxo_first = req.chain is None and any(c.family == "utxo" for c in self.chains())  # as before TRON
        ref = self.chain(req.chain, family="utxo" if utxo_first else None, what="paths")
        if ref.family == "account":
            return self._paths_account(ref.name, req, progress)
        graph = self.graph_index(ref.name, progress)
        src = _field(lambda: parse_seed(graph, req.source), "source")
        dst = _field(lambda: parse_seed(graph, req.target), "target")
        if dst.kind != "address":
            raise UsageError(f"target {req.target!r} must be an address", field="target")
        if src.kind == "address" and src.address == dst.address:
            raise UsageError(f"source {req.source!r} and target {req.target!r} are the same address: a path "
                             "needs two ends", field="target")
        found = find_paths(graph, src.outputs, dst.address, max_hops=req.max_hops, limit=req.limit)
        return PathsResult.model_validate(paths_to_json(graph, src, dst, found, max_hops=req.max_hops,
                                                        limit=req.limit))

    def _paths_account(self, chain: str, req: PathsRequest, progress: Progress) -> PathsResult:
        """Paths on an account chain (`trace.account_paths`): transfers of one asset, later each."""
        g = self.account_graph(chain, progress)
        src = _field(lambda: parse_account_seed(g, req.source), "source")
        dst = _field(lambda: parse_account_seed(g, req.target), "target")
        if dst.kind != "address":
            raise UsageError(f"target {req.target!r} must be an address", field="target")
        if src.kind == "address" and src.address == dst.address:
            raise UsageError(f"source {req.source!r} and target {req.target!r} are the same address: a path "
                             "needs two ends", field="target")
        found = find_account_paths(g, first_hops(g, src), dst.address, max_hops=req.max_hops, limit=req.limit)
        return PathsResult.model_validate(account_paths_json(self.store, g, src, dst, found, max_hops=req.max_hops,
                                                             limit=req.limit))

    def graph_build(self, *, chain: str | None = None, full: bool = False,
                    progress: Progress = no_progress) -> GraphBuildResult:
        """Build or update the graph index of a UTXO chain (tracing does this on demand too); the
        workspace then traces on the new index."""
        from fundtrail.trace.graph import GraphIndex

        name = self.chain(chain, family="utxo", what="graph build").name
        t0 = time.perf_counter()
        g = GraphIndex.ensure(self.store, name, full=full, progress=progress,
                              memory_limit=self.settings.memory_limit_bytes)
        self.cached(("graph", name), lambda: g, chain=name)
        return GraphBuildResult(chain=name, path=str(g.path), transactions=g.n_tx, outputs=g.n_outputs,
                                addresses=g.n_addresses, bytes=g.size_bytes(),
                                seconds=round(time.perf_counter() - t0, 3))


def _account_seeds(texts: list[SeedText]) -> list[str]:
    return [t for t, _ in texts]


def _field(parse: Callable[[], T], field: str) -> T:
    """Run `parse()`, naming `field` on its error."""
    try:
        return parse()
    except FundtrailError as exc:
        exc.field = exc.field or field
        raise
