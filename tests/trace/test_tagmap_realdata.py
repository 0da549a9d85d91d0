"""Issue 12 item 17's cause: `TagMap.load` (what trace stops, descriptions and `risk` use) resolves tags in
bulk, and its answers are those of an independent per-tag computation, on real data.

The store holds mainnet blocks 0-599, block 574200 (3,315 transactions, an OFAC-listed address) and block
300025 with its undo data (so its inputs have addresses and its clusters have members), clustered by the
real CLI. The tags are a real subset of the shared label sources chosen to hit those blocks: BitMEX,
Bitfinex, Interpol and rich-list exchange wallets, miners, walletexplorer's gambling sites, a ponzi pack,
scam lists and every OFAC list (about 99,000 tags; the same sanctioned address listed by three files).

The reference parses every tag with `tags.currencies.normalise` and the Bitcoin parser and looks each
address up, one by one, among all the chain's addresses read from the store: neither the graph's
fingerprints nor address rendering (the two ways the bulk path matches) take part.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin.address import parse_address, render_address
from fundtrail.chains.bitcoin.addresskey import address_key
from fundtrail.chains.bitcoin.params import MAINNET
from fundtrail.chains.ethereum.hexutil import parse_address as parse_eth
from fundtrail.cli.main import main
from fundtrail.cluster.query import load_clustering
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.store import Store
from fundtrail.tags.currencies import InvalidAddress, normalise
from fundtrail.trace import attribution, seeds, tag_resolve
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.attribution import SEVERITY_ORDER, TagMap
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.stops import attribution_for, stops_from_tags
from fundtrail.trace.stops import describer as stops_describer

_PACKS = ("exchange-wallets-bitmex_2.yaml", "exchange-wallets-bitfinexcom.yaml", "interpol-real_services.yaml",
          "richest_addresses.yaml", "miners.yaml", "walletexplorer.yaml", "ponzi_scheme.yaml",
          "etherscamdb_tagpack.yaml", "ofac.yaml")
_BUSY = "block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
_SANCTIONED = "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d"  # OFAC SDN, paid in block 574200
_COLUMNS = ("address", "category", "label", "source", "confidence", "confidence_level", "actor", "origin")
_STOP_SETS = (["exchange", "wallet_service", "payment_processor", "atm"], ["sanction"], ["miner", "gambling"],
              ["scam", "ponzi_scheme", "user"])


@pytest.fixture(scope="module")
def tagged(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    btc = testdata / "btc-raw-blocks"
    packs = testdata / "tagpacks" / "graphsense" / "packs"
    needed = [btc / "nbitcoin" / "blk00001.dat", btc / "bcoin" / "block300025-undo.raw", btc / "btcd" / _BUSY,
              *(packs / p for p in _PACKS), testdata / "sanctions", testdata / "labels" / "cryptoscamdb"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"test data missing: {', '.join(missing)}")
    root = tmp_path_factory.mktemp("tagmap") / "store"
    s = ["--store", str(root), "--quiet"]
    assert main([*s, "ingest", "bitcoin", "--blocks-dir", str(btc / "nbitcoin")]) == 0
    assert main([*s, "ingest", "bitcoin", "--raw", str(btc / "bcoin" / "block300025.raw"),
                 "--undo-file", str(btc / "bcoin" / "block300025-undo.raw")]) == 0
    assert main([*s, "ingest", "bitcoin", "--raw", str(btc / "btcd" / _BUSY)]) == 0
    # exit 3: a few real files hold malformed rows or fail to parse; the rest is imported
    main([*s, "tags", "import", *(str(packs / p) for p in _PACKS), str(testdata / "sanctions"),
          str(testdata / "labels" / "cryptoscamdb")])
    assert main([*s, "cluster", "run"]) == 0
    return root


def _order(tag: dict[str, Any]) -> tuple:
    """The documented order of an address's tags (docs/tracing.md, "Attribution"): most severe
    category first, then strongest confidence, then category, label, source, origin and actor."""
    rank = SEVERITY_ORDER.index(tag["category"]) if tag["category"] in SEVERITY_ORDER else len(SEVERITY_ORDER)
    return (rank, -tag["confidence_level"], tag["category"] or "", tag["label"] or "", tag["source"] or "",
            tag["origin"] or "", tag["actor"] or "")


def _reference_direct(root: Path) -> dict[int, list[dict[str, Any]]]:
    """Direct tags by address id, one tag at a time: normalised, parsed, looked up among the chain's
    addresses as the store holds them (script type, payload)."""
    store = Store.open(root, create=False)
    with store.connect(read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM tags WHERE currency = 'BTC' "
                           "AND category IS NOT NULL").fetchall()
    with open_snapshot(store, "btc") as snap:
        chain = {(int(t), bytes(p)): int(a) for a, t, p in
                 snap.con.execute("SELECT address_id, script_type, payload FROM btc_addresses").fetchall()}
    out: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        tag = dict(zip(_COLUMNS, row))
        try:
            _, text, _ = normalise("BTC", tag["address"])
        except InvalidAddress:
            continue
        aid = chain.get(address_key(*parse_address(text, MAINNET)))
        if aid is not None:
            out.setdefault(aid, []).append(tag)
    return {a: sorted(tags, key=_order) for a, tags in sorted(out.items())}


@pytest.fixture(scope="module")
def reference(tagged: Path) -> dict[str, Any]:
    """Direct tags, what each address inherits through its cluster, stop labels and descriptions,
    computed from the reference direct tags and the current clustering."""
    store = Store.open(tagged, create=False)
    direct = _reference_direct(tagged)
    labels = load_clustering(store, "btc").labels
    g = GraphIndex.ensure(store, "btc")
    texts = {a: tags[0]["address"] for a, tags in direct.items()}
    by_cluster: dict[int, list[tuple[int, dict]]] = {}
    for a, tags in direct.items():
        by_cluster.setdefault(int(labels[a]), []).extend((a, t) for t in tags)
    inherited = {}
    for a in range(g.n_addresses):
        own = direct.get(a, [])
        seen = {(t["category"], t["label"]) for t in own}
        mates = sorted(by_cluster.get(int(labels[a]), []), key=lambda mt: (*_order(mt[1]), mt[0]))
        inherited[a] = [(m, t) for m, t in mates if m != a and (t["category"], t["label"]) not in seen]
    return {"direct": direct, "inherited": inherited, "texts": texts, "labels": labels, "n": g.n_addresses,
            "by_cluster": by_cluster}


def _expected_stop(ref: dict[str, Any], categories: list[str], a: int) -> str | None:
    hit = next((t for t in ref["direct"].get(a, []) if t["category"] in categories), None)
    if hit is not None:
        return f"{hit['category']}: {hit['label']}"
    members = sorted(ref["by_cluster"].get(int(ref["labels"][a]), []), key=lambda mt: (*_order(mt[1]), mt[0]))
    hit_m = next(((m, t) for m, t in members if t["category"] in categories), None)
    if hit_m is None:
        return None
    m, t = hit_m
    return f"{t['category']}: {t['label']} (cluster of {ref['texts'][m]})"


def _expected_description(ref: dict[str, Any], a: int) -> dict[str, Any]:
    def show(t: dict[str, Any], via: str | None) -> dict[str, Any]:
        return {"category": t["category"], "label": t["label"], "source": t["source"],
                "confidence": t["confidence"], "inherited_from": via}

    return {"cluster": int(ref["labels"][a]),
            "tags": [show(t, None) for t in ref["direct"].get(a, [])]
            + [show(t, ref["texts"][m]) for m, t in ref["inherited"][a]]}


def _drop_cache(g: Any) -> None:
    shutil.rmtree(g.path.parent / "tagmap", ignore_errors=True)


def test_tag_map_equals_the_per_tag_reference(tagged: Path, reference: dict[str, Any]) -> None:
    store = Store.open(tagged, create=False)
    g = GraphIndex.ensure(store, "btc")
    _drop_cache(g)
    tm = TagMap.load(store, g)
    direct = reference["direct"]
    assert len(direct) >= 15 and {t["category"] for ts in direct.values() for t in ts} >= {
        "exchange", "miner", "gambling", "sanction", "scam", "ponzi_scheme"}
    sanctioned = seeds.address_id(g, _SANCTIONED)
    assert [t["origin"].rsplit("/", 1)[-1] for t in direct[sanctioned]][:2] == [
        "sanctioned_addresses_XBT.json", "sanctioned_addresses_XBT.txt"]  # equal rank: ordered by origin
    assert tm.direct == direct
    assert any(reference["inherited"][a] for a in range(reference["n"])), "some addresses inherit a tag"
    for a in range(reference["n"]):
        want = direct.get(a, []) + [{**t, "address_id": m, "inherited_from": reference["texts"][m]}
                                    for m, t in reference["inherited"][a]]
        assert tm.tags_of(a) == want, a
    for cats in _STOP_SETS:
        rule = tm.stop_rule(cats)
        assert rule is not None
        assert [rule(a) for a in range(reference["n"])] == [_expected_stop(reference, cats, a)
                                                            for a in range(reference["n"])]
    describe = attribution.describe_with(tm)
    assert describe is not None
    assert [describe(a) for a in range(reference["n"])] == [_expected_description(reference, a)
                                                            for a in range(reference["n"])]
    # what a trace gets: the stop rule and describer from one load, as from two
    rule, both = attribution_for(store, g, _STOP_SETS[0])
    alone, described = stops_from_tags(store, g, _STOP_SETS[0]), stops_describer(store, g)
    assert rule is not None and alone is not None and both is not None and described is not None
    assert all(rule(a) == alone(a) == _expected_stop(reference, _STOP_SETS[0], a) and both(a) == described(a)
               for a in range(reference["n"]))
    cats = tm.category_array(reference["n"])
    for a in range(reference["n"]):
        first = (direct.get(a) or [t for _, t in reference["inherited"][a]] or [{"category": None}])[0]
        assert cats[a] == first["category"], a
    assert tm.resolution is not None and tm.resolution["strategy"] == "render"


def test_no_tag_is_resolved_one_at_a_time(tagged: Path, reference: dict[str, Any],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts, not time: the per-address resolvers are never called, and each way of matching converts
    only its side once (the chain's addresses, or the distinct tag strings) and gives the reference."""
    from fundtrail.trace import account_seeds

    store = Store.open(tagged, create=False)
    g = GraphIndex.ensure(store, "btc")
    calls = {"per-tag": 0, "find": 0, "render": 0, "parse": 0}

    def counting(name: str, fn: Callable) -> Callable:
        def wrapped(*args: Any, **kw: Any) -> Any:
            calls[name] += 1
            return fn(*args, **kw)
        return wrapped

    monkeypatch.setattr(seeds, "address_id", counting("per-tag", seeds.address_id))
    monkeypatch.setattr(account_seeds, "address_id", counting("per-tag", account_seeds.address_id))
    monkeypatch.setattr(GraphIndex, "find_address", counting("find", GraphIndex.find_address))
    with store.connect(read_only=True) as con:
        n_tags, n_strings = con.execute("SELECT count(*), count(DISTINCT address) FILTER (category IS NOT NULL) "
                                        "FROM tags WHERE currency = 'BTC'").fetchall()[0]
    assert n_tags > 50_000 > g.n_addresses
    _drop_cache(g)
    tm = TagMap.load(store, g)
    assert calls["per-tag"] == calls["find"] == 0, f"{calls['per-tag']:,} tags resolved one at a time"

    monkeypatch.setattr(tag_resolve, "render_address", counting("render", tag_resolve.render_address))
    monkeypatch.setattr(tag_resolve, "parse_btc", counting("parse", tag_resolve.parse_btc))
    _drop_cache(g)
    tm = TagMap.load(store, g)  # auto: the chain has fewer addresses than tags -> rendered
    assert tm.direct == reference["direct"]
    n_rows = sum(map(len, reference["direct"].values()))
    assert tm.resolution == {"strategy": "render", "converted": calls["render"], "rows": n_rows}
    assert calls["render"] <= g.n_addresses and calls["parse"] == calls["per-tag"] == calls["find"] == 0

    calls.update(render=0)
    said: list[str] = []
    stats: dict[str, Any] = {}
    parsed = tag_resolve.resolve_tags(store, g, strategy="parse", progress=said.append, stats=stats)
    assert parsed == reference["direct"]
    assert stats == {"strategy": "parse", "converted": n_strings, "rows": n_rows}
    assert calls["parse"] == n_strings and calls["render"] == calls["per-tag"] == calls["find"] == 0
    assert len(said) == 2
    assert said[1].startswith(f"{len(reference['direct'])} btc addresses tagged (parsed {n_strings:,} addresses")

    calls.update(parse=0)
    again = TagMap.load(store, g)  # cached: nothing converted, no tag row read
    assert again.resolution == {"strategy": "cache", "converted": 0, "rows": 0} and again.direct == tm.direct
    assert stops_from_tags(store, g, ["sanction"]) is not None
    assert calls == {"per-tag": 0, "find": 0, "render": 0, "parse": 0}


def test_a_cache_hit_reads_no_tag_row_and_a_tag_change_is_seen(tagged: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache key is an aggregate of the tag set, so a hit fetches no row; an import that changes
    the chain currency's tags (or a tag of another currency: no) is seen by the next load."""
    store = Store.open(tagged, create=False)
    g = GraphIndex.ensure(store, "btc")
    direct = TagMap.load(store, g).direct
    a = next(a for a in range(g.n_addresses) if a not in direct and render_address(*g.address_key(a), MAINNET))
    text = render_address(*g.address_key(a), MAINNET)
    real_resolve = getattr(tag_resolve, "resolve_tags", None)
    monkeypatch.setattr(tag_resolve, "tag_rows", lambda *a, **k: pytest.fail("all tag rows read on a cache hit"))
    monkeypatch.setattr(tag_resolve, "resolve_tags", lambda *a, **k: pytest.fail("cache missed"), raising=False)
    assert TagMap.load(store, g).resolution["strategy"] == "cache"

    other = tmp_path / "eth.csv"  # another currency's tags do not touch the BTC map
    other.write_text("address,label,category,currency\n0x" + "ab" * 20 + ",Some desk,exchange,ETH\n")
    assert main(["-q", "--store", str(tagged), "tags", "import", str(other), "--format", "csv"]) == 0
    assert TagMap.load(store, g).resolution["strategy"] == "cache"

    mine = tmp_path / "btc.csv"
    mine.write_text(f"address,label,category,currency\n{text},Test desk,exchange,BTC\n")
    assert main(["-q", "--store", str(tagged), "tags", "import", str(mine), "--format", "csv"]) == 0
    monkeypatch.setattr(tag_resolve, "resolve_tags", real_resolve)
    tm = TagMap.load(store, g)
    assert tm.resolution["strategy"] == "render" and [t["label"] for t in tm.direct[a]] == ["Test desk"]
    mine.write_text(f"address,label,category,currency\n{text},Renamed desk,exchange,BTC\n")
    assert main(["-q", "--store", str(tagged), "tags", "import", str(mine), "--format", "csv"]) == 0
    assert [t["label"] for t in TagMap.load(store, g).direct[a]] == ["Renamed desk"]
    mine.write_text("address,label,category,currency\n")
    main(["-q", "--store", str(tagged), "tags", "import", str(mine), "--format", "csv"])
    assert a not in TagMap.load(store, g).direct
    assert TagMap.load(store, g).direct == _reference_direct(tagged)


def test_account_chain_tags_match_in_bulk(tagged: Path) -> None:
    """An account graph (in memory: ETH addresses, some of them OFAC- or scam-listed) gets the same
    tags both ways as parsing each tagged string and looking it up."""
    store = Store.open(tagged, create=False)
    with store.connect(read_only=True) as con:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM tags WHERE currency = 'ETH' "
                           "AND category IS NOT NULL").fetchall()
    tagged_texts = sorted({r[0] for r in rows})
    assert len(tagged_texts) > 1000
    rng = random.Random(12)
    chosen = rng.sample(tagged_texts, 300)
    addresses = [parse_eth(t) for t in chosen] + [rng.randbytes(20) for _ in range(300)]
    rng.shuffle(addresses)
    transfers = [{"from": i, "to": i + 1, "asset": None, "amount": 1} for i in range(len(addresses) - 1)]
    g = AccountGraph.from_rows("eth", transfers, addresses)
    index = {raw: i for i, raw in enumerate(addresses)}
    want: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        tag = dict(zip(_COLUMNS, row))
        i = index.get(parse_eth(normalise("ETH", tag["address"])[1]))
        if i is not None:
            want.setdefault(i, []).append(tag)
    want = {a: sorted(ts, key=_order) for a, ts in sorted(want.items())}
    assert len(want) == 300
    for strategy in ("render", "parse"):
        assert tag_resolve.resolve_tags(store, g, strategy=strategy) == want
    tm = TagMap.load(store, g, clusters=False)
    assert tm.direct == want and tm.resolution["strategy"] == "render"
    assert not (Path.cwd() / "tagmap").exists()  # an in-memory graph has no cache file
