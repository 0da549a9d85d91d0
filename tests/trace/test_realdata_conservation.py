"""Traces on real mainnet blocks 0-599 (and the busy block 574200): value is counted once and balances.

Satoshi's early coins move through the same address: 12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S received
the block-9 coinbase and then the change of each payment it made, so its received outputs descend
from each other. Traced as a seed, that value must be counted once.
"""

from __future__ import annotations

import itertools

import json
from fractions import Fraction
from pathlib import Path

import pytest
from support.realchain import BLOCK_574200, real_store

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.trace.engine import trace
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import POLICIES

SATOSHI = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"
OFAC_574200 = "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d"  # paid in block 574200, whose inputs are not stored


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Store:
    """Mainnet blocks 0-599 from NBitcoin's blk files."""
    return real_store(testdata, tmp_path_factory.mktemp("real600"))


@pytest.fixture(scope="module")
def patchy(tmp_path_factory: pytest.TempPathFactory, testdata: Path) -> Store:
    """Blocks 0-599 plus the isolated busy block 574200: a store with a gap."""
    return real_store(testdata, tmp_path_factory.mktemp("patchy"), raw=(BLOCK_574200,))


def _run(capsys, args: list[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().out


def test_satoshi_address_seed_counts_value_once(real: Store, capsys) -> None:
    # Independent of the tracer: from the exported transactions, the outputs paid to the address
    # and which of them descends from which (the tx creating each one spends the previous one).
    txs = list(iter_transactions(real, "btc"))
    paid = [(t["txid"], i, o["value"]) for t in txs for i, o in enumerate(t["outputs"]) if o["address"] == SATOSHI]
    spends = {t["txid"]: {(i["prev_txid"], i["prev_vout"]) for i in t["inputs"]} for t in txs}
    assert sum(v for _, _, v in paid) == 195 * 10**8 and len(paid) == 6
    for (txid0, vout0, _), (txid1, _, _) in itertools.pairwise(paid):
        assert (txid0, vout0) in spends[txid1]  # each later output is the change of spending the previous
    first = paid[0][2]  # so only the first output's value is new: 50 BTC, the block-9 coinbase
    for policy in POLICIES:
        code, out = _run(capsys, ["--store", str(real.root), "trace", SATOSHI, "--policy", policy, "--json"])
        assert code == 0
        doc = json.loads(out)
        outs = [o for e in doc["endpoints"] for o in e["outputs"]]
        assert len(outs) == len(set(outs)), f"{policy}: an output listed twice"
        assert sum(o.startswith("828ef3b0") for o in outs) <= 1
        acc = doc["accounting"]
        assert acc["balanced"] and acc["seed_gross_sat"] == 195 * 10**8
        assert acc["endpoints_sat"] + acc["fees_sat"] == acc["seed_sat"] + acc["absorbed_sat"]
        if policy != "poison":
            assert doc["seed"]["value_sat"] == acc["seed_sat"] == first
            assert acc["absorbed_sat"] == 0 and acc["retraced_sat"] == 195 * 10**8 - first
            assert sum(e["amount_sat"] for e in doc["endpoints"]) + doc["summary"]["fees_sat"] == first


def test_every_address_of_blocks_0_to_599_balances(real: Store) -> None:
    g = GraphIndex.ensure(real, "btc")
    assert g.n_addresses > 500
    for a in range(g.n_addresses):
        outs = [int(o) for o in g.received_by(a)]
        for policy in POLICIES:
            for direction in ("forward", "backward"):
                r = trace(g, outs, policy=policy, direction=direction)
                assert r.truncated is None
                ends = [e.output for e in r.endpoints if e.output >= 0]
                assert len(ends) == len(set(ends)), (a, policy, direction)
                total = sum((Fraction(e.amount) for e in r.endpoints), Fraction(0)) + r.fees
                if policy == "poison":  # not conserving: the clean value it pulls in is accounted
                    assert Fraction(r.seed_value) + r.absorbed == total, (a, direction)
                else:
                    assert total == r.seed_value, (a, policy, direction)
                assert r.balanced


def test_partial_store_states_coverage_and_unspent_height(patchy: Store, real: Store, capsys) -> None:
    code, out = _run(capsys, ["--store", str(patchy.root), "trace", SATOSHI])
    assert code == 0
    assert "heights 0-599, 574200" in out and "WARNING: the store is not contiguous" in out
    assert "still unspent as of height 574200" in out and "unspent (funds sit there" not in out
    code, out = _run(capsys, ["--store", str(patchy.root), "trace", SATOSHI, "--json"])
    doc = json.loads(out)
    assert doc["coverage"]["ranges"] == [[0, 599], [574200, 574200]] and not doc["coverage"]["contiguous"]
    assert doc["warnings"] and "600-574199" in doc["warnings"][0]
    assert {e["as_of_height"] for e in doc["endpoints"] if e["reason"] == "unspent"} == {574200}
    # a contiguous store says so, without the warning
    code, out = _run(capsys, ["--store", str(real.root), "trace", SATOSHI])
    assert "heights 0-599." in out and "WARNING" not in out and "unspent as of height 599" in out


def test_backward_through_unresolved_inputs_keeps_the_value(patchy: Store) -> None:
    """Block 574200's inputs spend outputs the store does not hold: backward, that value is an
    'unresolved' endpoint, never silently lost."""
    from fundtrail.trace.seeds import parse_seed

    g = GraphIndex.ensure(patchy, "btc")
    seed = parse_seed(g, OFAC_574200)
    for policy in POLICIES:
        r = trace(g, seed.outputs, direction="backward", policy=policy)
        assert r.balanced
        assert {e.reason for e in r.endpoints} == {"unresolved"}
        if policy != "poison":
            assert sum(e.amount for e in r.endpoints) == r.seed_value == int(sum(g.out_value[o] for o in seed.outputs))
