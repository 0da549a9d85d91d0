"""`fundtrail ingest bitcoin`: blocks directory, raw files or JSON-RPC into the store."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from fundtrail.chains.bitcoin.params import network as network_by_name
from fundtrail.cli.progress import ingest_progress
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir, ingest_raw_files, ingest_rpc
from fundtrail.ingest.bitcoin.pipeline import IngestReport
from fundtrail.settings import Settings
from fundtrail.store import Store


def print_report(report: IngestReport, as_json: bool) -> None:
    """Print an ingest report for people, or as JSON with --json."""
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
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


def rpc_bounds(settings: Settings, rpc_timeout: int | None) -> dict[str, int]:
    """The RPC resource bounds of the settings (`--rpc-timeout` overriding `rpc_timeout`)."""
    return {"timeout": rpc_timeout or settings.rpc_timeout, "deadline": settings.rpc_deadline,
            "max_response_mb": settings.max_rpc_response_mb,
            "max_json_depth": settings.max_json_depth}


def register(ingest_app: typer.Typer) -> None:
    @ingest_app.command("bitcoin")
    def ingest_bitcoin(
        ctx: typer.Context,
        blocks_dir: Optional[Path] = typer.Option(None, "--blocks-dir", help="Bitcoin Core blocks/ directory."),
        raw: Optional[list[Path]] = typer.Option(None, "--raw", help="Raw block file(s): binary, hex, blk stream, .bz2."),
        more: Optional[list[Path]] = typer.Argument(None, help="More raw files after --raw.", show_default=False),
        rpc: Optional[str] = typer.Option(None, "--rpc", help="Bitcoin Core JSON-RPC URL, e.g. http://127.0.0.1:8332"),
        rpc_cookie: Optional[Path] = typer.Option(None, "--rpc-cookie", help="Path of the node's .cookie file."),
        rpc_user: Optional[str] = typer.Option(None, "--rpc-user"),
        rpc_password: Optional[str] = typer.Option(
            None, "--rpc-password", envvar="FUNDTRAIL_RPC_PASSWORD",
            help="RPC password (visible in `ps`: prefer the variable, --rpc-password-file or "
                 "--rpc-password-stdin)."),
        rpc_password_file: Optional[Path] = typer.Option(
            None, "--rpc-password-file", help="Read the RPC password from this file (first line)."),
        rpc_password_stdin: bool = typer.Option(
            False, "--rpc-password-stdin", help="Read the RPC password from standard input."),
        rpc_timeout: Optional[int] = typer.Option(
            None, "--rpc-timeout", min=1, max=86_400,
            help="Seconds one RPC request may take in total (default: setting rpc_timeout, 60)."),
        from_height: Optional[int] = typer.Option(None, "--from", help="First height (RPC)."),
        to_height: Optional[int] = typer.Option(None, "--to", help="Last height (RPC; default: the tip)."),
        follow: bool = typer.Option(False, "--follow", help="Keep following the node's tip (RPC)."),
        poll: float = typer.Option(10.0, "--poll-interval", help="Seconds between tip checks in --follow."),
        network: Optional[str] = typer.Option(None, "--network", help="mainnet, testnet, testnet4, signet, regtest "
                                              "(default: from the data)."),
        undo: bool = typer.Option(False, "--undo", help="Use rev*.dat undo data to resolve inputs (blocks dir)."),
        undo_file: Optional[list[Path]] = typer.Option(None, "--undo-file", help="Undo file per --raw file."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Ingest Bitcoin blocks from exactly one source."""
        settings = ctx.obj["settings"]
        raws = list(raw or []) + list(more or [])
        if more and not raw:
            raise UsageError("unexpected arguments; raw block files go after --raw")
        chosen = [n for n, v in (("--blocks-dir", blocks_dir), ("--raw", raws), ("--rpc", rpc)) if v]
        if len(chosen) != 1:
            raise UsageError("give exactly one source: --blocks-dir DIR, --raw FILE... or --rpc URL"
                             + (f" (got {', '.join(chosen)})" if chosen else ""))
        net = network_by_name(network) if network else None
        store = Store.open(settings.store)
        quiet = ctx.obj["quiet"] or as_json
        batching = {"batch_bytes": settings.batch_mb << 20, "batch_blocks": settings.batch_blocks}
        with ingest_progress(quiet) as progress:
            if blocks_dir or raws:
                try:  # damaged ranges or bad files: report what was stored, then the error
                    if blocks_dir:
                        report = ingest_blocks_dir(store, blocks_dir, network=net, use_undo=undo,
                                                   progress=progress, max_block_bytes=settings.max_block_bytes,
                                                   **batching)
                    else:
                        report = ingest_raw_files(store, raws, network=net, undo_files=undo_file,
                                                  progress=progress, max_block_bytes=settings.max_block_bytes,
                                                  max_decompressed_mb=settings.max_decompressed_mb, **batching)
                except DataError as exc:
                    if getattr(exc, "report", None) is not None:
                        print_report(exc.report, as_json)  # type: ignore[attr-defined]
                    raise
            else:
                from fundtrail.ingest.bitcoin.rpc import BitcoinRpcSource, RpcClient

                password = read_password(rpc_password, rpc_password_file, rpc_password_stdin)
                client = RpcClient(rpc, cookie_file=rpc_cookie or settings.rpc_cookie, user=rpc_user,
                                   password=password, **rpc_bounds(settings, rpc_timeout))
                source = BitcoinRpcSource(client)
                stop = {"flag": False}
                if follow:
                    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
                report = ingest_rpc(store, source, start=from_height, end=to_height, follow=follow,
                                    progress=progress, poll_interval=poll,
                                    should_stop=lambda: stop["flag"], **batching)
        print_report(report, as_json)
        sys.stdout.flush()
