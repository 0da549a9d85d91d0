"""The answer-key oracle: hand-worked small graphs, then conservation and ordering on random graphs.

Every hand-built case spells out its arithmetic in comments, so a failing number can be checked by
hand rather than by rerunning the code under test.
"""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from typing import Any

import pytest

from fundtrail.errors import DataError, UsageError
from fundtrail.sim.oracle import case_answers, to_jsonable

F = Fraction


def tx(txid: str, ins: list[tuple[str, int, int]], outs: list[tuple[int, str | None]],
       time: int = 0) -> dict[str, Any]:
    """A transaction dict from (txid, vout, value) inputs and (value, address) outputs."""
    return {"txid": txid, "time": time,
            "inputs": [{"txid": t, "vout": v, "value": val} for t, v, val in ins],
            "outputs": [{"value": val, "address": a} for val, a in outs]}


def coin(txid: str, value: int, address: str = "w") -> dict[str, Any]:
    """A funding transaction with no inputs (coinbase-like) and one output."""
    return tx(txid, [], [(value, address)])


def conserved(r: dict[str, Any]) -> bool:
    return r["injected"] == r["total_arrived"] + sum(r["unspent"].values()) + r["fees"]


def test_mixing_tainted_and_clean_input_into_two_outputs() -> None:
    # a:0 = 60 tainted, c:0 = 40 clean; m pays X 50, Y 40, fee 10.
    txs = [coin("a", 60), coin("c", 40),
           tx("m", [("a", 0, 60), ("c", 0, 40)], [(50, "X"), (40, "Y")])]
    r = case_answers(txs, [("a", 0)], {"X", "Y"})
    # poison: every output wholly tainted: X 50, Y 40, fee 10; 90 arrived > 60 seeded.
    assert r["poison"]["by_target"] == {"X": 50, "Y": 40}
    assert r["poison"]["total_arrived"] == 90 and r["poison"]["fees"] == 10
    # haircut: share 60/100 = 3/5: X 30, Y 24, fee 6.
    assert r["haircut"]["by_target"] == {"X": F(30), "Y": F(24)}
    assert r["haircut"]["fees"] == F(6)
    # FIFO: tainted [0,60); X [0,50) -> 50; Y [50,90) -> 10; fee [90,100) -> 0.
    assert r["fifo"]["by_target"] == {"X": 50, "Y": 10}
    assert r["fifo"]["fees"] == 0
    assert all(conserved(r[p]) for p in ("haircut", "fifo"))


def test_fifo_depends_on_input_order() -> None:
    # Same as above with the clean input first: tainted [40,100);
    # X [0,50) -> 10; Y [50,90) -> 40; fee [90,100) -> 10. Haircut is unchanged.
    txs = [coin("a", 60), coin("c", 40),
           tx("m", [("c", 0, 40), ("a", 0, 60)], [(50, "X"), (40, "Y")])]
    r = case_answers(txs, [("a", 0)], {"X", "Y"})
    assert r["fifo"]["by_target"] == {"X": 10, "Y": 40}
    assert r["fifo"]["fees"] == 10
    assert r["haircut"]["by_target"] == {"X": F(30), "Y": F(24)}


def test_peel_chain_all_policies_agree_on_a_single_tainted_line() -> None:
    # s:0 = 100 -> p1: EX1 10, next 89, fee 1 -> p2: EX2 20, next 68 (unspent), fee 1.
    txs = [coin("s", 100),
           tx("p1", [("s", 0, 100)], [(10, "EX1"), (89, "n1")]),
           tx("p2", [("p1", 1, 89)], [(20, "EX2"), (68, "n2")])]
    r = case_answers(txs, [("s", 0)], {"EX1", "EX2"})
    for policy in ("poison", "haircut", "fifo"):
        assert r[policy]["by_target"] == {"EX1": 10, "EX2": 20}
        assert r[policy]["total_arrived"] == 30
        assert r[policy]["unspent"] == {("p2", 1): 68}
        assert r[policy]["fees"] == 2
        assert conserved(r[policy])


def test_fan_out_then_fan_in_with_a_clean_top_up() -> None:
    # s:0 = 100 -> fo: 30, 30 (never spent), 38, fee 2.
    # fi spends fo:0 (30 tainted), k:0 (50 clean), fo:2 (38 tainted) = 118 -> EX 100, change 15, fee 3.
    txs = [coin("s", 100), coin("k", 50),
           tx("fo", [("s", 0, 100)], [(30, "m1"), (30, "m2"), (38, "m3")]),
           tx("fi", [("fo", 0, 30), ("k", 0, 50), ("fo", 2, 38)], [(100, "EX"), (15, "chg")])]
    r = case_answers(txs, [("s", 0)], {"EX"})
    # poison: EX 100; unspent fo:1 30 and fi:1 15; fees 2 + 3.
    assert r["poison"]["by_target"] == {"EX": 100}
    assert r["poison"]["unspent"] == {("fo", 1): 30, ("fi", 1): 15}
    assert r["poison"]["fees"] == 5
    # haircut: tainted in 68 of 118, share 34/59: EX 3400/59, change 510/59, fee 102/59.
    h = r["haircut"]
    assert h["by_target"] == {"EX": F(3400, 59)}
    assert h["by_target_sat"] == {"EX": 57}  # 57.627... rounded down
    assert h["unspent"] == {("fo", 1): F(30), ("fi", 1): F(510, 59)}
    assert h["fees"] == 2 + F(102, 59)
    assert conserved(h) and h["injected"] == 100  # 4012/59 = 68, + 30 + 2 = 100
    # FIFO: tainted [0,30) and [80,118); EX [0,100) -> 30 + 20 = 50; change [100,115) -> 15;
    # fee [115,118) -> 3.
    f = r["fifo"]
    assert f["by_target"] == {"EX": 50}
    assert f["unspent"] == {("fo", 1): 30, ("fi", 1): 15}
    assert f["fees"] == 5
    assert conserved(f)


def test_fee_takes_the_tail_under_fifo_and_a_share_under_haircut() -> None:
    # Clean 50 then tainted 50 -> EX 90, fee 10. FIFO: tainted [50,100); EX [0,90) -> 40;
    # fee [90,100) -> 10. Haircut: share 1/2: EX 45, fee 5. Poison: EX 90, fee 10.
    txs = [coin("c", 50), coin("s", 50), tx("t", [("c", 0, 50), ("s", 0, 50)], [(90, "EX")])]
    r = case_answers(txs, [("s", 0)], {"EX"})
    assert (r["poison"]["by_target"], r["poison"]["fees"]) == ({"EX": 90}, 10)
    assert (r["haircut"]["by_target"], r["haircut"]["fees"]) == ({"EX": F(45)}, F(5))
    assert (r["fifo"]["by_target"], r["fifo"]["fees"]) == ({"EX": 40}, 10)


def test_fifo_keeps_the_position_of_taint_across_hops() -> None:
    # Clean 50 then tainted 50 -> w 100: taint sits in [50,100) of w.
    # w -> EX1 50 [0,50), EX2 50 [50,100): FIFO EX1 0, EX2 50. Haircut: 25 each.
    txs = [coin("c", 50), coin("s", 50),
           tx("t1", [("c", 0, 50), ("s", 0, 50)], [(100, "w")]),
           tx("t2", [("t1", 0, 100)], [(50, "EX1"), (50, "EX2")])]
    r = case_answers(txs, [("s", 0)], {"EX1", "EX2"})
    assert r["fifo"]["by_target"] == {"EX2": 50}
    assert r["haircut"]["by_target"] == {"EX1": F(25), "EX2": F(25)}


def test_tainted_output_never_spent_stays_unspent() -> None:
    txs = [coin("s", 70), coin("c", 5)]
    r = case_answers(txs, [("s", 0)], {"EX"})
    for policy in ("poison", "haircut", "fifo"):
        assert r[policy]["by_target"] == {} and r[policy]["total_arrived"] == 0
        assert r[policy]["unspent"] == {("s", 0): 70}
        assert r[policy]["fees"] == 0


def test_target_stops_propagation_and_its_respend_is_clean() -> None:
    # s 100 -> t1: EX 50 (arrives, stops), mid 49, fee 1.
    # t2 spends t1:0 (EX, now clean: 50) and t1:1 (49 tainted) -> EX2 98, fee 1.
    txs = [coin("s", 100),
           tx("t1", [("s", 0, 100)], [(50, "EX"), (49, "mid")], time=10),
           tx("t2", [("t1", 0, 50), ("t1", 1, 49)], [(98, "EX2")], time=20)]
    r = case_answers(txs, [("s", 0)], {"EX", "EX2"})
    # poison: EX 50, EX2 98 (whole output), fees 1 + 1.
    assert r["poison"]["by_target"] == {"EX": 50, "EX2": 98} and r["poison"]["fees"] == 2
    # haircut: t2 share 49/99: EX2 4802/99, fee 49/99; total 50 + 49 + 1 = 100.
    assert r["haircut"]["by_target"] == {"EX": F(50), "EX2": F(4802, 99)}
    assert r["haircut"]["fees"] == 1 + F(49, 99)
    # FIFO: t2 line clean [0,50), tainted [50,99); EX2 [0,98) -> 48; fee [98,99) -> 1.
    assert r["fifo"]["by_target"] == {"EX": 50, "EX2": 48} and r["fifo"]["fees"] == 2
    assert r["fifo"]["arrived_outputs"] == {("t1", 0): 50, ("t2", 0): 48}
    assert r["fifo"]["first_arrival"] == {"EX": 10, "EX2": 20}
    assert conserved(r["haircut"]) and conserved(r["fifo"])


def test_value_arriving_at_a_target_is_not_traced_beyond_it() -> None:
    # s 100 -> EX 99 (fee 1) -> EX2 98: EX2 gets nothing, EX's re-spend fee carries no taint.
    txs = [coin("s", 100), tx("t1", [("s", 0, 100)], [(99, "EX")]),
           tx("t2", [("t1", 0, 99)], [(98, "EX2")])]
    r = case_answers(txs, [("s", 0)], {"EX", "EX2"})
    for policy in ("poison", "haircut", "fifo"):
        assert r[policy]["by_target"] == {"EX": 99}
        assert r[policy]["fees"] == 1 and r[policy]["unspent"] == {}


def test_input_from_outside_the_list_is_clean() -> None:
    # outside:0 (70, not listed) then s:0 (30 tainted) -> EX 100, no fee.
    # Poison 100; haircut 100 x 30/100 = 30; FIFO tainted [70,100) -> 30.
    txs = [coin("s", 30), tx("t", [("outside", 0, 70), ("s", 0, 30)], [(100, "EX")])]
    r = case_answers(txs, [("s", 0)], {"EX"})
    assert r["poison"]["by_target"] == {"EX": 100}
    assert r["haircut"]["by_target"] == {"EX": F(30)}
    assert r["fifo"]["by_target"] == {"EX": 30}


def test_seed_downstream_of_another_seed_is_not_counted_twice() -> None:
    # a:0 100 seeded -> t:0 99 (fee 1), also seeded. seed_total 199; injected 100 + (99 - 99).
    txs = [coin("a", 100), tx("t", [("a", 0, 100)], [(99, "EX")])]
    r = case_answers(txs, [("a", 0), ("t", 0)], {"EX"})
    for policy in ("haircut", "fifo"):
        assert r[policy]["seed_total"] == 199 and r[policy]["injected"] == 100
        assert r[policy]["by_target"] == {"EX": 99} and conserved(r[policy])


def test_seed_paid_straight_to_a_target_arrives_at_once() -> None:
    r = case_answers([tx("s", [("x", 0, 10)], [(9, "EX")])], [("s", 0)], {"EX"})
    assert all(r[p]["by_target"] == {"EX": 9} for p in ("poison", "haircut", "fifo"))


def test_whirlpool_mix_under_the_case_boundary() -> None:
    # The criminal's premix s:0 = 101 (pool 100 + allowance 1) and four clean remixes (100 each,
    # outside the list) -> mix: five outputs of 100, fee 1; the criminal's is m:1 ("own"), the
    # others are leaves. own -> EX 99 (fee 1).
    txs = [coin("s", 101),
           tx("m", [("s", 0, 101), ("r1", 0, 100), ("r2", 0, 100), ("r3", 0, 100), ("r4", 0, 100)],
              [(100, "o0"), (100, "own"), (100, "o2"), (100, "o3"), (100, "o4")]),
           tx("c", [("m", 1, 100)], [(99, "EX")])]
    r = case_answers(txs, [("s", 0)], {"EX"})
    # poison: every mix output wholly tainted; EX 99; the four leaves 400 unspent; fees 1 + 1.
    assert r["poison"]["by_target"] == {"EX": 99} and r["poison"]["fees"] == 2
    assert sum(r["poison"]["unspent"].values()) == 400
    # haircut: share 101/501: own 10100/501 -> EX 99/100 of it = 9999/501, fee 101/501.
    h = r["haircut"]
    assert h["by_target"] == {"EX": F(9999, 501)}
    assert h["unspent"][("m", 0)] == F(10100, 501) and h["fees"] == F(101, 501) * 2
    assert conserved(h)
    # FIFO: taint is [0,101) of the mix: o0 gets 100, own gets [0,1) -> EX 1; fee 0.
    f = r["fifo"]
    assert f["by_target"] == {"EX": 1} and f["unspent"] == {("m", 0): 100} and f["fees"] == 0
    assert conserved(f)


def test_leaf_respent_by_a_case_transaction_brings_its_taint_back() -> None:
    # A co-mixer's leaf m:0 (50 tainted of 100 under haircut) is remixed with the criminal's m:1.
    txs = [coin("s", 100), coin("k", 100),
           tx("m", [("s", 0, 100), ("k", 0, 100)], [(100, "x"), (100, "own")]),
           tx("m2", [("m", 0, 100), ("m", 1, 100)], [(100, "EX1"), (100, "EX2")])]
    r = case_answers(txs, [("s", 0)], {"EX1", "EX2"})
    assert r["haircut"]["by_target"] == {"EX1": F(50), "EX2": F(50)}
    assert r["haircut"]["unspent"] == {} and conserved(r["haircut"])
    # FIFO: taint [0,100) of m = all of x (m:0), none of own; m2 line [0,100) -> EX1 100.
    assert r["fifo"]["by_target"] == {"EX1": 100}


def test_null_data_output_carries_nothing() -> None:
    txs = [coin("s", 100), tx("t0", [("s", 0, 100)], [(0, None), (60, "p"), (39, "EX")])]
    r = case_answers(txs, [("s", 0)], {"EX"})
    for policy in ("poison", "haircut", "fifo"):
        assert r[policy]["by_target"] == {"EX": 39} and r[policy]["unspent"] == {("t0", 1): 60}


@pytest.mark.parametrize("txs, seeds", [
    ([coin("a", 10), tx("b", [("a", 0, 10)], [(9, "x")]), tx("c", [("a", 0, 10)], [(9, "y")])],
     [("a", 0)]),  # double spend
    ([tx("b", [("a", 0, 10)], [(9, "x")]), coin("a", 10)], [("b", 0)]),  # forward reference
    ([coin("a", 10), tx("b", [("a", 0, 11)], [(9, "x")])], [("a", 0)]),  # input value mismatch
    ([coin("a", 10), tx("b", [("a", 0, 10)], [(11, "x")])], [("a", 0)]),  # value created
    ([coin("a", 10)], [("a", 1)]),  # seed is not a listed output
    ([coin("a", 10), coin("a", 10)], [("a", 0)]),  # duplicate txid
])
def test_inconsistent_chain_is_a_data_error(txs: list[dict[str, Any]],
                                            seeds: list[tuple[str, int]]) -> None:
    with pytest.raises(DataError):
        case_answers(txs, seeds, set())


def test_unknown_policy_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="lifo"):
        case_answers([coin("a", 1)], [("a", 0)], set(), policies=("lifo",))


def test_to_jsonable_round_trips_fractions_exactly() -> None:
    txs = [coin("a", 1), coin("c", 2), tx("m", [("a", 0, 1), ("c", 0, 2)], [(1, "EX"), (2, "w")])]
    out = json.loads(json.dumps(to_jsonable(case_answers(txs, [("a", 0)], {"EX"}))))
    assert out["haircut"]["by_target"] == {"EX": "1/3"}
    assert out["haircut"]["unspent"] == {"m:1": "2/3"}
    assert F(out["haircut"]["by_target"]["EX"]) == F(1, 3)


# ---- random graphs ---------------------------------------------------------------------------

ADDRESSES = [f"a{i}" for i in range(30)]
TARGETS = {f"a{i}" for i in range(5)}


def random_case(seed: int, n_coins: int = 20, n_txs: int = 200
                ) -> tuple[list[dict[str, Any]], list[tuple[str, int]]]:
    """A random chain fragment: funding coins, then txs spending 1-5 random unspent outputs
    (sometimes an outpoint from outside the list), paying 1-5 outputs and a random fee."""
    rng = random.Random(seed)
    txs = [coin(f"c{i}", rng.randint(1, 10**6), rng.choice(ADDRESSES)) for i in range(n_coins)]
    pool = [(f"c{i}", 0, t["outputs"][0]["value"]) for i, t in enumerate(txs)]
    for n in range(n_txs):
        if not pool:
            break
        ins = [pool.pop(rng.randrange(len(pool))) for _ in range(min(len(pool), rng.randint(1, 5)))]
        if rng.random() < 0.1:
            ins.insert(rng.randrange(len(ins) + 1), (f"ext{n}", 0, rng.randint(1, 10**5)))
        total = sum(v for _, _, v in ins)
        spend = total - rng.randint(0, min(total, 1000))
        cuts = sorted(rng.randint(0, spend) for _ in range(rng.randint(0, 4)))
        values = [b - a for a, b in zip([0, *cuts], [*cuts, spend], strict=True)]
        txid = f"t{n}"
        txs.append(tx(txid, ins, [(v, rng.choice(ADDRESSES)) for v in values], time=n))
        pool += [(txid, i, v) for i, v in enumerate(values)]
    seeds = [(f"c{i}", 0) for i in rng.sample(range(n_coins), 4)]
    return txs, seeds


@pytest.mark.parametrize("seed", range(25))
def test_haircut_and_fifo_conserve_the_seed_value_exactly(seed: int) -> None:
    txs, seeds = random_case(seed)
    r = case_answers(txs, seeds, TARGETS)
    for policy in ("haircut", "fifo"):
        res = r[policy]
        assert res["injected"] == res["seed_total"]  # seeds are funding coins: none upstream
        assert res["seed_total"] == (res["total_arrived"] + sum(res["unspent"].values())
                                     + res["fees"])
    assert all(isinstance(v, int) for v in r["fifo"]["by_target"].values())


@pytest.mark.parametrize("seed", range(25))
def test_poison_bounds_haircut_and_fifo(seed: int) -> None:
    txs, seeds = random_case(seed)
    r = case_answers(txs, seeds, TARGETS)
    poison, haircut, fifo = r["poison"], r["haircut"], r["fifo"]
    # Poison and haircut taint exactly the same outputs (any tainted input -> share > 0).
    assert poison["by_target"].keys() == haircut["by_target"].keys()
    assert poison["unspent"].keys() == haircut["unspent"].keys()
    assert fifo["by_target"].keys() <= poison["by_target"].keys()
    for key in ("by_target", "unspent", "arrived_outputs"):
        for k, v in poison[key].items():
            assert haircut[key].get(k, 0) <= v and fifo[key].get(k, 0) <= v
    assert poison["fees"] >= haircut["fees"] and poison["fees"] >= fifo["fees"]
    assert haircut["by_target_sat"] == {a: math.floor(v) for a, v in haircut["by_target"].items()}


def test_answers_are_deterministic_and_independent_of_seed_and_target_order() -> None:
    txs, seeds = random_case(7)
    first = case_answers(txs, seeds, TARGETS)
    again = case_answers(txs, list(reversed(seeds)), frozenset(TARGETS))
    assert first == again
    assert random_case(7) == (txs, seeds)
    assert json.dumps(to_jsonable(first), sort_keys=True) == json.dumps(to_jsonable(again),
                                                                        sort_keys=True)
