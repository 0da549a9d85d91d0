"""Quality measurement: hand-computed pairwise figures, and the heuristics on a simulated chain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fundtrail.cluster import coinjoin, quality
from fundtrail.cluster.heuristics_build import In, Out, Tx, build_view
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store


def test_pairwise_figures_known_answer() -> None:
    # actors of addresses 0..5; links merge {0,1} and {2,3,4}; 5 stays alone
    actor = np.array([0, 0, 0, 1, 1, 2])
    q = quality.cluster_quality(actor, np.array([0, 3, 2]), np.array([1, 4, 3]))
    # predicted pairs: (0,1) + 3 in {2,3,4} = 4; right: (0,1), (3,4) = 2; true pairs: 3 + 1 = 4
    assert q["pairwise_precision"] == 0.5 and q["pairwise_recall"] == 0.5
    assert q["false_merges"] == 1 and q["clusters"] == 3


def test_change_truth_known_answer() -> None:
    txs = [Tx(ins=[In(1, 9_000_000)], outs=[Out(2, 5_000_000), Out(3, 3_990_000)]),  # 3 is own
           Tx(ins=[In(4, 9_000_000)], outs=[Out(5, 5_000_000), Out(6, 3_990_000)]),  # no own output
           Tx(ins=[In(7, 9_000_000)], outs=[Out(8, 8_990_000)])]  # nothing to choose
    view = build_view(txs)
    addr_actor = np.array([-1, 0, 1, 0, 2, 3, 4, 5, 5])
    lab = quality.Labels(np.array([0, 2, 5]), ["payment"] * 3, [""] * 3, addr_actor, [])
    own, eligible = quality.change_truth(view, lab, np.zeros(3, bool))
    assert own.tolist() == [False, True, False, False, True]
    assert eligible.tolist() == [True, False, False]


def test_missing_truth_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"transactions\.csv: ground-truth file not found"):
        quality.load_truth(tmp_path)
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "transactions.csv").write_text("txid,actor\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"transactions\.csv, line 1: missing column\(s\) pattern"):
        quality.load_truth(tmp_path)


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("quality")
    simulate(root / "sim", seed=11, txs=6_000)
    store = Store.open(root / "store")
    ingest_blocks_dir(store, root / "sim" / "blocks")
    return quality.measure(store, "btc-regtest", quality.load_truth(root / "sim"))


def test_change_consensus_precision_target(measured: dict) -> None:
    ch = measured["change"]
    assert ch["eligible"] > 1_000
    top = ch["consensus"]["0.9"]
    assert top["precision"] >= 0.95 and top["coverage"] > 0.3
    # a lower floor finds more, never fewer
    assert ch["consensus"]["0.5"]["predicted"] >= top["predicted"]
    for name in ("address_reuse", "optimal_change", "round_payment", "peel_chain"):
        assert ch["rules"][name]["precision"] >= 0.9, name


def test_clustering_precision_and_false_merges(measured: dict) -> None:
    cl = measured["clustering"]
    cio = cl["multi_input"]
    assert cio["pairwise_precision"] >= 0.99 and cio["false_merges"] == 0
    both = cl["multi_input+change@0.9"]
    assert both["pairwise_recall"] >= cio["pairwise_recall"] and both["clusters"] < cio["clusters"]
    assert both["pairwise_precision"] >= 0.9


def test_coinjoins_caught_and_no_ordinary_transaction_flagged(measured: dict) -> None:
    cj = measured["coinjoin"]
    assert cj["false_positives"] == 0, cj["false_positives_by_pattern"]
    for name, q in cj["protocols"].items():
        if q.get("true"):  # the simulator wrote CoinJoins of this protocol: catch every one
            assert q["recall"] == 1.0 and q["protocol_right"] >= 0.9, (name, q)


def test_links_star_from_the_first_resolved_input_and_skip_coinjoins() -> None:
    mix = Tx(ins=[In(20 + k, 1_000_000) for k in range(5)], outs=[Out(30 + k, 1_000_000) for k in range(5)])
    view = build_view([Tx(ins=[In(), In(5, 10), In(6, 10)], outs=[Out(7, 5), Out(8, 4)]), mix,
                       Tx(coinbase=True, outs=[Out(1, 1)])])
    a, b = quality.cluster_links(view, coinjoin.detect(view), None, 1.0)
    assert a.tolist() == [5, 6] and b.tolist() == [5, 5]
