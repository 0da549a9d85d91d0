"""Request and result of the Spark jobs (`fundtrail spark ...`, docs/spark.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fundtrail.workspace.core import Model

SparkJob = Literal["ingest-resolve", "cluster", "stats", "exposure"]


class SparkRequest(Model):
    """One Spark job on chain `chain` (default: the store's only chain).

    `master`: `local[N]` or `spark://host:port`. `lake`: where the executors read the lake (a copy
    of `<store>/lake` on HDFS or S3-compatible storage, same relative paths); default the store's
    own lake. `heuristics`, `change_floor`, `coinjoin_floor`: as `cluster run` (the cluster job
    only). `chunk_txs`: transactions per chunk (the cluster and exposure jobs). `profile`: the risk
    profile whose exposure categories the exposure index holds (a YAML path; default the shipped
    one), as `fundtrail risk --profile`."""

    job: SparkJob
    chain: str | None = None
    master: str = "local[2]"
    lake: str | None = None
    heuristics: list[str] = Field(default_factory=lambda: ["multi-input"])
    change_floor: float | None = None
    coinjoin_floor: float = 0.5
    chunk_txs: int = Field(default=250_000, ge=1_000)
    shuffle_partitions: int | None = Field(default=None, ge=1)
    profile: str | None = None


class SparkJobResult(Model):
    """What a Spark job committed. `figures` holds the job's counts (ingest-resolve: batch_id,
    input_links, tx_updates; cluster: run_id, n_addresses, n_links, n_unions, n_clusters, largest,
    rounds; stats: addresses, clusters, path, cluster_run; exposure: outputs, categories,
    tagged_addresses, chunks, incoming_rows and outgoing_rows (outputs with a vector not all zero),
    key, path); `seconds` the wall time."""

    job: SparkJob
    chain: str
    master: str
    seconds: float
    figures: dict[str, int | float | str | None]
