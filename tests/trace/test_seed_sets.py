"""Seed sets: seeds that descend from each other are traced once, and every policy balances.

A hand-built chain with numbers worked out by hand, then seed sets on a simulated chain checked
against the simulator's reference oracle (which defines "injected" taint the same way) and for
exact balance (seed + absorbed = endpoints + fees) under every policy, forward and backward.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.errors import UsageError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.oracle import case_answers
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.trace.engine import Limits, trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import POLICIES, whole_sat
from fundtrail.trace.seeds import parse_seed

CHAIN = "btc-regtest"
COIN = w.COIN


def _key(i: int) -> bytes:
    return w.p2wpkh(bytes([i]) * 20)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Key 1 receives 50 (coinbase), spends it in A (30 to key 3, 19 back to key 1, fee 1), then
    spends A's change with a clean 50 from key 2 in B (60 to key 4, 8 back to key 1, fee 1).
    Key 1's three received outputs (50, 19, 8; gross 77) descend from each other."""
    cb0 = w.coinbase_tx(0, [w.TxOut(50 * COIN, _key(1))])
    cb1 = w.coinbase_tx(1, [w.TxOut(50 * COIN, _key(2))])
    a = w.Tx(2, [w.TxIn(cb0.txid(), 0)], [w.TxOut(30 * COIN, _key(3)), w.TxOut(19 * COIN, _key(1))])
    b = w.Tx(2, [w.TxIn(a.txid(), 1), w.TxIn(cb1.txid(), 0)],
             [w.TxOut(60 * COIN, _key(4)), w.TxOut(8 * COIN, _key(1))])
    blocks, prev = [], bytes(32)
    for h, txs in enumerate([[cb0], [cb1], [w.coinbase_tx(2, [w.TxOut(50 * COIN, _key(9))]), a],
                             [w.coinbase_tx(3, [w.TxOut(50 * COIN, _key(9))]), b]]):
        raw = w.build_block(prev, txs, 1_700_000_000 + 600 * h)
        blocks.append(raw)
        prev = w.block_hash(raw)
    base = tmp_path_factory.mktemp("hand")
    w.write_blocks_dir(base / "blocks", blocks, REGTEST)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    seed = parse_seed(g, _addr(1))
    assert len(seed.outputs) == 3
    return {"g": g, "seed": seed, "store": str(base / "store"),
            "out": {"cb0": (cb0, 0), "cb1": (cb1, 0), "A0": (a, 0), "A1": (a, 1), "B0": (b, 0), "B1": (b, 1)}}


def _addr(i: int) -> str:
    from fundtrail.chains.bitcoin.address import segwit_encode

    return segwit_encode(REGTEST.hrp, 0, bytes([i]) * 20)


def _amounts(hand: dict, r) -> dict[tuple[str, str], Fraction]:
    """(output name, reason) -> amount in BTC, for the hand chain's named outputs."""
    g = hand["g"]
    ids = {parse_seed(g, f"{w.display_hex(tx.txid())}:{v}").outputs[0]: n for n, (tx, v) in hand["out"].items()}
    got: dict[tuple[str, str], Fraction] = {}
    for e in r.endpoints:
        key = (ids.get(e.output, "?"), e.reason)
        got[key] = got.get(key, 0) + Fraction(e.amount) / COIN
    return got


def test_hand_chain_forward(hand: dict) -> None:
    g, seed = hand["g"], hand["seed"]
    # haircut: A carries cb0's 50 wholly (30 + 19 + fee 1); A1 is a seed already wholly tainted:
    # new 0. B: inputs 19 tainted + 50 clean = 69, share 19/69: key 4 gets 60*19/69 = 1140/69,
    # B1 carries 8*19/69 = 152/69 and as a seed becomes 8, new 8 - 152/69 = 400/69; fee 19/69.
    # seed value 50 + 0 + 400/69 = 3850/69; re-traced 77 - 3850/69 = 19 + 152/69 = 1463/69.
    r = trace(g, seed.outputs, policy="haircut", exact=True)
    assert r.seed_gross == 77 * COIN
    assert Fraction(r.seed_value) == Fraction(3850, 69) * COIN
    assert Fraction(r.retraced) == Fraction(1463, 69) * COIN
    assert _amounts(hand, r) == {("A0", "unspent"): 30, ("B0", "unspent"): Fraction(1140, 69),
                                 ("B1", "unspent"): 8}
    assert r.fees == (1 + Fraction(19, 69)) * COIN and r.absorbed == 0 and r.balanced
    hops = {e.output: e.hops for e in r.endpoints}
    b0 = parse_seed(g, f"{w.display_hex(hand['out']['B0'][0].txid())}:0").outputs[0]
    assert hops[b0] == 1  # B spends the seed A1 (hop 0): hops restart at a seed
    # FIFO: A lays [0,50) over 30, 19, fee 1; B's line is A1 [0,19) then the clean 50: key 4's
    # [0,60) takes all 19, B1 [60,68) none: new 8. seed 50 + 0 + 8 = 58 = 30 + 19 + 8 + fee 1.
    r = trace(g, seed.outputs, policy="fifo")
    assert (r.seed_value, r.retraced) == (58 * COIN, 19 * COIN)
    assert _amounts(hand, r) == {("A0", "unspent"): 30, ("B0", "unspent"): 19, ("B1", "unspent"): 8}
    assert r.fees == 1 * COIN and r.balanced
    # poison: every output of A and B in full (A1 and B1 were tainted already: new 0); B pulls in
    # the clean 50 (absorbed 60 + 8 + 1 - 19 = 50): 50 + 50 = 30 + 60 + 8 + fees 2.
    r = trace(g, seed.outputs, policy="poison")
    assert (r.seed_value, r.absorbed, r.fees) == (50 * COIN, 50 * COIN, 2 * COIN)
    assert _amounts(hand, r) == {("A0", "unspent"): 30, ("B0", "unspent"): 60, ("B1", "unspent"): 8}
    assert r.balanced
    # each output appears once as an endpoint (the defect listed descendant seeds twice)
    for pol in POLICIES:
        outs = [e.output for e in trace(g, seed.outputs, policy=pol).endpoints]
        assert len(outs) == len(set(outs)), pol


def test_hand_chain_backward(hand: dict) -> None:
    g, seed = hand["g"], hand["seed"]
    # haircut: B1's 8 is new (latest seed). B's inputs 19 + 50 = 69 fund it pro rata: A1 gets
    # 8*19/69 = 152/69 (a seed: new 19 - 152/69 = 1159/69), key 2's coinbase 400/69. A's input
    # funds A1's 19 wholly (19*50/50): cb0 is a seed with 19 on it, new 31. seed 8 + 1159/69 + 31
    # = 3850/69; endpoints: cb0 50 and cb1 400/69 (coinbase) = 3850/69.
    r = trace(g, seed.outputs, direction="backward", policy="haircut", exact=True)
    assert Fraction(r.seed_value) == Fraction(3850, 69) * COIN
    assert _amounts(hand, r) == {("cb0", "coinbase"): 50, ("cb1", "coinbase"): Fraction(400, 69)}
    assert r.balanced and r.absorbed == 0
    # FIFO: B1 is [60,68) of B's outputs, inside cb1's [19,69): cb1 funds 8, A1 nothing (new 19);
    # A1 is [30,49) of A's outputs, inside cb0's [0,50): cb0 has 19, new 31. seed 8 + 19 + 31 = 58.
    r = trace(g, seed.outputs, direction="backward", policy="fifo")
    assert r.seed_value == 58 * COIN
    assert _amounts(hand, r) == {("cb0", "coinbase"): 50, ("cb1", "coinbase"): 8}
    # poison: B's inputs in full (A1 19, cb1 50; absorbed 69 - 8 = 61), A's input in full (cb0 50;
    # absorbed 50 - 19 = 31). seed 8 (A1 and cb0 carry taint already) + 92 = 100 = 50 + 50.
    r = trace(g, seed.outputs, direction="backward", policy="poison")
    assert (r.seed_value, r.absorbed) == (8 * COIN, 92 * COIN)
    assert _amounts(hand, r) == {("cb0", "coinbase"): 50, ("cb1", "coinbase"): 50}


def test_hand_chain_truncation_keeps_unreached_seeds(hand: dict) -> None:
    # one transaction of budget: A is traced (cb0's creating coinbase carries no taint: not a
    # visit); B never is, so A1 (19, re-traced) and B1 (8, all new) are the truncated frontier.
    r = trace(hand["g"], hand["seed"].outputs, policy="fifo", limits=Limits(max_txs=1))
    assert r.txs_visited == 1 and r.truncated
    assert _amounts(hand, r) == {("A0", "unspent"): 30, ("A1", "truncated"): 19, ("B1", "truncated"): 8}
    assert r.seed_value == 58 * COIN and r.balanced


def test_hand_chain_cli_accounting(hand: dict, capsys) -> None:
    from fundtrail.cli.main import main

    assert main(["--store", hand["store"], "trace", _addr(1), "--policy", "fifo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    acc = doc["accounting"]
    assert (acc["seed_sat"], acc["seed_gross_sat"], acc["retraced_sat"]) == (58 * COIN, 77 * COIN, 19 * COIN)
    assert acc["endpoints_sat"] + acc["fees_sat"] == acc["seed_sat"] + acc["absorbed_sat"] and acc["balanced"]
    assert doc["seed"]["value_sat"] == 58 * COIN and doc["seed"]["gross_value_sat"] == 77 * COIN
    assert main(["--store", hand["store"], "trace", _addr(1), "--policy", "fifo"]) == 0
    text = capsys.readouterr().out
    assert "Accounting: seed 58.00000000 BTC + absorbed 0.00000000 BTC" in text and "balanced" in text


# --- seed sets on a simulated chain ------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("seedsets")
    simulate(base / "sim", seed=31, txs=2500)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "sim" / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    txs = [{"txid": t["txid"], "time": t["time"],
            "inputs": [{"txid": i["prev_txid"], "vout": i["prev_vout"], "value": i["value"]} for i in t["inputs"]],
            "outputs": [{"value": o["value"], "address": o["address"]} for o in t["outputs"]]}
           for t in iter_transactions(store, CHAIN)]
    return {"g": g, "txs": txs}


def _descendants(g: GraphIndex, o: int, rng: random.Random, depth: int) -> list[int]:
    """A random chain of outputs, each created by the transaction spending the previous one."""
    chain = [o]
    for _ in range(depth):
        spender = int(g.out_spent_by[chain[-1]])
        if spender < 0:
            break
        chain.append(rng.choice(list(g.outputs_of(spender))))
    return chain


def _seed_sets(g: GraphIndex, n: int, seed: int) -> list[list[int]]:
    """Random seed sets: some independent outputs plus chains of outputs descending from each other."""
    rng = random.Random(seed)
    spent = np.flatnonzero(np.asarray(g.out_spent_by) >= 0)
    sets = []
    for _ in range(n):
        picks: list[int] = []
        for _ in range(rng.randint(1, 4)):
            picks += _descendants(g, int(rng.choice(spent)), rng, rng.randint(0, 6))
        picks += [int(x) for x in rng.sample(list(spent), rng.randint(0, 5))]
        sets.append(sorted(set(picks)))
    return sets


def _outpoint(g: GraphIndex, o: int) -> tuple[str, int]:
    t = g.tx_of_output(o)
    return g.txid_hex(t), o - int(g.tx_first_out[t])


@pytest.mark.parametrize("policy", ["poison", "haircut", "fifo"])
def test_seed_sets_equal_the_oracle(sim: dict, policy: str) -> None:
    """Forward, no stops: unspent amounts, fees and the injected (new) seed value equal the
    oracle's on seed sets with descendant seeds."""
    g = sim["g"]
    for seeds in _seed_sets(g, 6, seed=len(policy) * 17):
        exp = case_answers(sim["txs"], [_outpoint(g, o) for o in seeds], set(), policies=[policy])[policy]
        r = trace(g, seeds, policy=policy, exact=True, limits=Limits(max_seconds=120))
        assert r.truncated is None
        assert Fraction(r.seed_value) == exp["injected"]
        assert r.fees == exp["fees"]
        got = {_outpoint(g, e.output): e.amount for e in r.endpoints}
        assert {e.reason for e in r.endpoints} <= {"unspent"}
        assert got == exp["unspent"]
        assert r.seed_gross == exp["seed_total"]


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_every_policy_balances_on_seed_sets(sim: dict, policy: str, direction: str) -> None:
    g = sim["g"]
    rng = random.Random(7)
    sets = _seed_sets(g, 8, seed=len(policy) * 31 + len(direction))
    everything = sorted(set().union(*map(set, sets)))
    sets += [rng.sample(everything, k) for k in (2, 10, len(everything) // 2)]
    for seeds in sets:
        for lim in (Limits(), Limits(hops=2), Limits(max_txs=5), Limits(min_value=10**6)):
            r = trace(g, seeds, direction=direction, policy=policy, limits=lim)
            assert r.balanced, (policy, direction, seeds, lim)
            assert 0 <= Fraction(r.seed_value) <= r.seed_gross
            if policy != "poison":
                assert r.absorbed == 0
            outs = [e.output for e in r.endpoints if e.output >= 0]
            assert len(outs) == len(set(outs)), "an output is an endpoint at most once"
    # a lone seed is all new
    o = sets[0][0]
    assert trace(g, [o], direction=direction, policy=policy).seed_value == int(g.out_value[o])


def test_grid_haircut_seed_value_matches_exact(sim: dict) -> None:
    g = sim["g"]
    for seeds in _seed_sets(g, 4, seed=5):
        grid = trace(g, seeds, policy="haircut")
        exact = trace(g, seeds, policy="haircut", exact=True)
        assert grid.balanced and whole_sat(grid.seed_value) == int(exact.seed_value)


def test_limits_refuse_nonsense() -> None:
    for kwargs, text in [({"max_txs": 0}, "--max-txs"), ({"max_seconds": -1}, "--max-seconds"),
                         ({"max_seconds": float("nan")}, "--max-seconds"), ({"hops": 0}, "--hops"),
                         ({"since": 10, "until": 5}, "is after --until")]:
        with pytest.raises(UsageError, match=text):
            Limits(**kwargs)


def test_seed_file_lines_and_csv(tmp_path: Path) -> None:
    """`read_seed_file`: lines or a CSV `seed` column, read as Excel writes them; bad rows named."""
    from fundtrail.errors import DataError
    from fundtrail.trace.seeds import read_seed_file

    f = tmp_path / "s.csv"
    f.write_bytes("\ufeffcase,seed\r\n1,aa:0\r\n2,bb\r\n".encode("utf-8"))
    assert read_seed_file(f) == [("aa:0", f"{f}:2"), ("bb", f"{f}:3")]
    f.write_bytes("# seeds\r\naa\r\n\r\nbb, the second\r\n".encode("utf-16"))
    assert read_seed_file(f) == [("aa", f"{f}:2"), ("bb", f"{f}:4")]
    f.write_text("case,seed\n1,aa\n2,\n")
    with pytest.raises(DataError, match=f"{f}:3: empty seed cell"):
        read_seed_file(f)
    f.write_text("# nothing\n")
    with pytest.raises(DataError, match="no seeds"):
        read_seed_file(f)
