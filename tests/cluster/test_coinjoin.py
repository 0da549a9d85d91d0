"""CoinJoin detectors on hand-built transactions: each protocol's published shape, its look-alikes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fundtrail.cluster import coinjoin as cj
from fundtrail.cluster.heuristics_build import In, Out, Tx, build_view

COIN = 100_000_000
P2PKH, P2SH, P2WPKH, P2TR, OPRET = 2, 3, 4, 6, 8


def verdict(*txs: Tx) -> list[tuple[str, float]]:
    res = cj.detect(build_view(txs))
    return [(cj.PROTOCOL_NAMES[int(p)], round(float(c), 3)) for p, c in zip(res.protocol, res.confidence)]


def wasabi2(n_in: int = 60, n_out: int = 70, sort: bool = True, resolved: bool = True) -> Tx:
    rng = random.Random(n_in)
    den = [int(d) for d in cj.WASABI2_DENOMS if 50_000 <= d <= 50_000_000]
    values = sorted((rng.choice(den) + rng.randrange(1, 9_999) for _ in range(n_in)), reverse=True)
    ins = [In(1000 + k, v, P2WPKH if k % 3 else P2TR) if resolved else In() for k, v in enumerate(values)]
    outs = [rng.choice(den) for _ in range(n_out - 3)] + [1_234_567, 76_543, 5_432_109]
    outs = sorted(outs, reverse=True) if sort else outs
    return Tx(ins=ins, outs=[Out(5000 + k, v, P2WPKH if k % 2 else P2TR) for k, v in enumerate(outs)])


def wasabi1(resolved: bool = True) -> Tx:
    base = 9_960_000  # ~0.1 BTC: the base denomination drifted with the round's fee
    ins = [In(1000 + k, base + 3_000_000 + 7_919 * k) if resolved else In() for k in range(55)]
    outs = [Out(5000 + k, base) for k in range(48)] + [Out(6000 + k, 2 * base) for k in range(3)]
    outs += [Out(7000, 3_201_000), Out(7001, 117_000_000 // 97), Out(7002, 1_555_321)]  # fee, change
    return Tx(ins=ins, outs=outs)


def whirlpool_mix(pool: int = 1_000_000, resolved: bool = True) -> Tx:
    extra = [0, 1_700, 0, 2_450, 910]  # remixes (== pool) and premixes (pool + miner fee)
    ins = [In(1000 + k, pool + e) if resolved else In() for k, e in enumerate(extra)]
    return Tx(ins=ins, outs=[Out(2000 + k, pool) for k in range(5)])


def tx0(premixes: int = 8, fee: bool = True) -> Tx:
    outs = [Out(None, 0, OPRET)]
    if fee:
        outs.append(Out(3000, 42_500))  # pool fee (5 % of 0.01 BTC, discounted)
    outs += [Out(3001 + k, 1_000_330) for k in range(premixes)] + [Out(3100, 1_837_121)]
    return Tx(ins=[In(4000, 10_000_000 + 42_500 * 3)], outs=outs)


def joinmarket(n: int = 5, script: int = P2WPKH) -> Tx:
    amount = 3_123_457
    change = [400_000 + 99_991 * k for k in range(n - 1)]  # makers' change; the taker sweeps
    ins = [In(1000 + k, amount + c + 1_500, script) for k, c in enumerate(change)]
    ins.append(In(1999, amount + 9_000, script))
    outs = [Out(2000 + k, amount, script) for k in range(n)]
    outs += [Out(3000 + k, c, script) for k, c in enumerate(change)]
    return Tx(ins=ins, outs=outs)


def test_wasabi2_is_detected_and_its_ordering_raises_confidence() -> None:
    (sorted_, c1), (unsorted, c2) = verdict(wasabi2(), wasabi2(sort=False))
    assert sorted_ == unsorted == "wasabi2"
    assert c1 == 0.99 and c2 == pytest.approx(0.87)


def test_wasabi2_with_unresolved_inputs_still_detected() -> None:
    assert verdict(wasabi2(resolved=False)) == [("wasabi2", 0.99)]


def test_wasabi1_zerolink_round() -> None:
    assert verdict(wasabi1(), wasabi1(resolved=False)) == [("wasabi1", 0.97), ("wasabi1", 0.95)]


def test_wasabi1_needs_bech32_outputs() -> None:
    tx = wasabi1()
    legacy = Tx(ins=tx.ins, outs=[Out(o.address, o.value, P2PKH) for o in tx.outs])
    assert verdict(legacy)[0][0] != "wasabi1"


@pytest.mark.parametrize("pool", [100_000, 1_000_000, 5_000_000, 50_000_000])
def test_whirlpool_mix_every_pool(pool: int) -> None:
    assert verdict(whirlpool_mix(pool)) == [("whirlpool_mix", 0.99)]


def test_whirlpool_mix_unresolved_inputs_lower_confidence() -> None:
    assert verdict(whirlpool_mix(resolved=False)) == [("whirlpool_mix", 0.95)]


def test_five_equal_outputs_but_an_input_far_above_the_pool_is_not_a_mix() -> None:
    tx = whirlpool_mix()
    ins = list(tx.ins[:4]) + [In(99, 50_000_000)]
    assert verdict(Tx(ins=ins, outs=tx.outs))[0][0] != "whirlpool_mix"


def test_whirlpool_tx0_with_fee_op_return_and_change() -> None:
    assert verdict(tx0(), tx0(fee=False), tx0(premixes=1)) == [
        ("whirlpool_tx0", 0.95), ("whirlpool_tx0", 0.85), ("whirlpool_tx0", 0.75)]


def test_tx0_needs_its_op_return() -> None:
    t = tx0()
    assert verdict(Tx(ins=t.ins, outs=t.outs[1:]))[0][0] != "whirlpool_tx0"


def test_joinmarket_shape() -> None:
    assert verdict(joinmarket(), joinmarket(3), joinmarket(script=P2SH)) == [
        ("joinmarket", 0.9), ("joinmarket", 0.9), ("joinmarket", 0.9)]


def test_joinmarket_mixed_script_types_lower_confidence() -> None:
    t = joinmarket()
    outs = list(t.outs)
    outs[-1] = Out(outs[-1].address, outs[-1].value, P2PKH)
    assert verdict(Tx(ins=t.ins, outs=outs)) == [("joinmarket", 0.75)]


def test_joinmarket_taker_pays_miner_and_maker_fees() -> None:
    amount, maker_fee, miner_fee = 2_500_000, 2_000, 15_000
    makers = [In(10 + k, amount + 300_000 + 7_777 * k) for k in range(3)]
    taker = In(20, amount + 19_000_000 + 3 * maker_fee + miner_fee)  # brings the fees too
    outs = [Out(30 + k, amount) for k in range(4)]
    outs += [Out(40 + k, 300_000 + 7_777 * k + maker_fee) for k in range(3)] + [Out(50, 19_000_000)]
    assert verdict(Tx(ins=makers + [taker], outs=outs)) == [("joinmarket", 0.9)]


def test_joinmarket_rejects_an_input_no_participant_could_bring() -> None:
    t = joinmarket()
    ins = list(t.ins[:-1]) + [In(77, 90 * COIN)]
    assert verdict(Tx(ins=ins, outs=t.outs))[0][0] not in ("joinmarket",)


def test_generic_two_equal_outputs_stays_below_the_floor() -> None:
    t = Tx(ins=[In(1, 3_000_000), In(2, 2_500_000)],
           outs=[Out(3, 2_000_000), Out(4, 2_000_000), Out(5, 1_480_000)])
    assert verdict(t) == [("generic", 0.3)]


# -- look-alikes that must stay unflagged -----------------------------------------------------


def test_batched_exchange_withdrawal_is_not_a_coinjoin() -> None:
    rng = random.Random(5)
    hot = 42  # the hot wallet spends many of its own coins: one address
    ins = [In(hot, 20 * COIN + k) for k in range(20)]
    values = [10_000_000] * 12 + [1_000_000] * 10 + [rng.randrange(50_000, 90_000_000) for _ in range(80)]
    outs = [Out(100 + k, v) for k, v in enumerate(values)] + [Out(hot, 33 * COIN)]
    assert verdict(Tx(ins=ins, outs=outs)) == [("none", 0.0)]


def test_batched_withdrawal_of_round_denominations_is_not_wasabi2() -> None:
    hot = 42
    den = [int(d) for d in cj.WASABI2_DENOMS if 1_000_000 <= d <= 100_000_000]
    outs = sorted((den[k % len(den)] for k in range(40)), reverse=True)
    tx = Tx(ins=[In(hot, 30 * COIN + k) for k in range(12)],
            outs=[Out(100 + k, v) for k, v in enumerate(outs)])
    assert verdict(tx) == [("none", 0.0)]


def test_pool_payout_and_consolidation_and_fan_out() -> None:
    payout = Tx(ins=[In(7, 50 * COIN)], outs=[Out(100 + k, 12_500_000) for k in range(30)])
    sweep = Tx(ins=[In(200 + k, 1_000_000 + k) for k in range(100)], outs=[Out(9, 99 * COIN // 100)])
    fan = Tx(ins=[In(8, 10 * COIN)], outs=[Out(300 + k, 99_000_000 + 13 * k) for k in range(8)])
    assert verdict(payout, sweep, fan) == [("none", 0.0)] * 3


def test_coinbase_single_output_and_op_return_only() -> None:
    cb = Tx(coinbase=True, outs=[Out(1, 625_000_000)] + [Out(2 + k, 1_000_000) for k in range(5)])
    single = Tx(ins=[In(3, 5_000)], outs=[Out(4, 4_000)])
    opret = Tx(ins=[In(5, 5_000)], outs=[Out(None, 0, OPRET), Out(6, 4_000)])
    assert verdict(cb, single, opret) == [("none", 0.0)] * 3


def test_explain_names_rule_source_and_facts() -> None:
    view = build_view([whirlpool_mix(), Tx(ins=[In(1, 10)], outs=[Out(2, 5), Out(3, 4)])])
    (ev,) = cj.explain(view, 0)
    assert ev.rule == "whirlpool_mix" and ev.confidence == pytest.approx(0.99)
    assert "Whirlpool" in ev.source and ev.tx_id == 100
    assert ev.details["pool_denomination"] == 1_000_000 and ev.details["equal_outputs"] == 5
    assert cj.explain(view, 1) == []
    assert cj.features(view, 0)["inputs_in_premix_range"] == 5


def test_standard_denominations_known_values() -> None:
    d = set(cj.WASABI2_DENOMS.tolist())
    for v in (5_000, 6_561, 8_192, 10_000, 13_122, 20_000, 50_000, 100_000_000, 2**36):
        assert v in d, v
    for v in (4_096, 7_000, 30_000, 134_375_000_001):
        assert v not in d, v
    assert np.all(np.diff(cj.WASABI2_DENOMS) > 0)


def test_empty_view() -> None:
    res = cj.detect(build_view([]))
    assert res.protocol.shape == (0,) and res.confidence.dtype == np.float32


def test_tx0_inputs_stay_linked_but_mix_inputs_do_not() -> None:
    """A tx0 is one user's transaction (detected, reported, yet its inputs are one wallet); a mix is not."""
    from fundtrail.cluster.links import multi_input_links

    t0 = tx0()
    t0 = Tx(ins=[In(4000, 6_000_000), In(4001, 4_127_500)], outs=t0.outs)
    view = build_view([t0, whirlpool_mix()])
    res = cj.detect(view)
    assert [cj.PROTOCOL_NAMES[int(p)] for p in res.protocol] == ["whirlpool_tx0", "whirlpool_mix"]
    links = multi_input_links(view, res, 0.5)
    assert list(zip(links.a, links.b)) == [(4000, 4001)]
    assert links.tx_id.tolist() == [int(view.tx_id[0])] and links.confidence.tolist() == [1.0]
