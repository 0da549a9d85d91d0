"""Spark's exposure index against the single-machine one on the simulated chain with CoinJoins and
late links (tests/spark/conftest.py), tagged from the simulator's truth and clustered.

"Equal" is byte equality of the index files: the float32 vectors of `incoming.npy` and
`outgoing.npy` bit for bit and `meta.json` (its key: store state, categories, tagged addresses), so
every amount and share a reader derives from them is equal to the satoshi. The readers (`exposure`,
`risk`) then load Spark's files without recomputing them.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from fundtrail.cluster.engine import run_clustering
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.profile import load_profile
from fundtrail.store import Store
from fundtrail.tags.importer import import_paths
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex

from .conftest import CHAIN

#: simulator truth category -> tag category (miner is outside the profile: value stops there, no column)
TRUTH = {"exchange": "exchange", "otc_desk": "exchange", "mixer": "mixing_service", "darknet_market": "market",
         "ransomware": "ransomware", "scam": "scam", "theft": "service_hack", "miner": "miner"}
CHUNK = 500  # several chunks, late links crossing their boundaries both ways
FILES = ("incoming.npy", "outgoing.npy", "meta.json")


def _exposure_dir(store: Store) -> Path:
    return store.root / "derived" / CHAIN / "exposure"


@pytest.fixture(scope="module")
def pair(chain_dir: Path, spark, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from fundtrail.spark.exposure import run_exposure

    base = tmp_path_factory.mktemp("exposure")
    shutil.copytree(chain_dir / "linked", base / "single")
    with open(chain_dir / "sim/truth/addresses.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] in TRUTH]
    tags = base / "tags.csv"
    with open(tags, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "currency"])
        w.writerows([r["address"], r["actor"], TRUTH[r["category"]], "BTC-REGTEST"] for r in rows)
    single = Store.open(base / "single")
    assert all(r.status == "imported" for r in import_paths(single, [tags]))
    run_clustering(single, CHAIN, heuristics=("multi-input",))  # tags inherited through clusters
    shutil.copytree(base / "single", base / "spark")
    sp = Store.open(base / "spark")
    cats = load_profile().exposure_categories
    graph = GraphIndex.ensure(single, CHAIN)
    tagmap = TagMap.load(single, graph)
    want = ExposureIndex.ensure(single, graph, cats, tagmap.category_array(graph.n_addresses))
    got = run_exposure(spark, sp, CHAIN, cats, chunk_txs=CHUNK)
    return {"single": single, "spark": sp, "want": want, "got": got, "cats": cats, "tagmap": tagmap}


def test_the_index_files_are_byte_for_byte_the_single_machine_ones(pair: dict) -> None:
    want, got, cats = pair["want"], pair["got"], pair["cats"]
    assert got["chunks"] >= 4 and got["outputs"] == want.inc.shape[0]
    for name in FILES:
        a = (_exposure_dir(pair["single"]) / name).read_bytes()
        b = (_exposure_dir(pair["spark"]) / name).read_bytes()
        assert a == b, name
    # an index with something in it: most columns reached, the out-of-profile column too
    inc, out = np.asarray(want.inc), np.asarray(want.out)
    reached = [(inc[:, i] > 0).sum() for i in range(len(cats) + 1)]
    assert sum(1 for n in reached if n > 50) >= 4 and reached[len(cats)] > 50, reached  # `miner` (other)
    assert got["incoming_rows"] == int(inc.any(axis=1).sum()) > 1000
    assert got["outgoing_rows"] == int(out.any(axis=1).sum()) > 1000
    # inherited tags were in play: some address is tagged only through its cluster
    assert pair["tagmap"].by_cluster


def test_late_links_crossing_chunks_were_in_play(pair: dict) -> None:
    """Some inputs spend outputs of a later transaction id (the stretch ingested last), across chunk
    boundaries: the passes read zero there, as the single-machine loop does."""
    g = GraphIndex.ensure(pair["spark"], CHAIN)
    tx_of_input = np.repeat(np.arange(g.n_tx), np.diff(g.tx_in_ptr))
    ok = g.in_prev >= 0
    creator = np.searchsorted(g.tx_first_out, g.in_prev[ok], side="right") - 1
    later = creator // CHUNK > tx_of_input[ok] // CHUNK
    assert later.sum() > 10


def test_readers_load_the_spark_index_unchanged(pair: dict) -> None:
    from fundtrail.trace.report import Names
    from fundtrail.workspace import Workspace
    from fundtrail.workspace.risk import ExposureRequest, RiskRequest

    files = {n: (_exposure_dir(pair["spark"]) / n).stat() for n in FILES}
    single = Workspace.open(store=pair["single"].root)
    sp = Workspace.open(store=pair["spark"].root)
    inc = np.asarray(pair["want"].inc)
    g = GraphIndex.ensure(pair["spark"], CHAIN)
    exposed = np.unique(g.out_address[np.flatnonzero(inc.any(axis=1))])
    exposed = exposed[exposed >= 0]
    picks = exposed[np.linspace(0, exposed.size - 1, 8).astype(int)]
    names = Names(g)
    for a in picks.tolist():
        text = names.address(a)
        assert text is not None
        x = single.exposure(ExposureRequest(address=text, chain=CHAIN)).model_dump(mode="json")
        y = sp.exposure(ExposureRequest(address=text, chain=CHAIN)).model_dump(mode="json")
        assert x == y and x["exposure_computed"], text
        assert single.risk(RiskRequest(target=text, chain=CHAIN)).model_dump(mode="json") == \
            sp.risk(RiskRequest(target=text, chain=CHAIN)).model_dump(mode="json")
    for n, st in files.items():  # loaded, not recomputed (a rebuild swaps in new files)
        now = (_exposure_dir(pair["spark"]) / n).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), n


def test_the_service_layer_runs_it_over_a_lake_copy_with_another_chunk_size(pair: dict, spark, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    from fundtrail.cli.main import main
    from fundtrail.workspace import Workspace
    from fundtrail.workspace.spark_models import SparkRequest

    root = pair["spark"].root
    bad = tmp_path / "profile.yaml"
    bad.write_text("profile: p\nversion: 1\nexposure_categories: [not_a_category]\nrules: []\n")
    before = (_exposure_dir(pair["spark"]) / "incoming.npy").stat().st_ino
    assert main(["-q", "--store", str(root), "spark", "exposure", "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "not_a_category" in err and len(err.strip().splitlines()) <= 2
    assert (_exposure_dir(pair["spark"]) / "incoming.npy").stat().st_ino == before  # nothing touched
    mirror = tmp_path / "mirror lake"  # the executors read a copy (as on HDFS or S3), by URI
    shutil.copytree(pair["spark"].lake, mirror)
    ws = Workspace.open(store=root, writable=True)
    r = ws.spark_run(SparkRequest(job="exposure", chunk_txs=1_000, lake=mirror.resolve().as_uri()))
    assert r.figures["chunks"] in (2, 3)  # tx ids 0..~2,100
    assert not any((mirror / "_spark-staging").iterdir())  # intermediate files removed
    assert (_exposure_dir(pair["spark"]) / "incoming.npy").stat().st_ino != before  # written anew
    for name in FILES:
        assert (_exposure_dir(pair["single"]) / name).read_bytes() == (_exposure_dir(pair["spark"]) / name).read_bytes()
