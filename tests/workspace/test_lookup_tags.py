"""The merged tags a workspace holds in memory (`workspace.lookup_tags.TagRows`): the same rows and
risk evidence as the catalog's queries, and address summaries (tags and risk) that equal the catalog
path's while making no catalog visit at all.

The store: a simulated chain with the simulator's services tagged under BTC-REGTEST from two files
(so some tags merge two sources, with dates), a few of its base58 addresses tagged under BTC-TESTNET
too (the same key under another currency, which risk counts by text), a tagged address the chain
never saw, and the shared OFAC lists (BTC, ETH, XMR, ... each listed in a .json and a .txt file)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin.address import segwit_encode
from fundtrail.cli.main import main
from fundtrail.risk import tagsonly
from fundtrail.risk.score import TagEvidence
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.tags.lookup import has_tags, tagged_addresses, tags_of
from fundtrail.workspace import Workspace
from fundtrail.workspace.lookup_tags import TagRows

CHAIN = "btc-regtest"
_CATEGORY = {"exchange": "exchange", "mixer": "mixing_service", "otc_desk": "exchange"}
UNSEEN = segwit_encode("bcrt", 0, bytes(range(20)))  # a well-formed regtest address no transaction used


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("lookup-tags")
    simulate(base / "sim", seed=17, txs=1200)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    services = [r for r in rows if r["category"] in _CATEGORY]
    base58 = [r["address"] for r in rows if r["address"][0] in "mn2"][:12]
    header = ["address", "label", "category", "currency", "source", "confidence", "lastmod", "actor"]
    with open(base / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in services:
            w.writerow([r["address"], r["actor"], _CATEGORY[r["category"]], "BTC-REGTEST", "simulator truth",
                        "trusted_provider", "2024-03-01", r["actor"]])
        w.writerow([UNSEEN, "Sanctioned wallet", "sanction", "BTC-REGTEST", "analyst list", "authority_data",
                    "2024-05-02", ""])
    with open(base / "more.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in services[::7]:  # the same claims from a second source: merged, two sources each
            w.writerow([r["address"], r["actor"], _CATEGORY[r["category"]], "BTC-REGTEST", "exchange filings",
                        "heuristic", "2023-11-20", r["actor"]])
        for i, a in enumerate(base58):  # the same keys under another currency
            w.writerow([a, f"testnet faucet {i}", "faucet" if i % 2 else "scam", "BTC-TESTNET", "testnet list",
                        "web_crawl", "", ""])
    assert main(["-q", "--store", str(store), "tags", "import", str(base / "labels.csv"), str(base / "more.csv"),
                 str(testdata / "sanctions")]) == 0
    assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    tagged = [r["address"] for r in services[:40]] + base58 + [UNSEEN]
    untagged = [r["address"] for r in rows if r["category"] not in _CATEGORY][:30]
    return {"store": store, "tagged": tagged, "untagged": untagged, "base58": base58}


@pytest.fixture
def catalog(env: dict[str, Any]) -> Iterator[Any]:
    """A read-only catalog connection for one test (held, it would keep writers out)."""
    st = Store.open(env["store"], create=False)
    with st.connect(read_only=True) as con:
        assert has_tags(con)
        yield con


def _order_key(t: TagEvidence, rows: dict[tuple[str, str, str], int]) -> tuple[int, str, str]:
    return (-rows[(t.category, t.label, t.currency or "")], t.currency or "", t.label)


def test_rows_and_evidence_equal_the_catalogs(env: dict[str, Any], catalog: Any) -> None:
    full = {"BTC-REGTEST", "BTC-TESTNET", "BTC", "ETH"}
    rows = TagRows.load(catalog, full)
    assert dict(rows) == tagged_addresses(catalog)  # every key, with its tags' currencies
    assert len(rows) > 100 and "BTC-TESTNET" in rows[env["base58"][0]]
    multi_source = 0
    for key in rows:
        want = tags_of(catalog, key)
        for currency in {t["currency"] for t in want}:
            got = rows.rows_of(key, currency)
            if currency in full:
                assert got == [t for t in want if t["currency"] == currency], key
                multi_source += any(len(t["sources"]) > 1 for t in got)
            else:
                assert got is None  # not held whole: the caller asks the catalog
        # risk's evidence: the same tags as the catalog's batch lookup, in its order (ties aside)
        by_catalog = tagsonly.tag_evidence(Store.open(env["store"], create=False), [key], [None])[0]
        by_memory = rows.evidence_of(key)
        assert sorted(map(repr, by_memory)) == sorted(map(repr, by_catalog)), key
        level = {(t["category"], t["label"], t["currency"]): t["confidence_level"] for t in want}
        keys = [_order_key(t, level) for t in by_memory]
        assert keys == sorted(keys)
    assert multi_source >= 3  # merged tags with their sources, dates included
    assert rows.rows_of(UNSEEN.upper(), "BTC-REGTEST") == rows.rows_of(UNSEEN, "BTC-REGTEST") != []
    assert rows.rows_of(env["untagged"][0], "BTC-REGTEST") == [] and rows.evidence_of("not an address") == []


def _summaries(ws: Workspace, addresses: list[str]) -> list[dict[str, Any]]:
    return [ws.address(a, chain=CHAIN).model_dump(mode="json") for a in addresses]


def test_summaries_make_no_catalog_visit(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog path (direct tags and risk's tags by text read from the catalog) gives the
    oracle; a warmed workspace then answers every summary, tags and risk included, with the
    catalog unreachable."""
    addresses = env["tagged"] + env["untagged"]
    settings = Settings.load(store=env["store"])
    with monkeypatch.context() as m:
        m.setattr(TagRows, "rows_of", lambda self, address, currency: None)
        m.setattr(tagsonly, "_evidence_source", lambda tagged: None)
        want = _summaries(Workspace.open(settings), addresses)
    assert any(s["tags"] and s["tags"][0]["kind"] == "direct" for s in want)
    assert any(len(t["sources"]) > 1 for s in want for t in s["tags"])
    assert any(r["kind"] == "tag" and "BTC-TESTNET" in str(r) for s in want for r in s["risk"]["reasons"])
    unseen = want[env["tagged"].index(UNSEEN)]
    assert not unseen["seen"] and unseen["tags"][0]["label"] == "Sanctioned wallet"

    ws = Workspace.open(settings)
    assert ws.warm() == [CHAIN]

    def no_catalog(*args: object, **kwargs: object) -> None:
        raise AssertionError("a summary visited the catalog")

    monkeypatch.setattr(Store, "connect", no_catalog)
    assert _summaries(ws, addresses) == want


def test_a_tag_import_is_seen_after_refresh(env: dict[str, Any]) -> None:
    ws = Workspace.open(Settings.load(store=env["store"]))
    address = env["untagged"][5]
    assert ws.address(address, chain=CHAIN).tags == []
    extra = Path(env["store"]).parent / "late.csv"
    extra.write_text(f"address,label,category,currency\n{address},Late find,scam,BTC-REGTEST\n")
    assert main(["-q", "--store", str(env["store"]), "tags", "import", str(extra)]) == 0
    assert ws.address(address, chain=CHAIN).tags == []  # the workspace keeps what it loaded ...
    ws.refresh()  # ... until a refresh sees the import
    tags = ws.address(address, chain=CHAIN).tags
    assert [(t.kind, t.label, t.category) for t in tags] == [("direct", "Late find", "scam")]


def test_a_refresh_with_nothing_changed_makes_no_catalog_visit(env: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A server refreshes every few seconds: when the catalog and its WAL are as the last refresh
    saw them, the refresh does not visit the catalog; a change made since (a tag import) is still
    seen by the next one."""
    ws = Workspace.open(Settings.load(store=env["store"]))
    address = env["untagged"][7]
    ws.refresh()  # the first one reads the states and remembers the catalog files
    with monkeypatch.context() as m:
        def no_catalog(*args: object, **kwargs: object) -> None:
            raise AssertionError("an idle refresh visited the catalog")

        m.setattr(Store, "connect", no_catalog)
        assert ws.refresh() == [] and ws.refresh() == []
    assert ws.address(address, chain=CHAIN).tags == []
    extra = Path(env["store"]).parent / "later.csv"
    extra.write_text(f"address,label,category,currency\n{address},Later find,scam,BTC-REGTEST\n")
    assert main(["-q", "--store", str(env["store"]), "tags", "import", str(extra)]) == 0
    ws.refresh()
    assert [t.label for t in ws.address(address, chain=CHAIN).tags] == ["Later find"]
