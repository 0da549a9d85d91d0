"""Issue 13 item 6: page checksums, each lake file's size, rows and SHA-256 in the catalog, reads
that refuse a changed file in one line, and `fundtrail fsck` checking files and invariants, on real
mainnet blocks 0-599 stored in four batches."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import store_damage as sd

from fundtrail.errors import StoreError
from fundtrail.store import Store, integrity


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("fsck")
    pristine, _ = sd.build_stores(testdata, base)
    return base, pristine, base / "blocks"


@pytest.fixture
def store(stores: tuple[Path, Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(stores[1], tmp_path / "s")
    return tmp_path / "s"


def _fsck(store: Path, *args: str) -> tuple[int, dict, str]:
    code, out, err = sd.run(store, ["fsck", "--json", *args])
    return code, json.loads(out), err


def test_clean_store_passes_and_every_file_is_recorded(store: Path) -> None:
    code, rep, _ = _fsck(store)
    assert code == 0 and rep["ok"] and rep["files"] == 18 and rep["findings"] == []
    with Store(store).connect(read_only=True) as con:
        rows = con.execute("SELECT path, bytes, rows, sha256 FROM lake_files WHERE chain = 'btc'").fetchall()
    assert len(rows) == 18
    for rel, size, n, digest in rows:
        path = store / "lake" / "btc" / rel
        assert (path.stat().st_size, pq.ParquetFile(path).metadata.num_rows, integrity.sha256_file(path)) == (
            size, n, digest)


def test_a_flipped_bit_is_refused_by_reads_and_found_by_fsck(store: Path) -> None:
    """The reproduction: one bit flipped in an outputs page used to change exported values silently."""
    code, want, _ = sd.run(store, ["export", "transactions"])
    path = store / "lake" / "btc" / "outputs" / "batch-00000001.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))
    code, out, err = sd.run(store, ["export", "transactions"])
    assert code == 4 and out == "" and err.count("\n") == 1
    assert str(path) in err and "fsck" in err
    code, rep, err = _fsck(store)
    assert code == 4 and not rep["ok"] and err.count("\n") == 1
    assert [(f["check"], f["path"]) for f in rep["findings"]] == [("files", "outputs/batch-00000001.parquet")]


def test_bit_rot_that_keeps_the_time_is_found_by_fsck(store: Path) -> None:
    path = store / "lake" / "btc" / "transactions" / "batch-00000002.parquet"
    sd._flip(path, random.Random(5), keep_time=True)
    code, rep, _ = _fsck(store, "--chain", "btc")
    assert code == 4 and "SHA-256" in rep["findings"][0]["message"]


def test_pages_carry_checksums(store: Path, tmp_path: Path) -> None:
    """pyarrow verifies the CRC of every page written: flips inside pages are errors, not values."""
    path = store / "lake" / "btc" / "outputs" / "batch-00000003.parquet"
    caught = 0
    for seed in range(40):
        copy = tmp_path / "f.parquet"
        shutil.copy(path, copy)
        sd._flip(copy, random.Random(seed))
        try:
            got = pq.read_table(copy, page_checksum_verification=True)
        except (OSError, pa.ArrowException):
            caught += 1
            continue
        assert got == pq.read_table(path) or False, f"seed {seed}: a flip was read as other values"
        with pytest.raises(StoreError):  # and the rewrite path checks the SHA-256 as well
            integrity.read_verified(copy, integrity.measure(path, "outputs/x"))
    assert caught >= 30


@pytest.mark.parametrize("tamper, check", [
    ("UPDATE block_index SET prev_hash = hash WHERE chain = 'btc' AND height = 300", "blocks"),
    ("DELETE FROM block_index WHERE chain = 'btc' AND height = 599", "blocks"),
    ("UPDATE batches SET next_tx_id = 10 WHERE chain = 'btc'", "ids"),
    ("UPDATE batches SET files = list_filter(files, lambda f: f <> 'outputs/batch-00000001.parquet') "
     "WHERE chain = 'btc'", "ids"),
])
def test_invariants(store: Path, tamper: str, check: str) -> None:
    with Store(store).connect() as con:
        con.execute(tamper)
    code, rep, err = _fsck(store)
    assert code == 4 and check in {f["check"] for f in rep["findings"]}, rep
    assert err.count("\n") == 1


def test_files_written_before_records_are_recorded_at_the_next_write_open(store: Path, stores) -> None:
    with Store(store).connect() as con:
        con.execute("DELETE FROM lake_files")
    code, rep, _ = _fsck(store)
    assert code == 0 and rep["warnings"] == 18  # unrecorded: a warning, not an error
    code, _, err = sd.run(store, ["ingest", "bitcoin", "--blocks-dir", str(stores[2])])
    assert code == 0, err
    code, rep, _ = _fsck(store)
    assert code == 0 and rep["findings"] == []


def test_an_ingest_refuses_to_write_onto_a_changed_file(store: Path, stores) -> None:
    path = store / "lake" / "btc" / "inputs" / "batch-00000003.parquet"
    sd._truncate(path, 0.9)
    before = sd.state(store)
    code, _, err = sd.run(store, ["ingest", "bitcoin", "--blocks-dir", str(stores[2])])
    assert code == 4 and err.count("\n") == 1 and str(path) in err
    assert sd.state(store) == before


def test_stray_files_are_reported_and_only_partitions_are_removed(store: Path, stores) -> None:
    (store / "lake" / "btc" / "outputs" / "notes.txt").write_text("mine")
    shutil.copy(store / "lake/btc/outputs/batch-00000000.parquet", store / "lake/btc/outputs/batch-00000042.parquet")
    code, rep, _ = _fsck(store)
    assert code == 4 and sorted(f["path"] for f in rep["findings"]) == [
        "outputs/batch-00000042.parquet", "outputs/notes.txt"]
    assert sd.run(store, ["ingest", "bitcoin", "--blocks-dir", str(stores[2])])[0] == 0
    assert (store / "lake/btc/outputs/notes.txt").exists()  # not ours: left for the analyst
    assert not (store / "lake/btc/outputs/batch-00000042.parquet").exists()  # debris of a run
