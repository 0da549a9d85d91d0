"""The account-model taint oracle on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from fundtrail.errors import DataError
from fundtrail.sim.evm.oracle import Transfer, fraction_text, trace_policy

V, C, A, X, Y, P, POOL, U1, U2, Z1, Z2 = ("victim", "clean", "crook", "x", "y", "pair", "pool",
                                          "u1", "u2", "z1", "z2")
TOKEN = "0xtoken"


def moves(*rows: tuple) -> list[Transfer]:
    """Rows (tx, kind, from, to, asset, amount) -> transfers numbered in order."""
    return [Transfer(i, tx, kind, frm, to, asset, amount)
            for i, (tx, kind, frm, to, asset, amount) in enumerate(rows)]


def hits(result) -> dict:
    out: dict = {}
    for t, dirty in result.hits:
        out[(t.to, t.asset)] = out.get((t.to, t.asset), F(0)) + dirty
    return out


def _mixed(seed_first: bool) -> list[Transfer]:
    seed = ("t1", "native", V, A, "ETH", 100)
    clean = ("t2", "native", C, A, "ETH", 300)
    first, second = (seed, clean) if seed_first else (clean, seed)
    return moves(first, second, ("t3", "native", A, X, "ETH", 200), ("t4", "native", A, Y, "ETH", 200))


@pytest.mark.parametrize(("policy", "seed_first", "x", "y"), [
    ("poison", True, 200, 200),
    ("haircut", True, 50, 50),
    ("fifo", True, 100, 0),  # X takes the 100 dirty at the head, then 100 clean
    ("fifo", False, 0, 100),  # the clean 300 arrived first: X takes 200 of it
    ("haircut", False, 50, 50),  # haircut does not care about order
])
def test_one_address_mixing_clean_and_dirty(policy: str, seed_first: bool, x: int, y: int) -> None:
    transfers = _mixed(seed_first)
    seeds = {0 if seed_first else 1}
    result = trace_policy(policy, transfers, seeds, {A})
    got = hits(result)
    assert got.get((X, "ETH"), 0) == x
    assert got.get((Y, "ETH"), 0) == y
    assert result.injected == {"ETH": 100}
    assert result.held == {}  # A is empty at the end


def _swap_case() -> list[Transfer]:
    return moves(
        ("t1", "native", V, A, "ETH", 10),  # seed
        ("t2", "native", C, A, "ETH", 10),  # clean
        ("t3", "fee", A, None, "ETH", 1),
        ("t3", "native", A, P, "ETH", 4),  # swap: 4 ETH in ...
        ("t3", "erc20", P, A, TOKEN, 12_000),  # ... 12,000 tokens out
        ("t4", "erc20", A, X, TOKEN, 6_000),
        ("t5", "native", A, Y, "ETH", 5),
    )


def test_haircut_through_fee_and_swap() -> None:
    r = trace_policy("haircut", _swap_case(), {0}, {A}, {P})
    got = hits(r)
    assert got[(None, "ETH")] == F(1, 2)  # the fee takes half dirty
    assert got[(P, "ETH")] == 2  # 4 * (19/2) / 19
    assert got[(X, TOKEN)] == 3_000  # the 12,000 tokens are half dirty; X gets half of them
    assert got[(Y, "ETH")] == F(5, 2)
    assert r.held == {(A, "ETH"): 5, (A, TOKEN): 3_000}


def test_fifo_through_fee_and_swap() -> None:
    r = trace_policy("fifo", _swap_case(), {0}, {A}, {P})
    got = hits(r)
    assert got[(None, "ETH")] == 1 and got[(P, "ETH")] == 4 and got[(Y, "ETH")] == 5
    assert got[(X, TOKEN)] == 6_000
    assert r.held == {(A, TOKEN): 6_000}  # the 10 clean ETH left are clean


def test_poison_through_fee_and_swap() -> None:
    r = trace_policy("poison", _swap_case(), {0}, {A}, {P})
    got = hits(r)
    assert got[(X, TOKEN)] == 6_000 and got[(Y, "ETH")] == 5 and got[(None, "ETH")] == 1
    assert r.held == {(A, "ETH"): 10, (A, TOKEN): 6_000}  # poison: the whole balance


def _pool_case() -> list[Transfer]:
    return moves(
        ("t1", "native", V, A, "ETH", 1),  # seed
        ("t2", "native", U1, POOL, "ETH", 1),
        ("t3", "native", A, POOL, "ETH", 1),
        ("t4", "native", U2, POOL, "ETH", 1),
        ("t5", "internal", POOL, Z1, "ETH", 1),
        ("t6", "internal", POOL, Z2, "ETH", 1),
    )


@pytest.mark.parametrize(("policy", "z1", "z2", "held"), [
    ("fifo", 0, 1, {}),  # U1's deposit is at the head of the pool's queue
    ("haircut", F(1, 3), F(1, 3), {(POOL, "ETH"): F(1, 3)}),
    ("poison", 1, 1, {(POOL, "ETH"): 1}),
])
def test_pool_is_followed(policy: str, z1: F, z2: F, held: dict) -> None:
    r = trace_policy(policy, _pool_case(), {0}, {A, POOL})
    got = hits(r)
    assert got.get((Z1, "ETH"), 0) == z1
    assert got.get((Z2, "ETH"), 0) == z2
    assert r.held == held


def test_conservation_for_haircut_and_fifo() -> None:
    """Dirty value is neither made nor lost: hits plus held equal what was injected (ETH only here)."""
    for policy in ("haircut", "fifo"):
        r = trace_policy(policy, _pool_case(), {0}, {A, POOL})
        total = sum(d for _, d in r.hits) + sum(r.held.values())
        assert total == r.injected["ETH"] == 1


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="unknown taint policy"):
        trace_policy("lifo", _pool_case(), {0}, {A})
    overspend = moves(("t1", "native", V, A, "ETH", 1), ("t2", "native", A, X, "ETH", 2))
    for policy in ("haircut", "fifo"):
        with pytest.raises(DataError, match="crook"):
            trace_policy(policy, overspend, {0}, {A})


def test_fraction_text() -> None:
    assert fraction_text(F(6, 4)) == "3/2"
    assert fraction_text(F(10**30)) == "1" + "0" * 30
