"""`fundtrail ingest bitcoin`: blocks directory, raw files or JSON-RPC into the store."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import typer
from pydantic import SecretStr

from fundtrail.cli.context import quiet as quiet_of
from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.cli.progress import job_progress
from fundtrail.errors import UsageError
from fundtrail.workspace.jobs import BitcoinIngestResult, IngestBitcoinRequest, IngestIncomplete


def print_report(report: BitcoinIngestResult, as_json: bool) -> None:
    """Print an ingest report for people, or as JSON with --json."""
    if as_json:
        echo_json(report)
        return
    r = report
    typer.echo(f"ingested {r.blocks} blocks, {r.transactions} transactions ({r.inputs} inputs, "
               f"{r.outputs} outputs) into chain {r.chain} in {r.seconds:.1f}s")
    if r.skipped_known:
        typer.echo(f"  {r.skipped_known} blocks were already stored (skipped)")
    if r.stale:
        typer.echo(f"  {r.stale} stale blocks (not on the best chain) left out")
    if r.rolled_back:
        typer.echo(f"  {r.rolled_back} blocks rolled back by a reorganisation")
    if r.unresolved_inputs:
        typer.echo(f"  {r.unresolved_inputs} inputs spend outputs not in the store (kept as unresolved)")
    if r.linked_inputs:
        typer.echo(f"  {r.linked_inputs} previously unresolved inputs were resolved")
    if r.undo_resolved:
        typer.echo(f"  {r.undo_resolved} unresolved inputs of blocks stored earlier were resolved from undo data")
    for note in r.notes:
        typer.echo(f"  {note}")
    for w in r.warnings:
        typer.echo(f"  warning: {w}")
    for e in r.errors:
        typer.echo(f"  not ingested: {e}")


def read_password(given: str | None, path: Path | None, stdin: bool) -> str | None:
    """The RPC password from --rpc-password / FUNDTRAIL_RPC_PASSWORD, a file, or stdin (one of).

    A file or stdin keeps the secret out of the process list (`ps` shows arguments)."""
    if sum((given is not None, path is not None, stdin)) > 1:
        raise UsageError("give the RPC password one way: --rpc-password (or FUNDTRAIL_RPC_PASSWORD), "
                         "--rpc-password-file or --rpc-password-stdin")
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--rpc-password-file {path}: cannot read it "
                             f"({getattr(exc, 'strerror', None) or exc})") from None
    elif stdin:
        text = sys.stdin.readline()
    else:
        return given
    lines = text.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise UsageError("the RPC password read from " + (str(path) if path else "stdin") + " is empty")
    return password


def register(ingest_app: typer.Typer) -> None:
    @ingest_app.command("bitcoin")
    def ingest_bitcoin(
        ctx: typer.Context,
        blocks_dir: Path | None = typer.Option(None, "--blocks-dir", help="Bitcoin Core blocks/ directory."),
        raw: list[Path] | None = typer.Option(None, "--raw", help="Raw block file(s): binary, hex, blk stream, .bz2."),
        more: list[Path] | None = typer.Argument(None, help="More raw files after --raw.", show_default=False),
        rpc: str | None = typer.Option(None, "--rpc", help="Bitcoin Core JSON-RPC URL, e.g. http://127.0.0.1:8332"),
        rpc_cookie: Path | None = typer.Option(None, "--rpc-cookie", help="Path of the node's .cookie file."),
        rpc_user: str | None = typer.Option(None, "--rpc-user"),
        rpc_password: str | None = typer.Option(
            None, "--rpc-password", envvar="FUNDTRAIL_RPC_PASSWORD",
            help="RPC password (visible in `ps`: prefer the variable, --rpc-password-file or "
                 "--rpc-password-stdin)."),
        rpc_password_file: Path | None = typer.Option(
            None, "--rpc-password-file", help="Read the RPC password from this file (first line)."),
        rpc_password_stdin: bool = typer.Option(
            False, "--rpc-password-stdin", help="Read the RPC password from standard input."),
        rpc_timeout: int | None = typer.Option(
            None, "--rpc-timeout", min=1, max=86_400,
            help="Seconds one RPC request may take in total (default: setting rpc_timeout, 60)."),
        from_height: int | None = typer.Option(None, "--from", help="First height (RPC)."),
        to_height: int | None = typer.Option(None, "--to", help="Last height (RPC; default: the tip)."),
        follow: bool = typer.Option(False, "--follow", help="Keep following the node's tip (--rpc or --blocks-dir)."),
        poll: float = typer.Option(10.0, "--poll-interval", help="Seconds between tip checks in --follow."),
        network: str | None = typer.Option(None, "--network", help="mainnet, testnet, testnet4, signet, regtest "
                                              "(default: from the data)."),
        undo: bool = typer.Option(False, "--undo", help="Use rev*.dat undo data to resolve inputs (blocks dir)."),
        undo_file: list[Path] | None = typer.Option(None, "--undo-file", help="Undo file per --raw file."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Ingest Bitcoin blocks from exactly one source."""
        raws = list(raw or []) + list(more or [])
        if more and not raw:
            raise UsageError("unexpected arguments; raw block files go after --raw")
        chosen = [n for n, v in (("--blocks-dir", blocks_dir), ("--raw", raws), ("--rpc", rpc)) if v]
        if len(chosen) != 1:
            raise UsageError("give exactly one source: --blocks-dir DIR, --raw FILE... or --rpc URL"
                             + (f" (got {', '.join(chosen)})" if chosen else ""))
        password = read_password(rpc_password, rpc_password_file, rpc_password_stdin) if rpc else None
        req = IngestBitcoinRequest(
            blocks_dir=blocks_dir, raw=raws, undo=undo, undo_file=list(undo_file or []), rpc=rpc,
            rpc_cookie=rpc_cookie, rpc_user=rpc_user,
            rpc_password=None if password is None else SecretStr(password), rpc_timeout=rpc_timeout,
            from_height=from_height, to_height=to_height, follow=follow, poll_interval=poll,
            network=network)
        ws = workspace(ctx, writable=True, create=True)
        stop = {"flag": False}
        if follow:
            signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
        with job_progress(quiet_of(ctx) or as_json, "ingesting", rate_of="transactions") as progress:
            try:
                report = ws.ingest_bitcoin(req, progress, should_stop=lambda: stop["flag"])
            except IngestIncomplete as exc:  # damaged ranges or bad files: what was stored, then why
                print_report(exc.result, as_json)
                raise
        print_report(report, as_json)
        sys.stdout.flush()
