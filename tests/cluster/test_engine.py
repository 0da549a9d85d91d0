"""The clustering engine on stored chains: known answers, CoinJoin and change handling, evidence."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from fundtrail.cluster import change, coinjoin, graphsense, runs
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.query import load_clustering
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.cluster.txview import load_txview
from fundtrail.errors import UsageError

CHAIN = "btc-regtest"


def groups(hand, labels: np.ndarray) -> list[set[int]]:
    """The partition of the hand-built keys under `labels`."""
    by: dict[int, set[int]] = {}
    for key, aid in hand.ids.items():
        by.setdefault(int(labels[aid]), set()).add(key)
    return sorted(by.values(), key=min)


def evidence(store, run_id: int) -> list[dict]:
    """A run's evidence rows, txid as display hex (stored as the 32 bytes, internal order)."""
    rec = runs.get_run(store, run_id)
    rows = pq.read_table(runs.run_dir(store, rec) / runs.EVIDENCE).to_pylist()
    return [{**r, "txid": r["txid"][::-1].hex()} for r in rows]


def test_multi_input_known_answer(hand) -> None:
    s = run_clustering(hand.store, CHAIN)
    assert s.mode == "full" and s.n_tx == 13
    labels = load_clustering(hand.store, CHAIN).labels
    assert groups(hand, labels) == sorted(hand.clusters, key=min)
    # cluster id = the smallest address id of the cluster
    for g in hand.clusters:
        ids = [hand.ids[k] for k in g]
        assert {int(labels[i]) for i in ids} == {min(ids)}
    # one evidence edge per union: clusters of 2, 2 and 4 keys need 1 + 1 + 3 unions
    ev = evidence(hand.store, s.run_id)
    assert s.n_unions == len(ev) == 5
    by_tx = {}
    for e in ev:
        by_tx.setdefault(e["txid"], []).append(e)
        assert e["heuristic"] == "multi_input" and e["confidence"] == 1.0
    assert sorted(len(v) for v in by_tx.values()) == [1, 1, 1, 2]
    assert set(by_tx) == {hand.txid(n) for n in "ABDE"}
    (d_edge,) = by_tx[hand.txid("D")]
    assert {d_edge["a"], d_edge["b"]} == {hand.ids[5], hand.ids[6]}
    assert d_edge["into"] == min(hand.ids[5], hand.ids[6])


def _flag(tx_id: int, confidence: float):
    def detect(view):
        res = coinjoin.CoinJoinResult(np.zeros(len(view), np.uint8), np.zeros(len(view), np.float32))
        hit = view.tx_id == tx_id
        res.protocol[hit] = coinjoin.GENERIC
        res.confidence[hit] = confidence
        return res
    return detect


def _tx_id(store, txid_hex: str) -> int:
    with open_snapshot(store, CHAIN) as snap:
        return int(snap.con.execute("SELECT tx_id FROM btc_regtest_transactions WHERE txid = ?",
                                    [bytes.fromhex(txid_hex)[::-1]]).fetchall()[0][0])


def test_coinjoin_flagged_transactions_are_not_linked(hand, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _tx_id(hand.store, hand.txid("D"))
    monkeypatch.setattr(coinjoin, "detect", _flag(d, 0.9))
    run_clustering(hand.store, CHAIN)
    labels = load_clustering(hand.store, CHAIN).labels
    assert groups(hand, labels) == sorted([{1, 2}, {3, 7}, {5, 8, 9}, {6}, {4}, {10}, {11}, {12}, {20}, {21}],
                                          key=min)


def test_coinjoin_below_the_floor_weakens_the_link(hand, monkeypatch: pytest.MonkeyPatch) -> None:
    d = _tx_id(hand.store, hand.txid("D"))
    monkeypatch.setattr(coinjoin, "detect", _flag(d, 0.3))
    s = run_clustering(hand.store, CHAIN, coinjoin_floor=0.5)
    (d_edge,) = [e for e in evidence(hand.store, s.run_id) if e["txid"] == hand.txid("D")]
    assert d_edge["confidence"] == pytest.approx(0.7)
    # with the floor lowered below the confidence, the same run skips the link
    run_clustering(hand.store, CHAIN, coinjoin_floor=0.2)
    labels = load_clustering(hand.store, CHAIN).labels
    assert labels[hand.ids[6]] == hand.ids[6]


def test_change_links_respect_the_floor(hand, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _tx_id(hand.store, hand.txid("A"))

    def consensus(view):
        n = len(view)
        res = change.ChangeResult(np.full(n, -1, np.int64), np.zeros(n, np.float32), np.zeros(n, np.uint32))
        i = np.flatnonzero(view.tx_id == a)
        if i.size:  # A's second output (key 8) is the change
            res.out_index[i] = view.out_ptr[i] + 1
            res.confidence[i] = 0.95
        return res

    monkeypatch.setattr(change, "consensus", consensus)
    s = run_clustering(hand.store, CHAIN, heuristics=("multi-input", "change"), change_floor=0.9)
    labels = load_clustering(hand.store, CHAIN).labels
    assert labels[hand.ids[1]] == labels[hand.ids[8]] == labels[hand.ids[6]]  # {1,2} joins {5,6,8,9}
    ch = [e for e in evidence(hand.store, s.run_id) if e["heuristic"] == "change"]
    assert len(ch) == 1 and ch[0]["txid"] == hand.txid("A") and ch[0]["confidence"] == pytest.approx(0.95)
    assert {ch[0]["a"], ch[0]["b"]} == {hand.ids[8], hand.ids[1]}
    s2 = run_clustering(hand.store, CHAIN, heuristics=("multi-input", "change"), change_floor=0.99)
    assert s2.mode == "full" and "differ" in s2.reason
    labels = load_clustering(hand.store, CHAIN).labels
    assert labels[hand.ids[1]] != labels[hand.ids[8]]


def test_change_needs_a_floor_and_names_are_checked(hand) -> None:
    with pytest.raises(UsageError, match="change_floor is required"):
        run_clustering(hand.store, CHAIN, heuristics=("multi-input", "change"))
    with pytest.raises(UsageError, match="unknown heuristic"):
        run_clustering(hand.store, CHAIN, heuristics=("co-spend",))
    with pytest.raises(UsageError, match="between 0 and 1"):
        run_clustering(hand.store, CHAIN, heuristics=("change",), change_floor=1.5)
    with pytest.raises(UsageError, match="not in store"):
        run_clustering(hand.store, "btc")


def test_numba_engine_agrees_with_graphsense_on_a_simulated_chain(tmp_path) -> None:
    if not graphsense.available():
        pytest.skip("graphsense-clustering is not installed")
    from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
    from fundtrail.sim.scenario import simulate
    from fundtrail.store import Store

    simulate(tmp_path / "sim", seed=3, txs=3000)
    store = Store.open(tmp_path / "store")
    ingest_blocks_dir(store, tmp_path / "sim" / "blocks")
    s = run_clustering(store, CHAIN)
    ours = load_clustering(store, CHAIN).labels
    with open_snapshot(store, CHAIN) as snap:
        view = load_txview(snap.con, CHAIN, 0, snap.next_tx_id)
    # the same transactions for both: no coinbase, no collaborative CoinJoin at the default floor
    # (a Whirlpool tx0 is one user's: linked), resolved inputs
    cj = coinjoin.detect(view)
    collaborative = (cj.protocol != 0) & (cj.protocol != coinjoin.WHIRLPOOL_TX0)
    skip = view.is_coinbase | (collaborative & (cj.confidence >= 0.5))
    tx_of = np.repeat(np.arange(len(view)), view.n_inputs())
    keep = ~skip[tx_of] & (view.in_address >= 0)
    tx_of = tx_of[keep]
    ptr = np.zeros(len(view) + 1, np.int64)
    ptr[1:] = np.cumsum(np.bincount(tx_of, minlength=len(view)))
    theirs = graphsense.cluster_labels(len(ours), ptr, view.in_address[keep])
    assert s.n_clusters > 100
    assert np.array_equal(ours, theirs)
