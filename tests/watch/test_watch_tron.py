"""Watching TRON (issue 17 on the chain of issue 18): `ingest tron --follow` against a java-tron
look-alike on loopback (tests/support/tron_fake_node.py) with watch items and a webhook. The
watched account's TRX payments to a tagged exchange account raise `moved` and `reaches-service`
alerts naming the exchange by its `T…` address, amounts in sun as the node served them (the
oracle: the fake node's block recipe), hashes as TRON writes them (hex, no 0x); a reorganisation
of the block retracts its alerts and the new branch's block raises them anew."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from support.tron_fake_node import FakeTron, account
from tests.watch.support_receiver import Receiver

from fundtrail.chains.tron.address import to_base58
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.job_models import IngestTronRequest
from fundtrail.workspace.tag_models import TagAddRequest


def _t(i: int) -> str:
    return to_base58(bytes.fromhex(account(i)[2:]))


def _tip(store: Path) -> tuple[int, str] | None:
    with Store(store).connect(read_only=True) as con:
        row = con.execute("SELECT height, hash FROM block_index ORDER BY height DESC LIMIT 1").fetchone()
    return (int(row[0]), bytes(row[1]).hex()) if row else None


def _wait(cond: Any, errors: list[BaseException], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert not errors, errors
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def _payments(node: FakeTron, height: int, sender: str, receiver: str) -> list[tuple[str, int]]:
    """(txid, sun) of the node's TRX transfers sender -> receiver in block `height` (the oracle)."""
    block, _ = node.blocks[height]
    out = []
    for tx in block.get("transactions", []):
        v = tx["raw_data"]["contract"][0]["parameter"]["value"]
        if v["owner_address"] == sender and v["to_address"] == receiver:
            out.append((tx["txID"], int(v["amount"])))
    return out


def test_tron_follow_alerts_and_retracts(tmp_path: Path) -> None:
    store = tmp_path / "store"
    Store.open(store)
    thief, exchange = 1, 16  # the fake node's recipe: account 1 pays account 16 in blocks 5 and 6
    with FakeTron(head=4, txs_per_block=3) as node, Receiver() as hook:
        admin = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
        admin.ingest_tron(IngestTronRequest(rpc=node.url))
        admin.tags_add(TagAddRequest(address=_t(exchange), label="Exchange T", category="exchange", currency="TRX"))
        moved = admin.watch_add([_t(thief)], chain="tron", rule="moved").items[0]
        reach = admin.watch_add([account(thief)], chain="tron", rule="reaches-service").items[0]
        assert moved.target == reach.target == _t(thief)  # 41… input, T… canonical
        admin.webhook_add(hook.url)
        stop, errors = threading.Event(), list[BaseException]()

        def run() -> None:
            try:
                ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
                ws.ingest_tron(IngestTronRequest(rpc=node.url, follow=True, poll_interval=0.05),
                               should_stop=stop.is_set)
            except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            node.extend(7, "a")
            _wait(lambda: (_tip(store) or (0, ""))[0] == 7, errors, "block 7")
            old6 = node.blocks[6][0]["blockID"]
            paid_a = {h: _payments(node, h, account(thief), account(exchange)) for h in (5, 6)}
            node.reorg(5, 8, "b")  # block 6 and up replaced
            _wait(lambda: _tip(store) == (8, node.blocks[8][0]["blockID"]), errors, "the new branch")
            paid_b6 = _payments(node, 6, account(thief), account(exchange))
            _wait(lambda: len(hook.requests) >= 8, errors, "the deliveries", timeout=30)
        finally:
            stop.set()
            thread.join(60)
        assert not errors, errors
    docs = [json.loads(r.body) for r in hook.requests]
    assert all(len(p) == 1 for p in (*paid_a.values(), paid_b6))
    got = [(d["kind"], d["rule"], d["txid"], d["height"]) for d in docs]
    (tx5, sun5), (tx6, sun6), (tx6b, sun6b) = paid_a[5][0], paid_a[6][0], paid_b6[0]
    assert got[:4] == [("alert", "moved", tx5, 5), ("alert", "reaches-service", tx5, 5),
                       ("alert", "moved", tx6, 6), ("alert", "reaches-service", tx6, 6)], got
    assert sorted(got[4:6]) == [("retraction", "moved", tx6, 6), ("retraction", "reaches-service", tx6, 6)]
    assert got[6:] == [("alert", "moved", tx6b, 6), ("alert", "reaches-service", tx6b, 6)]
    assert docs[2]["block_hash"] == old6 and not docs[2]["txid"].startswith("0x")
    svc = docs[1]
    assert svc["service"]["label"] == "Exchange T" and svc["service"]["address"] == _t(exchange)
    assert svc["facts"]["amount"] == str(sun5) and svc["facts"]["unit"] == "TRX" and svc["facts"]["decimals"] == 6
    assert docs[0]["facts"]["transfers"] == [{"from": _t(thief), "to": _t(exchange), "amount": str(sun5)}]
    assert docs[2]["facts"]["amount"] == str(sun6) and docs[6]["facts"]["amount"] == str(sun6b)
