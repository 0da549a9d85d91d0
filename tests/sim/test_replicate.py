"""Re-keyed copies of a simulated chain (`fundtrail.sim.replicate`, issue 19's scale runs): the real
ingest takes them after the original, every copy has the original's transactions, values and
structure under new addresses, and clustering gives each copy the original's partition."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from fundtrail.chains.bitcoin.params import network
from fundtrail.cluster import runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.replicate import replicate
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store

CHAIN = "btc-regtest"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Store, int]:
    base = tmp_path_factory.mktemp("replicate")
    simulate(base / "sim", seed=7, txs=3000)
    rep = replicate(base / "sim" / "blocks", base / "rep", 2, network("regtest"))
    store = Store.open(base / "store")
    for d in (base / "sim" / "blocks", base / "rep" / "copy-1", base / "rep" / "copy-2"):
        ingest_blocks_dir(store, d)
    run_clustering(store, CHAIN, heuristics=("multi-input", "change"), change_floor=0.9, full=True)
    return base, store, rep.txs


def _lake(store: Store, table: str) -> str:
    return f"read_parquet('{store.root}/lake/{CHAIN}/{table}/*.parquet')"


def test_copies_follow_the_original(chain: tuple[Path, Store, int]) -> None:
    _, store, n = chain
    con = duckdb.connect()
    blocks = con.execute(f"SELECT count(*), max(height), count(DISTINCT hash) FROM {_lake(store, 'blocks')}").fetchone()
    assert blocks is not None and blocks[0] % 3 == 0 and blocks[1] == blocks[0] - 1 == blocks[2] - 1
    tx = con.execute(f"SELECT count(*), count(DISTINCT txid) FROM {_lake(store, 'transactions')}").fetchone()
    assert tx == (3 * n, 3 * n)
    # every copy's transaction k has the original's shape and amounts
    per = con.execute(f"""
        SELECT tx_id // {n} AS copy, count(*), sum(input_count), sum(output_count), sum(output_value), sum(fee),
               sum(is_segwit::INT), sum(is_coinbase::INT)
        FROM {_lake(store, 'transactions')} GROUP BY 1 ORDER BY 1""").fetchall()
    assert len(per) == 3 and per[0][1:] == per[1][1:] == per[2][1:]
    unresolved = con.execute(f"SELECT count(*) FROM {_lake(store, 'inputs')} WHERE prev_output_id IS NULL "
                             "AND prev_txid <> repeat('\\x00', 32)::BLOB").fetchone()
    assert unresolved == (0,)


def test_each_copy_has_the_original_partition(chain: tuple[Path, Store, int]) -> None:
    """Output k of copy c corresponds to output k of the original (same order, same value), so the
    outputs give the address correspondence without decoding any script."""
    _, store, _ = chain
    rec = runs.latest_run(store, CHAIN)
    assert rec is not None
    con = duckdb.connect()
    con.execute(f"CREATE TABLE o AS SELECT * FROM {_lake(store, 'outputs')}")
    con.execute(f"CREATE TABLE m AS SELECT * FROM read_parquet('{runs.run_dir(store, rec) / runs.MAPPING}')")
    (m,) = con.execute("SELECT count(*) // 3 FROM o").fetchone()  # type: ignore[misc]
    clusters = dict(con.execute("SELECT address_id, cluster_id FROM m").fetchall())

    def cluster(a: int) -> int:
        return clusters.get(a, -1 - a)  # the mapping lists clustered addresses; others are alone

    for k in (1, 2):
        pairs = con.execute(f"""
            SELECT o0.address_id, ok.address_id, o0.value = ok.value AND o0.script_type = ok.script_type
            FROM o o0 JOIN o ok ON ok.output_id = o0.output_id + {k} * {m}
            WHERE o0.output_id < {m} AND o0.address_id IS NOT NULL""").fetchall()
        assert len(pairs) > 5000 and all(same for *_, same in pairs)
        image = {}
        for a0, ak, _ in pairs:
            assert image.setdefault(a0, ak) == ak, f"address {a0} has two copies in copy {k}"
        assert len(set(image.values())) == len(image) and not set(image) & set(image.values())
        c_image: dict[int, set[int]] = {}
        for a0, ak in image.items():
            c_image.setdefault(cluster(a0), set()).add(cluster(ak))
        # each original cluster maps onto exactly one cluster of the copy, and no two onto the same
        assert all(len(v) == 1 for v in c_image.values())
        targets = [next(iter(v)) for v in c_image.values()]
        assert len(set(targets)) == len(targets)
        assert sum(1 for c in c_image if c >= 0) > 10  # multi-address clusters among them


def test_blocks_out_of_order_are_refused(tmp_path: Path, chain: tuple[Path, Store, int]) -> None:
    base, _, _ = chain
    src = base / "sim" / "blocks" / "blk00000.dat"
    data = src.read_bytes()
    size = int.from_bytes(data[4:8], "little")
    first, rest = data[:8 + size], data[8 + size:]
    bad = tmp_path / "blocks"
    bad.mkdir()
    (bad / "blk00000.dat").write_bytes(rest + first)  # the genesis record moved to the end
    with pytest.raises(DataError, match="does not extend the one before it|spent before it appears"):
        replicate(bad, tmp_path / "out", 1, network("regtest"))
