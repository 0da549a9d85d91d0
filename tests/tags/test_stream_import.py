"""A large CSV-like label file read in chunks (`streamimport`) gives the catalog and the report of the
whole-file reader (the previous implementation, still used for small files): the same tags, merged
tags, files, imports and diff counts, problems in the same order, duplicates counted with the first
line winning, whatever the chunk boundaries (chunks of 7 records, so every boundary is crossed).
kill -9 while such a file is read or inside its transaction, then a rerun: the old version stays in
force until the rerun, which gives the catalog of one clean run."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fundtrail.store import Store
from fundtrail.store.spill import SPILL_DIR
from fundtrail.tags import bulkstore, importer, prepared, streamimport
from fundtrail.tags.csvsources import ColumnMapping

CATALOG = {
    "tags": "SELECT * FROM tags ORDER BY origin, line",
    "merged": "SELECT * FROM tags_merged ORDER BY address, tag_key",
    "files": "SELECT * FROM tag_files ORDER BY ALL",
    "imports": "SELECT * EXCLUDE (imported_at) FROM tag_imports ORDER BY import_id",
    "actors": "SELECT * FROM actors ORDER BY ALL",
}


def catalog(store: Store) -> dict[str, list]:
    with store.connect(read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in CATALOG.items()}


def receipts(testdata: Path) -> list[str]:
    """Real Bitcoin addresses (valid, distinct): the Receipts paper's list."""
    lines = (testdata / "ransomware/showing-the-receipts/addresses.csv").read_text().splitlines()[1:]
    return [ln.split(",")[0] for ln in lines]


def mixed_csv(addresses: list[str], version: int) -> str:
    """A generic CSV with every kind of row: duplicates, invalid addresses, rows without a label,
    unknown categories and dates (warnings), empty rows, a cell over two lines, a cell over the
    1 KB bound; version 2 drops, changes and adds rows. CRLF line ends, a byte-order mark."""
    rows = ["address,label,category,lastmod,source,currency"]
    for i, a in enumerate(addresses[:240]):
        if version == 2 and i % 11 == 4:
            continue  # removed
        label, category = f"wallet {i}", "exchange" if i % 2 else "ransomware"
        source = "src-v2" if version == 2 and i % 9 == 1 else f"src{i % 5}"  # the same claim, changed
        rows.append(f"{a},{label},{category},2024-01-0{1 + i % 9},{source},BTC")
        if i % 10 == 3:
            rows.append(f"{a},{label},{category},,another source,BTC")  # the same claim again: a duplicate
        if i % 13 == 5:
            rows.append(f"{a[:-3]}zzz,bad address,exchange,,,BTC")
        if i % 17 == 6:
            rows.append(f"{a},,bogus-category,,,BTC")  # no label, no known category: invalid
        if i % 19 == 7:
            rows.append(f"{a},odd one,exchange,31/31/2020,,BTC")  # an unreadable date: a warning
        if i % 23 == 8:
            rows.append(",,,,,")
        if i % 29 == 9:
            rows.append(f'{a},"two\nlines",gambling,,,BTC')
        if i % 31 == 10:
            rows.append(f"{a},{'x' * 1500},scam,,,BTC")  # a cell over max_csv_field_kb=1
        if version == 2 and i % 37 == 11:
            rows.append(f"{a},new claim,miner,,,BTC")  # added
    return "\ufeff" + "\r\n".join(rows) + "\r\n"


def run(store: Store, path: Path, *, streamed: bool, monkeypatch: pytest.MonkeyPatch,
        **options: object) -> importer.FileReport:
    calls = []

    def counted(*args: object, **kw: object) -> object:
        calls.append(args[1])
        return real(*args, **kw)

    real = bulkstore.replace_file_from
    with monkeypatch.context() as m:
        m.setattr(streamimport, "STREAM_BYTES", 0 if streamed else 1 << 40)
        m.setattr(streamimport, "CHUNK_ROWS", 7)
        m.setattr(bulkstore, "replace_file_from", counted)
        (report,) = importer.import_paths(store, [path], max_csv_field_kb=1, **options)  # type: ignore[arg-type]
    assert len(calls) == (streamed and report.status in ("imported", "updated"))  # the path asked for
    if streamed:
        assert not list((store.root / SPILL_DIR).glob("tags-*"))  # the spill files are removed
    return report


def reported(r: importer.FileReport) -> dict:
    return {**r.as_dict(), "omitted": r.omitted, "problems": [str(p) for p in r.problems]}


def test_streamed_equals_whole_file_import_and_reimport(tmp_path: Path, testdata: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    addresses = receipts(testdata)
    path = tmp_path / "labels.csv"
    stores = {s: Store.open(tmp_path / ("streamed" if s else "whole")) for s in (True, False)}
    reports: dict[bool, list[dict]] = {True: [], False: []}
    for version in (1, 2):
        path.write_text(mixed_csv(addresses, version), encoding="utf-8", newline="")
        for streamed, store in stores.items():
            reports[streamed].append(reported(run(store, path, streamed=streamed, monkeypatch=monkeypatch)))
        assert catalog(stores[True]) == catalog(stores[False])
    assert reports[True] == reports[False]
    first, second = reports[True]
    with stores[True].connect(read_only=True) as con:  # of two same claims, the first line's is stored
        assert con.execute("SELECT count(*) FROM tags WHERE source = 'another source'").fetchone() == (0,)
    # Known answers from how the file was built (independent of both readers).
    assert first["status"] == "imported" and second["status"] == "updated"
    assert first["duplicates"] == len(range(3, 240, 10))
    assert first["invalid"] == len(range(5, 240, 13)) + len(range(6, 240, 17)) + len(range(10, 240, 31))
    unreadable = [p for p in first["problems"] if "larger than 1 KB" in p]
    assert len(unreadable) == len(range(10, 240, 31)) and first["problems"][0] == unreadable[0]
    assert first["warnings"] == len(range(7, 240, 19))
    kept = [i for i in range(240) if i % 11 != 4]
    removed = sum(1 + (i % 19 == 7) + (i % 29 == 9) for i in range(240) if i % 11 == 4)
    added = sum(1 for i in kept if i % 37 == 11)
    assert (second["diff"]["removed"], second["diff"]["added"]) == (removed, added)
    assert second["diff"]["changed"] == sum(1 for i in kept if i % 9 == 1)
    assert second["tags"] == first["tags"] - removed + added
    # Unchanged content is recognised by its SHA-256, before any parsing.
    for streamed, store in stores.items():
        assert run(store, path, streamed=streamed, monkeypatch=monkeypatch).status == "unchanged"


@pytest.mark.parametrize("group", ["ransomware/ransomwhere", "ransomware/showing-the-receipts",
                                   "labels/tutela"])
def test_real_lists_streamed_equal_whole_file(tmp_path: Path, testdata: Path, monkeypatch: pytest.MonkeyPatch,
                                              group: str) -> None:
    got = []
    for threshold in (0, 60_000, 1 << 40):  # all streamed, the larger ones (with small ones in a transaction), none
        store = Store.open(tmp_path / str(threshold))
        with monkeypatch.context() as m:
            m.setattr(streamimport, "STREAM_BYTES", threshold)
            m.setattr(streamimport, "CHUNK_ROWS", 997)
            reports = importer.import_paths(store, [testdata / group],
                                            mapping=ColumnMapping(defaults={"currency": "ETH"}))
        got.append(([reported(r) for r in reports], catalog(store)))
    assert got[0] == got[2] and got[1] == got[2]
    assert sum(r["tags"] for r in got[0][0]) > 900


def test_problems_beyond_the_cap_are_counted_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "KEEP_PROBLEMS", 5)
    path = tmp_path / "bad.csv"
    path.write_text("address,label,currency\n" + "".join(f"1notanaddress{i},x,BTC\n" for i in range(12))
                    + "3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y,Binance,BTC\n")
    got = [run(Store.open(tmp_path / str(s)), path, streamed=s, monkeypatch=monkeypatch) for s in (True, False)]
    assert reported(got[0]) == reported(got[1])
    r = got[0]
    assert (r.invalid, len(r.problems), r.omitted, r.tags) == (12, 5, 7, 1)
    assert [p.line for p in r.problems] == [2, 3, 4, 5, 6]
    assert r.as_dict()["problems"][-1] == (f"{path.resolve()}: 7 more problems not listed "
                                           "(the first 5 are; 12 invalid and 0 warnings in all)")
    assert r.as_dict()["problems_omitted"] == 7


def test_errors_keep_their_one_line_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {
        "noaddress.csv": b"wallet_name,label\nx,y\n",
        "ransom.csv": b'"id","schema","name","other"\n"a","b","c","d"\n',
        "latin1.csv": ("address,label\n" + "3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y,caf\u00e9\n" * 50).encode("latin-1"),
        "nothing.csv": b"address,label,currency\nnot-an-address,x,BTC\n",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        fmt = {"ransom.csv": "ransomwhere", "noaddress.csv": "csv"}.get(name, "auto")
        got = [run(Store.open(tmp_path / f"{name}{s}"), path, streamed=s, monkeypatch=monkeypatch, fmt=fmt)
               for s in (True, False)]
        assert reported(got[0]) == reported(got[1]) and got[0].usage == got[1].usage
        assert all("\n" not in p for p in got[0].as_dict()["problems"]) and got[0].problems
    no_address = run(Store.open(tmp_path / "n"), tmp_path / "noaddress.csv", streamed=True, monkeypatch=monkeypatch,
                     fmt="csv")
    assert no_address.status == "failed" and no_address.usage and "no address column" in no_address.reason
    latin = run(Store.open(tmp_path / "l"), tmp_path / "latin1.csv", streamed=True, monkeypatch=monkeypatch)
    assert latin.status == "failed" and latin.problems[0].line == 2
    offset = len(b"address,label\n3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y,caf")  # the first \xe9
    assert f"undecodable byte at offset {offset}" in latin.reason


def test_chunk_boundaries_do_not_matter(tmp_path: Path, testdata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(mixed_csv(receipts(testdata), 1), encoding="utf-8", newline="")
    seen = []
    for n, chunk in zip(itertools.count(), (1, 2, 50, 10_000)):
        store = Store.open(tmp_path / f"s{n}")
        with monkeypatch.context() as m:
            m.setattr(streamimport, "STREAM_BYTES", 0)
            m.setattr(streamimport, "CHUNK_ROWS", chunk)
            (report,) = importer.import_paths(store, [path], max_csv_field_kb=1)
        seen.append((reported(report), catalog(store)))
    assert all(s == seen[0] for s in seen[1:])


# Streams every CSV in chunks of 50 records; with KILL_AT set, says so at that point and waits.
SCRIPT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from fundtrail.store import Store
    from fundtrail.tags import bulkstore, importer, streamimport, tagstore

    streamimport.STREAM_BYTES, streamimport.CHUNK_ROWS = 0, 50
    at = os.environ.get("KILL_AT")

    def pause(real, name):
        def wrapped(*args, **kw):
            if at == name:
                print("KILL-ME", flush=True)
                time.sleep(60)
            return real(*args, **kw)
        return wrapped

    if at == "read":  # after the first chunks are written to the spill directory
        real_table, seen = tagstore.row_table, []
        def row_table(rows):
            seen.append(1)
            if len(seen) == 4:
                print("KILL-ME", flush=True)
                time.sleep(60)
            return real_table(rows)
        tagstore.row_table = row_table
    bulkstore.refresh_touched = pause(bulkstore.refresh_touched, "transaction")
    (report,) = importer.import_paths(Store(sys.argv[1]), [Path(sys.argv[2])])
    print(report.status, report.tags, flush=True)
""")


def _run(script: Path, store: Path, path: Path, kill_at: str | None = None) -> str:
    env = {**os.environ, "KILL_AT": kill_at or ""}
    proc = subprocess.Popen([sys.executable, str(script), str(store), str(path)], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        out.append(line)
        if kill_at and line.startswith("KILL-ME"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=120)
    if kill_at:
        assert proc.returncode == -signal.SIGKILL and out[-1].startswith("KILL-ME")
    else:
        assert proc.returncode == 0, out
    return "".join(out)


def test_kill_while_reading_and_in_the_transaction_then_rerun(tmp_path: Path, testdata: Path) -> None:
    script = tmp_path / "imp.py"
    script.write_text(SCRIPT)
    addresses = receipts(testdata)
    path = tmp_path / "labels.csv"
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    Store.open(clean)
    Store.open(killed)
    path.write_text(mixed_csv(addresses, 1), encoding="utf-8", newline="")
    for store in (clean, killed):
        assert _run(script, store, path).startswith("imported")
    version1 = catalog(Store(killed))
    path.write_text(mixed_csv(addresses, 2), encoding="utf-8", newline="")
    assert _run(script, clean, path).startswith("updated")

    _run(script, killed, path, kill_at="read")
    left = list((killed / SPILL_DIR).glob("tags-*"))
    assert len(left) == 1 and any(left[0].iterdir())  # the dead run's chunks
    assert catalog(Store(killed)) == version1
    _run(script, killed, path, kill_at="transaction")
    assert catalog(Store(killed)) == version1  # the uncommitted version is not seen

    assert _run(script, killed, path).startswith("updated")
    assert catalog(Store(killed)) == catalog(Store(clean))
    assert not list((killed / SPILL_DIR).glob("tags-*"))  # the dead runs' spill directories swept
