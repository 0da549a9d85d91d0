"""A reorganisation drops the block of an alert: the alert gets a `retraction` (its own alert, with
its own outbox row) and `retracted_by`; the heavier branch re-spends the watched output, which is a
new alert in its block. A frontier moved by the dropped blocks is restored and moved again by the
new branch: it ends as a trace of its seed over the final chain leaves it."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.store import Store
from support import reliability as rs
from tests.watch.support_watch import cli, cli_json

N, FORK = 60, 55


def _ingest(capsys: pytest.CaptureFixture[str], store: Path, raw: Path) -> str:
    code, out, err = cli(capsys, store, "ann", "ingest", "bitcoin", "--raw", str(raw))
    assert code == 0, err
    return out + err


@pytest.fixture(scope="module")
def chains(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("rollback")
    a = build_sample_chain(seed=31, n_blocks=N, stale_branch=False).blocks
    b = rs.build_fork(a, FORK, 7)
    created, spent_at = {}, {}
    for height, raw in enumerate(a):
        for tx in rs.parse_block(raw):
            for i in range(len(tx.outputs)):
                created[(tx.txid, i)] = height
            for prev in tx.inputs:
                spent_at[prev] = height
    b0 = rs.parse_block(b[0])[1]  # the fork's first spend re-spends outputs A spent above the fork
    respent = next(p for p in b0.inputs if spent_at.get(p, -1) >= FORK and created[p] < FORK)
    return {"base": base, "a": a, "b": b, "respent": respent, "spent_at": spent_at[respent],
            "head": rs.blk_stream(base / "head.dat", a[:FORK]), "rest": rs.blk_stream(base / "rest.dat", a[FORK:]),
            "fork": rs.blk_stream(base / "fork.dat", b), "final": a[:FORK] + b}


def test_reorg_retracts_and_restores(chains: dict[str, Any], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    _ingest(capsys, store, chains["head"])
    target = f"{chains['respent'][0][::-1].hex()}:{chains['respent'][1]}"
    moved = cli_json(capsys, store, "ann", "watch", "add", target)["items"][0]
    traced = cli_json(capsys, store, "ann", "watch", "add", target, "--rule", "reaches-service",
                      "--policy", "fifo")["items"][0]
    assert traced["frontier"] == 1
    with Store.open(store).connect() as con:
        con.execute("INSERT INTO webhooks VALUES ('WH-0000bbbb', 'http://127.0.0.1:9/h', 'WH-0000bbbb', 'ann', "
                    "now(), NULL)")
    _ingest(capsys, store, chains["rest"])
    first = cli_json(capsys, store, "ann", "alerts", "list", "--item", moved["id"])["alerts"]
    assert len(first) == 1 and first[0]["height"] == chains["spent_at"] and first[0]["kind"] == "alert"
    dropped_hash = w.block_hash(chains["a"][chains["spent_at"]])[::-1].hex()
    assert first[0]["block_hash"] == dropped_hash
    out = _ingest(capsys, store, chains["fork"])
    assert "reorganisation" in out
    after = cli_json(capsys, store, "ann", "alerts", "list", "--item", moved["id"])["alerts"]
    by_kind = {k: [a for a in after if a["kind"] == k] for k in ("alert", "retraction")}
    old = next(a for a in by_kind["alert"] if a["id"] == first[0]["id"])
    (retraction,) = by_kind["retraction"]
    assert old["retracted_by"] == retraction["id"] and retraction["retracts"] == old["id"]
    assert retraction["document"]["kind"] == "retraction" and retraction["document"]["retracts"] == old["id"]
    assert retraction["height"] == old["height"] and "retracted" in retraction["title"]
    (new,) = [a for a in by_kind["alert"] if a["id"] != old["id"]]
    assert new["height"] == FORK and new["block_hash"] == w.block_hash(chains["b"][0])[::-1].hex()
    assert new["retracted_by"] is None
    with Store.open(store).connect(read_only=True) as con:
        outbox = dict(con.execute("SELECT alert_id, status FROM alert_outbox").fetchall())
        rows = con.execute("SELECT output, amount, state FROM watch_frontier WHERE item_id = ?",
                           [traced["id"]]).fetchall()
    assert {old["id"], retraction["id"], new["id"]} <= set(outbox)
    # the frontier: as a trace of the watched output over the final chain leaves it
    full = cli_json(capsys, store, "ann", "trace", target, "--policy", "fifo")
    unspent = {o for e in full["endpoints"] if e["reason"] == "unspent" for o in e["outputs"]}
    live = {o: Fraction(a) for o, a, st in rows if json.loads(st)["spent"] is None}
    assert set(live) == unspent and sum(live.values()) == full["summary"]["by_reason_sat"]["unspent"]
    fork_txids = {tx.txid[::-1].hex() for raw in chains["b"] for tx in rs.parse_block(raw)}
    assert any(o.split(":")[0] in fork_txids for o in live)  # moved again by the new branch
