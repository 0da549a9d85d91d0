"""`fundtrail case bundle|bundles`: evidence bundles (docs/bundle.md), thin over CaseEvidenceOps."""

from __future__ import annotations

from pathlib import Path

import typer

from fundtrail.cli.commands_case import CASE_HELP, JSON_HELP, case_app
from fundtrail.cli.context import quiet, workspace
from fundtrail.cli.output import echo_json
from fundtrail.cli.progress import job_progress

__all__ = ["case_app", "register"]


def register(app: typer.Typer) -> None:
    """Nothing to add at the top level: the commands hang on `case_app` when this module is imported."""


@case_app.command("bundle")
def case_bundle(
    ctx: typer.Context,
    case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
    out: Path = typer.Option(..., "-o", "--out", help="The bundle to write (a .zip file)."),
    blocks_dir: Path | None = typer.Option(None, "--blocks-dir", help="Read the raw blocks from this Bitcoin Core "
                                           "blocks/ directory (default: the directory the chain was ingested from)."),
    rpc: str | None = typer.Option(None, "--rpc", help="Read the raw blocks from this node's JSON-RPC: a "
                                   "Bitcoin node (getblock HASH 0, e.g. http://127.0.0.1:8332) for UTXO chains, "
                                   "an Ethereum node (blocks and receipts) for account chains (default: the node "
                                   "the chain was ingested from)."),
    rpc_cookie: Path | None = typer.Option(None, "--rpc-cookie", help="Path of the node's .cookie file."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write the case's evidence bundle: every traced transaction's raw bytes with its merkle proof
    (account chains: its transaction and receipt trie proofs), the block headers, the tag records
    and cluster evidence used, the saved traces and SHA256SUMS; `fundtrail verify BUNDLE` checks it
    without the store."""
    with job_progress(quiet(ctx), "bundling", rate_of="transactions") as progress:
        result = workspace(ctx, writable=True).case_bundle(case, out, blocks_dir=blocks_dir, rpc=rpc,
                                                           rpc_cookie=rpc_cookie, progress=progress)
    if as_json:
        echo_json(result)
        return
    per_chain = ", ".join(f"{n:,} on {c}" for c, n in sorted(result.chains.items()))
    typer.echo(f"wrote {result.path} ({result.bytes:,} bytes) in {result.seconds:.1f}s")
    typer.echo(f"bundle hash {result.bundle_hash}")
    typer.echo(f"{result.transactions:,} transactions proven ({per_chain or 'none'}), {result.tags} tag records, "
               f"{result.cluster_links} cluster links, {result.findings} findings")
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)


@case_app.command("bundles")
def case_bundles(ctx: typer.Context, case: str = typer.Argument(..., metavar="CASE", help=CASE_HELP),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The evidence bundles made of the case: hash, when, by whom, where, size."""
    result = workspace(ctx).case_bundles(case)
    if as_json:
        echo_json(result)
        return
    typer.echo(f"bundles of {case} ({len(result.bundles)}):")
    for b in result.bundles:
        typer.echo(f"  {b.bundle_hash}  {b.created_at} {b.created_by}  {b.transactions:,} transactions, "
                   f"{b.bytes:,} bytes  {b.path or '-'}")
