"""A saved UTXO trace watched as a frontier: read from the saved result when the store has not
moved on (no re-trace), the same rows as a trace run again; the saved trace's listed stop
addresses honoured while the frontier moves forward (taint reaching one is not carried further);
and its hop limit not (monitoring follows the funds beyond it: docs/watch.md).

Oracles: a trace of the seeds over the whole chain, run independently on the final store by the
trace engine with the same stops (its unspent endpoints are what the frontier must hold after the
tail blocks) and without the hop limit."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.trace_models import TraceRequest


def _seeds(world: dict[str, Any]) -> list[str]:
    return [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]


def _rows(store: Path, item: str) -> dict[str, tuple[str, str, int | None]]:
    with Store(store).connect(read_only=True) as con:
        got = con.execute("SELECT output, amount, state, height FROM watch_frontier WHERE item_id = ?",
                          [item]).fetchall()
    return {o: (a, s, h) for o, a, s, h in got}


def _live(store: Path, item: str) -> dict[str, Fraction]:
    return {o: Fraction(a) for o, (a, s, _) in _rows(store, item).items()
            if not o.startswith("stop:") and json.loads(s)["spent"] is None}


def _ingest_tail(world: dict[str, Any], store: Path) -> None:
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0


@pytest.fixture(scope="module")
def whole(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole chain, for the oracle traces."""
    store = tmp_path_factory.mktemp("whole") / "store"
    shutil.copytree(world["store"], store)
    _ingest_tail(world, store)
    return store


@pytest.mark.parametrize("policy,exact", [("haircut", True), ("haircut", False), ("poison", False)])
def test_the_saved_result_gives_the_retraced_frontier(world: dict[str, Any], store: Path, policy: str,
                                                      exact: bool) -> None:
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="alice"))
    case = ws.case_new("Ransom").id
    tid = ws.case_trace(case, TraceRequest(seeds=_seeds(world), policy=policy, exact=exact)).id
    fast = ws.watch_add([tid], case=case, rule="reaches-service")
    # naming the same categories by hand makes `watch add` trace again (the saved result used others)
    slow = ws.watch_add([tid], case=case, rule="reaches-service", category=",".join(DEFAULT_STOP_CATEGORIES))
    assert any("read from the saved result" in n for n in fast.notes)
    assert any("traced again now" in n for n in slow.notes)
    a, b = _rows(store, fast.items[0].id), _rows(store, slow.items[0].id)
    assert a == b and len(a) > 10


def test_fifo_is_traced_again(world: dict[str, Any], store: Path) -> None:
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="alice"))
    case = ws.case_new("Ransom").id
    tid = ws.case_trace(case, TraceRequest(seeds=_seeds(world), policy="fifo")).id
    added = ws.watch_add([tid], case=case, rule="reaches-service")
    assert any("traced again now" in n for n in added.notes)  # the taint's place in each output is not saved


def _unspent(doc: dict[str, Any]) -> set[str]:
    return {o for e in doc["endpoints"] if e["reason"] == "unspent" for o in e["outputs"]}


def _held(doc: dict[str, Any]) -> dict[str, Fraction]:
    """Traced amount left unspent per address."""
    return {e["address"]: Fraction(e["amount_exact"]) for e in doc["endpoints"] if e["reason"] == "unspent"}


def _stop_address(world: dict[str, Any], whole: Path) -> str:
    """An untagged address the taint first reaches in a tail block and that changes where the
    taint ends when listed as a stop (so the evaluator, not `watch add`, must honour it)."""
    ws = Workspace.open(store=whole, actor=Actor(user="alice"))
    base = TraceRequest(seeds=_seeds(world), policy="haircut", exact=True)
    free = _held(ws.trace(base).document())
    doc = ws.trace(base).document()
    tail = {t["txid"] for t in world["txs"] if t["height"] > world["head_tip"]}
    tagged = {p["address"] for p in world["truth"]["cashout_points"]}
    for edge in doc["graph"]["edges"]:  # a tainted output (its address) and the transaction spending it
        created, spender = edge["output"].split(":")[0], str(edge["to"] or "")[3:]
        address = edge["address"]
        if created in tail and spender in tail and address and address not in tagged:
            stopped = ws.trace(base.model_copy(update={"stop_addresses": [address]})).document()
            if _held(stopped) != free:
                return str(address)
    raise AssertionError("no tail address changes the taint's ends as a stop: the scenario changed")


def test_listed_stops_are_honoured_and_the_hop_limit_is_not(world: dict[str, Any], store: Path,
                                                            whole: Path) -> None:
    stop = _stop_address(world, whole)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="alice"))
    case = ws.case_new("Ransom").id
    req = TraceRequest(seeds=_seeds(world), policy="haircut", exact=True, stop_addresses=[stop], hops=2)
    tid = ws.case_trace(case, req).id
    saved_ends = ws.case_saved_trace(case, tid).result["endpoints"]
    assert any(e["reason"] == "hop_limit" for e in saved_ends)  # the hop limit cut the saved trace
    item = ws.watch_add([tid], case=case, rule="reaches-service").items[0].id
    assert f"stop:{stop}" in _rows(store, item)
    _ingest_tail(world, store)
    oracle = Workspace.open(store=whole, actor=Actor(user="alice"))
    with_stop = oracle.trace(req.model_copy(update={"hops": None})).document()
    without = oracle.trace(TraceRequest(seeds=_seeds(world), policy="haircut", exact=True)).document()

    assert _held(with_stop) != _held(without)  # the stop changes where the taint ends
    assert any(e["reason"] == "service" and e["address"] == stop for e in with_stop["endpoints"])
    live = _live(store, item)
    assert set(live) == _unspent(with_stop)
    total = sum(live.values(), Fraction(0))
    assert total == sum(_held(with_stop).values(), Fraction(0))  # exact: the haircut fractions agree
