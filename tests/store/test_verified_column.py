"""Issue 13 item 4 (follow-up): account blocks keep their `verified` flag, and a store written
before the column existed (its blocks partitions lack it) stays readable, old and new partitions
together, with `verified` NULL for the old blocks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import store_damage as sd

from fundtrail.store import Store
from fundtrail.store import tables as store_tables
from fundtrail.store.account_export import iter_transfers

FIRST, SECOND = 1755634, 1755635


@pytest.fixture
def recording(etl_fixtures: Path) -> Path:
    return etl_fixtures / "test_stream" / "blocks_1755634_1755635"


def _ingest(store: Path, recording: Path, first: int, last: int) -> None:
    code, _, err = sd.run(store, ["ingest", "ethereum", "--replay", str(recording), "--chain", "eth",
                                  "--from", str(first), "--to", str(last)])
    assert code == 0, err


def test_verified_is_stored(recording: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    _ingest(store, recording, FIRST, SECOND)
    with Store(store).query() as con:
        rows = con.execute("SELECT number, verified FROM eth_blocks ORDER BY number").fetchall()
    assert rows == [(FIRST, True), (SECOND, True)]
    for path in (store / "lake" / "eth" / "blocks").glob("*.parquet"):
        assert pq.read_schema(path).field("verified").type == pa.bool_()


def test_a_store_written_before_the_column_stays_readable(recording: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Block FIRST written by the real writer with the schema of before (no `verified`), block
    SECOND with today's: the views read both, NULL where the column is missing."""
    store = tmp_path / "s"
    old = pa.schema([f for f in store_tables.ACCOUNT_TABLES["blocks"] if f.name != "verified"])
    with monkeypatch.context() as m:
        m.setitem(store_tables.ACCOUNT_TABLES, "blocks", old)
        _ingest(store, recording, FIRST, FIRST)
    (legacy,) = (store / "lake" / "eth" / "blocks").glob("*.parquet")
    assert "verified" not in pq.read_schema(legacy).names
    _ingest(store, recording, SECOND, SECOND)

    with Store(store).query() as con:
        cols = [r[0] for r in con.execute("DESCRIBE eth_blocks").fetchall()]
        assert cols == store_tables.ACCOUNT_TABLES["blocks"].names  # every column, in schema order
        rows = con.execute("SELECT number, verified FROM eth_blocks ORDER BY number").fetchall()
        assert rows == [(FIRST, None), (SECOND, True)]
        assert con.execute("SELECT count(*) FROM eth_blocks WHERE verified IS NULL").fetchone()[0] == 1
    # exports and integrity checks read the mixed store as they read a new one
    fresh = tmp_path / "fresh"
    _ingest(fresh, recording, FIRST, SECOND)
    assert list(iter_transfers(Store(store), "eth")) == list(iter_transfers(Store(fresh), "eth"))
    for argv in (["fsck"], ["status"], ["export", "transfers"]):
        code, _, err = sd.run(store, argv)
        assert code == 0, (argv, err)


def test_a_store_of_only_legacy_partitions_has_the_column(recording: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "s"
    old = pa.schema([f for f in store_tables.ACCOUNT_TABLES["blocks"] if f.name != "verified"])
    monkeypatch.setitem(store_tables.ACCOUNT_TABLES, "blocks", old)
    _ingest(store, recording, FIRST, SECOND)
    monkeypatch.undo()
    with Store(store).query() as con:
        assert con.execute("SELECT number, verified FROM eth_blocks ORDER BY number").fetchall() == [
            (FIRST, None), (SECOND, None)]
