"""A simulated chain with CoinJoins and late input links, ingested the single-machine way, and one
Spark session (local[2]) for a test module.

The blocks are ingested out of order (a middle stretch last), so inputs spending outputs of that
stretch are stored unresolved and linked by the late resolution pass; `unlinked` is a copy of the
store as a crash just before that pass committed leaves it (its files orphaned, no catalog row).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from support.blkfiles import blk_records

from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store

CHAIN = "btc-regtest"
TXS = 2000


def _write(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(records))
    return path


@pytest.fixture(scope="package")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`linked`: the store after every ingest (late links written); `unlinked`: the same store as a
    crash just before the last late-resolution commit leaves it."""
    base = tmp_path_factory.mktemp("spark-chain")
    result = simulate(base / "sim", seed=29, txs=TXS)
    assert result.manifest["coinjoins"] > 0
    records = [r for blk in sorted((base / "sim/blocks").glob("blk*.dat")) for r in blk_records(blk)]
    n = len(records)
    lo, hi = n // 3, n // 3 + max(2, n // 10)
    store = Store.open(base / "linked")
    ingest_raw_files(store, [_write(base / "a.dat", records[:lo])])
    ingest_raw_files(store, [_write(base / "b.dat", records[hi:])])
    ingest_raw_files(store, [_write(base / "c.dat", records[lo:hi])], batch_blocks=4)
    with store.connect(read_only=True) as con:
        last, source = con.execute("SELECT batch_id, source FROM batches WHERE chain = ? ORDER BY batch_id DESC "
                                   "LIMIT 1", [CHAIN]).fetchone()
    assert source == "late input resolution"
    shutil.copytree(base / "linked", base / "unlinked")
    crashed = Store.open(base / "unlinked")
    with crashed.connect() as con:
        con.execute("DELETE FROM batches WHERE chain = ? AND batch_id = ?", [CHAIN, last])
    return base


@pytest.fixture(scope="module")
def spark():
    from fundtrail.spark.session import open_session

    session = open_session("local[2]", "fundtrail-tests", shuffle_partitions=4)
    yield session
    session.stop()
