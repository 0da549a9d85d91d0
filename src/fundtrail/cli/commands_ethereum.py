"""`fundtrail ingest ethereum` and `fundtrail export transfers`."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from fundtrail.cli.context import quiet, workspace
from fundtrail.cli.output import echo_json, report_export
from fundtrail.cli.progress import job_progress
from fundtrail.errors import UsageError
from fundtrail.workspace.jobs import ExportTransfersRequest, IngestEthereumRequest


def register(ingest_app: typer.Typer, export_app: typer.Typer) -> None:
    @ingest_app.command("ethereum")
    def ingest_ethereum_cmd(
        ctx: typer.Context,
        rpc: str | None = typer.Option(None, "--rpc", help="JSON-RPC URL of an Ethereum/EVM node."),
        replay: Path | None = typer.Option(None, "--replay", help="Directory of recorded JSON-RPC "
                                              "responses (web3_response.<key>.json, as `fundtrail "
                                              "simulate --chain eth` writes to OUT/rpc) instead of a node."),
        chain: str | None = typer.Option(None, "--chain", help="Store chain name: eth, bsc, polygon, "
                                            "arbitrum, base, optimism, anvil, … (default: from the chain id)."),
        chain_id: int | None = typer.Option(None, "--chain-id", min=1, help="EIP-155 chain id, for a "
                                               "source that does not answer eth_chainId (a recording made "
                                               "by another tool); checked against the node when it does."),
        first: int | None = typer.Option(None, "--from", help="First block (default: after the stored "
                                            "tip; with --replay, the first recorded block)."),
        last: int | None = typer.Option(None, "--to", help="Last block (default: the node's head; with "
                                           "--replay, the last recorded block)."),
        follow: bool = typer.Option(False, "--follow", help="Keep following the head; reorgs roll back."),
        poll: float = typer.Option(5.0, "--poll-interval"),
        batch_blocks: int = typer.Option(100, "--batch-blocks", min=1, max=100_000),
        trace_mode: str = typer.Option("auto", "--traces", help="auto, parity (trace_block), geth "
                                       "(debug_traceBlockByNumber callTracer) or none."),
        concurrency: int = typer.Option(4, "--concurrency", min=1, max=64),
        rate: float | None = typer.Option(None, "--rate-limit", help="Max HTTP requests per second."),
        rpc_timeout: int | None = typer.Option(
            None, "--rpc-timeout", min=1, max=86_400,
            help="Seconds one RPC request may take in total (default: setting rpc_timeout, 60)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Ingest blocks, transactions, receipts, logs, token and internal transfers of an EVM chain."""
        if (rpc is None) == (replay is None):
            raise UsageError("give exactly one of --rpc URL and --replay DIR")
        req = IngestEthereumRequest(rpc=rpc, replay=replay, chain=chain, chain_id=chain_id, from_block=first,
                                    to_block=last, follow=follow, poll_interval=poll,
                                    batch_blocks=batch_blocks, traces=trace_mode, concurrency=concurrency,
                                    rate_limit=rate, rpc_timeout=rpc_timeout)
        ws = workspace(ctx, writable=True, create=True)  # after the request is checked: a refused one creates nothing
        stop = {"flag": False}
        if follow:
            signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
        with job_progress(quiet(ctx) or as_json, "ingesting") as progress:
            report = ws.ingest_ethereum(req, progress, should_stop=lambda: stop["flag"])
        if as_json:
            echo_json(report)
            return
        r = report
        typer.echo(f"ingested {r.blocks} blocks, {r.transactions} transactions, {r.transfers} transfers "
                   f"into chain {r.chain} (chain id {r.chain_id}) in {r.seconds:.1f}s "
                   f"(node {r.fetch_seconds:.1f}s, processing {r.process_seconds:.1f}s; traces: {r.trace_mode})")
        if r.skipped_known:
            typer.echo(f"  {r.skipped_known} blocks were already stored (skipped)")
        for w in r.warnings:
            typer.echo(f"  warning: {w}")

    @export_app.command("transfers")
    def export_transfers(
        ctx: typer.Context,
        chain: str | None = typer.Option(None, "--chain", help="Store chain name (default: the only "
                                            "account chain in the store)."),
        fmt: str = typer.Option("jsonl", "--format", help="Only jsonl."),
        from_block: int | None = typer.Option(None, "--from-block"),
        to_block: int | None = typer.Option(None, "--to-block"),
        output: Path | None = typer.Option(None, "--output", "-o"),
    ) -> None:
        """One JSON object per value movement of an account chain (docs/schema.md)."""
        req = ExportTransfersRequest(chain=chain, format=fmt, from_block=from_block, to_block=to_block)
        report_export(workspace(ctx).export_transfers(req, output=output))
