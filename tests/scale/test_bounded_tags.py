"""Tag import within `memory_limit` (issue 19): DuckDB held to its share, the merged tags computed a
batch of addresses (or a hash partition of all of them) at a time; the catalog's `tags` and
`tags_merged` tables equal the unbounded import's, row for row."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.store import Store, engine, spill
from fundtrail.tags import tagstore
from fundtrail.tags.importer import import_paths

TINY = 64 * 1024
_MERGED = "SELECT * FROM tags_merged ORDER BY ALL"
_TAGS = "SELECT * EXCLUDE (import_id) FROM tags ORDER BY ALL"


@pytest.fixture(autouse=True)
def _engine_memory_reset() -> Iterator[None]:
    """An import under a limit sets the process engine's memory: give it back for other tests."""
    yield
    engine.configure_memory(None)


def _label_files(tmp: Path, n: int = 3000) -> list[Path]:
    """Two CSV files over regtest addresses, the second re-tagging a third of the first's with
    other labels, categories and confidences (so merged rows combine sources)."""
    rng = np.random.default_rng(11)
    net = network("regtest")
    addrs = [render_address(int(ScriptType.P2WPKH), rng.bytes(20), net) for _ in range(n)]
    files = []
    for k, (rows, cats) in enumerate(((addrs, ("exchange", "mixing_service", "scam")),
                                      (addrs[::3], ("exchange", "gambling")))):
        path = tmp / f"labels{k}.csv"
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["address", "label", "category", "source", "currency", "confidence"])
            for i, a in enumerate(rows):
                w.writerow([a, f"actor-{k}-{i % 17}", cats[i % len(cats)], f"file {k}", "BTC-REGTEST",
                            ("forensic", "heuristic", "trusted_provider")[i % 3]])
        files.append(path)
    return files


def _tables(store: Store) -> tuple[list[tuple], list[tuple]]:
    with store.connect(read_only=True) as con:
        return con.execute(_TAGS).fetchall(), con.execute(_MERGED).fetchall()


def test_import_bounded_equals_unbounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _label_files(tmp_path)
    got = []
    for limit in (None, TINY):
        monkeypatch.setattr(spill, "_DEFAULT", [limit])
        store = Store.open(tmp_path / f"s{limit}")
        reports = import_paths(store, files, "csv")
        assert [r.status for r in reports] == ["imported", "imported"]
        got.append(_tables(store))
    (tags0, merged0), (tags1, merged1) = got
    assert len(tags0) == 4000 and len(merged0) > 3000
    assert tags1 == tags0 and merged1 == merged0


@pytest.mark.parametrize("full", [False, True])
def test_merge_in_batches_equals_one_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool) -> None:
    """The touched addresses in batches of 97, or (above the full-refresh size) hash partitions:
    the same merged rows as the one query over all of them."""
    monkeypatch.setattr(spill, "_DEFAULT", [None])
    store = Store.open(tmp_path / "s")
    import_paths(store, _label_files(tmp_path), "csv")
    _, want = _tables(store)
    if full:
        monkeypatch.setattr(tagstore, "_FULL_REFRESH", 100)
    with store.connect() as con:
        addresses = {r[0] for r in con.execute("SELECT address FROM tags").fetchall()}
        con.execute("DELETE FROM tags_merged")
        assert tagstore.merge_batch() is None
        tagstore.refresh_merged(con, addresses, batch=97)
    assert _tables(store)[1] == want
    monkeypatch.setattr(spill, "_DEFAULT", [512 << 20])
    assert tagstore.merge_batch() == (128 << 20) // (16 << 10)  # DuckDB's floor share
