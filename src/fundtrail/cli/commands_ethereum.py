"""`fundtrail ingest ethereum` and `fundtrail export transfers`."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Optional

import typer

from fundtrail.cli.output import emit_jsonl
from fundtrail.cli.progress import ingest_progress
from fundtrail.errors import UsageError
from fundtrail.model.chains import check_chain_name
from fundtrail.store import Store


def register(ingest_app: typer.Typer, export_app: typer.Typer) -> None:
    @ingest_app.command("ethereum")
    def ingest_ethereum_cmd(
        ctx: typer.Context,
        rpc: Optional[str] = typer.Option(None, "--rpc", help="JSON-RPC URL of an Ethereum/EVM node."),
        replay: Optional[Path] = typer.Option(None, "--replay", help="Directory of recorded JSON-RPC "
                                              "responses (web3_response.<key>.json, as `fundtrail "
                                              "simulate --chain eth` writes to OUT/rpc) instead of a node."),
        chain: Optional[str] = typer.Option(None, "--chain", help="Store chain name: eth, bsc, polygon, "
                                            "arbitrum, base, optimism, anvil, … (default: from the chain id)."),
        chain_id: Optional[int] = typer.Option(None, "--chain-id", min=1, help="EIP-155 chain id, for a "
                                               "source that does not answer eth_chainId (a recording made "
                                               "by another tool); checked against the node when it does."),
        first: Optional[int] = typer.Option(None, "--from", help="First block (default: after the stored "
                                            "tip; with --replay, the first recorded block)."),
        last: Optional[int] = typer.Option(None, "--to", help="Last block (default: the node's head; with "
                                           "--replay, the last recorded block)."),
        follow: bool = typer.Option(False, "--follow", help="Keep following the head; reorgs roll back."),
        poll: float = typer.Option(5.0, "--poll-interval"),
        batch_blocks: int = typer.Option(100, "--batch-blocks", min=1, max=100_000),
        trace_mode: str = typer.Option("auto", "--traces", help="auto, parity (trace_block), geth "
                                       "(debug_traceBlockByNumber callTracer) or none."),
        concurrency: int = typer.Option(4, "--concurrency", min=1, max=64),
        rate: Optional[float] = typer.Option(None, "--rate-limit", help="Max HTTP requests per second."),
        rpc_timeout: Optional[int] = typer.Option(
            None, "--rpc-timeout", min=1, max=86_400,
            help="Seconds one RPC request may take in total (default: setting rpc_timeout, 60)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Ingest blocks, transactions, receipts, logs, token and internal transfers of an EVM chain."""
        from fundtrail.cli.commands_bitcoin import rpc_bounds
        from fundtrail.ingest.ethereum.jobs import ingest_ethereum
        from fundtrail.ingest.ethereum.replay import ReplayTransport
        from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport

        if (rpc is None) == (replay is None):
            raise UsageError("give exactly one of --rpc URL and --replay DIR")
        if replay is not None and follow:
            raise UsageError("--follow needs a node; a recording does not grow")
        if trace_mode not in {"auto", "parity", "geth", "none"}:
            raise UsageError(f"--traces must be auto, parity, geth or none, got {trace_mode!r}")
        if follow and last is not None:
            raise UsageError("--follow and --to exclude each other")
        if chain is not None:  # before anything is opened: a refused name creates no store
            check_chain_name(chain)
        # a recording answers what it lacks as a node lacking the method would (fallbacks work)
        recorded = None
        if replay is not None:
            bounds = rpc_bounds(ctx.obj["settings"], rpc_timeout)
            transport = ReplayTransport(replay, unrecorded_as_rpc_error=True,
                                        max_response_mb=bounds["max_response_mb"],
                                        max_json_depth=bounds["max_json_depth"])
            recorded = transport.recorded_blocks()
            if not recorded:
                raise UsageError(f"--replay {replay}: no recorded blocks (files "
                                 "web3_response.eth_getBlockByNumber_0x<number>_true.json)")
        else:
            transport = HttpTransport(rpc, max_requests_per_second=rate,
                                      **rpc_bounds(ctx.obj["settings"], rpc_timeout))
        client = EthRpc(transport, concurrency=concurrency, trace_mode=trace_mode)
        store = Store.open(ctx.obj["settings"].store)
        stop = {"flag": False}
        if follow:
            signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
        with ingest_progress(ctx.obj["quiet"] or as_json) as progress:
            report = ingest_ethereum(store, client, chain=chain, first=first, last=last, follow=follow,
                                     batch_blocks=batch_blocks, poll_interval=poll,
                                     should_stop=lambda: stop["flag"], progress=progress,
                                     chain_id=chain_id, recorded=recorded)
        if as_json:
            typer.echo(json.dumps(report.as_dict(), indent=2))
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
        chain: Optional[str] = typer.Option(None, "--chain", help="Store chain name (default: the only "
                                            "account chain in the store)."),
        fmt: str = typer.Option("jsonl", "--format", help="Only jsonl."),
        from_block: Optional[int] = typer.Option(None, "--from-block"),
        to_block: Optional[int] = typer.Option(None, "--to-block"),
        output: Optional[Path] = typer.Option(None, "--output", "-o"),
    ) -> None:
        """One JSON object per value movement of an account chain (docs/schema.md)."""
        from fundtrail.store.account_export import iter_transfers

        if fmt != "jsonl":
            raise UsageError(f"--format {fmt!r} is not supported; use jsonl")
        store = Store.open(ctx.obj["settings"].store, create=False)
        rows = iter_transfers(store, chain, from_block=from_block, to_block=to_block)
        emit_jsonl(rows, output, "transfers")
