"""Account-chain exposure on a hand-made transfer list whose answers are worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fundtrail.risk.account_exposure import AccountExposureIndex, event_amounts
from fundtrail.store import Store
from fundtrail.trace.account_graph import AccountGraph

CATS = ("service_hack", "exchange")
H, U, V, X, C, T, M = range(7)  # hacker (tagged), two untagged, exchange (tagged), clean, token, mixer
HACK, EXCH, OTHER = 0, 1, 2


def _graph() -> AccountGraph:
    """The worked example (native asset unless `asset`); running state after each line in comments."""
    rows = [
        {"from": H, "to": U, "amount": 60},   # U: bal 60, taint hack 60 (direct)
        {"from": C, "to": U, "amount": 40},   # C holds nothing: clean. U: bal 100, hack 60
        {"from": U, "to": V, "amount": 50},   # half of U: hack 30 -> V (indirect). U: bal 50, hack 30
        {"from": V, "to": X, "amount": 25},   # half of V: hack 15 -> X. V: bal 25, hack 15; V out direct exch 25
        {"from": X, "to": V, "amount": 10},   # exchange 10 direct. V: bal 35, hack 15, exch 10
        {"from": V, "to": U, "amount": 35},   # all of V -> U: hack 15, exch 10 indirect. U: bal 85
        {"from": H, "to": V, "asset": T, "amount": 100},  # token: V gets hack 100 direct
        {"from": V, "to": X, "asset": T, "amount": 100},  # token: V out direct exch 100
        {"from": U, "to": U, "amount": 5},    # self-transfer: moves nothing
        {"from": M, "to": U, "amount": 20},   # tagged outside the categories: no column, not followed
        {"from": None, "to": U, "amount": 15},  # withdrawal (no sender): clean
    ]
    return AccountGraph.from_rows("anvil", rows, [bytes([a + 1]) * 20 for a in range(7)])


def _addr_cat() -> np.ndarray:
    cat = np.full(7, -1, np.int16)
    cat[H], cat[X], cat[M] = HACK, EXCH, OTHER
    return cat


def _by_asset(idx: AccountExposureIndex, address: int) -> dict[int, dict]:
    exp = idx.of_address(address)
    return {a: {"received": exp.received[i], "sent": exp.sent[i], "in_direct": list(exp.in_direct[i]),
                "in_indirect": list(exp.in_indirect[i]), "out_direct": list(exp.out_direct[i]),
                "out_indirect": list(exp.out_indirect[i])}
            for i, a in enumerate(exp.assets)}


def test_haircut_through_untagged_balances_matches_the_hand_answers() -> None:
    idx = AccountExposureIndex.compute(_graph(), CATS, _addr_cat())
    u = _by_asset(idx, U)
    assert list(u) == [-1]
    assert u[-1] == {"received": 170.0, "sent": 50.0, "in_direct": [60.0, 0.0],
                     "in_indirect": [15.0, 10.0], "out_direct": [0.0, 0.0], "out_indirect": [0.0, 25.0]}
    v = _by_asset(idx, V)
    assert sorted(v) == [-1, T]
    assert v[-1] == {"received": 60.0, "sent": 60.0, "in_direct": [0.0, 10.0],
                     "in_indirect": [30.0, 0.0], "out_direct": [0.0, 25.0], "out_indirect": [0.0, 0.0]}
    assert v[T] == {"received": 100.0, "sent": 100.0, "in_direct": [100.0, 0.0],
                    "in_indirect": [0.0, 0.0], "out_direct": [0.0, 100.0], "out_indirect": [0.0, 0.0]}
    x = _by_asset(idx, X)
    assert x[-1]["in_indirect"] == [15.0, 0.0] and x[-1]["received"] == 25.0 and x[-1]["sent"] == 10.0
    assert x[T]["in_direct"] == [0.0, 0.0] and x[T]["in_indirect"] == [100.0, 0.0]  # via V: two transfers
    h = _by_asset(idx, H)
    assert h[-1]["sent"] == 60.0 and h[-1]["received"] == 0.0 and h[T]["sent"] == 100.0
    # reverse: half of U's balance went to V, half of V's then to X: 60 * 1/4 = 15 (= X's indirect hack)
    assert h[-1]["out_indirect"] == [0.0, 15.0] and h[-1]["out_direct"] == [0.0, 0.0]
    assert h[T]["out_indirect"] == [0.0, 100.0]
    assert _by_asset(idx, C)[-1]["out_indirect"] == [0.0, 10.0]  # C's 40 of unknown origin: 40 * 1/4
    assert _by_asset(idx, X)[-1]["out_indirect"] == [0.0, 0.0]  # V passed the 10 on to U, which kept it
    assert idx.of_address(99).assets == []  # an id that never moved value has no rows


def test_json_row_takes_the_largest_share_over_assets() -> None:
    idx = AccountExposureIndex.compute(_graph(), CATS, _addr_cat())
    row = idx.of_address(V).row({-1: "ETH", T: "TOKEN"})
    assert row["incoming"]["direct"] == {
        "exchange": {"amount": 10, "share": pytest.approx(10 / 60), "asset": "ETH"},
        "service_hack": {"amount": 100, "share": 1.0, "asset": "TOKEN"}}
    assert row["incoming"]["indirect"] == {"service_hack": {"amount": 30, "share": 0.5, "asset": "ETH"}}
    assert row["outgoing"]["direct"] == {"exchange": {"amount": 100, "share": 1.0, "asset": "TOKEN"}}
    assert row["outgoing"]["indirect"] == {}
    u = idx.of_address(U).row({-1: "ETH"})
    assert u["outgoing"]["indirect"] == {"exchange": {"amount": 25, "share": 0.5, "asset": "ETH"}}
    assert row["assets"]["ETH"]["outgoing"]["direct"]["exchange"]["share"] == pytest.approx(25 / 60)
    assert row["assets"]["ETH"]["received"] == 60 and row["assets"]["TOKEN"]["sent"] == 100


def test_untagging_the_exchange_lets_value_flow_through_it() -> None:
    cat = _addr_cat()
    cat[X] = -1
    idx = AccountExposureIndex.compute(_graph(), CATS, cat)
    v = _by_asset(idx, V)
    # X (now untagged) held hack 15 of 25 and paid 10 of it back: 10 * 15/25 = 6 hack, indirect
    assert v[-1]["in_direct"] == [0.0, 0.0]
    assert v[-1]["in_indirect"] == [pytest.approx(36.0), 0.0]
    assert v[-1]["out_direct"] == [0.0, 0.0]
    assert _by_asset(idx, H)[-1]["out_indirect"] == [0.0, 0.0]  # no exchange left to reach


def test_uint256_amounts_become_floats() -> None:
    big = 2**130 + 7
    g = AccountGraph.from_rows("anvil", [{"from": 0, "to": 1, "asset": 2, "amount": big},
                                         {"from": 0, "to": 1, "amount": 2**64 + 1}],
                               [bytes([a + 1]) * 20 for a in range(3)])
    assert list(event_amounts(g)) == [float(big), float(2**64 + 1)]
    out = np.zeros(2)  # a chunk at a time into the caller's (e.g. a spilled) array: the same floats
    assert event_amounts(g, out, rows=1) is out and list(out) == [float(big), float(2**64 + 1)]


def test_ensure_saves_reloads_and_recomputes_when_tags_change(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    g = _graph()
    stale = store.root / "derived" / "anvil" / "account-exposure.tmp"
    stale.mkdir(parents=True)
    (stale / "junk.npy").write_bytes(b"left by a killed run")
    first = AccountExposureIndex.ensure(store, g, CATS, _addr_cat())
    assert first.path is not None and (first.path / "meta.json").exists() and not stale.exists()
    again = AccountExposureIndex.ensure(store, g, CATS, _addr_cat())
    assert isinstance(again.arrays["in_direct"].base, np.memmap)  # mapped from the file, not recomputed
    assert _by_asset(again, U) == _by_asset(first, U)
    cat = _addr_cat()
    cat[X] = -1
    changed = AccountExposureIndex.ensure(store, g, CATS, cat)
    assert _by_asset(changed, V)[-1]["in_indirect"] == [pytest.approx(36.0), 0.0]
