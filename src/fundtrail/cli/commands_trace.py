"""`fundtrail trace`, `fundtrail paths` and `fundtrail graph build`: following funds over the graph index."""

from __future__ import annotations

import datetime as _dt
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Optional

import typer

from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.store.select import select_chain
from fundtrail.trace.account_report import render_text as account_render_text
from fundtrail.trace.engine import Limits, trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.paths import find_paths, paths_to_json, render_paths
from fundtrail.trace.policies import policy as policy_by_name
from fundtrail.trace.report import render_text, to_json
from fundtrail.trace.seeds import parse_seed
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES, StopList, as_rule, combine

graph_app = typer.Typer(help="The graph index used by tracing (built on demand).", no_args_is_help=True)


def parse_time(text: str | None, option: str) -> int | None:
    """Unix seconds from an ISO date/datetime (UTC unless it says otherwise) or a unix number."""
    if text is None:
        return None
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        when = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date (YYYY-MM-DD[THH:MM[:SS]]) or unix time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return int(when.timestamp())


def parse_value(text: str | None, option: str = "--min-value") -> int:
    """Satoshi from `0.01` (BTC) or `100000sat`."""
    if text is None:
        return 0
    t = text.strip().lower()
    try:
        if t.endswith("sat"):
            sat = Decimal(t[:-3])
        else:
            sat = Decimal(t.removesuffix("btc")) * 100_000_000
    except InvalidOperation:
        raise UsageError(f"{option} {text!r} is not an amount (e.g. 0.01 for BTC or 100000sat)") from None
    if sat < 0 or sat != sat.to_integral_value():
        raise UsageError(f"{option} {text!r} must be a non-negative whole number of satoshi")
    return int(sat)


def chain_of(store: Store, chain: str | None) -> tuple[str, str]:
    """(chain, family) to work on: as given, or the store's only chain (`store.select`)."""
    return select_chain(store, chain)


def utxo_chain(store: Store, chain: str | None) -> str:
    """The UTXO chain to work on: as given, or the store's only UTXO chain."""
    return select_chain(store, chain, family="utxo")[0]


def _graph(store: Store, chain: str, quiet: bool) -> GraphIndex:
    def progress(stage: str, done: int, total: int) -> None:
        if not quiet and sys.stderr.isatty():
            sys.stderr.write(f"\rgraph index: {stage} {done:,}/{total:,}   ")
            sys.stderr.flush()

    return GraphIndex.ensure(store, chain, progress=progress)


def register(app: typer.Typer) -> None:
    """Add `trace`, `paths` and the `graph` group to the top-level app."""
    app.add_typer(graph_app, name="graph")

    @graph_app.command("build")
    def graph_build(
        ctx: typer.Context,
        chain: Optional[str] = typer.Option(None, "--chain", help="Store chain (default: the only UTXO chain)."),
        full: bool = typer.Option(False, "--full", help="Rebuild from scratch instead of appending."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Build or update the graph index of a chain (tracing does this on demand too)."""
        import time

        store = Store.open(ctx.obj["settings"].store, create=False)
        name = utxo_chain(store, chain)
        t0 = time.perf_counter()
        g = GraphIndex.ensure(store, name, full=full)
        info = {"chain": name, "path": str(g.path), "transactions": g.n_tx, "outputs": g.n_outputs,
                "addresses": g.n_addresses, "bytes": g.size_bytes(),
                "seconds": round(time.perf_counter() - t0, 3)}
        typer.echo(json.dumps(info, indent=2) if as_json else
                   f"graph index of {name}: {g.n_tx:,} transactions, {g.n_outputs:,} outputs, "
                   f"{g.n_addresses:,} addresses, {info['bytes'] / 1e6:,.1f} MB at {g.path} "
                   f"({info['seconds']} s)")

    @app.command("trace")
    def trace_cmd(
        ctx: typer.Context,
        seed: str = typer.Argument(..., help="An address, a txid, or an output as TXID:VOUT."),
        direction: str = typer.Option("forward", "--direction", help="forward (where did it go) or "
                                      "backward (where did it come from)."),
        policy: str = typer.Option("haircut", "--policy", help="poison, haircut, fifo, lifo or tiho."),
        hops: Optional[int] = typer.Option(None, "--hops", help="Stop after N transactions (default: none)."),
        min_value: Optional[str] = typer.Option(None, "--min-value",
                                                help="Stop following amounts under V (BTC, or e.g. 5000sat)."),
        since: Optional[str] = typer.Option(None, "--since", help="Ignore activity before (date or unix)."),
        until: Optional[str] = typer.Option(None, "--until", help="Ignore activity after (date or unix)."),
        stop_at: str = typer.Option(",".join(DEFAULT_STOP_CATEGORIES), "--stop-at",
                                    help="Tag categories where the trace stops."),
        stop_file: Optional[Path] = typer.Option(None, "--stop-file",
                                                 help="Also stop at these addresses (lines 'address[,label]')."),
        max_txs: int = typer.Option(200_000, "--max-txs", help="Node budget; beyond it the result is truncated."),
        max_seconds: float = typer.Option(30.0, "--max-seconds", help="Time budget in seconds."),
        exact: bool = typer.Option(False, "--exact", help="Haircut in exact fractions (slower where many "
                                   "tainted histories merge) instead of a 2^-128-satoshi grid."),
        chain: Optional[str] = typer.Option(None, "--chain", help="Store chain (default: the store's only chain)."),
        asset: Optional[str] = typer.Option(None, "--asset", help="Account chains: ETH (native) or a token "
                                            "address (default: every fungible asset, each on its own)."),
        as_json: bool = typer.Option(False, "--json", help="The documented JSON result."),
    ) -> None:
        """Follow the value of SEED forward or backward under a taint policy, to where it stopped and why."""
        if direction not in ("forward", "backward"):
            raise UsageError(f"--direction must be forward or backward, not {direction!r}")
        if hops is not None and hops < 1:
            raise UsageError("--hops must be at least 1")
        policy_by_name(policy)
        limits = Limits(hops=hops, min_value=parse_value(min_value), since=parse_time(since, "--since"),
                        until=parse_time(until, "--until"), max_txs=max_txs, max_seconds=max_seconds)
        store = Store.open(ctx.obj["settings"].store, create=False)
        name, family = chain_of(store, chain)
        categories = [c.strip() for c in stop_at.split(",") if c.strip()]
        if family == "account":
            doc = _trace_account(store, name, seed, direction, policy, limits, categories, stop_file, asset,
                                 ctx.obj["quiet"])
            typer.echo(json.dumps(doc, indent=2) if as_json else account_render_text(doc))
            return
        if asset is not None:
            raise UsageError("--asset applies to account chains; a Bitcoin-family trace follows the chain's coin")
        graph = _graph(store, name, ctx.obj["quiet"])
        parsed = parse_seed(graph, seed, since=limits.since, until=limits.until)
        listed = as_rule(StopList.from_file(graph, stop_file)) if stop_file is not None else None
        stops = combine(listed, _stops_from_tags(store, graph, categories))
        result = trace(graph, parsed.outputs, direction=direction, policy=policy, limits=limits,
                       stop=stops, exact=exact)
        doc = to_json(graph, parsed, result, stop_at=categories + ([str(stop_file)] if stop_file else []),
                      describe=_describer(store, graph))
        typer.echo(json.dumps(doc, indent=2) if as_json else render_text(doc))

    @app.command("paths")
    def paths_cmd(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="From: address, txid or TXID:VOUT."),
        target: str = typer.Argument(..., help="To: address."),
        max_hops: int = typer.Option(6, "--max-hops", help="Longest path, in transactions."),
        limit: int = typer.Option(20, "--limit", help="At most this many paths (shortest first)."),
        chain: Optional[str] = typer.Option(None, "--chain"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """The time-respecting paths by which value can have moved from SOURCE to TARGET."""
        if max_hops < 1:
            raise UsageError("--max-hops must be at least 1")
        store = Store.open(ctx.obj["settings"].store, create=False)
        name = utxo_chain(store, chain)
        graph = _graph(store, name, ctx.obj["quiet"])
        src = parse_seed(graph, source)
        dst = parse_seed(graph, target)
        if dst.kind != "address":
            raise UsageError(f"TARGET {target!r} must be an address")
        found = find_paths(graph, src.outputs, dst.address, max_hops=max_hops, limit=limit)
        doc = paths_to_json(graph, src, dst, found, max_hops=max_hops, limit=limit)
        typer.echo(json.dumps(doc, indent=2) if as_json else render_paths(doc))


def _trace_account(store: Store, chain: str, seed: str, direction: str, policy: str, limits: Limits,
                   categories: list[str], stop_file: Path | None, asset: str | None, quiet: bool) -> dict:
    """A trace on an account chain (address-level policies per asset; docs/taint-policies.md)."""
    from fundtrail.trace.account_engine import trace_account
    from fundtrail.trace.account_graph import AccountGraph
    from fundtrail.trace.account_report import native_symbol
    from fundtrail.trace.account_report import to_json as account_to_json
    from fundtrail.trace.account_seeds import address_id as account_address_id
    from fundtrail.trace.account_seeds import asset_id, parse_account_seed
    from fundtrail.trace.attribution import account_stop_rule

    def progress(stage: str, done: int, total: int) -> None:
        if not quiet and sys.stderr.isatty():
            sys.stderr.write(f"\raccount graph index: {stage} {done:,}/{total:,}   ")
            sys.stderr.flush()

    g = AccountGraph.ensure(store, chain, progress=progress)
    parsed = parse_account_seed(g, seed, since=limits.since, until=limits.until)
    wanted = asset_id(g, asset, native_symbol(chain))
    listed = (StopList(StopList.read_pairs(stop_file, lambda text: account_address_id(g, text)))
              if stop_file is not None else None)
    stops = combine(as_rule(listed), account_stop_rule(store, g, categories))
    result = trace_account(g, parsed, direction=direction, policy=policy, limits=limits,
                           stop=stops, asset=wanted)
    return account_to_json(g, parsed, result,
                           stop_at=categories + ([str(stop_file)] if stop_file else []))


def _stops_from_tags(store: Store, graph: GraphIndex, categories: list[str]):  # noqa: ANN202 (StopRule)
    """Stop rule from attribution tags of `categories`, direct or through clusters (None: no tags)."""
    from fundtrail.trace.stops import stops_from_tags

    return stops_from_tags(store, graph, categories)


def _describer(store: Store, graph: GraphIndex):  # noqa: ANN202 (returns trace.report.Describe)
    from fundtrail.trace.stops import describer

    return describer(store, graph)
