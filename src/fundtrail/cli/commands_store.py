"""`fundtrail status`, `fundtrail export transactions` and `fundtrail demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli.output import emit_jsonl
from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.store.status import status


def _print_status(st: dict) -> None:
    typer.echo(f"store {st['store']} (schema v{st['schema_version']})")
    if not st["chains"]:
        typer.echo("  empty: nothing ingested yet")
    for c in st["chains"]:
        rng = f"heights {c['min_height']}..{c['max_height']}" if c["max_height"] is not None else "heights unknown"
        if c["family"] == "account":
            typer.echo(f"  {c['chain']} ({c['network']}): {c['blocks']:,} blocks, {rng}, "
                       f"{c['transactions']:,} transactions, {c['transfers']:,} transfers, "
                       f"{c['addresses']:,} addresses, {c['tokens']:,} tokens")
        else:
            typer.echo(f"  {c['chain']} ({c['network']}): {c['blocks']:,} blocks, {rng}, "
                       f"{c['transactions']:,} transactions, {c['outputs']:,} outputs, "
                       f"{c['addresses']:,} addresses, {c['unresolved_inputs']:,} unresolved inputs")
        if c["tip_hash"]:
            typer.echo(f"    tip {c['tip_hash']}")
        run = c.get("last_run")
        if run:
            typer.echo(f"    last ingest run #{run['run_id']} {run['status']} ({run.get('source', '')}, "
                       f"{run['blocks']:,} blocks)"
                       + (f": {run['message']}" if run.get("message") else ""))


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    @app.command("status")
    def status_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """What is stored: chains, block ranges, counts."""
        store = Store.open(ctx.obj["settings"].store, create=False)
        st = status(store)
        if as_json:
            typer.echo(json.dumps(st, indent=2))
        else:
            _print_status(st)

    @export_app.command("transactions")
    def export_transactions(
        ctx: typer.Context,
        chain: str = typer.Option("btc", "--chain", help="Store chain name: btc, btc-testnet, btc-regtest, ..."),
        fmt: str = typer.Option("jsonl", "--format", help="Only jsonl."),
        block_hash: Optional[str] = typer.Option(None, "--block-hash"),
        from_height: Optional[int] = typer.Option(None, "--from-height"),
        to_height: Optional[int] = typer.Option(None, "--to-height"),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="File to write (default stdout)."),
    ) -> None:
        """One JSON object per transaction (the export contract in docs/schema.md)."""
        if fmt != "jsonl":
            raise UsageError(f"--format {fmt!r} is not supported; use jsonl")
        if block_hash and (from_height is not None or to_height is not None):
            raise UsageError("give either --block-hash or --from-height/--to-height, not both")
        store = Store.open(ctx.obj["settings"].store, create=False)
        rows = iter_transactions(store, chain, block_hash=block_hash, from_height=from_height,
                                 to_height=to_height)
        emit_jsonl(rows, output, "transactions")

    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        workdir: Path = typer.Option(Path("demo-data"), "--workdir", help="Where the demo chain is written."),
    ) -> None:
        """Simulate a small economy with a ransomware case, ingest it, and present the case."""
        from fundtrail.cli.demo import run_demo

        run_demo(ctx.obj["settings"], workdir, quiet=ctx.obj["quiet"])
