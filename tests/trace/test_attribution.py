"""Attribution for tracing: tags inherited through clusters stop traces at untagged deposit addresses."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.cluster.engine import run_clustering
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.trace.attribution import TagMap
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.seeds import address_id

CHAIN = "btc-regtest"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("attr")
    simulate(base / "sim", seed=17, txs=3000)
    store_dir = base / "store"
    assert main(["-q", "--store", str(store_dir), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    store = Store.open(store_dir)
    g = GraphIndex.ensure(store, CHAIN)
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    deposits = defaultdict(list)
    for r in rows:
        if r["category"] == "exchange" and r["role"] == "deposit":
            deposits[r["actor"]].append(r["address"])
    run_clustering(store, CHAIN)
    return {"base": base, "store": store, "graph": g, "deposits": deposits}


def test_one_known_deposit_address_attributes_its_cluster(world: dict, tmp_path: Path) -> None:
    g, store = world["graph"], world["store"]
    from fundtrail.cluster.query import load_clustering

    cl = load_clustering(store, CHAIN)
    # the exchange's biggest deposit cluster, and one of its members as the only tag
    exchange, addrs = max(world["deposits"].items(), key=lambda kv: len(kv[1]))
    ids = [address_id(g, a) for a in addrs if _known(g, a)]
    by_cluster = defaultdict(list)
    for a in ids:
        by_cluster[cl.cluster_of(a)].append(a)
    cid, members = max(by_cluster.items(), key=lambda kv: len(kv[1]))
    assert len(members) >= 2, "sweeps co-spend deposit addresses, so some cluster together"
    known = members[0]
    labels = tmp_path / "one.csv"
    from fundtrail.trace.report import _Names

    names = _Names(g)
    labels.write_text(f"address,label,category,currency\n{names.address(known)},{exchange},exchange,BTC-REGTEST\n")
    assert main(["-q", "--store", str(store.root), "tags", "import", str(labels), "--format", "csv"]) == 0
    tm = TagMap.load(store, g)
    assert set(tm.direct) == {known}
    other = members[1]
    inherited = tm.tags_of(other)
    assert inherited and inherited[0]["category"] == "exchange"
    assert inherited[0]["inherited_from"] == names.address(known)
    rule = tm.stop_rule(["exchange"])
    assert rule(known).startswith("exchange: ") and "cluster of" in rule(other)
    assert rule(next(a for a in range(g.n_addresses) if cl.cluster_of(a) != cid)) is None
    cats = tm.category_array(g.n_addresses)
    assert cats[other] == "exchange" and sum(c is not None for c in cats) == len(cl.members(cid))


def _known(g: GraphIndex, text: str) -> bool:
    try:
        address_id(g, text)
        return True
    except Exception:  # noqa: BLE001 (an address never paid on chain)
        return False


def test_trace_endpoints_carry_cluster_and_inherited_tags(world: dict, capsys) -> None:
    case = json.loads((world["base"] / "sim/truth/cases/ransomware-1.json").read_text())
    o = case["seed_outputs"][0]
    assert main(["--store", str(world["store"].root), "trace", f"{o['txid']}:{o['vout']}", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert all(e["cluster"] is not None for e in doc["endpoints"] if e["address"])
    ents = doc["entities"]
    assert ents and sum(e["addresses"] for e in ents) == len({e["address"] for e in doc["endpoints"]})
    total = sum(e["amount_sat"] for e in doc["endpoints"])
    assert total - len(doc["endpoints"]) <= sum(e["amount_sat"] for e in ents) <= total + len(ents)
    assert [e["amount_sat"] for e in ents] == sorted((e["amount_sat"] for e in ents), reverse=True)


def test_cluster_show_lists_inherited_tags_and_flags_two_services(world: dict, capsys, tmp_path: Path) -> None:
    g, store = world["graph"], world["store"]
    from fundtrail.cluster.query import load_clustering
    from fundtrail.trace.report import _Names

    names = _Names(g)
    cl = load_clustering(store, CHAIN)
    (ex_a, dep_a), (ex_b, dep_b) = sorted(world["deposits"].items())[:2]
    a = next(x for x in dep_a if _known(g, x) and len(cl.members(cl.cluster_of(address_id(g, x)))) >= 2)
    members = [int(m) for m in cl.members(cl.cluster_of(address_id(g, a)))]
    mate = names.address(next(m for m in members if m != address_id(g, a)))
    b = next(x for x in dep_b if _known(g, x))
    labels = tmp_path / "two.csv"
    labels.write_text("address,label,category,currency\n"
                      f"{a},{ex_a},exchange,BTC-REGTEST\n{b},{ex_b},exchange,BTC-REGTEST\n")
    root = str(store.root)
    assert main(["-q", "--store", root, "tags", "import", str(labels), "--format", "csv"]) == 0
    capsys.readouterr()
    assert main(["--store", root, "cluster", "show", mate, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert any(t["kind"] == "inherited" and t["member"] == a for t in shown["tags"])
    assert shown["possible_false_merge"] is False
    assert main(["-q", "--store", root, "cluster", "merge", a, b, "--reason", "test", "--author", "qa"]) == 0
    capsys.readouterr()
    assert main(["--store", root, "cluster", "show", mate, "--json"]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["possible_false_merge"] is True and merged["conflict"]
