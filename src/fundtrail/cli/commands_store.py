"""`fundtrail status`, `fundtrail fsck`, `fundtrail migrate`, `fundtrail export transactions` and
`fundtrail demo`: options -> request -> one workspace call -> text, or the result's JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from fundtrail.cli.context import quiet, workspace
from fundtrail.cli.output import echo_json, report_export
from fundtrail.cli.progress import job_progress
from fundtrail.errors import StoreError
from fundtrail.workspace.jobs import ExportTransactionsRequest, FsckResult, MigrateResult
from fundtrail.workspace.status import ChainStatus, Coverage, IngestRun, StatusResult


def _run_line(run: IngestRun) -> str:
    """'last ingest run #3 failed (raw a.dat, 0 blocks): message' (no empty source parentheses)."""
    what = ", ".join(x for x in (run.source or "", f"{run.blocks or 0:,} blocks") if x)
    text = f"last ingest run #{run.run_id} {run.status} ({what})"
    return text + (f": {run.message}" if run.message else "")


def _print_status(st: StatusResult) -> None:
    typer.echo(f"store {st.store} (schema v{st.schema_version})")
    tags = st.tags
    if not st.chains and not tags.tags:
        typer.echo("  empty: nothing ingested or imported yet")
    elif not st.chains:
        typer.echo("  no chain data (tags only: scores come from tags alone, exposure is not computed)")
    for c in st.chains:
        _print_chain(c)
    if tags.tags:
        cur = ", ".join(f"{k} {v:,}" for k, v in list(tags.by_currency.items())[:8])
        cat = ", ".join(f"{k} {v:,}" for k, v in list(tags.by_category.items())[:8])
        typer.echo(f"  tags: {tags.tags:,} on {tags.addresses:,} addresses from "
                   f"{tags.source_files:,} source file(s)")
        typer.echo(f"    by currency: {cur}" + (" …" if len(tags.by_currency) > 8 else ""))
        typer.echo(f"    by category: {cat}" + (" …" if len(tags.by_category) > 8 else ""))


def _print_chain(c: ChainStatus) -> None:
    if c.empty:
        typer.echo(f"  {c.chain} ({c.network}): no blocks stored")
    elif c.family == "account":
        typer.echo(f"  {c.chain} ({c.network}): {c.blocks:,} blocks, {c.transactions:,} transactions, "
                   f"{c.transfers:,} transfers, {c.addresses:,} addresses, {c.tokens:,} tokens")
    else:
        typer.echo(f"  {c.chain} ({c.network}): {c.blocks:,} blocks, {c.transactions:,} transactions, "
                   f"{c.outputs:,} outputs, {c.addresses:,} addresses, "
                   f"{c.unresolved_inputs:,} unresolved inputs")
    if not c.empty:
        typer.echo(f"    coverage: {_coverage_text(c.coverage, c.family)}")
    if c.tip_hash:
        typer.echo(f"    tip {c.tip_hash}")
    if c.last_run:
        typer.echo(f"    {_run_line(c.last_run)}")


def _coverage_text(cov: Coverage, family: str) -> str:
    """Coverage in words: the ranges held, the gaps, blocks of unknown height."""
    ranges = [f"{a}" if a == b else f"{a}-{b}" for a, b in cov.ranges]
    text = "heights " + (", ".join(ranges[:6]) + (f", … ({len(ranges)} ranges)" if len(ranges) > 6 else "")
                         if ranges else "none known")
    if cov.gaps:
        missing = sum(b - a + 1 for a, b in cov.gaps)
        text += (f"; {len(cov.gaps)} gap(s), {missing:,} heights missing: results hold only for the "
                 "heights held")
    if cov.unplaced_blocks:
        text += f"; {cov.unplaced_blocks:,} block(s) of unknown height (ancestry not stored)"
    if ranges:
        text += (f"; 'unspent' means unspent as of height {cov.tip_height}" if family == "utxo"
                 else f"; balances and flows as of block {cov.tip_height}")
    return text


def _fsck_lines(rep: FsckResult) -> list[str]:
    """The report in words, one finding a line, then the verdict."""
    lines = [f"{f.severity}: {f.message}" for f in rep.findings]
    verdict = "ok" if rep.ok else f"{rep.errors} problem(s)"
    lines.append(f"fsck {rep.store}: {', '.join(rep.chains) or 'no chains'}; {rep.files:,} files, "
                 f"{rep.bytes / 1e6:,.1f} MB checked in {rep.seconds:.2f} s: {verdict}")
    return lines


def _migrate_lines(res: MigrateResult) -> list[str]:
    if res.applied_now:
        head = (f"store {res.store}: schema upgraded from v{res.from_version} to v{res.schema_version} "
                f"({len(res.applied_now)} step(s))")
    else:
        head = f"store {res.store}: schema v{res.schema_version} is current; nothing to do"
    now = set(res.applied_now)
    return [head] + [f"  v{m.version}: {m.description}" for m in res.migrations if m.version in now]


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    @app.command("status")
    def status_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """What is stored: chains, block ranges, counts."""
        st = workspace(ctx).status()
        if as_json:
            echo_json(st)
        else:
            _print_status(st)

    @app.command("fsck")
    def fsck_cmd(
        ctx: typer.Context,
        chain: str | None = typer.Option(None, "--chain", help="Check only this chain (default: all)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Check every lake file against the catalog (size, rows, SHA-256) and the store's invariants;
        exit 4 on any problem."""
        ws = workspace(ctx)
        with job_progress(quiet(ctx), "fsck", plain=True) as progress:
            rep = ws.fsck(chain=chain, progress=progress)
        if as_json:
            echo_json(rep)
        else:
            for line in _fsck_lines(rep):
                typer.echo(line)
        if not rep.ok:
            first = next(f.message for f in rep.findings if f.severity == "error")
            raise StoreError(f"fsck found {rep.errors} problem(s) in store {rep.store}; first: {first}")

    @app.command("migrate")
    def migrate_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """Upgrade the store's schema to this version (the one way to do it: reading commands never
        change a store, and refuse an older one)."""
        res = workspace(ctx, writable=True).migrate()
        if as_json:
            echo_json(res)
        else:
            for line in _migrate_lines(res):
                typer.echo(line)

    @export_app.command("transactions")
    def export_transactions(
        ctx: typer.Context,
        chain: str | None = typer.Option(None, "--chain", help="Store chain name: btc, btc-testnet, "
                                            "btc-regtest, ... (default: the only UTXO chain in the store)."),
        fmt: str = typer.Option("jsonl", "--format", help="Only jsonl."),
        block_hash: str | None = typer.Option(None, "--block-hash"),
        from_height: int | None = typer.Option(None, "--from-height"),
        to_height: int | None = typer.Option(None, "--to-height"),
        output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default stdout)."),
    ) -> None:
        """One JSON object per transaction (the export contract in docs/schema.md)."""
        req = ExportTransactionsRequest(chain=chain, format=fmt, block_hash=block_hash,
                                        from_height=from_height, to_height=to_height)
        report_export(workspace(ctx).export_transactions(req, output=output))

    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        workdir: Path = typer.Option(Path("demo-data"), "--workdir", help="Where the demo chain is written."),
    ) -> None:
        """Simulate a small economy with a ransomware case, ingest it, and present the case."""
        from fundtrail.cli.demo import run_demo

        run_demo(ctx, workdir)
