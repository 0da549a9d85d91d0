"""`why` paths and `show` figures on the hand-built chain, whose every link is known."""

from __future__ import annotations

import pytest

from fundtrail.chains.bitcoin.address import segwit_encode
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cluster import overrides
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.explain import why
from fundtrail.cluster.query import show
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.errors import NotFoundError, UsageError

CHAIN = "btc-regtest"


def addr(i: int) -> str:
    """Hand-built key number i as an address (the keys of tests/cluster/conftest.py)."""
    return segwit_encode(REGTEST.hrp, 0, bytes([i]) * 20)


def _why(hand, x: int, y: int) -> dict:
    with open_snapshot(hand.store, CHAIN) as snap:
        return why(hand.store, snap, addr(x), addr(y))


def test_why_follows_the_evidence_transactions(hand) -> None:
    run_clustering(hand.store, CHAIN)
    r = _why(hand, 6, 8)
    assert r["linked"] is True
    assert [(s["from"], s["to"], s["txid"], s["heuristic"]) for s in r["steps"]] == [
        (addr(6), addr(5), hand.txid("D"), "multi_input"),
        (addr(5), addr(8), hand.txid("E"), "multi_input"),
    ]
    back = _why(hand, 8, 6)
    assert [s["txid"] for s in back["steps"]] == [hand.txid("E"), hand.txid("D")]


def test_why_says_when_addresses_are_not_linked(hand) -> None:
    run_clustering(hand.store, CHAIN)
    r = _why(hand, 1, 3)
    assert r["linked"] is False and r["steps"] == []
    assert r["answer"].startswith("not linked") and r["from_cluster"] != r["to_cluster"]


def test_why_shows_manual_merges_as_evidence(hand) -> None:
    run_clustering(hand.store, CHAIN)
    overrides.record(hand.store, CHAIN, overrides.MERGE, [hand.ids[2], hand.ids[7]], "same KYC record", "bob")
    r = _why(hand, 1, 3)
    assert r["linked"] is True
    assert [(s["from"], s["to"], s["heuristic"]) for s in r["steps"]] == [
        (addr(1), addr(2), "multi_input"), (addr(2), addr(7), "manual_merge"), (addr(7), addr(3), "multi_input")]
    assert r["steps"][1]["reason"] == "manual merge by bob: same KYC record"
    assert r["steps"][1]["txid"] is None


def test_why_after_a_split_of_the_connecting_address(hand) -> None:
    run_clustering(hand.store, CHAIN)
    overrides.record(hand.store, CHAIN, overrides.SPLIT, [hand.ids[5]], "shared deposit address", "ana")
    assert _why(hand, 5, 8)["linked"] is False  # 5 is out on its own
    for x, y in ((6, 8), (8, 9)):  # the rest stays one cluster, but every path went through 5
        r = _why(hand, x, y)
        assert r["linked"] is True and r["steps"] == [] and "split" in r["answer"]


def test_show_reports_members_totals_and_activity(hand) -> None:
    run_clustering(hand.store, CHAIN)
    with open_snapshot(hand.store, CHAIN) as snap:
        r = show(hand.store, snap, addr(9))
    assert r["cluster_id"] == min(hand.ids[k] for k in (5, 6, 8, 9))
    assert r["members"] == 4 and r["tags"] == []
    # received: 50 BTC coinbase to each of 5 and 6, 10 BTC C->5, 10 BTC B->9, 10 BTC A->8
    assert r["received"] == 130 * 10**8 and r["received_count"] == 5
    # sent: D spends 5 and 6 (100 BTC), E spends 5, 9, 8 (30 BTC)
    assert r["sent"] == 130 * 10**8 and r["sent_count"] == 5
    assert r["first_activity"] == "2023-11-14T22:53:20Z"  # block 4, time 1_700_000_000 + 2400
    assert r["last_activity"] == "2023-11-14T23:30:00Z"  # block 7, time 1_700_004_600


def test_unknown_and_malformed_addresses_are_one_line_errors(hand) -> None:
    run_clustering(hand.store, CHAIN)
    with open_snapshot(hand.store, CHAIN) as snap:
        with pytest.raises(NotFoundError, match="does not appear in chain btc-regtest"):
            show(hand.store, snap, addr(17))
        with pytest.raises(UsageError, match="invalid Bitcoin address"):
            show(hand.store, snap, addr(9)[:-1] + "q")
        with pytest.raises(UsageError, match="wrong network"):
            show(hand.store, snap, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
