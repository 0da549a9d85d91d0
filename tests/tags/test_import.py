"""Importing hand-written label files into a real store: problems with file:line, re-import as a
no-op, a newer version's diff, a crash mid-import, duplicates merged, conflicts, export round trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fundtrail.store import Store
from fundtrail.tags import export, importer, lookup, tagstore
from fundtrail.tags.csvsources import ColumnMapping

BINANCE = "3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y"
KRAKEN = "1Archive1n2C579dMsAu3iC6tWzuQJz8dN"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"

PACK = textwrap.dedent(f"""\
    title: Test pack
    creator: Test Analyst
    source: https://example.org/report
    confidence: forensic
    currency: BTC
    category: exchange
    lastmod: 2024-01-02
    tags:
    - address: {BINANCE}
      label: Binance cold wallet
      actor: binance
    - address: 1Archive1n2C579dMsAu3iC6tWzuQJz8dM
      label: typo in this address
    - address: '{ETH}'
      currency: ETH
      label: Some scammer
      category: user
      abuse: scam
    """)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _snapshot(store: Store) -> list[tuple]:
    with store.connect(read_only=True) as con:
        return con.execute("SELECT origin, line, currency, address, label, category, confidence, source, "
                           "lastmod, actor, tag_key, content_hash FROM tags ORDER BY ALL").fetchall()


def _import(store: Store, *paths: Path, **kw) -> list[importer.FileReport]:
    return importer.import_paths(store, list(paths), **kw)


def test_tagpack_header_inheritance_and_invalid_address_reported_with_line(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    pack = _write(tmp_path / "pack.yaml", PACK)
    (report,) = _import(store, pack)
    assert report.status == "imported" and report.tags == 2 and report.invalid == 1
    (problem,) = [p for p in report.problems if p.severity == "invalid"]
    assert problem.path == str(pack.resolve()) and problem.line == 12
    assert "invalid BTC address '1Archive1n2C579dMsAu3iC6tWzuQJz8dM'" in str(problem)
    assert str(problem).startswith(f"{pack.resolve()}:12: invalid:")
    with store.connect(read_only=True) as con:
        (tag,) = lookup.tags_of(con, BINANCE)
        (scam,) = lookup.tags_of(con, ETH.upper().replace("0X", "0x"))  # found in any letter case
    # Header fields are inherited: source, confidence, date, creator.
    assert (tag["category"], tag["actor"], tag["confidence"], tag["confidence_level"]) == (
        "exchange", "binance", "forensic", 50)
    (src,) = tag["sources"]
    assert (src["source"], src["creator"], src["lastmod"], src["line"]) == (
        "https://example.org/report", "Test Analyst", "2024-01-02", 9)
    # The abuse concept is primary; the entity category is kept as a further concept.
    assert scam["category"] == "scam" and scam["sources"][0]["concepts"] == ["user"]
    assert scam["address"] == ETH.lower() and scam["currency"] == "ETH"


def test_reimport_is_a_noop_and_a_newer_version_reports_the_diff(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    pack = _write(tmp_path / "pack.yaml", PACK)
    _import(store, pack)
    before = _snapshot(store)
    (again,) = _import(store, pack)
    assert again.status == "unchanged" and _snapshot(store) == before
    newer = PACK.replace("Binance cold wallet", "Binance cold wallet 2")  # label changed, same entity
    newer = newer.replace(f"- address: '{ETH}'", "- address: '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359'")
    newer += "- address: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\n  label: Kraken\n  actor: kraken\n"
    _write(pack, newer)
    (update,) = _import(store, pack)
    assert update.status == "updated"
    assert (update.diff["added"], update.diff["removed"], update.diff["changed"]) == (2, 1, 1)
    assert any(ETH.lower() in k for k in update.diff["examples"]["removed"])
    with store.connect(read_only=True) as con:
        assert lookup.tags_of(con, ETH) == []
        assert lookup.tags_of(con, BINANCE)[0]["label"] == "Binance cold wallet 2"
        runs = con.execute("SELECT status, n_added, n_removed, n_changed FROM tag_imports "
                           "ORDER BY import_id").fetchall()
    assert runs == [("imported", 2, 0, 0), ("unchanged", 0, 0, 0), ("updated", 2, 1, 1)]


def test_crash_mid_import_then_rerun_equals_an_uninterrupted_run(tmp_path: Path, monkeypatch) -> None:
    pack = _write(tmp_path / "pack.yaml", PACK)
    csv = _write(tmp_path / "list.csv", f"address,name,category\n{KRAKEN},Kraken,exchange\n")
    clean = Store.open(tmp_path / "clean")
    _import(clean, pack, csv)

    crashed = Store.open(tmp_path / "crashed")
    real_insert = tagstore._insert_rows

    def insert_then_die(con, rows, import_id, origin):
        real_insert(con, rows, import_id, origin)
        if origin.endswith("list.csv"):
            raise KeyboardInterrupt  # killed after writing rows, before the commit

    monkeypatch.setattr(tagstore, "_insert_rows", insert_then_die)
    monkeypatch.setattr(importer, "_COMMIT_EVERY", 1)  # a commit after every file
    with pytest.raises(KeyboardInterrupt):
        _import(crashed, pack, csv)
    monkeypatch.setattr(tagstore, "_insert_rows", real_insert)
    assert [r[0] for r in _snapshot(crashed)] == [str(pack.resolve())] * 2  # the csv rolled back
    reports = _import(crashed, pack, csv)
    assert [r.status for r in reports] == ["unchanged", "imported"]

    def comparable(store: Store) -> list[tuple]:
        return [r[:1] + r[2:] for r in _snapshot(store)]  # origins are per store dir: compare the rest
    assert [r[1:] for r in _snapshot(crashed)] == [r[1:] for r in _snapshot(clean)]
    assert comparable(crashed) == comparable(clean)


def test_duplicates_from_two_sources_merge_with_all_sources(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    a = _write(tmp_path / "a.csv", f"address,name,category,source\n{BINANCE},Binance 14,exchange,https://a.example\n")
    b = _write(tmp_path / "b.csv", f"address,name,category\n{BINANCE},binance.com,exchange\n")
    _import(store, a, b, mapping=ColumnMapping(defaults={"confidence": "web_crawl"}))
    with store.connect(read_only=True) as con:
        (tag,) = lookup.tags_of(con, BINANCE)
        assert lookup.show(con, BINANCE)["conflict"] is None
    assert sorted(s["origin"] for s in tag["sources"]) == [str(a.resolve()), str(b.resolve())]
    assert tag["labels"] == ["Binance 14", "binance.com"] and tag["entity"] == "binance"
    assert {s["source"] for s in tag["sources"]} == {"https://a.example", "b.csv"}


def test_two_exchanges_on_one_address_and_in_one_cluster_are_conflicts(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    lines = ["address,name,category,actor", f"{BINANCE},Binance,exchange,binance",
             f"{BINANCE},Kraken,exchange,kraken", f"{KRAKEN},Kraken,exchange,kraken",
             f"{ETH},Some ransomware,ransomware,"]
    _import(store, _write(tmp_path / "c.csv", "\n".join(lines) + "\n"))
    with store.connect(read_only=True) as con:
        shown = lookup.show(con, BINANCE)
        found = lookup.conflicts(con)
        cluster = lookup.cluster_tags(con, [KRAKEN, "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"])
        mixed = lookup.cluster_tags(con, [KRAKEN, BINANCE.lower(), BINANCE])
    assert "binance" in shown["conflict"]["reason"] and "kraken" in shown["conflict"]["reason"]
    assert [(c["currency"], c["address"]) for c in found] == [("BTC", BINANCE)]
    # One exchange among the members: inherited, no conflict.
    assert not cluster["possible_false_merge"] and cluster["tagged_members"] == 1
    (inherited,) = cluster["tags"]
    assert inherited["kind"] == "inherited" and inherited["member"] == KRAKEN
    # Members holding Binance and Kraken: a possible false merge; every tag names its member.
    assert mixed["possible_false_merge"] and mixed["members"] == 3
    assert {(t["member"], t["actor"]) for t in mixed["tags"]} == {
        (KRAKEN, "kraken"), (BINANCE, "binance"), (BINANCE, "kraken")}


def test_export_reimports_to_the_same_tags(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    _import(store, _write(tmp_path / "pack.yaml", PACK))
    with store.connect(read_only=True) as con:
        text, n = export.export_tagpack(con, everything=True)
    assert n == 2
    fresh = Store.open(tmp_path / "fresh")
    (report,) = _import(fresh, _write(tmp_path / "export.yaml", text))
    assert report.format == "tagpack" and report.tags == 2 and not report.problems

    def claims(store: Store) -> list[tuple]:
        with store.connect(read_only=True) as con:
            return con.execute("SELECT currency, address, label, category, concepts, confidence, source, "
                               "creator, lastmod, actor, tag_key, content_hash FROM tags ORDER BY ALL").fetchall()
    assert claims(fresh) == claims(store)


def test_broken_yaml_fails_and_keeps_the_previous_version(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    pack = _write(tmp_path / "pack.yaml", PACK)
    _import(store, pack)
    before = _snapshot(store)
    _write(pack, PACK + "  - broken: [\n")
    (report,) = _import(store, pack)
    assert report.status == "failed" and report.problems[0].line >= 17
    assert "YAML syntax error" in report.problems[0].message
    assert _snapshot(store) == before
