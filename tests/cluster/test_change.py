"""Change heuristics on hand-built transactions: each rule's premise, its abstentions, the consensus."""

from __future__ import annotations

import numpy as np
import pytest

from fundtrail.cluster import change
from fundtrail.cluster.heuristics_build import In, Out, Tx, build_view
from fundtrail.errors import UsageError

P2PKH, P2SH, P2WPKH, P2TR, OPRET = 2, 3, 4, 6, 8
RULE = {name: r for r, name in enumerate(change.HEURISTIC_NAMES)}
RBF = 0xFFFFFFFD


def votes(rule: str, *txs: Tx) -> list[tuple[int, float]]:
    """(output n within its tx or -1, confidence) of one rule for every tx."""
    view = build_view(txs)
    cand, conf = change.per_rule(view)
    c = cand[RULE[rule]]
    n = np.where(c >= 0, c - view.out_ptr[:-1], -1)
    return [(int(k), round(float(x), 3)) for k, x in zip(n, conf[RULE[rule]])]


def background() -> list[Tx]:
    """Tx 0 pays addresses 50 and 51 once, so they count as used before what follows."""
    return [Tx(ins=[In(1, 10_000_000)], outs=[Out(50, 1_000_000), Out(51, 2_000_000)])]


# -- address reuse ---------------------------------------------------------------------------


def test_self_change_back_to_an_input_address() -> None:
    t = Tx(ins=[In(1, 5_000_000), In(2, 1_000_000)], outs=[Out(3, 4_000_000), Out(2, 1_990_000)])
    assert votes("address_reuse", t) == [(1, 0.9)]


def test_two_outputs_back_to_inputs_is_no_vote() -> None:
    t = Tx(ins=[In(1, 5_000_000), In(2, 1_000_000)], outs=[Out(1, 4_000_000), Out(2, 1_990_000)])
    assert votes("address_reuse", t) == [(-1, 0.0)]


def test_only_fresh_output_is_one_time_change() -> None:
    pay_reused = Tx(ins=[In(7, 9_000_000)], outs=[Out(50, 3_000_000), Out(60, 5_990_000)])
    both_fresh = Tx(ins=[In(8, 9_000_000)], outs=[Out(61, 3_000_000), Out(62, 5_990_000)])
    got = votes("address_reuse", *background(), pay_reused, both_fresh)
    assert got[1:] == [(1, 0.7), (-1, 0.0)]


# -- script type -----------------------------------------------------------------------------


def test_output_matching_the_inputs_script_type() -> None:
    t = Tx(ins=[In(1, 5_000_000, P2PKH), In(2, 3_000_000, P2PKH)],
           outs=[Out(3, 6_000_000, P2WPKH), Out(4, 1_990_000, P2PKH)])
    assert votes("script_type", t) == [(1, 0.7)]


def test_script_type_abstains_on_mixed_or_unknown_inputs_and_on_ties() -> None:
    mixed = Tx(ins=[In(1, 5_000_000, P2PKH), In(2, 3_000_000, P2SH)],
               outs=[Out(3, 6_000_000, P2WPKH), Out(4, 1_990_000, P2PKH)])
    unresolved = Tx(ins=[In()], outs=[Out(5, 6_000_000, P2WPKH), Out(6, 1_990_000, P2PKH)])
    tie = Tx(ins=[In(7, 9_000_000)], outs=[Out(8, 6_000_000), Out(9, 1_990_000)])
    assert votes("script_type", mixed, unresolved, tie) == [(-1, 0.0)] * 3


# -- optimal change --------------------------------------------------------------------------


def test_output_smaller_than_every_input() -> None:
    t = Tx(ins=[In(1, 5_000_000), In(2, 3_000_000)], outs=[Out(3, 6_000_000), Out(4, 1_990_000)])
    assert votes("optimal_change", t) == [(1, 0.7)]


def test_optimal_change_abstains() -> None:
    one_input = Tx(ins=[In(1, 5_000_000)], outs=[Out(3, 3_000_000), Out(4, 1_990_000)])
    unresolved = Tx(ins=[In(2, 5_000_000), In()], outs=[Out(5, 6_000_000), Out(6, 1_990_000)])
    both_small = Tx(ins=[In(7, 5_000_000), In(8, 4_000_000)], outs=[Out(9, 3_000_000), Out(10, 2_000_000)])
    assert votes("optimal_change", one_input, unresolved, both_small) == [(-1, 0.0)] * 3


# -- round payment ---------------------------------------------------------------------------


def test_non_round_output_is_change() -> None:
    t = Tx(ins=[In(1, 9_000_000)], outs=[Out(2, 5_000_000), Out(3, 3_987_654)])
    assert votes("round_payment", t) == [(1, 0.6)]


def test_round_payment_abstains_when_both_or_neither_round() -> None:
    both = Tx(ins=[In(1, 9_000_000)], outs=[Out(2, 5_000_000), Out(3, 3_990_000)])
    neither = Tx(ins=[In(4, 9_000_000)], outs=[Out(5, 5_012_345), Out(6, 3_977_655)])
    assert votes("round_payment", both, neither) == [(-1, 0.0)] * 2


def test_op_return_is_never_change() -> None:
    t = Tx(ins=[In(1, 9_000_000)], outs=[Out(None, 0, OPRET), Out(2, 5_000_000), Out(3, 3_987_654)])
    assert votes("round_payment", t) == [(2, 0.6)]
    only = Tx(ins=[In(1, 9_000_000)], outs=[Out(None, 0, OPRET), Out(2, 8_987_654)])
    assert votes("round_payment", only) == [(-1, 0.0)]  # a single coin output: nothing to choose


# -- wallet fingerprint ----------------------------------------------------------------------


def test_output_spent_with_the_same_fingerprint() -> None:
    a = Tx(ins=[In(1, 9_000_000, sequence=RBF)], outs=[Out(2, 5_000_000), Out(3, 3_987_654)],
           version=2, locktime=800_000)
    same = Tx(ins=[In(prev=(0, 1), sequence=RBF)], outs=[Out(4, 3_900_000)], version=2, locktime=800_001)
    other = Tx(ins=[In(prev=(0, 0))], outs=[Out(5, 4_990_000)], version=1, locktime=0)
    assert votes("fingerprint", a, same, other)[0] == (1, 0.55)


def test_fingerprint_abstains_with_one_known_spender_or_no_difference() -> None:
    a = Tx(ins=[In(1, 9_000_000)], outs=[Out(2, 5_000_000), Out(3, 3_987_654)])
    spender = Tx(ins=[In(prev=(0, 1))], outs=[Out(4, 3_900_000)])
    assert votes("fingerprint", a, spender)[0] == (-1, 0.0)
    both_same = Tx(ins=[In(prev=(0, 0))], outs=[Out(5, 4_990_000)])
    assert votes("fingerprint", a, spender, both_same)[0] == (-1, 0.0)


# -- peel chain ------------------------------------------------------------------------------


def test_peel_chain_larger_output_continues() -> None:
    hop0 = Tx(ins=[In(1, 100_000_000)], outs=[Out(10, 8_000_000), Out(11, 91_990_000)])
    hop1 = Tx(ins=[In(prev=(0, 1))], outs=[Out(20, 84_000_000), Out(21, 7_980_000)])
    hop2 = Tx(ins=[In(prev=(1, 0))], outs=[Out(30, 5_000_000), Out(31, 78_990_000)])
    got = votes("peel_chain", hop0, hop1, hop2)
    # hop 0 continues forward, hop 1 both ways, hop 2 only comes from a peel step
    assert got == [(1, 0.75), (0, 0.85), (1, 0.6)]


def test_peel_chain_needs_a_lopsided_split_and_a_chain() -> None:
    even = Tx(ins=[In(1, 100_000_000)], outs=[Out(10, 48_000_000), Out(11, 51_990_000)])
    nxt = Tx(ins=[In(prev=(0, 1))], outs=[Out(20, 40_000_000), Out(21, 11_980_000)])
    alone = Tx(ins=[In(2, 100_000_000)], outs=[Out(30, 8_000_000), Out(31, 91_990_000)])
    got = votes("peel_chain", even, nxt, alone)
    assert got[0] == (-1, 0.0) and got[2] == (-1, 0.0)


# -- consensus -------------------------------------------------------------------------------


def test_agreeing_votes_combine_as_noisy_or() -> None:
    t = Tx(ins=[In(1, 5_000_000, P2PKH), In(2, 3_000_000, P2PKH)],
           outs=[Out(3, 6_000_000, P2WPKH), Out(4, 1_987_654, P2PKH)])
    res = change.consensus(build_view([t]))
    assert int(res.out_index[0]) == 1
    # script_type 0.7, optimal_change 0.7, round_payment 0.6: 1 - 0.3 * 0.3 * 0.4
    assert float(res.confidence[0]) == pytest.approx(0.964, abs=1e-6)
    bits = {n for b, n in enumerate(change.HEURISTIC_NAMES) if int(res.votes[0]) >> b & 1}
    assert bits == {"script_type", "optimal_change", "round_payment"}


def test_conflicting_votes_lower_confidence() -> None:
    # self-change says output 1 (0.9); round payment says output 0 (0.6)
    t = Tx(ins=[In(1, 9_000_000), In(2, 1_000_000)], outs=[Out(3, 4_012_345), Out(2, 5_980_000)])
    res = change.consensus(build_view([t]))
    assert int(res.out_index[0]) == 1
    assert float(res.confidence[0]) == pytest.approx(0.9 * (1 - 0.6), abs=1e-6)


def test_consensus_skips_coinjoins_and_coinbases() -> None:
    mix = Tx(ins=[In(1 + k, 1_000_000 + (0, 1_700, 0, 2_450, 910)[k]) for k in range(5)],
             outs=[Out(10 + k, 1_000_000) for k in range(5)])
    cb = Tx(coinbase=True, outs=[Out(20, 312_500_000), Out(21, 1_234)])
    res = change.consensus(build_view([mix, cb]))
    assert res.out_index.tolist() == [-1, -1] and res.votes.tolist() == [0, 0]


def test_explain_lists_each_vote_and_the_consensus() -> None:
    t = Tx(ins=[In(1, 5_000_000, P2PKH), In(2, 3_000_000, P2PKH)],
           outs=[Out(3, 6_000_000, P2WPKH), Out(4, 1_987_654, P2PKH)])
    ev = change.explain(build_view([t]), 0)
    assert [e.rule for e in ev] == ["script_type", "optimal_change", "round_payment", "change_consensus"]
    assert ev[1].details["smallest_input"] == 3_000_000 and ev[1].details["output_n"] == 1
    assert "Nick 2015" in ev[1].source
    assert ev[-1].details["votes"] == ["script_type", "optimal_change", "round_payment"]
    assert ev[-1].as_dict()["confidence"] == pytest.approx(0.964)


def test_empty_view() -> None:
    res = change.consensus(build_view([]))
    assert res.out_index.shape == (0,)


def test_bad_index_and_bad_prev_are_one_line_errors() -> None:
    view = build_view([Tx(ins=[In(1, 10)], outs=[Out(2, 5), Out(3, 4)])])
    with pytest.raises(UsageError, match="index 1 is outside the view"):
        change.explain(view, 1)
    with pytest.raises(UsageError, match=r"tx 0: input prev \(0, 0\) names no earlier output"):
        build_view([Tx(ins=[In(prev=(0, 0))], outs=[Out(2, 5)])])
