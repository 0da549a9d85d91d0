"""Every label file of the shared real data through the real importers, checked on known entries.

One store holds tagpacks, sanctions, labels and ransomware lists (imported once for the module);
the assertions name entries of the public files, so a reader or mapping regression shows here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fundtrail.store import Store
from fundtrail.tags import importer, lookup
from fundtrail.tags.lists import OFAC_SOURCE

GROUPS = ("tagpacks", "sanctions", "labels", "ransomware")


@pytest.fixture(scope="module")
def loaded(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, dict[str, importer.FileReport]]:
    store = Store.open(tmp_path_factory.mktemp("tags") / "store")
    reports = importer.import_paths(store, [testdata / g for g in GROUPS])
    return store, {r.path: r for r in reports}


def _report(loaded, testdata: Path, rel: str) -> importer.FileReport:
    return loaded[1][str((testdata / rel).resolve())]


def _tags(loaded, address: str) -> list[dict]:
    with loaded[0].connect(read_only=True) as con:
        return lookup.tags_of(con, address)


def test_every_file_is_imported_or_explained(loaded) -> None:
    reports = list(loaded[1].values())
    by_status: dict[str, list[str]] = {}
    for r in reports:
        by_status.setdefault(r.status, []).append(Path(r.path).name)
    # Skipped: non-label files, and Tutela's header-less pool list and JSON map of pool sizes.
    # Failed: only the CryptoScamDB file with a YAML syntax error.
    assert set(by_status["skipped"]) == {"LICENSE", "README.md", "credits.txt", "tornadocontracts.csv",
                                         "tornado_pools.json"}
    assert by_status["failed"] == ["uris.yaml"]
    assert len(by_status["imported"]) == len(reports) - len(by_status["skipped"]) - 1
    assert sum(r.tags for r in reports) > 690_000
    with loaded[0].connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM tags").fetchone()[0] == sum(r.tags for r in reports)
        assert con.execute("SELECT count(*) FROM actors").fetchone()[0] == 3813


def test_ofac_xbt_address_is_sanctioned_with_its_source_from_both_list_files(loaded, testdata: Path) -> None:
    tags = {t["category"]: t for t in _tags(loaded, "123WBUDmSJv4GctdVEz6Qq6z8nXSKrJ4KX")}
    ofac = tags["sanction"]
    assert ofac["currency"] == "BTC" and ofac["confidence"] == "authority_data"
    assert {Path(s["origin"]).name for s in ofac["sources"]} == {
        "sanctioned_addresses_XBT.txt", "sanctioned_addresses_XBT.json"}
    assert all(s["source"] == OFAC_SOURCE for s in ofac["sources"])
    assert tags["market"]["actor"] == "hydramarket"  # the GraphSense Hydra pack names the same address


def test_ofac_list_defects_are_reported_with_file_and_line(loaded, testdata: Path) -> None:
    # The real XBT list carries a TRON address on line 355: tagged as TRX with a warning (not dropped);
    # the XMR list a hex string on line 2.
    xbt = _report(loaded, testdata, "sanctions/ofac-0xB10C/sanctioned_addresses_XBT.txt")
    assert not [p for p in xbt.problems if p.severity == "invalid"]
    (moved,) = [p for p in xbt.problems if p.severity == "warning"]
    assert moved.line == 355 and "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq is listed under XBT" in moved.message
    assert xbt.tags == 435
    xmr = _report(loaded, testdata, "sanctions/ofac-0xB10C/sanctioned_addresses_XMR.txt")
    assert [p.line for p in xmr.problems] == [2] and xmr.tags == 2
    # USDT addresses are stored on the chain their address belongs to.
    usdt = _tags(loaded, "TXvD54eCeoLEQWE3nRB8GN7q7Ha9GHfTYF") or []
    assert all(t["currency"] in ("TRX", "ETH") for t in usdt)


def test_tagpack_fields_and_actorpack(loaded) -> None:
    (archive,) = _tags(loaded, "1Archive1n2C579dMsAu3iC6tWzuQJz8dN")
    assert (archive["label"], archive["category"], archive["actor"], archive["confidence"]) == (
        "Internet Archive", "organization", "internet_archive", "service_data")
    assert archive["sources"][0]["source"] == "https://archive.org/donate/cryptocurrency"
    ransom = {t["label"]: t for t in _tags(loaded, "1Lud76Q98VRHCUiyK7XUs7AgFofrqXeP78")}
    # Two GraphSense packs say 7ev3n (merged: two sources); Ransomwhere's own list says it too.
    assert ransom["7ev3n"]["category"] == ransom["7ev3n ransomware"]["category"] == "ransomware"
    assert [s["creator"] for s in ransom["7ev3n"]["sources"]] == ["Paquet-Clouston et al.", "GraphSense Core Team"]
    with loaded[0].connect(read_only=True) as con:
        shown = lookup.show(con, "3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y")
    (binance,) = shown["tags"]
    assert binance["category"] == "exchange" and binance["actor_info"]["uri"] == "binance.com"
    assert "MT" in binance["actor_info"]["jurisdictions"]


def test_explorer_labels_darklist_scamdb_and_ransomware_lists(loaded, testdata: Path) -> None:
    (bitmex,) = [t for t in _tags(loaded, "0xEEA81C4416D71CEF071224611359F6F99A4C4294")
                 if t["label"] == "BitMEX 1"]
    assert bitmex["category"] == "exchange" and bitmex["currency"] == "ETH"
    assert any(s["origin"].endswith("etherscan/accounts/bitmex.csv") and s["line"] == 2 for s in bitmex["sources"])

    (fake,) = [t for t in _tags(loaded, "0xF193a9aFb00715AaCF7ca9Ebffafe02C77517C2E") if t["category"] == "scam"]
    assert (fake["label"], fake["category"]) == ("Fake copy of ROCK2PAY token", "scam")
    assert fake["sources"][0]["lastmod"] == "2018-11-06" and fake["sources"][0]["line"] == 3

    (phish,) = [t for t in _tags(loaded, "0xD0cC2B24980CBCCA47EF755Da88B220a82291407")
                if t["label"] == "myelherwallel.com"]
    assert phish["category"] == "phishing"
    assert {(Path(s["origin"]).name, s["line"], s["source"]) for s in phish["sources"]} == {
        ("urls.yaml", 8, "http://myelherwallel.com"),
        ("etherscamdb_tagpack.yaml", 6, "https://cryptoscamdb.org/")}  # CryptoScamDB and GraphSense merged
    uris = _report(loaded, testdata, "labels/cryptoscamdb/uris.yaml")
    assert uris.problems[0].line == 35 and "YAML syntax error" in uris.problems[0].message

    (locky,) = [t for t in _tags(loaded, "1123pJv8jzeFQaCV4w644pzQJzVWay2zcA") if t["label"] == "Locky ransomware"]
    assert locky["category"] == "ransomware" and locky["sources"][0]["line"] == 2
    receipt = [t for t in _tags(loaded, "34YmbPSXRjewgcqVRcrryUtYqzM25VXrNt")
               if t["label"] == "ransomware payment address"]
    assert receipt[0]["confidence"] == "forensic"  # an origCluster address of the paper


def test_batch_lookup_over_real_tags(loaded, testdata: Path) -> None:
    xbt = (testdata / "sanctions/ofac-0xB10C/sanctioned_addresses_XBT.txt").read_text().split()
    queries = xbt + ["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]  # an untagged address
    with loaded[0].connect(read_only=True) as con:
        rows = lookup.lookup_batch(con, queries).to_pylist()
    hit = {queries[r["query"]] for r in rows if r["category"] == "sanction"}
    assert hit == set(xbt)  # every list entry found (the misfiled TRON one as TRX)
    assert all(queries[r["query"]] != queries[-1] for r in rows)


def test_every_stored_address_passes_the_lookup_form_check(loaded) -> None:
    """No address of any real source is refused by the check `tags show`/`tags lookup` apply:
    a checksummed form verifies, and text of no known form (EOS names ...) is found as tagged."""
    from fundtrail.tags.addressform import UNRECOGNISED, check_address
    from fundtrail.tags.addresslist import AddressList, Row

    with loaded[0].connect(read_only=True) as con:
        stored = [a for (a,) in con.execute("SELECT DISTINCT address FROM tags_merged").fetchall()]
        forms = [check_address(a) for a in stored]  # raises on any refused address
        assert all(f.key == a for f, a in zip(forms, stored))
        odd = AddressList("stored", "lines", rows=[Row(i, f.text, f) for i, f in enumerate(forms)
                                                   if f.validation == UNRECOGNISED])
        assert 10 <= len(odd.rows) < 100  # EOS account names, NEAR/ICP hex accounts, ...
        tags = lookup.lookup_list(con, odd)
    assert odd.bad == [] and len({t["normalised_address"] for t in tags}) == len(odd.rows)


def test_status_counts_what_the_imports_reported(loaded) -> None:
    from fundtrail.store.status import status

    reports = list(loaded[1].values())
    summary = status(loaded[0])["tags"]
    assert summary["tag_rows"] == sum(r.tags for r in reports) > 690_000
    assert sum(summary["by_currency"].values()) == sum(summary["by_category"].values()) == summary["tags"]
    assert summary["by_currency"]["BTC"] > summary["by_currency"]["ETH"] > 50_000  # merged tags
    assert summary["source_files"] == sum(r.status in ("imported", "updated") for r in reports)
    assert summary["addresses"] <= summary["tags"]
