"""`fundtrail ingest tron`: a java-tron node's HTTP API, or a recording of it (docs/tron.md)."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from fundtrail.cli.context import quiet, workspace
from fundtrail.cli.output import echo_json
from fundtrail.cli.progress import job_progress
from fundtrail.errors import UsageError
from fundtrail.workspace.job_models import IngestTronRequest


def register(ingest_app: typer.Typer) -> None:
    """Hang `tron` on the `ingest` group."""

    @ingest_app.command("tron")
    def ingest_tron_cmd(
        ctx: typer.Context,
        rpc: str | None = typer.Option(None, "--rpc", help="URL of a java-tron full node's HTTP API "
                                          "(http://host:8090)."),
        solidity: str | None = typer.Option(None, "--solidity", help="URL of the node's solidity HTTP "
                                               "API (http://host:8091): block data from it, solidified "
                                               "blocks only."),
        replay: Path | None = typer.Option(None, "--replay", help="Directory of recorded java-tron "
                                              "answers (web3_response.wallet.getblockbynum_<n>.json, ...; "
                                              "docs/tron.md) instead of a node."),
        record: Path | None = typer.Option(None, "--record", help="With --rpc: also write every answer "
                                              "used into this directory, in the --replay format."),
        chain: str = typer.Option("tron", "--chain", help="Store chain name of the TRON network."),
        first: int | None = typer.Option(None, "--from", min=0, help="First block (default: after the "
                                            "stored tip; with --replay, the first recorded block)."),
        last: int | None = typer.Option(None, "--to", min=0, help="Last block (default: the node's head; "
                                           "with --replay, the last recorded block)."),
        follow: bool = typer.Option(False, "--follow", help="Keep following the head; reorgs roll back."),
        poll: float = typer.Option(3.0, "--poll-interval"),
        batch_blocks: int = typer.Option(100, "--batch-blocks", min=1, max=100_000),
        concurrency: int = typer.Option(4, "--concurrency", min=1, max=64),
        rate: float | None = typer.Option(None, "--rate-limit", help="Max HTTP requests per second."),
        rpc_timeout: int | None = typer.Option(
            None, "--rpc-timeout", min=1, max=86_400,
            help="Seconds one HTTP request may take in total (default: setting rpc_timeout, 60)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Ingest TRON blocks: TRX, TRC-10, TRC-20 and internal transfers, fees."""
        if (rpc is None) == (replay is None):
            raise UsageError("give exactly one of --rpc URL and --replay DIR")
        req = IngestTronRequest(rpc=rpc, solidity=solidity, replay=replay, record=record, chain=chain,
                                from_block=first, to_block=last, follow=follow, poll_interval=poll,
                                batch_blocks=batch_blocks, concurrency=concurrency, rate_limit=rate,
                                rpc_timeout=rpc_timeout)
        ws = workspace(ctx, writable=True, create=True)  # after the request is checked
        stop = {"flag": False}
        if follow:
            signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
        with job_progress(quiet(ctx) or as_json, "ingesting") as progress:
            report = ws.ingest_tron(req, progress, should_stop=lambda: stop["flag"])
        if as_json:
            echo_json(report)
            return
        r = report
        typer.echo(f"ingested {r.blocks} blocks, {r.transactions} transactions, {r.transfers} transfers "
                   f"into chain {r.chain} in {r.seconds:.1f}s (node {r.fetch_seconds:.1f}s, "
                   f"processing {r.process_seconds:.1f}s)")
        if r.rolled_back:
            typer.echo(f"  {r.rolled_back} blocks rolled back (reorganisation)")
        if r.skipped_known:
            typer.echo(f"  {r.skipped_known} blocks were already stored (skipped)")
        for w in r.warnings:
            typer.echo(f"  warning: {w}")
