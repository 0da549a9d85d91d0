"""`fundtrail spark ...`: the Spark jobs over the same Parquet lake (docs/spark.md).

Thin: options -> `SparkRequest` -> `Workspace.spark_run` -> one summary line (or the result's JSON
with `--json`). Needs the optional `spark` extra (PySpark 4.x and Java 17).
"""

from __future__ import annotations

import typer

from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.errors import FundtrailError
from fundtrail.workspace.spark_models import SparkJob, SparkJobResult, SparkRequest

spark_app = typer.Typer(help="Jobs on Apache Spark over the store's Parquet lake (the spark extra).",
                        no_args_is_help=True)

_CHAIN = "Store chain name (default: the store's only UTXO chain)."
_MASTER = "Spark master: local[N] (this machine, N cores) or spark://host:port."
_LAKE = "Where the executors read the lake: a copy of <store>/lake on hdfs://, s3a://, file:// (default: the store's)."


def register(app: typer.Typer) -> None:
    """Add the `spark` command group to the top-level app."""
    app.add_typer(spark_app, name="spark")


def _run(ctx: typer.Context, req: SparkRequest, as_json: bool) -> None:
    try:
        r = workspace(ctx, writable=True).spark_run(req)
    except FundtrailError as exc:  # name the option, as the user typed it (`change_floor` -> `--change-floor`)
        field = exc.field or ""
        if field and exc.message.startswith(field):
            exc.message = "--" + field.replace("_", "-") + exc.message[len(field):]
        raise
    if as_json:
        echo_json(r)
    else:
        typer.echo(_summary(r))


def _summary(r: SparkJobResult) -> str:
    f = r.figures
    head = f"spark {r.job} on {r.chain} ({r.master}, {r.seconds:.1f} s): "
    if r.job == "ingest-resolve":
        if f.get("batch_id") is None:
            return head + "no stored-unresolved input has its spent output in the lake; nothing committed"
        return head + f"{f['input_links']:,} inputs linked, {f['tx_updates']:,} fees made known; batch {f['batch_id']}"
    if r.job == "cluster":
        return head + (f"run #{f['run_id']}: {f['n_links']:,} links, {f['n_unions']:,} unions; {f['n_addresses']:,} "
                       f"addresses in {f['n_clusters']:,} multi-address clusters (largest {f['largest']:,}); "
                       f"{f['rounds']} large-star/small-star rounds")
    if r.job == "exposure":
        return head + (f"exposure index of {f['outputs']:,} outputs over {f['categories']} categories "
                       f"({f['tagged_addresses']:,} tagged addresses, {f['chunks']} chunks) written to {f['path']}")
    return head + f"{f['addresses']:,} addresses and {f['clusters']:,} clusters written to {f['path']}"


def _common(job: SparkJob, chain: str | None, master: str, lake: str | None) -> dict:
    return {"job": job, "chain": chain, "master": master, "lake": lake}


@spark_app.command("ingest-resolve")
def resolve_cmd(ctx: typer.Context, chain: str | None = typer.Option(None, "--chain", help=_CHAIN),
                master: str = typer.Option("local[2]", "--master", help=_MASTER),
                lake: str | None = typer.Option(None, "--lake", help=_LAKE),
                as_json: bool = typer.Option(False, "--json", help="The result as JSON.")) -> None:
    """Link inputs stored unresolved to the outputs they spend, whole chain; commit as one batch."""
    _run(ctx, SparkRequest(**_common("ingest-resolve", chain, master, lake)), as_json)


@spark_app.command("cluster")
def cluster_cmd(ctx: typer.Context, chain: str | None = typer.Option(None, "--chain", help=_CHAIN),
                master: str = typer.Option("local[2]", "--master", help=_MASTER),
                lake: str | None = typer.Option(None, "--lake", help=_LAKE),
                heuristics: str = typer.Option("multi-input", "--heuristics", help="Comma list: multi-input, change."),
                change_floor: float | None = typer.Option(None, "--change-floor",
                                                          help="Minimum change confidence (0..1); needed with change."),
                coinjoin_floor: float = typer.Option(
                    0.5, "--coinjoin-floor", help="CoinJoin confidence from which multi-input links are skipped."),
                as_json: bool = typer.Option(False, "--json", help="The result as JSON.")) -> None:
    """Cluster the chain's addresses (a full run, as `cluster run --full` commits it)."""
    _run(ctx, SparkRequest(**_common("cluster", chain, master, lake), heuristics=heuristics.split(","),
                           change_floor=change_floor, coinjoin_floor=coinjoin_floor), as_json)


@spark_app.command("stats")
def stats_cmd(ctx: typer.Context, chain: str | None = typer.Option(None, "--chain", help=_CHAIN),
              master: str = typer.Option("local[2]", "--master", help=_MASTER),
              lake: str | None = typer.Option(None, "--lake", help=_LAKE),
              as_json: bool = typer.Option(False, "--json", help="The result as JSON.")) -> None:
    """Per-address and per-cluster received, sent, balance, transaction count, first/last seen."""
    _run(ctx, SparkRequest(**_common("stats", chain, master, lake)), as_json)


@spark_app.command("exposure")
def exposure_cmd(ctx: typer.Context, chain: str | None = typer.Option(None, "--chain", help=_CHAIN),
                 master: str = typer.Option("local[2]", "--master", help=_MASTER),
                 lake: str | None = typer.Option(None, "--lake", help=_LAKE),
                 profile: str | None = typer.Option(None, "--profile",
                                                    help="Risk profile YAML whose exposure categories to index "
                                                         "(default: the shipped profile, as `risk`)."),
                 chunk_txs: int = typer.Option(250_000, "--chunk-txs", min=1_000,
                                               help="Transactions per chunk (one Spark task each, in chain order)."),
                 as_json: bool = typer.Option(False, "--json", help="The result as JSON.")) -> None:
    """The whole-chain exposure index (what `risk`, `exposure` and `screen` read), computed on Spark."""
    _run(ctx, SparkRequest(**_common("exposure", chain, master, lake), profile=profile, chunk_txs=chunk_txs),
         as_json)
