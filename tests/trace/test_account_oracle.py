"""A deliberately simple reference for the address-level taint policies, checked by hand, then used
to check the engine (`trace.account_engine`) exactly, on hand-made and random transfer lists.

The oracle keeps every address's ledger from the first transfer (no activation, no replay, no
index), represents FIFO lots as runs of (length, tainted) instead of the engine's segments, and
backward recomputes the sender's history from scratch for every traced transfer. It is imported by
test_account_anvil.py, which compares it with the engine on a laundering scenario played on anvil.

A transfer is a dict: from, to (None = mint / burn), asset, amount, fee (bool).
"""

from __future__ import annotations

import random

import pytest
from support.account_oracle import (
    POLICIES,
    engine_ends,
    oracle_backward,
    oracle_forward,
)

from fundtrail.trace.account_engine import trace_account
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.engine import Limits


# -- the engine over the same transfers --------------------------------------------------------
def graph_of(transfers: list[dict], n_addresses: int) -> AccountGraph:
    rows = [{"from": t["from"], "to": t["to"], "asset": t["asset"], "amount": t["amount"],
             "kind": 6 if t.get("fee") else 0, "time": i} for i, t in enumerate(transfers)]
    return AccountGraph.from_rows("anvil", rows, [bytes([a + 1]) * 20 for a in range(n_addresses)])


def run_engine(transfers: list[dict], seeds: set[int], policy: str, direction: str,
               stops: frozenset = frozenset(), n_addresses: int = 16):
    g = graph_of(transfers, n_addresses)
    labels = dict.fromkeys(stops, "service")
    return trace_account(g, seeds, direction=direction, policy=policy, stop=labels.get)


# -- hand-worked cases --------------------------------------------------------------------------
V, T, C, X, Y, M, A, B, S, D = range(10)
ETH = -1


def tr(frm, to, amount, fee=False, asset=ETH) -> dict:
    return {"from": frm, "to": to, "asset": asset, "amount": amount, "fee": fee}


# The worked example of docs/taint-policies.md, at address level: T receives 60 tainted then 40 clean,
# pays X 50, Y 40 and a fee of 10.
MIX = [tr(V, T, 60), tr(C, T, 40), tr(T, X, 50), tr(T, Y, 40), tr(T, M, 10, fee=True)]
MIX_ANSWERS = {
    "poison": ({(X, ETH, "unspent"): 50, (Y, ETH, "unspent"): 40}, {ETH: 10}),
    "haircut": ({(X, ETH, "unspent"): 30, (Y, ETH, "unspent"): 24}, {ETH: 6}),
    "fifo": ({(X, ETH, "unspent"): 50, (Y, ETH, "unspent"): 10}, {}),
}
# Clean value first: FIFO now sends the taint to Y and the fee.
MIX_CLEAN_FIRST = [tr(C, T, 40), tr(V, T, 60), tr(T, X, 50), tr(T, Y, 40), tr(T, M, 10, fee=True)]
# Position survives a hop: A gets 100 clean then 50 tainted, sends B 120 (taint in its last 20), B pays
# the service S 60 (clean under FIFO) and D 60.
HOP = [tr(C, A, 100), tr(V, A, 50), tr(A, B, 120), tr(B, S, 60), tr(B, D, 60)]
HOP_ANSWERS = {
    "poison": {(A, ETH, "unspent"): 30, (S, ETH, "service"): 60, (D, ETH, "unspent"): 60},
    "haircut": {(A, ETH, "unspent"): 10, (S, ETH, "service"): 20, (D, ETH, "unspent"): 20},
    "fifo": {(A, ETH, "unspent"): 30, (D, ETH, "unspent"): 20},
}
# A sends more than the store saw arrive: 20 of unknown origin.
GAP = [tr(V, A, 10), tr(A, B, 30)]
GAP_ANSWERS = {"poison": {(B, ETH, "unspent"): 30}, "haircut": {(B, ETH, "unspent"): 10},
               "fifo": {(B, ETH, "unspent"): 10}}


@pytest.mark.parametrize("policy", POLICIES)
def test_oracle_forward_by_hand(policy: str) -> None:
    assert oracle_forward(MIX, {0}, policy)[:2] == MIX_ANSWERS[policy]
    assert oracle_forward(HOP, {1}, policy, frozenset({S}))[0] == HOP_ANSWERS[policy]
    ends, _, gaps = oracle_forward(GAP, {0}, policy)
    assert ends == GAP_ANSWERS[policy] and gaps == [(A, ETH, 1, 20)]


def test_oracle_fifo_follows_arrival_order() -> None:
    ends, fees, _ = oracle_forward(MIX_CLEAN_FIRST, {1}, "fifo")
    assert ends == {(X, ETH, "unspent"): 10, (Y, ETH, "unspent"): 40} and fees == {ETH: 10}


@pytest.mark.parametrize("policy, answer", [
    # from S's deposit back: FIFO says it was C's clean 60, haircut 40 of C and 20 of the victim,
    # poison every inflow upstream in full; C and V have no history in the store.
    ("fifo", {(C, ETH, "unknown_history"): 60}),
    ("haircut", {(C, ETH, "unknown_history"): 40, (V, ETH, "unknown_history"): 20}),
    ("poison", {(C, ETH, "unknown_history"): 100, (V, ETH, "unknown_history"): 50}),
])
def test_oracle_backward_by_hand(policy: str, answer: dict) -> None:
    assert oracle_backward(HOP, {3}, policy) == answer


def test_oracle_backward_stops_at_mints_and_services() -> None:
    token = 9
    transfers = [tr(None, A, 100, asset=token), tr(S, A, 50), tr(A, B, 70, asset=token), tr(A, B, 50)]
    assert oracle_backward(transfers, {2, 3}, "haircut", frozenset({S})) == {
        (A, token, "minted"): 70, (S, ETH, "service"): 50}


@pytest.mark.parametrize("policy", POLICIES)
def test_engine_matches_the_hand_answers(policy: str) -> None:
    r = run_engine(MIX, {0}, policy, "forward")
    assert (engine_ends(r), {k: v for k, v in r.fees.items() if v}) == MIX_ANSWERS[policy]
    assert engine_ends(run_engine(HOP, {1}, policy, "forward", frozenset({S}))) == HOP_ANSWERS[policy]
    r = run_engine(GAP, {0}, policy, "forward")
    assert engine_ends(r) == GAP_ANSWERS[policy] and r.history_gaps == [(A, ETH, 1, 20)]
    assert engine_ends(run_engine(HOP, {3}, policy, "backward")) == oracle_backward(HOP, {3}, policy)


def test_haircut_and_fifo_conserve_the_seed() -> None:
    for policy in ("haircut", "fifo"):
        r = run_engine(HOP, {1}, policy, "forward", frozenset({S}))
        assert sum(e.amount for e in r.endpoints) + sum(r.fees.values()) == 50


# -- random transfer lists: engine == oracle, exactly ------------------------------------------
def random_transfers(rng: random.Random, n: int, n_addr: int = 7) -> list[dict]:
    out = []
    tokens = [ETH, n_addr]  # the token contract is address n_addr
    for _ in range(n):
        x = rng.choice(tokens)
        frm = None if rng.random() < 0.12 else rng.randrange(n_addr)
        to = None if rng.random() < 0.06 else rng.randrange(n_addr)
        if frm is None and to is None:
            to = 0
        amount = rng.choice([0, 1, 2, 3, 5, 7, 10, 16, 25, 40, 99, 2**130 + 3])
        out.append(tr(frm, to, amount, asset=x))
        if x == ETH and frm is not None and rng.random() < 0.4:
            out.append(tr(frm, n_addr - 1, rng.choice([1, 2, 3]), fee=True))
    return out


@pytest.mark.parametrize("seed", range(120))
def test_engine_equals_oracle_on_random_transfers(seed: int) -> None:
    rng = random.Random(seed)
    transfers = random_transfers(rng, rng.randrange(5, 90))
    seeds = set(rng.sample(range(len(transfers)), k=min(3, len(transfers))))
    stops = frozenset(rng.sample(range(7), k=rng.choice([0, 1])))
    for policy in POLICIES:
        ends, fees, gaps = oracle_forward(transfers, seeds, policy, stops)
        r = run_engine(transfers, seeds, policy, "forward", stops)
        assert engine_ends(r) == ends, (policy, "forward")
        assert {k: v for k, v in r.fees.items() if v} == fees
        assert r.history_gaps == gaps
        back = run_engine(transfers, seeds, policy, "backward", stops)
        assert engine_ends(back) == oracle_backward(transfers, seeds, policy, stops), (policy, "backward")


def test_limits_stop_where_documented() -> None:
    # V -> A (seed) -> B -> D: with hops=1 the trace stops at B; with a threshold above B's share, too.
    transfers = [tr(V, A, 50), tr(C, A, 50), tr(A, B, 40), tr(B, D, 40)]
    g = graph_of(transfers, 16)
    r = trace_account(g, {0}, policy="haircut", limits=Limits(hops=1))
    assert engine_ends(r) == {(A, ETH, "unspent"): 30, (B, ETH, "hop_limit"): 20}
    r = trace_account(g, {0}, policy="haircut", limits=Limits(min_value=21))
    assert engine_ends(r) == {(A, ETH, "unspent"): 30, (B, ETH, "threshold"): 20}
    r = trace_account(g, {0}, policy="haircut", limits=Limits(until=2))
    assert engine_ends(r) == {(A, ETH, "unspent"): 30, (B, ETH, "time_limit"): 20}
    r = trace_account(g, {0}, policy="fifo", limits=Limits(max_txs=2))
    assert r.truncated and sum(e.amount for e in r.endpoints if e.reason == "truncated") == 50
    r = trace_account(g, {3}, direction="backward", policy="fifo", limits=Limits(hops=1))
    assert engine_ends(r) == {(A, ETH, "hop_limit"): 40}
    r = trace_account(g, {3}, direction="backward", policy="haircut", limits=Limits(since=1))
    assert engine_ends(r) == {(A, ETH, "time_limit"): 20, (C, ETH, "unknown_history"): 20}


def test_every_reason_is_rendered() -> None:
    from fundtrail.trace.account_engine import REASONS
    from fundtrail.trace.account_report import _REASON_TEXT

    assert set(_REASON_TEXT) == set(REASONS)



# -- several seeds, downstream seeds, and the accounting identity (issue 12 items 1 and 16) -----
def _identity(r) -> dict:
    """Per asset: seed value + absorbed - (endpoints + fees); all zero when the trace accounts for
    every traced unit."""
    out: dict = {}
    for x in set(r.seed_value) | {e.asset for e in r.endpoints} | set(r.fees) | set(r.absorbed):
        ends = sum((e.amount for e in r.endpoints if e.asset == x), 0)
        out[x] = r.seed_value.get(x, 0) + r.absorbed.get(x, 0) - ends - r.fees.get(x, 0)
    return {x: v for x, v in out.items() if v}


# V pays A 100 (seed 1), A pays B 60 (seed 2, downstream of seed 1): the 60 is traced once.
CHAIN = [tr(V, A, 100), tr(A, B, 60)]


@pytest.mark.parametrize("policy", POLICIES)
def test_downstream_seed_is_not_counted_twice(policy: str) -> None:
    r = run_engine(CHAIN, {0, 1}, policy, "forward")
    assert engine_ends(r) == {(A, ETH, "unspent"): 40, (B, ETH, "unspent"): 60}
    assert r.seed_gross == {ETH: 160} and r.retraced == {ETH: 60} and r.seed_value == {ETH: 100}
    assert not r.absorbed and not _identity(r)
    back = run_engine(CHAIN, {0, 1}, policy, "backward")
    assert engine_ends(back) == {(V, ETH, "unknown_history"): 100}
    # backward, the earlier seed is the one reached again: under poison the 60 came from all of A's
    # 100, so that seed adds nothing new (60 put in, 40 absorbed); the other policies trace 60 of it
    assert back.seed_value == {ETH: 60 if policy == "poison" else 100} and not _identity(back)
    assert back.absorbed == ({ETH: 40} if policy == "poison" else {})


def test_poison_accounts_for_the_clean_value_it_absorbs() -> None:
    # A holds 30 clean when 50 stolen arrive; pays B 20; D adds 10 clean to B: 30 + 10 absorbed.
    transfers = [tr(C, A, 30), tr(V, A, 50), tr(A, B, 20), tr(D, B, 10)]
    r = run_engine(transfers, {1}, "poison", "forward")
    assert engine_ends(r) == {(A, ETH, "unspent"): 60, (B, ETH, "unspent"): 30}
    assert r.seed_value == {ETH: 50} and r.absorbed == {ETH: 40} and not _identity(r)
    # backward from B's 20: poison says A's 30 and 50 both funded it (60 more than it carried)
    back = run_engine(transfers, {2}, "poison", "backward")
    assert engine_ends(back) == {(C, ETH, "unknown_history"): 30, (V, ETH, "unknown_history"): 50}
    assert back.absorbed == {ETH: 60} and not _identity(back)


def _downstream_seeds(rng: random.Random, transfers: list[dict]) -> set[int]:
    """A few seeds, each further one a transfer sent by the recipient of an earlier seed when there is
    one (a seed downstream of another), or all that an address received (an address seed)."""
    first = rng.randrange(len(transfers))
    seeds = {first}
    for _ in range(rng.randrange(1, 4)):
        prev = transfers[rng.choice(sorted(seeds))]
        later = [i for i, t in enumerate(transfers) if t["from"] is not None and t["from"] == prev["to"]
                 and t["asset"] == prev["asset"] and i > min(seeds)]
        if later and rng.random() < 0.7:
            seeds.add(rng.choice(later))
        else:
            to = rng.randrange(7)
            seeds |= {i for i, t in enumerate(transfers) if t["to"] == to}
    return seeds


@pytest.mark.parametrize("seed", range(150))
def test_several_seeds_conserve_under_every_policy(seed: int) -> None:
    rng = random.Random(1000 + seed)
    transfers = random_transfers(rng, rng.randrange(5, 70))
    seeds = _downstream_seeds(rng, transfers)
    stops = frozenset(rng.sample(range(7), k=rng.choice([0, 1])))
    for policy in POLICIES:
        for direction, oracle in (("forward", oracle_forward), ("backward", oracle_backward)):
            acc: dict = {}
            want = oracle(transfers, seeds, policy, stops, accounting=acc)
            r = run_engine(transfers, seeds, policy, direction, stops)
            assert engine_ends(r) == (want[0] if direction == "forward" else want), (policy, direction)
            assert r.retraced == acc["overlap"], (policy, direction)
            assert r.absorbed == acc["absorbed"], (policy, direction)
            assert not _identity(r), (policy, direction)
            if policy != "poison":
                assert not r.absorbed


@pytest.mark.parametrize("policy", POLICIES)
def test_a_cut_walk_still_takes_the_downstream_seed_out_of_its_sender(policy: str) -> None:
    # the budget runs out after A's first event: A must still give up the 50 its later seed takes
    transfers = [tr(V, A, 100), tr(A, B, 10), tr(A, C, 50)]
    g = graph_of(transfers, 16)
    for limits in (Limits(max_txs=1), Limits(until=0)):
        r = trace_account(g, {0, 2}, policy=policy, limits=limits)
        reason = "truncated" if limits.max_txs == 1 else "time_limit"
        assert r.seed_value == {ETH: 100} and r.retraced == {ETH: 50}
        held = "truncated" if limits.max_txs == 1 else "unspent"  # the seed reached C; C did nothing after
        assert engine_ends(r) == {(A, ETH, reason): 40, (B, ETH, reason): 10, (C, ETH, held): 50}


@pytest.mark.parametrize("seed", range(40))
def test_budget_and_window_cuts_keep_the_identity(seed: int) -> None:
    rng = random.Random(5000 + seed)
    transfers = random_transfers(rng, rng.randrange(10, 70))
    seeds = _downstream_seeds(rng, transfers)
    g = graph_of(transfers, 16)
    for limits in (Limits(max_txs=rng.randrange(1, 12)), Limits(until=rng.randrange(len(transfers))),
                   Limits(hops=1), Limits(min_value=20)):
        for policy in POLICIES:
            for direction in ("forward", "backward"):
                r = trace_account(g, seeds, direction=direction, policy=policy, limits=limits)
                assert not _identity(r), (policy, direction, limits)
                full = trace_account(g, seeds, direction=direction, policy=policy)
                assert all(r.seed_value[x] >= full.seed_value[x] for x in full.seed_value)
