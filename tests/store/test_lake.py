"""Store mechanics: migrations, atomic partitions, orphan removal, views over committed files only."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from fundtrail.errors import StoreError
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
    with pytest.raises(StoreError, match="no fundtrail store"):
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


def test_locked_catalog_gives_a_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(tmp_path / "s")
    monkeypatch.setattr("fundtrail.store.lake._LOCK_WAIT_S", 0.2)

    def locked(*_a, **_k):
        raise duckdb.IOException("Could not set lock on file: Conflicting lock is held")

    monkeypatch.setattr(duckdb, "connect", locked)
    with pytest.raises(StoreError) as info:
        with store.connect():
            pass
    assert "Conflicting lock" in info.value.one_line()
    assert "another fundtrail process may be writing" in info.value.one_line()
