"""Store mechanics: migrations, atomic partitions, orphan removal, views over committed files only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from fundtrail.errors import NotFoundError, StoreError
from fundtrail.store import Store, migrations


def test_migrations_are_numbered_and_applied_once(tmp_path: Path) -> None:
    versions = [v for v, _, _ in migrations.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    store = Store.open(tmp_path / "s")
    assert store.schema_version() == migrations.LATEST
    Store.open(tmp_path / "s")  # reopening applies nothing twice
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(versions)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    with store.connect() as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    with pytest.raises(StoreError, match="schema version 999, newer"):
        Store.open(tmp_path / "s")


def test_open_without_create(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no fundtrail store"):  # exit 6, like a missing chain
        Store.open(tmp_path / "absent", create=False)


def _batch(store: Store, batch_id: int, ids: list[int]) -> None:
    table = pa.table({"address_id": pa.array(ids, pa.int64()), "script_type": pa.array([2] * len(ids), pa.uint8()),
                      "payload": pa.array([b"x" * 20] * len(ids)), "fp1": pa.array(ids, pa.uint64()),
                      "fp2": pa.array(ids, pa.uint64()), "first_tx_id": pa.array(ids, pa.int64())})
    f = store.write_partition("btc-regtest", "addresses", f"batch-{batch_id:08d}.parquet", table)
    store.commit_batch("btc-regtest", {"batch_id": batch_id, "n_blocks": 0}, [f], [])


def test_uncommitted_partitions_are_invisible_then_removed(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    store.ensure_chain("btc-regtest", "utxo", "regtest")
    _batch(store, 0, [0, 1, 2])
    # a crash after writing a partition but before the catalog commit leaves an orphan file
    orphan = store.write_partition("btc-regtest", "addresses", "batch-00000001.parquet",
                                   pa.table({"address_id": pa.array([99], pa.int64())}))
    (store.lake / "btc-regtest" / "addresses" / ".tmp-batch-00000002.parquet").write_bytes(b"half")
    with store.query() as con:
        assert con.execute("SELECT list(address_id ORDER BY 1) FROM btc_regtest_addresses").fetchone()[0] == [0, 1, 2]
        assert con.execute("SELECT count(*) FROM btc_regtest_outputs").fetchone()[0] == 0  # empty, typed
    assert store.remove_orphans("btc-regtest") == 2
    assert not (store.lake / "btc-regtest" / orphan).exists()
    assert (store.lake / "btc-regtest" / "addresses" / "batch-00000000.parquet").exists()


def test_chain_name_cannot_change_network(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    store.ensure_chain("btc", "utxo", "mainnet")
    with pytest.raises(StoreError, match="is mainnet, not testnet"):
        store.ensure_chain("btc", "utxo", "testnet")


def _holder(path: Path) -> subprocess.Popen:
    """Another process holding the catalog open read-write until its stdin closes."""
    code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_locked_catalog_gives_a_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path / "s")
    monkeypatch.setattr("fundtrail.store.lake._LOCK_WAIT_S", 0.2)
    proc = _holder(store.catalog_path)
    try:
        with pytest.raises(StoreError) as info, store.connect():
            pass
    finally:
        proc.communicate("")
    assert "lock" in info.value.one_line().lower()
    assert str(store.catalog_path) in info.value.one_line()
    assert "another fundtrail process may be writing" in info.value.one_line()
    with store.connect() as con:  # once the other process is gone, the store opens again
        assert con.execute("SELECT count(*) FROM chains").fetchone()[0] == 0


def test_a_closed_connection_releases_the_catalog_to_other_processes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    with store.connect() as con:
        con.execute("INSERT INTO chains (chain, family, network) VALUES ('btc', 'utxo', 'mainnet')")
    code = "import duckdb, sys; print(duckdb.connect(sys.argv[1]).execute('SELECT chain FROM chains').fetchall())"
    out = subprocess.run([sys.executable, "-c", code, str(store.catalog_path)], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[('btc',)]"


def test_nested_connections_share_one_attachment(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    with store.connect() as outer:
        outer.execute("INSERT INTO chains (chain, family, network) VALUES ('btc', 'utxo', 'mainnet')")
        with store.connect(read_only=True) as inner:  # sees the outer session's committed rows
            assert inner.execute("SELECT count(*) FROM chains").fetchone()[0] == 1
    with store.connect(read_only=True), pytest.raises(StoreError, match="cannot be nested"), store.connect():
        pass
    with store.connect() as con:  # the refused nesting left nothing attached
        assert con.execute("SELECT count(*) FROM chains").fetchone()[0] == 1


def test_threads_share_the_engine_without_mixing_catalogs(tmp_path: Path) -> None:
    """Threads of one process write two stores at once: each write lands in its own catalog."""
    import threading

    stores = [Store.open(tmp_path / f"s{i}") for i in range(2)]
    errors: list[BaseException] = []

    def work(store: Store, tag: int) -> None:
        try:
            for k in range(8):
                with store.connect() as con:
                    con.execute("INSERT INTO chains (chain, family, network) VALUES (?, 'utxo', 'regtest')",
                                [f"t{tag}-{k}"])
                with store.query() as con:  # a read-only session with views, nested-free
                    assert con.execute("SELECT count(*) FROM chains WHERE chain LIKE ?",
                                       [f"t{tag}-%"]).fetchall()[0][0] == k + 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(stores[t % 2], t)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i, store in enumerate(stores):
        with store.connect(read_only=True) as con:
            names = {r[0] for r in con.execute("SELECT chain FROM chains").fetchall()}
        assert names == {f"t{t}-{k}" for t in (i, i + 2) for k in range(8)}
