"""Account tracing on a real chain: a laundering pattern played on anvil, ingested by the real ingest,
traced under the three policies and compared exactly with the oracle (test_account_oracle.py) and,
for the token leg (no fees in the token, so the answers can be worked out by hand), with hand answers.

The pattern: a victim is robbed of 10 ETH and 400 TT; the thief fans the loot out to three mules;
two mules re-merge their share with clean funds at a merge address; the merge address and the third
mule pay "exchange" deposit addresses (Forwarder contracts for ETH: internal transfers; an EOA for
TT) that sweep to the exchange's hot wallet.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import pytest
import support.account_oracle as oracle
from support.anvil import Anvil
from support.eth_scenario import calldata, create_address, deploy_data, load_artefacts

from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers
from fundtrail.trace.account_engine import trace_account
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.account_report import render_text, to_json
from fundtrail.trace.account_seeds import parse_account_seed
from fundtrail.trace.engine import Limits

ETHER = 10**18
POLICIES = ("poison", "haircut", "fifo")


def _send(node: Anvil, sender: str, to: str | None, value: int = 0, data: str = "0x") -> str:
    tx = {"from": sender, "value": hex(value), "data": data}
    if to is not None:
        tx["to"] = to
    h = node.rpc("eth_sendTransaction", tx)
    assert int(node.wait_receipt(h)["status"], 16) == 1
    return h


def play_laundering(node: Anvil) -> dict:
    """Play the pattern of the module docstring; return the roles' addresses and key tx hashes."""
    art = load_artefacts()
    a = node.accounts
    owner, victim, thief, m1, m2, m3, clean, merge, hot, dep_tt = a
    nonce = int(node.rpc("eth_getTransactionCount", owner, "pending"), 16)
    tt = create_address(node, owner, nonce)
    _send(node, owner, None, data=deploy_data(art["TestToken"], "Test Token", "TT"))
    deps = []
    for i in range(2):
        deps.append(create_address(node, owner, nonce + 1 + i))
        _send(node, owner, None, data=deploy_data(art["Forwarder"]))

    def token(sender: str, to: str, amount: int) -> str:
        return _send(node, sender, tt, data=calldata(art["TestToken"], "transfer(address,uint256)", to, amount))

    def forward(sender: str, dep: str, amount: int) -> str:
        return _send(node, sender, dep, amount, calldata(art["Forwarder"], "forward(address)", hot))

    _send(node, owner, tt, data=calldata(art["TestToken"], "mint(address,uint256)", victim, 1000 * ETHER))
    _send(node, owner, tt, data=calldata(art["TestToken"], "mint(address,uint256)", clean, 300 * ETHER))
    theft = _send(node, victim, thief, 10 * ETHER)
    token(victim, thief, 400 * ETHER)
    _send(node, thief, m1, 3 * ETHER)  # fan-out
    _send(node, thief, m2, 3 * ETHER)
    _send(node, thief, m3, 39 * ETHER // 10)
    token(thief, m1, 150 * ETHER)
    token(thief, m2, 250 * ETHER)
    _send(node, clean, merge, 5 * ETHER)  # clean funds first, then the re-merge
    token(clean, merge, 300 * ETHER)
    _send(node, m1, merge, 25 * ETHER // 10)
    _send(node, m2, merge, 25 * ETHER // 10)
    token(m1, merge, 150 * ETHER)
    token(m2, m3, 250 * ETHER)
    forward(merge, deps[0], 6 * ETHER)  # deposits sweep to the hot wallet (internal transfers)
    forward(merge, deps[1], 3 * ETHER)
    forward(m3, deps[1], 3 * ETHER)
    token(merge, dep_tt, 200 * ETHER)
    token(dep_tt, hot, 200 * ETHER)
    token(m3, hot, 100 * ETHER)
    return {"victim": victim, "thief": thief, "m1": m1, "m2": m2, "m3": m3, "clean": clean, "merge": merge,
            "hot": hot, "dep_tt": dep_tt, "deps": deps, "tt": tt, "theft": theft}


@pytest.fixture(scope="module")
def laundering(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, AccountGraph, dict, Anvil]]:
    with Anvil() as node:
        roles = play_laundering(node)
        store = Store.open(tmp_path_factory.mktemp("acct") / "store")
        ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain="anvil", first=0,
                        last=node.block_number(), batch_blocks=5)
        yield store, AccountGraph.ensure(store, "anvil"), roles, node


def _oracle_transfers(store: Store, g: AccountGraph) -> list[dict]:
    """The export (SQL path, not the index) as oracle transfers; one transaction per block here, so
    the export's transfer_id order is the execution order."""
    out = []
    for t in iter_transfers(store, "anvil"):
        if not t["success"] or t["kind"] not in ("native", "internal", "erc20", "withdrawal", "fee", "reward"):
            continue

        def aid(text: str | None) -> int | None:
            if text is None or int(text, 16) == 0:  # the zero address: mints and burns
                return None
            return g.find_address(bytes.fromhex(text[2:]))

        out.append({"from": aid(t["from"]), "to": aid(t["to"]), "asset": -1 if t["asset"] == "ETH" else aid(t["asset"]),
                    "amount": int(t["amount"]), "fee": t["kind"] == "fee"})
    return out


def _id(g: AccountGraph, addr: str) -> int:
    return g.find_address(bytes.fromhex(addr[2:]))


def test_index_equals_the_export(laundering) -> None:
    store, g, _, _ = laundering
    transfers = _oracle_transfers(store, g)
    assert len(transfers) == g.n_events
    for e, t in enumerate(transfers):
        assert (int(g.ev_from[e]), int(g.ev_to[e]), int(g.ev_asset[e]), g.amount(e)) == (
            -1 if t["from"] is None else t["from"], -1 if t["to"] is None else t["to"], t["asset"], t["amount"])


@pytest.mark.parametrize("policy", POLICIES)
def test_forward_equals_the_oracle(laundering, policy: str) -> None:
    store, g, roles, _ = laundering
    transfers = _oracle_transfers(store, g)
    seed = parse_account_seed(g, roles["thief"])
    hot = _id(g, roles["hot"])
    assert len(seed.events) == 2  # 10 ETH and 400 TT
    result = trace_account(g, seed, policy=policy, stop={hot: "exchange hot wallet"}.get)
    ends, fees, gaps = oracle.oracle_forward(transfers, set(seed.events), policy, frozenset({hot}))
    assert oracle.engine_ends(result) == ends
    assert {k: v for k, v in result.fees.items() if v} == fees and result.history_gaps == gaps
    eth_in = sum(e.amount for e in result.endpoints if e.asset == -1) + result.fees.get(-1, 0)
    if policy != "poison":  # conservation: every traced wei is somewhere or paid as fee
        assert eth_in == 10 * ETHER
    assert any(e.reason == "service" and e.address == hot and e.asset == -1 for e in result.endpoints)


def test_forward_token_leg_by_hand(laundering) -> None:
    _, g, roles, _ = laundering
    seed = parse_account_seed(g, roles["thief"])
    hot, tt = _id(g, roles["hot"]), _id(g, roles["tt"])
    m3, merge = _id(g, roles["m3"]), _id(g, roles["merge"])
    answers = {  # merge holds 300 clean then 150 tainted and pays 200 to the deposit address
        "fifo": {(hot, "service"): 100, (m3, "unspent"): 150, (merge, "unspent"): 150},
        "haircut": {(hot, "service"): Fraction(500, 3), (m3, "unspent"): 150, (merge, "unspent"): Fraction(250, 3)},
        "poison": {(hot, "service"): 300, (m3, "unspent"): 150, (merge, "unspent"): 250},
    }
    for policy, want in answers.items():
        r = trace_account(g, seed, policy=policy, stop={hot: "hot wallet"}.get, asset=tt)
        got = {(a, reason): v / ETHER for (a, x, reason), v in oracle.engine_ends(r).items()}
        assert got == want, policy
        assert r.seed_value == {tt: 400 * ETHER} and not r.fees


@pytest.mark.parametrize("policy", POLICIES)
def test_backward_equals_the_oracle(laundering, policy: str) -> None:
    store, g, roles, _ = laundering
    transfers = _oracle_transfers(store, g)
    seed = parse_account_seed(g, roles["hot"])
    clean = _id(g, roles["clean"])
    result = trace_account(g, seed, direction="backward", policy=policy, stop={clean: "clean"}.get)
    assert oracle.engine_ends(result) == oracle.oracle_backward(transfers, set(seed.events), policy, frozenset({clean}))


def test_backward_token_leg_by_hand(laundering) -> None:
    _, g, roles, _ = laundering
    seed = parse_account_seed(g, roles["hot"])
    tt, clean, victim = _id(g, roles["tt"]), _id(g, roles["clean"]), _id(g, roles["victim"])
    answers = {"fifo": {(clean, "service"): 200, (victim, "minted"): 100},
               "haircut": {(clean, "service"): Fraction(400, 3), (victim, "minted"): Fraction(500, 3)}}
    for policy, want in answers.items():
        r = trace_account(g, seed, direction="backward", policy=policy, stop={clean: "clean"}.get, asset=tt)
        assert {(a, reason): v / ETHER for (a, x, reason), v in oracle.engine_ends(r).items()} == want


def test_transaction_seed_and_json_shape(laundering) -> None:
    store, g, roles, _ = laundering
    seed = parse_account_seed(g, roles["theft"])
    assert seed.kind == "transaction" and len(seed.events) == 1
    hot = _id(g, roles["hot"])
    r = trace_account(g, seed, policy="fifo", stop={hot: "exchange"}.get)
    doc = to_json(g, seed, r, stop_at=["exchange"])
    assert set(doc) >= {"chain", "seed", "direction", "policy", "limits", "endpoints", "summary", "graph",
                        "truncated", "truncation", "elapsed_ms"}
    assert doc["seed"]["outputs"] == [f"{roles['theft']}:native"] and doc["seed"]["asset"] == "ETH"
    assert doc["seed"]["value_sat"] == 10 * ETHER
    ep = next(e for e in doc["endpoints"] if e["reason"] == "service")
    assert set(ep) >= {"address", "cluster", "tags", "reason", "label", "asset", "amount_sat", "amount_exact",
                       "share", "hops", "first_arrival", "first_arrival_unix", "outputs"}
    assert ep["address"].lower() == roles["hot"] and ep["address"] != roles["hot"]  # EIP-55, mixed case
    assert all(":trace:0" in o for o in ep["outputs"])  # reached the hot wallet by internal transfers
    assert ep["label"] == "exchange" and ep["hops"] >= 3
    by = doc["summary"]["by_asset"]["ETH"]
    assert sum(by["by_reason"].values()) + by["fees"] == 10 * ETHER
    assert doc["summary"]["by_reason_sat"] == by["by_reason"]
    edge = doc["graph"]["edges"][0]
    assert edge["from"].startswith("addr:0x") and edge["asset"] == "ETH"
    text = render_text(doc)
    assert "Policy: fifo" in text and "ETH: seed 10 ETH\n" in text, text
    assert "10000000000000000000" not in text  # wei are in --json, not shown as ETH (issue 12 item 7)
    # the Python API also takes the store itself (the index is brought up to date first)
    again = trace_account(store, seed, chain="anvil", policy="fifo", stop={hot: "exchange"}.get)
    assert oracle.engine_ends(again) == oracle.engine_ends(r)



@pytest.mark.parametrize("limits", [Limits(hops=2), Limits(min_value=2 * 10**18), Limits(max_txs=7),
                                    Limits(hops=1, max_txs=3)])
def test_limits_keep_every_traced_wei_accounted_for(laundering, limits: Limits) -> None:
    _, g, roles, _ = laundering
    seed = parse_account_seed(g, roles["thief"])
    for policy in ("haircut", "fifo"):
        r = trace_account(g, seed, policy=policy, limits=limits, asset=-1)
        assert sum(e.amount for e in r.endpoints) + r.fees.get(-1, 0) == 10 * ETHER
        reasons = {e.reason for e in r.endpoints}
        if limits.hops:
            assert "hop_limit" in reasons and all(e.hops <= limits.hops for e in r.endpoints)
        if limits.min_value:
            assert "threshold" in reasons
            assert all(e.amount < limits.min_value for e in r.endpoints if e.reason == "threshold")
        if limits.max_txs < 100:
            assert r.truncated and "truncated" in reasons and r.events_visited == limits.max_txs


@pytest.mark.parametrize("policy", POLICIES)
def test_every_address_with_the_thief_as_one_seed_set(laundering, policy: str) -> None:
    """Issue 12 item 1 on account chains: each address of the chain traced together with the thief
    (most of them downstream of it), forward and backward: the engine equals the oracle, the seeds'
    overlap and poison's absorbed value equal the oracle's, and seed + absorbed = endpoints + fees."""
    store, g, roles, _ = laundering
    transfers = _oracle_transfers(store, g)
    thief = parse_account_seed(g, roles["thief"])
    hot, clean = _id(g, roles["hot"]), _id(g, roles["clean"])
    for a in range(g.n_addresses):
        received = {int(e) for e in g.events_of(a) if g.ev_to[e] == a and g.ev_from[e] != a}
        if not received:
            continue
        seeds = set(thief.events) | received
        for direction, stops in (("forward", frozenset({hot})), ("backward", frozenset({clean}))):
            acc: dict = {}
            if direction == "forward":
                want = oracle.oracle_forward(transfers, seeds, policy, stops, accounting=acc)[0]
            else:
                want = oracle.oracle_backward(transfers, seeds, policy, stops, accounting=acc)
            r = trace_account(g, seeds, direction=direction, policy=policy,
                              stop=dict.fromkeys(stops, "stop").get)
            assert oracle.engine_ends(r) == want, (a, direction)
            assert r.retraced == acc["overlap"] and r.absorbed == acc["absorbed"], (a, direction)
            for x, gross in r.seed_gross.items():
                ends = sum((e.amount for e in r.endpoints if e.asset == x), 0)
                assert r.seed_value[x] == gross - r.retraced.get(x, 0)
                assert r.seed_value[x] + r.absorbed.get(x, 0) == ends + r.fees.get(x, 0), (a, direction, x)
