"""Spark's jobs against the single-machine path on one simulated chain (CoinJoins, late links), in
one local[2] session: the same input links and fee updates, the same clustering (links, partition,
run figures), every reader working on Spark's run unchanged, and statistics equal to the
single-machine readers' definitions (SQL over the store and `cluster show`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fundtrail.cluster import runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.query import load_clustering
from fundtrail.store import Store

from .conftest import CHAIN


def _rows(store: Store, sql: str) -> list[tuple]:
    with store.query() as con:
        return con.execute(sql).fetchall()


def _batch_table(store: Store, batch_id: int, table: str) -> pa.Table:
    with store.connect(read_only=True) as con:
        (files,) = con.execute("SELECT files FROM batches WHERE chain = ? AND batch_id = ?",
                               [CHAIN, batch_id]).fetchone()
    parts = [pq.read_table(store.lake / CHAIN / f) for f in files if f.startswith(f"{table}/")]
    return pa.concat_tables(parts).sort_by([("tx_id", "ascending")] + ([("n", "ascending")] if table == "input_links"
                                                                      else []))


def test_resolve_equals_the_single_machine_pass(chain_dir: Path, spark, tmp_path: Path) -> None:
    from fundtrail.spark.resolve import run_resolve

    shutil.copytree(chain_dir / "unlinked", tmp_path / "store")
    store = Store.open(tmp_path / "store")
    linked = Store.open(chain_dir / "linked")
    want = linked.last_batch(CHAIN)["batch_id"]  # the late resolution batch the crash lost
    assert (store.lake / CHAIN / "input_links" / f"batch-{want:08d}.parquet").exists()  # left by the crash
    unresolved = _rows(store, "SELECT count(*) FROM btc_regtest_inputs WHERE prev_output_id IS NULL")[0][0]
    assert unresolved > 0

    got = run_resolve(spark, store, CHAIN)
    assert got["batch_id"] == want and got["orphans_removed"] >= 1  # the crashed pass's files were removed
    for table in ("input_links", "tx_updates"):
        mine = _batch_table(store, want, table)
        assert mine.equals(_batch_table(linked, want, table).cast(mine.schema)), table
    assert got["input_links"] > 0 and got["tx_updates"] > 0
    # every view a reader uses now reads the same as the single-machine store
    for view in ("btc_regtest_inputs", "btc_regtest_transactions"):
        sql = f"SELECT * FROM {view} ORDER BY tx_id" + (", n" if view.endswith("inputs") else "")
        assert _rows(store, sql) == _rows(linked, sql), view

    again = run_resolve(spark, store, CHAIN)  # a rerun finds nothing more to link and commits nothing
    assert again["batch_id"] is None and again["input_links"] == 0


def test_a_missing_pyspark_is_a_config_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from fundtrail.errors import ConfigError
    from fundtrail.spark.session import require_pyspark

    monkeypatch.setitem(sys.modules, "pyspark", None)  # what `import pyspark` meets without the extra
    with pytest.raises(ConfigError) as err:
        require_pyspark()
    assert "spark" in str(err.value) and "fundtrail[spark]" in (err.value.hint or "")

HEURISTICS = ("multi-input", "change")
FLOOR, CHUNK = 0.9, 600  # several chunks: the per-chunk decisions must match the engine's chunks


@pytest.fixture(scope="module")
def pair(chain_dir: Path, spark, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from fundtrail.spark.cluster import run_cluster

    base = tmp_path_factory.mktemp("pair")
    shutil.copytree(chain_dir / "linked", base / "single")
    shutil.copytree(chain_dir / "linked", base / "spark")
    single, sp = Store.open(base / "single"), Store.open(base / "spark")
    summary = run_clustering(single, CHAIN, heuristics=HEURISTICS, change_floor=FLOOR, chunk_txs=CHUNK)
    got = run_cluster(spark, sp, CHAIN, heuristics=HEURISTICS, change_floor=FLOOR, chunk_txs=CHUNK)
    return {"single": single, "spark": sp, "summary": summary, "got": got}


def test_the_same_partition_and_run_figures(pair: dict) -> None:
    single, sp, s, got = pair["single"], pair["spark"], pair["summary"], pair["got"]
    assert s.n_clusters > 20 and s.n_links > s.n_unions > 0  # a chain with real clusters
    for key in ("n_links", "n_unions", "n_clusters", "largest", "n_addresses", "n_tx"):
        assert got[key] == getattr(s, key), key
    want, have = load_clustering(single, CHAIN), load_clustering(sp, CHAIN)
    assert np.array_equal(want.labels, have.labels)
    mapping = [pq.read_table(runs.run_dir(st, runs.latest_run(st, CHAIN)) / runs.MAPPING) for st in (single, sp)]
    assert mapping[0].equals(mapping[1])
    for name in runs.ARRAYS:  # what an incremental run starts from
        a = runs.load_array(single, runs.latest_run(single, CHAIN), name)
        b = runs.load_array(sp, runs.latest_run(sp, CHAIN), name)
        n = s.n_addresses
        if name == runs.SIZE:  # sizes are meaningful at roots only
            roots = np.flatnonzero(want.labels == np.arange(n))
            a, b, n = a[roots], b[roots], roots.size
        assert np.array_equal(a[:n], b[:n]), name


def test_coinjoins_were_in_play(pair: dict) -> None:
    """The chain holds CoinJoins the detector flags: their exclusion is part of what was compared."""
    from fundtrail.cluster import coinjoin
    from fundtrail.cluster.links import coinjoin_mask
    from fundtrail.cluster.snapshot import open_snapshot
    from fundtrail.cluster.txview import load_txview

    with open_snapshot(pair["single"], CHAIN) as snap:
        view = load_txview(snap.con, CHAIN, 0, snap.next_tx_id)
    assert coinjoin_mask(view, coinjoin.detect(view), 0.5).sum() >= 3


def test_readers_work_on_the_spark_run(pair: dict) -> None:
    from fundtrail.workspace import Workspace

    single = Workspace.open(store=pair["single"].root)
    sp = Workspace.open(store=pair["spark"].root)
    labels = load_clustering(pair["spark"], CHAIN).labels
    sizes = np.bincount(labels)
    for cid in np.argsort(-sizes, kind="stable")[:3].tolist():
        a = single.cluster(str(cid), chain=CHAIN).model_dump(mode="json")
        b = sp.cluster(str(cid), chain=CHAIN).model_dump(mode="json")
        for k in ("run_id",):
            a.pop(k, None), b.pop(k, None)
        assert a == b
        members = sp.cluster_members(str(cid), chain=CHAIN, limit=50).members
        why = sp.cluster_why(members[0].address, members[-1].address, chain=CHAIN)
        assert why.linked and why.steps  # a path of stored evidence transactions
    nxt = run_clustering(pair["spark"], CHAIN, heuristics=HEURISTICS, change_floor=FLOOR)
    assert nxt.mode == "incremental"  # the engine continues from Spark's run
    assert np.array_equal(load_clustering(pair["spark"], CHAIN).labels, labels)


def test_statistics_equal_the_single_machine_definitions(pair: dict, spark, tmp_path: Path) -> None:
    from fundtrail.cluster.query import totals
    from fundtrail.cluster.snapshot import open_snapshot
    from fundtrail.spark.stats import run_stats

    sp = pair["spark"]
    mirror = tmp_path / "mirror lake"  # the executors read a copy (as on HDFS or S3), by URI
    shutil.copytree(sp.lake, mirror)
    meta = run_stats(spark, sp, CHAIN, lake_uri=mirror.resolve().as_uri())
    assert not (mirror / "_spark-staging").exists() or not any((mirror / "_spark-staging").iterdir())
    got = pq.read_table(Path(meta["path"]) / "address_stats.parquet").to_pylist()
    with sp.query() as con:
        want = con.execute("""
            WITH act AS (
                SELECT address_id, tx_id, value AS got, NULL::BIGINT AS gave FROM btc_regtest_outputs
                WHERE address_id IS NOT NULL
                UNION ALL
                SELECT address_id, tx_id, NULL, value FROM btc_regtest_inputs WHERE address_id IS NOT NULL),
            t AS (SELECT t.tx_id, b.time FROM btc_regtest_transactions t
                  LEFT JOIN btc_regtest_blocks b USING (block_id))
            SELECT address_id, coalesce(sum(got), 0), count(got), coalesce(sum(gave), 0), count(gave),
                   coalesce(sum(got), 0) - coalesce(sum(gave), 0), count(DISTINCT tx_id),
                   min(tx_id), arg_min(t.time, tx_id), max(tx_id), arg_max(t.time, tx_id)
            FROM act JOIN t USING (tx_id) GROUP BY address_id ORDER BY address_id""").fetchall()
    keys = ("address_id", "received", "received_count", "sent", "sent_count", "balance", "tx_count",
            "first_tx_id", "first_seen", "last_tx_id", "last_seen")
    assert [tuple(r[k] for k in keys) for r in got] == [tuple(r) for r in want]
    assert sum(1 for r in got if r["sent"] and r["balance"] >= 0) > 100
    clusters = pq.read_table(Path(meta["path"]) / "cluster_stats.parquet").to_pylist()
    labels = load_clustering(sp, CHAIN).labels
    assert len(clusters) == int((np.bincount(labels) >= 2).sum()) == meta["clusters"]
    with open_snapshot(sp, CHAIN) as snap:
        for row in sorted(clusters, key=lambda r: -r["members"])[:25]:
            t = totals(snap, np.flatnonzero(labels == row["cluster_id"]))
            assert (row["received"], row["received_count"], row["sent"], row["sent_count"]) == (
                t["received"], t["received_count"], t["sent"], t["sent_count"])
            assert row["members"] == int((labels == row["cluster_id"]).sum())
            first = np.datetime64(row["first_activity"], "s").astype(str) + "Z"
            assert first == t["first_activity"]


def test_the_service_layer_runs_a_job_and_refuses_bad_requests(chain_dir: Path, spark, tmp_path: Path) -> None:
    from fundtrail.errors import UsageError
    from fundtrail.workspace import Workspace
    from fundtrail.workspace.spark_models import SparkRequest

    shutil.copytree(chain_dir / "unlinked", tmp_path / "store")
    ws = Workspace.open(store=tmp_path / "store", writable=True)
    r = ws.spark_run(SparkRequest(job="ingest-resolve"))
    assert r.chain == CHAIN and r.master == "local[2]" and isinstance(r.figures["input_links"], int)
    assert r.figures["input_links"] > 0 and spark.sparkContext._jsc is not None  # the caller's session lives on
    with pytest.raises(UsageError) as err:
        ws.spark_run(SparkRequest(job="stats", master="yarn"))
    assert err.value.field == "master"
    with pytest.raises(UsageError) as err:
        ws.spark_run(SparkRequest(job="cluster", heuristics=["change"]))  # change needs its floor
    assert err.value.field == "change_floor"
    ro = Workspace.open(store=tmp_path / "store")
    from fundtrail.errors import StoreError
    with pytest.raises(StoreError):
        ro.spark_run(SparkRequest(job="stats"))


def test_the_cli_prints_a_job_summary(chain_dir: Path, spark, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    from fundtrail.cli.main import main
    from fundtrail.workspace import Workspace

    if not hasattr(Workspace, "spark_run"):
        pytest.skip("SparkOps is not yet a base of Workspace (workspace/__init__.py)")
    shutil.copytree(chain_dir / "linked", tmp_path / "store")
    store = str(tmp_path / "store")
    assert main(["-q", "--store", store, "spark", "ingest-resolve", "--master", "local[2]", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["job"] == "ingest-resolve" and doc["figures"]["batch_id"] is None  # all linked already
    assert main(["-q", "--store", store, "spark", "stats", "--master", "yarn"]) == 2
    assert "unknown Spark master 'yarn'" in capsys.readouterr().err


def test_a_bad_lake_is_a_one_line_error_and_changes_nothing(chain_dir: Path, spark, tmp_path: Path) -> None:
    from fundtrail.errors import StoreError, UsageError
    from fundtrail.spark.session import Lake
    from fundtrail.spark.stats import run_stats

    store = Store.open(chain_dir / "linked")
    with pytest.raises(UsageError) as err:
        Lake.open(store, CHAIN, str(tmp_path / "nowhere"))
    assert err.value.field == "lake" and "nowhere" in err.value.message
    mirror = tmp_path / "mirror"
    shutil.copytree(store.lake, mirror)
    gone = sorted((mirror / CHAIN / "outputs").iterdir())[0]
    gone.unlink()
    with pytest.raises(StoreError) as err:
        run_stats(spark, store, CHAIN, lake_uri=str(mirror))
    assert f"outputs/{gone.name}" in err.value.message and "\n" not in err.value.message
    assert not (store.root / "derived" / CHAIN / "stats").exists()


def test_a_local_session_heap_follows_memory_limit(spark) -> None:
    """Spark's default 1 GB heap ran out in the clustering of a 10M-transaction chain: in local mode
    the executors live in the driver's JVM, whose heap is 60 % of memory_limit, at least 1 GB."""
    from fundtrail.spark.session import local_heap
    from fundtrail.store.spill import default_limit

    assert local_heap(4 << 30) == f"{int((4 << 30) * 0.6) >> 20}m" == "2457m"
    assert local_heap(0) == local_heap(512 << 20) == "1024m"
    if "SPARK_DRIVER_MEMORY" not in os.environ:
        assert spark.sparkContext.getConf().get("spark.driver.memory") == local_heap(default_limit())
