"""The verifier's own taint policies (`fundtrail.verify.taint`) on the worked examples of
docs/taint-policies.md, computed by hand there: inputs 60 tainted + 40 clean, outputs X 50 and
Y 40, fee 10. The saved-trace recomputation rests on these (test_bundle_good checks them against
the engine on a whole simulated case)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from fundtrail.verify import taint

OUTS = [50, 40]


def ins(policy: str, tainted_first: bool = True) -> list[tuple[int, object]]:
    t, c = (60, taint.seed(policy, 60)), (40, None)
    return [t, c] if tainted_first else [c, t]


def amounts(states: list[object], fee: object) -> tuple[object, ...]:
    return (*(taint.amount(s) for s in states), taint.amount(fee))


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
    assert [taint.amount(s) for s in taint.backward("fifo", [60, 40], traced_y)] == [10, 30]
    assert [taint.amount(s) for s in taint.backward("lifo", [60, 40], traced_y)] == [40, 0]  # [40, 100): the 60
    haircut = taint.backward("haircut", [60, 40], [(50, None), (40, Fraction(40))])
    assert haircut == [Fraction(24), Fraction(16)]
    assert taint.backward("tiho", [60, 40], [(50, None), (40, 40)]) == [40, None]
    assert taint.backward("poison", [60, 40], [(50, None), (40, 40)]) == [60, 40]


def test_lifo_backward_takes_the_last_input_first() -> None:
    got = taint.backward("lifo", [60, 40], [(30, taint.seed("lifo", 30)), (60, None)])
    assert [taint.amount(s) for s in got] == [0, 30]  # the last input (40) funds the first 30 paid


def test_whole_satoshi_as_the_trace_json_states_them() -> None:
    assert taint.whole_sat(Fraction(7, 2)) == 3
    assert taint.whole_sat(Fraction(5) - Fraction(1, 1 << 70)) == 5  # within 2^-64 under: that satoshi
    assert taint.whole_sat(Fraction(5) - Fraction(1, 1 << 60)) == 4
    assert taint.whole_sat(12) == 12
