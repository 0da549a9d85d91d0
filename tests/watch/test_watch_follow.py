"""`ingest bitcoin --rpc --follow` (through the service layer, as the CLI runs it) against a node
look-alike that mines the case's last blocks one by one, then reorganises the last two away: the
alerts arrive on the blocks where taint reaches the exchanges (the answer key), those of the
dropped blocks are retracted, and the frontier ends as a trace over the final chain leaves it.
An item added while the follow runs is evaluated from the next block on."""

from __future__ import annotations

import json
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.job_models import IngestBitcoinRequest
from support import reliability as rs
from support.blkfiles import blk_records
from tests.watch.support_watch import cli_json

DROP = 2  # the node's last blocks reorganised away


def _tip(store: Path) -> bytes | None:
    with Store(store).connect(read_only=True) as con:
        row = con.execute("SELECT hash FROM block_index ORDER BY height DESC LIMIT 1").fetchone()
    return bytes(row[0]) if row else None


def _wait_tip(store: Path, want: bytes, errors: list[BaseException], what: str) -> None:
    rs.wait_for(lambda: bool(errors) or _tip(store) == want, 60, what)


def test_follow_raises_then_retracts(world: dict[str, Any], store: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [r[8:] for r in blk_records(world["base"] / "sim/blocks/blk00000.dat")]
    n_head = world["head_tip"] + 1
    fork = rs.build_fork(blocks, len(blocks) - DROP, DROP + 1)
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]
    case = cli_json(capsys, store, "fay", "case", "new", "--title", "R")["id"]
    trace = cli_json(capsys, store, "fay", "case", "trace", case, *seeds, "--policy", "haircut", "--exact")["id"]
    item = cli_json(capsys, store, "fay", "watch", "add", trace, "--case", case, "--rule", "reaches-service")
    item_id = item["items"][0]["id"]
    node = rs.FakeNode(blocks[:n_head])
    url, stop_server = rs.serve(node)
    stop, errors = threading.Event(), list[BaseException]()
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))

    def run() -> None:
        try:
            ws.ingest_bitcoin(IngestBitcoinRequest(rpc=url, follow=True, poll_interval=0.02),
                              should_stop=stop.is_set)
        except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    late = None
    try:
        for i in range(n_head, len(blocks)):
            node.set_chain(blocks[:i + 1])
            _wait_tip(store, w.block_hash(blocks[i]), errors, f"block {i}")
            if i == n_head + 2:  # an item added while following: an output spent later in the tail
                late = _late_item(world, store, i, capsys)
        node.set_chain(blocks[:-DROP] + fork)
        _wait_tip(store, w.block_hash(fork[-1]), errors, "the fork's tip")
    finally:
        stop.set()
        thread.join(60)
        stop_server()
    assert not errors, errors
    alerts = cli_json(capsys, store, "fay", "alerts", "list", "--limit", "1000")["alerts"]
    mine = [a for a in alerts if a["item_id"] == item_id]
    dropped = {w.block_hash(b)[::-1].hex() for b in blocks[-DROP:]}
    key = world["truth"]["answers"]["haircut"]["arrived_outputs"]
    tail = {t["txid"]: t["height"] for t in world["txs"] if t["height"] > world["head_tip"]}
    raised = {a["document"]["facts"]["outputs"][0]: a for a in mine if a["kind"] == "alert"}
    assert {o: Fraction(a["document"]["facts"]["amount_exact"]) for o, a in raised.items()} == {
        o: Fraction(v) for o, v in key.items() if o.split(":")[0] in tail}
    retractions = {a["retracts"]: a for a in mine if a["kind"] == "retraction"}
    gone = {a["id"] for a in raised.values() if a["block_hash"] in dropped}
    assert gone and set(retractions) == gone
    for a in raised.values():
        assert (a["retracted_by"] is not None) == (a["id"] in gone)
        if a["id"] in gone:
            assert a["retracted_by"] == retractions[a["id"]]["id"]
    full = cli_json(capsys, store, "fay", "trace", *seeds, "--policy", "haircut", "--exact")
    unspent = {o for e in full["endpoints"] if e["reason"] == "unspent" for o in e["outputs"]}
    with Store.open(store).connect(read_only=True) as con:
        rows = con.execute("SELECT output, amount, state FROM watch_frontier WHERE item_id = ?",
                           [item_id]).fetchall()
    live = {o: Fraction(a) for o, a, st in rows if json.loads(st)["spent"] is None}
    assert set(live) == unspent
    assert sum(live.values(), Fraction(0)) // 1 == full["summary"]["by_reason_sat"]["unspent"]
    assert late is not None
    late_alerts = [a for a in alerts if a["item_id"] == late[0]]
    assert [(a["txid"], a["height"]) for a in late_alerts] == [late[1]]


def _late_item(world: dict[str, Any], store: Path, height: int,
               capsys: pytest.CaptureFixture[str]) -> tuple[str, tuple[str, int]]:
    """Watch an output that a later tail block (kept by the reorg) spends; (item, (txid, height))."""
    stored = {(t["txid"], n) for t in world["txs"] if t["height"] <= height for n in range(len(t["outputs"]))}
    last_kept = max(t["height"] for t in world["txs"]) - DROP
    tx, prev = next((t, p) for t in world["txs"] if height < t["height"] <= last_kept for p in t["inputs"]
                    if tuple(p) in stored)
    item = cli_json(capsys, store, "fay", "watch", "add", f"{prev[0]}:{prev[1]}")["items"][0]["id"]
    return item, (tx["txid"], tx["height"])
