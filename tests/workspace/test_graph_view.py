"""The workbench graph of the service layer (issue 15): one hop of the money-flow graph,
traces drawn as graphs, and saved canvases, on stores built by the CLI.

Oracles are independent of the graph code: an address's transactions and each transaction's
detail (`address_txs`, `transaction`: the lake and the index through other code), raw SQL on the
lake, the block writer's own record of the wide transaction it wrote, and the trace result.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from support.anvil import require_anvil

from fundtrail.chains.bitcoin import writer as w
from fundtrail.cli.main import main
from fundtrail.errors import NotFoundError, StoreError, TooLargeError, UsageError
from fundtrail.store import Store, migrations
from support.schema import make_older
from fundtrail.workspace import Actor, GraphPage, TraceRequest, Workspace
from tests.api.graph_support import CHAIN, GATHERED, PAIRED, WIDE_OUTPUTS, labelled_store, wide_store


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("graph-view")
    store, _tokens, sim = labelled_store(base)
    case = json.loads((sim / "truth/cases/ransomware-1.json").read_text())
    return {"store": store, "sim": sim, "case": case, "ws": Workspace.open(store=store)}


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store, facts = wide_store(tmp_path_factory.mktemp("graph-wide"))
    return {"store": store, "facts": facts, "ws": Workspace.open(store=store)}


def every_page(call: Any, *args: Any, limit: int, **kwargs: Any) -> tuple[list[GraphPage], list[Any]]:
    """All pages of `call(*args, **kwargs)` (following `next_cursor`) and their edges in order."""
    pages, cursor = [], None
    while True:
        p = call(*args, limit=limit, cursor=cursor, **kwargs)
        pages.append(p)
        cursor = p.next_cursor
        if cursor is None:
            break
        assert len(pages) < 10_000
    return pages, [e for p in pages for e in p.edges]


def check_page_shape(pages: list[GraphPage], edges: list[Any]) -> None:
    """Every edge once, largest value first across pages, every end a node of its page, the
    center first on each page, `total` the number of edges."""
    ids = [e.id for e in edges]
    assert len(ids) == len(set(ids)) == pages[0].total
    assert all(len(p.edges) <= p.limit for p in pages) and all(p.edges for p in pages[:-1])
    values = [int(e.value) for e in edges]
    assert values == sorted(values, reverse=True)
    for p in pages:
        node_ids = [n.id for n in p.nodes]
        assert node_ids[0] == p.center and len(node_ids) == len(set(node_ids))
        assert all(e.source in node_ids and e.target in node_ids for e in p.edges)


def busy_addresses(env: dict[str, Any], n: int = 6) -> list[str]:
    """Addresses of the simulated economy with the most activity (several transactions both ways)."""
    with open(env["sim"] / "truth/addresses.csv") as fh:
        rows = [r["address"] for r in csv.DictReader(fh)]
    counts = Counter()
    for a in rows[:400]:
        counts[a] = env["ws"].address(a, risk=False).tx_count
    return [a for a, _ in counts.most_common(n)] + list(env["case"]["seed_addresses"][:2])


# -- UTXO: addresses and transactions ------------------------------------------------------------

def test_address_expansion_equals_its_transactions(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    for address in busy_addresses(env):
        txs = ws.address_txs(address, limit=1000)
        paid: dict[str, tuple[int, int]] = {}
        spent: dict[str, tuple[int, int]] = {}
        for t in txs.txs:
            d = ws.transaction(t.txid)
            n_out = sum(1 for o in d.outputs if o.address == txs.address)
            n_in = sum(1 for i in d.inputs if i.address == txs.address)
            if t.received:
                paid[t.txid] = (t.received, n_out)
            if t.sent:
                spent[t.txid] = (t.sent, n_in)
        node = f"a:{txs.address}"
        for direction, want, kind in (("in", paid, "output"), ("out", spent, "input")):
            pages, edges = every_page(ws.graph_address, address, limit=3, chain=CHAIN, direction=direction)
            check_page_shape(pages, edges)
            assert {e.txid: (int(e.value), e.count) for e in edges} == want, (address, direction)
            assert all(e.kind == kind and (e.target if kind == "output" else e.source) == node for e in edges)
            assert all(e.source == f"t:{e.txid}" or e.target == f"t:{e.txid}" for e in edges)
        both = ws.graph_address(address, chain=CHAIN, limit=1000)
        center = both.nodes[0]
        assert both.total == len(paid) + len(spent) == len(both.edges)
        assert (center.degree_in, center.degree_out) == (len(paid), len(spent))
        summary = ws.address(address, risk=False)
        assert center.balance == str(summary.balance) and center.cluster_id == summary.cluster_id
        assert center.cluster_size == summary.cluster_size and center.address == summary.address


def test_transaction_expansion_equals_its_detail(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    txids = {t.txid for a in busy_addresses(env, 3) for t in ws.address_txs(a, limit=20).txs}
    assert len(txids) >= 10
    for txid in sorted(txids):
        d = ws.transaction(txid)
        ins: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        outs: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for i in d.inputs:
            if i.address is not None and i.value is not None:
                ins[i.address][0] += i.value
                ins[i.address][1] += 1
        for o in d.outputs:
            if o.address is not None:
                outs[o.address][0] += o.value
                outs[o.address][1] += 1
        for direction, want, kind in (("in", ins, "input"), ("out", outs, "output")):
            pages, edges = every_page(ws.graph_tx, txid, limit=2, chain=CHAIN, direction=direction)
            check_page_shape(pages, edges)
            assert {e.id.split(":", 2)[2]: [int(e.value), e.count] for e in edges} == want
            assert {e.kind for e in edges} <= {kind}
        page = ws.graph_tx(txid, chain=CHAIN, limit=1000)
        assert sum(int(e.value) for e in page.edges if e.kind == "output") == sum(
            o.value for o in d.outputs if o.address is not None)
        center = page.nodes[0]
        assert (center.id, center.height, center.time) == (f"t:{txid}", d.height, d.time)
        assert (center.degree_in, center.degree_out) == (len(ins), len(outs))


def test_one_edge_from_both_ends(env: dict[str, Any]) -> None:
    """Expanding an address and then its transaction gives the same edge (id, value, count)."""
    ws: Workspace = env["ws"]
    for address in busy_addresses(env, 3):
        for e in ws.graph_address(address, chain=CHAIN, limit=50).edges:
            same = {x.id: x for x in ws.graph_tx(e.txid, chain=CHAIN, limit=1000).edges}[e.id]
            assert same == e


def test_wide_transaction_is_paged(wide: dict[str, Any]) -> None:
    ws: Workspace = wide["ws"]
    facts = wide["facts"]
    first = ws.graph_tx(facts.wide_txid)  # the default page: 100 edges and a cursor
    assert len(first.edges) == 100 and first.next_cursor is not None
    addresses = {s for s, _ in facts.outputs if not s.startswith(bytes([w.OP_RETURN]))}
    assert first.total == len(addresses) + 1  # the funder's change goes back to its input address
    pages, edges = every_page(ws.graph_tx, facts.wide_txid, limit=100, direction="out")
    check_page_shape(pages, edges)
    assert len(pages) == -(-len(addresses) // 100) and len(edges) == len(addresses)
    written = sum(v for s, v in facts.outputs if not s.startswith(bytes([w.OP_RETURN])))
    assert sum(int(e.value) for e in edges) == written
    assert Counter(e.count for e in edges) == Counter({1: WIDE_OUTPUTS - PAIRED + 2, 2: PAIRED // 2})
    (script,) = [e.target for e in edges if e.target.startswith("a:script:")]  # the bare multisig output
    back = ws.graph_address(script[2:])
    assert [(e.id, e.value) for e in back.edges] == [(f"o:{facts.wide_txid}:{script[2:]}", "77777")]
    assert back.nodes[0].id == script and back.nodes[0].balance == "77777"
    big = every_page(ws.graph_tx, facts.wide_txid, limit=1000, direction="out")[1]
    assert [e.id for e in big] == [e.id for e in edges]
    with Store.open(wide["store"], create=False).query() as con:  # raw SQL on the lake
        rows = con.execute("SELECT o.address_id, sum(o.value), count(*) FROM btc_regtest_outputs o JOIN "
                           "btc_regtest_transactions t ON o.tx_id = t.tx_id WHERE t.txid = ? AND o.address_id IS NOT "
                           "NULL GROUP BY o.address_id", [bytes.fromhex(facts.wide_txid)[::-1]]).fetchall()
    assert sorted((int(s), int(c)) for _, s, c in rows) == sorted((int(e.value), e.count) for e in edges)
    gather = every_page(ws.graph_tx, facts.gather_txid, limit=64, direction="in")[1]
    assert len(gather) == PAIRED // 2 + (GATHERED - PAIRED)
    assert sum(int(e.value) for e in gather) == sum(v for _, v in facts.gathered)
    funder = ws.graph_tx(facts.wide_txid, direction="in").edges
    assert len(funder) == 1 and int(funder[0].value) == 50 * w.COIN


def test_bad_input_names_the_field(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    address = env["case"]["seed_addresses"][0]
    txid = env["case"]["seed_txids"][0]
    cases = [
        (lambda: ws.graph_address(address, chain=CHAIN, direction="sideways"), UsageError, "direction"),
        (lambda: ws.graph_address(address, chain=CHAIN, limit=0), UsageError, "limit"),
        (lambda: ws.graph_tx(txid, chain=CHAIN, limit=1001), UsageError, "limit"),
        (lambda: ws.graph_address(address, chain=CHAIN, cursor="bm90IGEgY3Vyc29y"), UsageError, "cursor"),
        (lambda: ws.graph_tx(txid, chain=CHAIN, cursor="eyJhZnRlciI6WyJ4IiwxLDJdfQ"), UsageError, "cursor"),
        (lambda: ws.graph_address("not-an-address", chain=CHAIN), UsageError, "address"),
        (lambda: ws.graph_address("mfWxJ45yp2SFn7UciZyNpvDKrzbhyfKrY8", chain=CHAIN), NotFoundError, "address"),
        (lambda: ws.graph_tx("12ab", chain=CHAIN), UsageError, "txid"),
        (lambda: ws.graph_tx("00" * 32, chain=CHAIN), NotFoundError, "txid"),
        (lambda: ws.graph_cluster("x1", chain=CHAIN), UsageError, "cluster_id"),
        (lambda: ws.graph_address(address, chain="nochain"), NotFoundError, "chain"),
        (lambda: ws.trace_graph(TraceRequest(seeds=[txid], follow_change=True)), UsageError, "follow_change"),
    ]
    for call, kind, field in cases:
        with pytest.raises(kind) as err:
            call()
        assert err.value.field == field, (field, err.value)


# -- clusters and traces --------------------------------------------------------------------------

def test_cluster_page_lists_every_member_once(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    exchange = env["case"]["cashout_points"][0]["address"]
    shown = ws.cluster(exchange)
    assert shown.members >= 3
    pages, _ = every_page(ws.graph_cluster, shown.cluster_id, limit=2, chain=CHAIN)
    members = [n for p in pages for n in p.nodes[1:]]
    want = ws.cluster_members(str(shown.cluster_id), limit=1000).members
    assert [m.address for m in members] == [m.address for m in want]
    assert all(n.kind == "address" and n.cluster_id == shown.cluster_id for n in members)
    center = pages[0].nodes[0]
    assert (center.id, center.kind, center.cluster_size, pages[0].total) == (
        f"c:{shown.cluster_id}", "cluster", shown.members, shown.members)
    assert center.category == "exchange" and center.label == env["case"]["cashout_points"][0]["actor"]


def test_trace_graph_is_the_trace_drawn(env: dict[str, Any]) -> None:
    ws: Workspace = env["ws"]
    case = env["case"]
    seeds: list[Any] = [f"{s['txid']}:{s['vout']}" for s in case["seed_outputs"]]
    for policy in ("haircut", "fifo", "poison"):
        req = TraceRequest(seeds=seeds, policy=policy, chain=CHAIN)
        trace = ws.trace(req)
        drawn = ws.trace_graph(req)
        assert (drawn.policy, drawn.direction, drawn.chain) == (policy, "forward", CHAIN)
        got = [(e.address, e.reason, e.label, e.tainted) for e in drawn.endpoints]
        assert got == [(e["address"], e["reason"], e["label"], str(e["amount_sat"])) for e in trace.endpoints or []]
        assert sorted(drawn.seeds) == sorted(f"a:{a}" for a in {s["address"] for s in case["seed_outputs"]})
        ids = {n.id for n in drawn.nodes}
        assert len(ids) == len(drawn.nodes) and set(drawn.seeds) <= ids
        assert all(e.source in ids and e.target in ids for e in drawn.edges)
        assert all(e.node in ids for e in drawn.endpoints if e.node is not None)
        assert all(0 < int(e.tainted or 0) <= int(e.value) for e in drawn.edges)
        # the services: the stop labels of the service endpoints, their amounts summed exactly
        want: dict[str, Fraction] = defaultdict(Fraction)
        for e in trace.endpoints or []:
            if e["reason"] == "service":
                want[e["label"].split(": ", 1)[1].split(" (cluster of")[0]] += Fraction(e["amount_exact"])
        assert {s.label: int(s.tainted) for s in drawn.services} == {k: int(v) for k, v in want.items()}
        assert [int(s.tainted) for s in drawn.services] == sorted((int(s.tainted) for s in drawn.services),
                                                                  reverse=True)
        cashed_at = {c["actor"] for c in case["cashout_points"] if c["category"] == "exchange"}
        assert cashed_at <= {s.label for s in drawn.services}, "the case's exchanges are the services to ask"
        assert all(s.category == "exchange" and s.actor == s.label and s.addresses for s in drawn.services)
        # every traced output is drawn: the tx -> address edges carry the trace's amounts, folded
        folded: dict[tuple[str, str], int] = defaultdict(int)
        for e in (trace.graph or {})["edges"]:
            if e["address"] is not None:
                folded[(e["from"][3:], e["address"])] += int(e["amount_sat"])
        assert {(e.txid, e.target[2:]): int(e.tainted or 0) for e in drawn.edges if e.kind == "output"} == folded


# -- saved graphs --------------------------------------------------------------------------------

def test_saved_graphs_round_trip_and_stay_with_their_owner(env: dict[str, Any]) -> None:
    store = env["store"]
    alice = Workspace.open(store=store, writable=True, actor=Actor(user="alice"))
    bob = Workspace.open(store=store, writable=True, actor=Actor(user="bob"))
    doc = {"positions": {"a:x": [1.5, -2]}, "notes": {"a:x": "收款地址 <script>alert(1)</script>"}, "hidden": []}
    first = alice.graph_save("ransom case", CHAIN, doc)
    second = alice.graph_save("  second  ", CHAIN, {"positions": {}})
    assert (first.owner, first.chain, first.name, second.name) == ("alice", CHAIN, "ransom case", "second")
    assert first.bytes == len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode())
    loaded = alice.graph_load(first.id)
    assert loaded.document == doc and loaded.model_dump(exclude={"document"}) == first.model_dump()
    assert [g.id for g in alice.graph_list().graphs] == [second.id, first.id]
    changed = alice.graph_save("ransom case, day 2", CHAIN, {**doc, "hidden": ["a:x"]}, id=first.id)
    assert changed.id == first.id and changed.created_at == first.created_at and changed.updated_at > first.updated_at
    assert alice.graph_load(first.id).document["hidden"] == ["a:x"]
    assert [g.id for g in alice.graph_list().graphs] == [first.id, second.id]
    assert bob.graph_list().graphs == []
    for call in (lambda: bob.graph_load(first.id), lambda: bob.graph_save("mine now", CHAIN, {}, id=first.id)):
        with pytest.raises(NotFoundError) as err:
            call()
        assert err.value.field == "id" and "alice" not in err.value.message
    reader = Workspace.open(store=store, actor=Actor(user="carol"))
    assert reader.graph_load(first.id, owner="alice").name == "ransom case, day 2"
    with pytest.raises(StoreError):
        reader.graph_save("read-only", CHAIN, {})
    bad = [(lambda: alice.graph_save("", CHAIN, {}), UsageError, "name"),
           (lambda: alice.graph_save("x" * 201, CHAIN, {}), UsageError, "name"),
           (lambda: alice.graph_save("two\nlines", CHAIN, {}), UsageError, "name"),
           (lambda: alice.graph_save("n", CHAIN, [1, 2]), UsageError, "document"),  # type: ignore[arg-type]
           (lambda: alice.graph_save("n", CHAIN, {"x": float("nan")}), UsageError, "document"),
           (lambda: alice.graph_save("n", CHAIN, {"blob": "x" * (8 << 20)}), TooLargeError, "document"),
           (lambda: alice.graph_save("n", "nochain", {}), NotFoundError, "chain"),
           (lambda: alice.graph_load("../etc/passwd"), UsageError, "id"),
           (lambda: alice.graph_load("g-0000000000000000"), NotFoundError, "id")]
    for call, kind, field in bad:
        with pytest.raises(kind) as err:
            call()
        assert err.value.field == field
    assert len(alice.graph_list().graphs) == 2, "nothing was saved by a refused call"


# -- account chains ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_anvil()
    base = tmp_path_factory.mktemp("graph-evm")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "300", "--out", str(base / "sim")]) == 0
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "ethereum", "--replay", str(base / "sim" / "rpc")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["address", "label", "category", "actor", "currency"])
        out.writerows([r["address"], r["actor"], "exchange", r["actor"], "ANVIL"] for r in rows
                      if r["category"] == "exchange")
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    case = json.loads((base / "sim/truth/cases/theft-1.json").read_text())
    return {"store": store, "rows": rows, "case": case, "ws": Workspace.open(store=store)}


def _lake_transfers(store: Path, chain: str) -> list[dict[str, Any]]:
    """Successful fungible transfers between two addresses (not the zero address), from the lake."""
    p = chain.replace("-", "_")
    with Store.open(store, create=False).query() as con:
        rows = con.execute(
            f"""SELECT t.kind, fa.address, ta.address, t.amount_raw, t.asset_id, tx.hash
                FROM {p}_transfers t JOIN {p}_addresses fa ON t.from_id = fa.address_id
                JOIN {p}_addresses ta ON t.to_id = ta.address_id LEFT JOIN {p}_transactions tx ON t.tx_id = tx.tx_id
                WHERE t.success AND t.kind IN (0, 1, 2, 5, 6, 7)""").fetchall()
    zero = bytes(20)
    return [{"kind": k, "from": "0x" + bytes(f).hex(), "to": "0x" + bytes(t).hex(),
             "amount": int.from_bytes(bytes(a), "big"), "token": asset is not None,
             "tx": "0x" + bytes(h).hex() if h is not None else None}
            for k, f, t, a, asset, h in rows if bytes(f) != zero and bytes(t) != zero]


def test_account_expansions_equal_the_lake(account: dict[str, Any]) -> None:
    ws: Workspace = account["ws"]
    chain = ws.chains()[0].name
    lake = _lake_transfers(account["store"], chain)
    by_address = Counter(x for t in lake for x in (t["from"], t["to"]))
    assets: set[str] = set()
    for address, _ in by_address.most_common(4):
        for direction in ("in", "out", "both"):
            pages, edges = every_page(ws.graph_address, address, limit=7, chain=chain, direction=direction)
            ids = [e.id for e in edges]
            assert len(ids) == len(set(ids)) == pages[0].total
            got = Counter((e.source[2:].lower(), e.target[2:].lower(), int(e.value), e.txid) for e in edges)
            want = Counter((t["from"], t["to"], t["amount"], t["tx"]) for t in lake
                           if (direction != "out" and t["to"] == address.lower())
                           or (direction != "in" and t["from"] == address.lower()))
            assert got == want and (want or direction != "both"), (address, direction)
            assert all(e.kind == "transfer" and e.transfer_kind for e in edges)
            assets |= {e.asset for e in edges}
            scores = [int(e.value) / 10 ** (e.decimals or 0) for e in edges]
            assert scores == sorted(scores, reverse=True), "largest first, in whole units of each asset"
    assert "ETH" in assets and len(assets) >= 2, "native and token transfers are drawn"
    tx = account["case"]["seed_txs"][0]
    page = ws.graph_tx(tx, chain=chain, limit=1000)
    detail = ws.transaction(tx, chain=chain)
    want_tx = Counter((t.from_address, t.to_address, t.amount) for t in detail.transfers
                      if t.success and t.kind not in ("erc721", "erc1155") and t.from_address and t.to_address
                      and int(t.from_address, 16) and int(t.to_address, 16))
    assert Counter((e.source[2:], e.target[2:], e.value) for e in page.edges) == want_tx
    assert page.nodes[0].id == f"t:{detail.txid}" and page.total == len(page.edges)


def test_account_trace_graph(account: dict[str, Any]) -> None:
    ws: Workspace = account["ws"]
    tx = account["case"]["seed_txs"][0]
    req = TraceRequest(seeds=[tx], policy="fifo", asset="ETH")
    trace = ws.trace(req)
    drawn = ws.trace_graph(req)
    assert [(e.address, e.reason, e.tainted) for e in drawn.endpoints] == [
        (e["address"], e["reason"], str(e["amount_sat"])) for e in trace.endpoints or []]
    ids = {n.id for n in drawn.nodes}
    assert drawn.edges and all(e.source in ids and e.target in ids and e.tainted for e in drawn.edges)
    exchanges = {r["actor"] for r in account["rows"] if r["category"] == "exchange"}
    assert drawn.services and {s.label for s in drawn.services} <= exchanges
    assert all(s.actor == s.label and s.asset == "ETH" for s in drawn.services)


def test_migration_8_adds_saved_graphs_to_an_older_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    Workspace.open(store=root, create=True)
    make_older(root, 7)  # as a store of schema 7 was
    assert Store(root).schema_version() == 7
    with pytest.raises(StoreError) as old:
        Workspace.open(store=root)  # reading never migrates
    assert "fundtrail migrate" in old.value.one_line()
    ws = Workspace.open(store=root, writable=True, actor=Actor(user="alice"))
    assert Store(root).schema_version() == migrations.LATEST and ws.graph_list().graphs == []
