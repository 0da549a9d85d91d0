"""The detectors on real busy mainnet blocks (2012-2026): sanity against what history allows.

Wasabi (from block 530,500, July 2018), Whirlpool (from 570,000, June 2019) and JoinMarket (from
2015, block ~336,861) cannot appear before they existed; a 2012 block holds no CoinJoin. The change
votes are checked against the exported transactions (an independent code path from the TxView).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fundtrail.cluster import change, coinjoin
from fundtrail.cluster.txview import load_txview
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_heuristics_realblocks.py"
FIRST = {"wasabi1": 530_500, "wasabi2": 741_213, "whirlpool_tx0": 570_000,
         "whirlpool_mix": 570_000, "joinmarket": 336_861}


@pytest.fixture(scope="module")
def real(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("bench_realblocks", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    store = Store.open(tmp_path_factory.mktemp("real") / "store")
    bench.ingest(store, testdata)
    with store.query() as con:
        hi = con.sql("SELECT max(tx_id) + 1 FROM btc_transactions").fetchall()[0][0]
        view = load_txview(con, "btc", 0, int(hi))
        txid = {int(t): bytes(h)[::-1].hex() for t, h in con.sql(
            "SELECT tx_id, txid FROM btc_transactions").fetchall()}
    exported = {t["txid"]: t for t in iter_transactions(store, "btc")}
    return {"view": view, "cj": coinjoin.detect(view), "chg": change.consensus(view),
            "rules": change.per_rule(view), "txid": txid, "tx": exported}


def test_no_coinjoin_in_2012_block_169482(real: dict) -> None:
    v, cj = real["view"], real["cj"]
    rows = np.flatnonzero(v.height == -1)  # 169482 is version 1, isolated: height unknown
    assert rows.size == 14
    assert (cj.protocol[rows] == 0).all()


def test_no_protocol_before_it_existed(real: dict) -> None:
    v, cj = real["view"], real["cj"]
    flagged = np.flatnonzero(cj.protocol != 0)
    assert flagged.size < 0.002 * len(v)  # CoinJoins are rare in ordinary blocks
    for i in flagged:
        name = coinjoin.PROTOCOL_NAMES[int(cj.protocol[i])]
        if name in FIRST:
            assert v.height[i] >= FIRST[name], (real["txid"][int(v.tx_id[i])], name)


def test_known_shape_ten_equal_outputs_in_block_300025(real: dict) -> None:
    """dbb220ef...: 25 inputs from 25 addresses, 10 outputs of exactly 0.1 BTC of 19: BlockSci's shape."""
    v = real["view"]
    i = next(k for k in range(len(v))
             if real["txid"][int(v.tx_id[k])].startswith("dbb220ef8a2d9dde"))
    tx = real["tx"][real["txid"][int(v.tx_id[i])]]
    values = [o["value"] for o in tx["outputs"]]
    assert values.count(10_000_000) == 10 and len(values) == 19 and len(tx["inputs"]) == 25
    assert len({x["address"] for x in tx["inputs"]}) == 25
    (ev,) = coinjoin.explain(v, i)
    assert ev.rule == "generic" and ev.confidence == pytest.approx(0.75)
    assert ev.details["equal_outputs"] == 10 and ev.details["equal_value"] == 10_000_000
    assert real["chg"].out_index[i] == -1  # no change is picked in a CoinJoin


def test_change_votes_hold_against_the_exported_transactions(real: dict) -> None:
    v = real["view"]
    cand, _ = real["rules"]
    checked = {"optimal_change": 0, "address_reuse": 0, "script_type": 0}
    for r, name in enumerate(change.HEURISTIC_NAMES):
        if name not in checked:
            continue
        for i in np.flatnonzero(cand[r] >= 0):
            tx = real["tx"][real["txid"][int(v.tx_id[i])]]
            out = tx["outputs"][int(cand[r, i] - v.out_ptr[i])]
            ins = tx["inputs"]
            assert out["script_type"] != "op_return"
            if name == "optimal_change":
                assert all(x["value"] is not None for x in ins)  # never on unresolved inputs
                assert out["value"] < min(x["value"] for x in ins)
            elif name == "script_type":
                assert all(x["value"] is not None for x in ins)
            checked[name] += 1
    assert all(n > 20 for n in checked.values()), checked


def test_consensus_covers_a_real_share_of_ordinary_transactions(real: dict) -> None:
    v, chg = real["view"], real["chg"]
    spendable = (v.n_outputs() >= 2) & ~v.is_coinbase
    share = float((chg.out_index[spendable] >= 0).mean())
    assert 0.2 < share < 0.9
    k = chg.out_index[chg.out_index >= 0]
    assert (v.out_script[k] != 8).all() and (v.out_address[k] >= 0).all()
