"""`fundtrail trace`, `fundtrail paths` and `fundtrail graph build`: following funds over the graph
index, through the service layer (`fundtrail.workspace.tracing`)."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import typer

from fundtrail.cli.context import quiet, settings, workspace
from fundtrail.errors import FundtrailError, UsageError
from fundtrail.workspace import Progress
from fundtrail.workspace.tracing import (DEFAULT_STOP_CATEGORIES, PathsRequest, SeedInput, TraceRequest,
                                         render_paths_text, render_trace_text, seeds_from_file, stops_from_file)

graph_app = typer.Typer(help="The graph index used by tracing (built on demand).", no_args_is_help=True)


@contextlib.contextmanager
def option_names() -> Iterator[None]:
    """Errors of the service layer refer to other request fields in backquotes (`until`): the CLI
    says `--until`. (To move into `cli.main.error_line`, where it then applies to every command.)"""
    try:
        yield
    except FundtrailError as exc:
        exc.message = re.sub(r"`([a-z_]+)`", lambda m: "--" + m.group(1).replace("_", "-"), exc.message)
        raise


def index_progress(be_quiet: bool) -> Progress:
    """Index building shown as one live line on a terminal's stderr (nothing when quiet or piped)."""
    def progress(stage: str, done: int, total: int) -> None:
        if not be_quiet and sys.stderr.isatty():
            sys.stderr.write(f"\rgraph index: {stage} {done:,}/{total:,}   ")
            sys.stderr.flush()

    return progress



def trace_request(ctx: typer.Context, seeds: list[str] | None, seeds_file: Path | None, stop_file: Path | None, *,
                  stop_at: str, **options: Any) -> TraceRequest:
    """The `TraceRequest` of `fundtrail trace`'s arguments (also `fundtrail case trace`'s): seeds from
    the arguments and `--seeds-file`, stop addresses from `--stop-file`, the other options as given."""
    texts: list[str | SeedInput] = list(seeds or [])
    if seeds_file is not None:
        texts += seeds_from_file(seeds_file, max_field_kb=settings(ctx).max_csv_field_kb)
    if not texts:
        raise UsageError("no seed: give SEED arguments or --seeds-file FILE")
    return TraceRequest(seeds=texts, stop_at=stop_at.split(","),
                        stop_addresses=list(stops_from_file(stop_file)) if stop_file is not None else [],
                        stop_list=str(stop_file) if stop_file is not None else None, **options)


def register(app: typer.Typer) -> None:
    """Add `trace`, `paths` and the `graph` group to the top-level app."""
    app.add_typer(graph_app, name="graph")

    @graph_app.command("build")
    def graph_build(
        ctx: typer.Context,
        chain: str | None = typer.Option(None, "--chain", help="Store chain (default: the only UTXO chain)."),
        full: bool = typer.Option(False, "--full", help="Rebuild from scratch instead of appending."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Build or update the graph index of a chain (tracing does this on demand too)."""
        r = workspace(ctx).graph_build(chain=chain, full=full)
        typer.echo(json.dumps(r.model_dump(mode="json"), indent=2) if as_json else
                   f"graph index of {r.chain}: {r.transactions:,} transactions, {r.outputs:,} outputs, "
                   f"{r.addresses:,} addresses, {r.bytes / 1e6:,.1f} MB at {r.path} ({r.seconds} s)")

    @app.command("trace")
    def trace_cmd(
        ctx: typer.Context,
        seeds: list[str] | None = typer.Argument(None, help="Addresses, txids or outputs (TXID:VOUT), "
                                                    "traced together as one seed set.", show_default=False),
        seeds_file: Path | None = typer.Option(None, "--seeds-file", help="More seeds: one per line, or a "
                                                  "CSV with a 'seed' column ('-': standard input)."),
        direction: str = typer.Option("forward", "--direction", help="forward (where did it go) or "
                                      "backward (where did it come from)."),
        policy: str = typer.Option("haircut", "--policy", help="poison, haircut, fifo, lifo or tiho."),
        hops: int | None = typer.Option(None, "--hops", help="Stop after N transactions (default: none)."),
        min_value: str | None = typer.Option(None, "--min-value",
                                                help="Stop following amounts under V (BTC, or e.g. 5000sat)."),
        since: str | None = typer.Option(None, "--since", help="Ignore activity before (date or unix)."),
        until: str | None = typer.Option(None, "--until", help="Ignore activity after (date or unix)."),
        stop_at: str = typer.Option(",".join(DEFAULT_STOP_CATEGORIES), "--stop-at",
                                    help="Tag categories where the trace stops."),
        stop_file: Path | None = typer.Option(None, "--stop-file",
                                                 help="Also stop at these addresses (lines 'address[,label]')."),
        max_txs: int = typer.Option(200_000, "--max-txs", help="Node budget; beyond it the result is truncated."),
        max_seconds: float = typer.Option(30.0, "--max-seconds", help="Time budget in seconds."),
        exact: bool = typer.Option(False, "--exact", help="Haircut in exact fractions (slower where many "
                                   "tainted histories merge) instead of a 2^-128-satoshi grid."),
        follow: bool = typer.Option(False, "--follow-change", help="Follow each seed's likely change output "
                                    "hop by hop (peel chains; --hops caps it, default 50) instead of a taint trace."),
        change_confidence: float = typer.Option(0.3, "--change-confidence", help="--follow-change: least "
                                                "consensus confidence of a followed change output (0..1)."),
        chain: str | None = typer.Option(None, "--chain", help="Store chain (default: the store's only chain)."),
        asset: str | None = typer.Option(None, "--asset", help="Account chains: ETH (native) or a token "
                                            "address (default: every fungible asset, each on its own)."),
        as_json: bool = typer.Option(False, "--json", help="The documented JSON result."),
    ) -> None:
        """Follow the value of SEED... (one seed set) forward or backward under a taint policy, to where
        it stopped and why."""
        req = trace_request(ctx, seeds, seeds_file, stop_file, direction=direction, policy=policy, hops=hops,
                            min_value=min_value, since=since, until=until, stop_at=stop_at, max_txs=max_txs,
                            max_seconds=max_seconds, exact=exact, follow_change=follow,
                            change_confidence=change_confidence, chain=chain, asset=asset)
        with option_names():
            result = workspace(ctx).trace(req, index_progress(quiet(ctx)))
        typer.echo(json.dumps(result.document(), indent=2) if as_json else render_trace_text(result))

    @app.command("paths")
    def paths_cmd(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="From: address, txid or TXID:VOUT."),
        target: str = typer.Argument(..., help="To: address."),
        max_hops: int = typer.Option(6, "--max-hops", help="Longest path, in transactions."),
        limit: int = typer.Option(20, "--limit", help="At most this many paths (shortest first)."),
        chain: str | None = typer.Option(None, "--chain"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """The time-respecting paths by which value can have moved from SOURCE to TARGET."""
        req = PathsRequest(source=source, target=target, max_hops=max_hops, limit=limit, chain=chain)
        result = workspace(ctx).paths(req, index_progress(quiet(ctx)))
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2) if as_json else render_paths_text(result))
