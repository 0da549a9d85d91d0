"""`fundtrail trace`, `fundtrail paths` and `fundtrail graph build`: following funds over the graph index."""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli.progress import progress_steps
from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.store.coverage import coverage
from fundtrail.store.select import select_chain
from fundtrail.trace.account_report import render_text as account_render_text
from fundtrail.trace.engine import Limits, trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.paths import find_paths, paths_to_json, render_paths
from fundtrail.trace.policies import policy as policy_by_name
from fundtrail.trace.report import render_text, to_json
from fundtrail.trace.seeds import SeedText, parse_seed, parse_seeds, read_seed_file
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES, attribution_for, StopList, as_rule, combine, stop_categories

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


def parse_account_value(text: str | None, symbol: str, decimals: int | None, *, asset_given: bool,
                        option: str = "--min-value") -> int:
    """Base units of an account-chain amount: `5000units` (or `wei`) as written, else a decimal in the
    traced asset's unit (`0.5` ETH, `100` USDT). A decimal needs one asset, so without --asset it is read
    in the native unit only when --asset names it; otherwise the user must say which unit."""
    if text is None:
        return 0
    t = text.strip().lower()
    for suffix in ("units", "wei"):
        if t.endswith(suffix):
            try:
                base = Decimal(t[:-len(suffix)])
            except InvalidOperation:
                raise UsageError(f"{option} {text!r} is not an amount") from None
            if base < 0 or base != base.to_integral_value():
                raise UsageError(f"{option} {text!r} must be a non-negative whole number of base units")
            return int(base)
    if not asset_given:
        raise UsageError(f"{option} {text!r}: several assets are traced, each in its own unit; name one with "
                         "--asset, or give base units (e.g. 1000000units)")
    if decimals is None:
        raise UsageError(f"{option} {text!r}: the decimals of {symbol or 'this token'} are unknown; "
                         "give base units (e.g. 1000000units)")
    try:
        amount = Decimal(t.removesuffix(symbol.lower()).strip()) * (10 ** decimals)
    except InvalidOperation:
        raise UsageError(f"{option} {text!r} is not an amount (e.g. 0.5 {symbol} or 1000000units)") from None
    if amount < 0 or amount != amount.to_integral_value():
        raise UsageError(f"{option} {text!r} has more than {decimals} decimals of {symbol}")
    return int(amount)


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
        seeds: Optional[list[str]] = typer.Argument(None, help="Addresses, txids or outputs (TXID:VOUT), "
                                                    "traced together as one seed set.", show_default=False),
        seeds_file: Optional[Path] = typer.Option(None, "--seeds-file", help="More seeds: one per line, or a "
                                                  "CSV with a 'seed' column ('-': standard input)."),
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
        follow: bool = typer.Option(False, "--follow-change", help="Follow each seed's likely change output "
                                    "hop by hop (peel chains; --hops caps it, default 50) instead of a taint trace."),
        change_confidence: float = typer.Option(0.3, "--change-confidence", help="--follow-change: least "
                                                "consensus confidence of a followed change output (0..1)."),
        chain: Optional[str] = typer.Option(None, "--chain", help="Store chain (default: the store's only chain)."),
        asset: Optional[str] = typer.Option(None, "--asset", help="Account chains: ETH (native) or a token "
                                            "address (default: every fungible asset, each on its own)."),
        as_json: bool = typer.Option(False, "--json", help="The documented JSON result."),
    ) -> None:
        """Follow the value of SEED... (one seed set) forward or backward under a taint policy, to where
        it stopped and why."""
        if direction not in ("forward", "backward"):
            raise UsageError(f"--direction must be forward or backward, not {direction!r}")
        policy_by_name(policy)
        limits = Limits(hops=hops, since=parse_time(since, "--since"),
                        until=parse_time(until, "--until"), max_txs=max_txs, max_seconds=max_seconds)
        categories = stop_categories(stop_at)
        texts: list[SeedText] = [(s, None) for s in seeds or []]
        if seeds_file is not None:
            texts += read_seed_file(seeds_file, max_field_kb=ctx.obj["settings"].max_csv_field_kb)
        if not texts:
            raise UsageError("no seed: give SEED arguments or --seeds-file FILE")
        store = Store.open(ctx.obj["settings"].store, create=False)
        name, family = chain_of(store, chain)
        if family == "account":
            if follow:
                raise UsageError("--follow-change applies to UTXO chains (change outputs); not to account chains")
            doc = _trace_account(store, name, [t for t, _ in texts], direction, policy, limits, categories,
                                 stop_file, asset, ctx.obj["quiet"], min_value=min_value)
            typer.echo(json.dumps(doc, indent=2) if as_json else account_render_text(doc))
            return
        if asset is not None:
            raise UsageError("--asset applies to account chains; a Bitcoin-family trace follows the chain's coin")
        limits = replace(limits, min_value=parse_value(min_value))
        graph = _graph(store, name, ctx.obj["quiet"])
        parsed = parse_seeds(graph, texts, since=limits.since, until=limits.until)
        listed = as_rule(StopList.from_file(graph, stop_file)) if stop_file is not None else None
        with progress_steps(ctx.obj["quiet"])(f"loading the tags and clusters of {name}"):
            tagged, describe = attribution_for(store, graph, categories)
        stops = combine(listed, tagged)
        if follow:
            from fundtrail.trace.follow import DEFAULT_MAX_HOPS, follow_change
            from fundtrail.trace.follow import render_text as follow_text

            fdoc = follow_change(store, graph, [o for sd in parsed for o in sd.outputs],
                                 seed_input=" ".join(t for t, _ in texts), max_hops=hops or DEFAULT_MAX_HOPS,
                                 min_confidence=change_confidence, stop=stops).to_json()
            typer.echo(json.dumps(fdoc, indent=2) if as_json else follow_text(fdoc))
            return
        result = trace(graph, [o for sd in parsed for o in sd.outputs], direction=direction, policy=policy,
                       limits=limits, stop=stops, exact=exact)
        doc = to_json(graph, parsed, result, stop_at=categories + ([str(stop_file)] if stop_file else []),
                      describe=describe, coverage=coverage(store, name))
        from fundtrail.trace.marks import trace_marks

        trace_marks(store, name, graph, doc)  # CoinJoin and change evidence on the traced transactions
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
            raise UsageError(f"--max-hops must be at least 1 (got {max_hops})")
        if limit < 1:
            raise UsageError(f"--limit must be at least 1 (got {limit})")
        if source.strip() == target.strip():
            raise UsageError(f"SOURCE and TARGET are the same ({source.strip()}): a path needs two ends")
        store = Store.open(ctx.obj["settings"].store, create=False)
        name = utxo_chain(store, chain)
        graph = _graph(store, name, ctx.obj["quiet"])
        src = parse_seed(graph, source)
        dst = parse_seed(graph, target)
        if dst.kind != "address":
            raise UsageError(f"TARGET {target!r} must be an address")
        if src.kind == "address" and src.address == dst.address:
            raise UsageError(f"SOURCE {source!r} and TARGET {target!r} are the same address: a path needs two ends")
        found = find_paths(graph, src.outputs, dst.address, max_hops=max_hops, limit=limit)
        doc = paths_to_json(graph, src, dst, found, max_hops=max_hops, limit=limit)
        typer.echo(json.dumps(doc, indent=2) if as_json else render_paths(doc))


def _trace_account(store: Store, chain: str, seeds: list[str], direction: str, policy: str, limits: Limits,
                   categories: list[str], stop_file: Path | None, asset: str | None, quiet: bool,
                   min_value: str | None = None) -> dict:
    """A trace on an account chain (address-level policies per asset; docs/taint-policies.md)."""
    from fundtrail.model.chains import EVM_CHAINS
    from fundtrail.store.coverage import coverage as store_coverage
    from fundtrail.trace.account_engine import trace_account
    from fundtrail.trace.account_graph import AccountGraph
    from fundtrail.trace.account_report import Unit, native_symbol, token_units
    from fundtrail.trace.account_report import to_json as account_to_json
    from fundtrail.trace.account_seeds import address_id as account_address_id
    from fundtrail.trace.account_seeds import asset_id, parse_account_seeds
    from fundtrail.trace.attribution import account_attribution

    def progress(stage: str, done: int, total: int) -> None:
        if not quiet and sys.stderr.isatty():
            sys.stderr.write(f"\raccount graph index: {stage} {done:,}/{total:,}   ")
            sys.stderr.flush()

    g = AccountGraph.ensure(store, chain, progress=progress)
    parsed = parse_account_seeds(g, seeds, since=limits.since, until=limits.until)  # one taint set
    wanted = asset_id(g, asset, native_symbol(chain))
    known = EVM_CHAINS.get(chain)
    unit = (Unit(native_symbol(chain), known.native_decimals if known else 18) if wanted in (None, -1)
            else token_units(store, chain).get(wanted, Unit("", None)))
    limits = replace(limits, min_value=parse_account_value(min_value, unit.symbol, unit.decimals,
                                                           asset_given=wanted is not None))
    listed = (StopList(StopList.read_pairs(stop_file, lambda text: account_address_id(g, text)))
              if stop_file is not None else None)
    tagged, describe = account_attribution(store, g, categories)
    result = trace_account(g, parsed, direction=direction, policy=policy, limits=limits,
                           stop=combine(as_rule(listed), tagged), asset=wanted)
    return account_to_json(g, parsed, result, stop_at=categories + ([str(stop_file)] if stop_file else []),
                           describe=describe, units=token_units(store, chain),
                           tip=store_coverage(store, chain).tip_height)
