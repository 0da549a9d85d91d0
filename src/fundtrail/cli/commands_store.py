"""`fundtrail status`, `fundtrail fsck`, `fundtrail export transactions` and `fundtrail demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli.output import emit_jsonl
from fundtrail.errors import StoreError, UsageError
from fundtrail.model.chains import check_chain_name
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.store.fsck import fsck, report_lines
from fundtrail.store.status import status


def _run_line(run: dict) -> str:
    """'last ingest run #3 failed (raw a.dat, 0 blocks): message' (no empty source parentheses)."""
    what = ", ".join(x for x in (run.get("source") or "", f"{run['blocks'] or 0:,} blocks") if x)
    text = f"last ingest run #{run['run_id']} {run['status']} ({what})"
    return text + (f": {run['message']}" if run.get("message") else "")


def _print_status(st: dict) -> None:
    typer.echo(f"store {st['store']} (schema v{st['schema_version']})")
    tags = st.get("tags") or {}
    if not st["chains"] and not tags.get("tags"):
        typer.echo("  empty: nothing ingested or imported yet")
    elif not st["chains"]:
        typer.echo("  no chain data (tags only: scores come from tags alone, exposure is not computed)")
    for c in st["chains"]:
        cov = c.get("coverage") or {}
        if c.get("empty"):
            typer.echo(f"  {c['chain']} ({c['network']}): no blocks stored")
        elif c["family"] == "account":
            typer.echo(f"  {c['chain']} ({c['network']}): {c['blocks']:,} blocks, "
                       f"{c['transactions']:,} transactions, {c['transfers']:,} transfers, "
                       f"{c['addresses']:,} addresses, {c['tokens']:,} tokens")
        else:
            typer.echo(f"  {c['chain']} ({c['network']}): {c['blocks']:,} blocks, "
                       f"{c['transactions']:,} transactions, {c['outputs']:,} outputs, "
                       f"{c['addresses']:,} addresses, {c['unresolved_inputs']:,} unresolved inputs")
        if not c.get("empty"):
            typer.echo(f"    coverage: {_coverage_text(cov, c['family'])}")
        if c["tip_hash"]:
            typer.echo(f"    tip {c['tip_hash']}")
        if c.get("last_run"):
            typer.echo(f"    {_run_line(c['last_run'])}")
    if tags.get("tags"):
        cur = ", ".join(f"{k} {v:,}" for k, v in list(tags["by_currency"].items())[:8])
        cat = ", ".join(f"{k} {v:,}" for k, v in list(tags["by_category"].items())[:8])
        typer.echo(f"  tags: {tags['tags']:,} on {tags['addresses']:,} addresses from "
                   f"{tags['source_files']:,} source file(s)")
        typer.echo(f"    by currency: {cur}" + (" …" if len(tags["by_currency"]) > 8 else ""))
        typer.echo(f"    by category: {cat}" + (" …" if len(tags["by_category"]) > 8 else ""))


def _coverage_text(cov: dict, family: str) -> str:
    """Coverage in words: the ranges held, the gaps, blocks of unknown height."""
    ranges = [f"{a}" if a == b else f"{a}-{b}" for a, b in cov.get("ranges", [])]
    text = "heights " + (", ".join(ranges[:6]) + (f", … ({len(ranges)} ranges)" if len(ranges) > 6 else "")
                         if ranges else "none known")
    gaps = cov.get("gaps") or []
    if gaps:
        missing = sum(b - a + 1 for a, b in gaps)
        text += f"; {len(gaps)} gap(s), {missing:,} heights missing: results hold only for the heights held"
    if cov.get("unplaced_blocks"):
        text += f"; {cov['unplaced_blocks']:,} block(s) of unknown height (ancestry not stored)"
    if ranges:
        text += (f"; 'unspent' means unspent as of height {cov['tip_height']}" if family == "utxo"
                 else f"; balances and flows as of block {cov['tip_height']}")
    return text


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

    @app.command("fsck")
    def fsck_cmd(
        ctx: typer.Context,
        chain: Optional[str] = typer.Option(None, "--chain", help="Check only this chain (default: all)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Check every lake file against the catalog (size, rows, SHA-256) and the store's invariants;
        exit 4 on any problem."""
        if chain is not None:
            check_chain_name(chain)
        store = Store.open(ctx.obj["settings"].store, create=False)
        quiet = ctx.obj["quiet"]
        rep = fsck(store, chain, progress=None if quiet else (lambda m: typer.echo(m, err=True)))
        if as_json:
            typer.echo(json.dumps(rep.as_dict(), indent=2))
        else:
            for line in report_lines(rep):
                typer.echo(line)
        if rep.errors:
            first = rep.errors[0].message
            raise StoreError(f"fsck found {len(rep.errors)} problem(s) in store {store.root}; first: {first}")

    @export_app.command("transactions")
    def export_transactions(
        ctx: typer.Context,
        chain: Optional[str] = typer.Option(None, "--chain", help="Store chain name: btc, btc-testnet, "
                                            "btc-regtest, ... (default: the only UTXO chain in the store)."),
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
