"""The verifier's own taint policies (`fundtrail.verify.taint`) on the worked examples of
docs/taint-policies.md, computed by hand there: inputs 60 tainted + 40 clean, outputs X 50 and
Y 40, fee 10. The saved-trace recomputation rests on these (test_bundle_good checks them against
the engine on a whole simulated case)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from fundtrail.verify import taint

OUTS = [50, 40]


def ins(policy: str, tainted_first: bool = True) -> list[tuple[int, object]]:
    t, c = (60, taint.seed(policy, 60)), (40, None)
    return [t, c] if tainted_first else [c, t]


def sat(state: object) -> Fraction:
    """A state's amount in satoshi (the verifier counts in units of 2^-256 sat)."""
    return Fraction(taint.amount(state)) / taint.ONE


def amounts(states: list[object], fee: object) -> tuple[object, ...]:
    return (*(sat(s) for s in states), sat(fee))


@pytest.mark.parametrize("policy,tainted_first,expected", [
    ("poison", True, (50, 40, 10)),
    ("haircut", True, (30, 24, 6)),
    ("fifo", True, (50, 10, 0)),
    ("fifo", False, (10, 40, 10)),
    ("lifo", True, (10, 40, 10)),  # the clean 40 is laid first
    ("lifo", False, (50, 10, 0)),
    ("tiho", True, (50, 10, 0)),
    ("tiho", False, (50, 10, 0)),  # order does not matter: the largest output first
])
def test_worked_examples_of_the_policy_page(policy: str, tainted_first: bool, expected: tuple[int, ...]) -> None:
    states, fee = taint.forward(policy, ins(policy, tainted_first), OUTS)
    assert amounts(states, fee) == expected


def test_clean_inputs_give_clean_outputs() -> None:
    for policy in taint.DEFINITIONS:
        states, fee = taint.forward(policy, [(60, None), (40, None)], OUTS)
        assert states == [None, None] and fee is None


def test_fifo_keeps_the_position_of_tainted_satoshi_across_hops() -> None:
    """An output tainted in its last half: spent first into a 50 output, that output is clean."""
    states, _ = taint.forward("fifo", [(40, None), (60, taint.seed("fifo", 60))], [50, 50])
    assert states == [((40, 50),), ((0, 50),)]
    second, _ = taint.forward("fifo", [(50, states[0])], [30, 20])
    assert second == [None, ((10, 20),)]  # the tainted 10 sat sat at the end of the coin


def test_backward_duals() -> None:
    traced_y = [(50, None), (40, taint.seed("fifo", 40))]  # output Y at [50, 90) of the line is traced back
    assert [sat(s) for s in taint.backward("fifo", [60, 40], traced_y)] == [10, 30]
    assert [sat(s) for s in taint.backward("lifo", [60, 40], traced_y)] == [40, 0]  # [40, 100): the 60
    for exact in (False, True):
        haircut = taint.backward("haircut", [60, 40], [(50, None), (40, taint.seed("haircut", 40, exact))])
        assert [sat(s) for s in haircut] == [24, 16]
    assert [sat(s) for s in taint.backward("tiho", [60, 40], [(50, None), (40, taint.seed("tiho", 40))])] == [40, 0]
    poison = taint.backward("poison", [60, 40], [(50, None), (40, taint.seed("poison", 40))])
    assert [sat(s) for s in poison] == [60, 40]


def test_lifo_backward_takes_the_last_input_first() -> None:
    got = taint.backward("lifo", [60, 40], [(30, taint.seed("lifo", 30)), (60, None)])
    assert [sat(s) for s in got] == [0, 30]  # the last input (40) funds the first 30 paid


def test_whole_satoshi_as_the_trace_json_states_them() -> None:
    one = taint.ONE
    for kind in (int, Fraction):  # grid units, and exact fractions of units
        assert taint.whole_sat(kind(7 * one // 2)) == 3
        assert taint.whole_sat(kind(5 * one - (one >> 70))) == 5  # within 2^-64 under: that satoshi
        assert taint.whole_sat(kind(5 * one - (one >> 64))) == 5  # exactly 2^-64 under: still
        assert taint.whole_sat(kind(5 * one - (one >> 64) - 1)) == 4  # one unit more: not
        assert taint.whole_sat(kind(5 * one - (one >> 60))) == 4
        assert taint.whole_sat(kind(12 * one)) == 12
        assert taint.whole_sat(kind(-(one >> 100))) == 0  # rounding noise of a total that is exactly 0
        assert taint.whole_sat(kind(-7 * one // 2)) == -3  # toward zero, as int() of a fraction
    assert taint.whole_sat(Fraction(one, 3)) == 0 and taint.whole_sat(Fraction(10 * one, 3)) == 3


def test_haircut_grid_rounds_each_share_and_the_fee_takes_the_rest() -> None:
    """Thirds do not fall on the grid: each output gets its share rounded to the nearest unit (within
    half a unit of the exact third), and the fee what is left, so nothing is created or lost."""
    ins_ = [(3, taint.seed("haircut", 1)), (0, None)]  # 1 sat tainted of 3
    states, fee = taint.forward("haircut", ins_, [1, 1])
    exact, exact_fee = taint.forward("haircut", [(3, taint.seed("haircut", 1, exact=True)), (0, None)], [1, 1])
    assert all(isinstance(s, int) for s in states) and all(isinstance(s, Fraction) for s in exact)
    assert [Fraction(s) for s in exact] == [Fraction(taint.ONE, 3)] * 2 and exact_fee == Fraction(taint.ONE, 3)
    for got, want in zip(states, exact, strict=True):
        assert abs(got - want) <= Fraction(1, 2)
    assert sum(states) + fee == taint.ONE  # conserved exactly in units
    back = taint.backward("haircut", [1, 2], [(3, taint.seed("haircut", 1))])
    assert [abs(b - Fraction(taint.ONE * v, 3)) <= Fraction(1, 2) for b, v in zip(back, (1, 2), strict=True)] == [
        True, True]


def test_haircut_grid_stays_within_its_bound_of_exact_fractions_over_many_merges() -> None:
    """A random web of 400 transactions (1-3 inputs, 2-4 outputs and a fee, odd values so that denominators
    grow with each merge), run forward in both arithmetics: every output's amount on the grid is
    within (outputs so far) x 2^-256 sat of the exact one (docs/verify.md, "Haircut on a 2^-256-sat
    grid"), and the total error of the unspent outputs and fees within that bound too."""
    rng = random.Random(16)
    grid: dict[int, tuple[int, object]] = {}
    exact: dict[int, tuple[int, object]] = {}
    seeds = []
    for n in range(8):
        value = rng.randrange(10**5, 10**8) | 1
        seeds.append(value)
        grid[n], exact[n] = (value, taint.seed("haircut", value)), (value, taint.seed("haircut", value, exact=True))
    for n in range(8):  # clean coins too
        value = rng.randrange(10**5, 10**8) | 1
        grid[100 + n] = exact[100 + n] = (value, None)
    fees_g: list[object] = []
    fees_x: list[object] = []
    outputs, at = 0, 1000
    for _ in range(400):
        spent = rng.sample(sorted(grid), min(len(grid), rng.randint(1, 3)))
        ins_g, ins_x = [grid.pop(k) for k in spent], [exact.pop(k) for k in spent]
        total = sum(v for v, _ in ins_g)
        cuts = sorted(rng.sample(range(1, total), min(total - 1, rng.randint(2, 4))))
        outs = [b - a for a, b in zip([0, *cuts], cuts)]  # the rest of `total` is the fee
        got_g, fee_g = taint.forward("haircut", ins_g, outs)
        got_x, fee_x = taint.forward("haircut", ins_x, outs)
        outputs += len(outs)
        bound = outputs  # units of 2^-256 sat
        for v, sg, sx in zip(outs, got_g, got_x, strict=True):
            assert abs(taint.amount(sg) - taint.amount(sx)) <= bound
            grid[at], exact[at] = (v, sg), (v, sx)
            at += 1
        fees_g.append(fee_g)
        fees_x.append(fee_x)
    assert any(isinstance(s, Fraction) and s.denominator > 1 << 256 for _, s in exact.values())  # truly off-grid
    error = sum(abs(taint.amount(grid[k][1]) - taint.amount(exact[k][1])) for k in grid)
    error += sum(abs(taint.amount(g) - taint.amount(x)) for g, x in zip(fees_g, fees_x, strict=True))
    assert 0 < error <= outputs  # rounding happened, and stayed within the bound
    seeded = sum(seeds) * taint.ONE  # the grid loses nothing: seeds = unspent + fees, exactly in units
    assert sum(taint.amount(s) for _, s in grid.values()) + sum(taint.amount(f) for f in fees_g) == seeded
