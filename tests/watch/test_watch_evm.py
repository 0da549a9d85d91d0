"""Watching an EVM chain (issue 17, "Verification"): a real anvil in follow mode plays a scripted
laundering flow — stolen ETH through a Tornado-shaped pool (the simulator's SimPool) to an
exchange deposit, stolen stablecoin (SimStable) straight to it — while `ingest ethereum --follow`
runs through the service layer with watch items and a webhook. The expected alerts arrive in
order at a loopback receiver with valid signatures, each naming the exchange and the amount the
script moved; a reorganisation (evm_snapshot / evm_revert) retracts the alerts of the dropped
block, and the receiver gets the retractions.

The oracle is the script: the amounts are what the test sends (gas price 0, so no fee dilutes a
balance), the pool held nothing before the thief's note, so under haircut all of the withdrawal
is traced.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from pathlib import Path
from typing import Any

from support.anvil import Anvil
from tests.watch.support_receiver import Receiver

from fundtrail.sim.evm.abi import calldata, commitment, deploy_data
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.job_models import IngestEthereumRequest
from fundtrail.workspace.tag_models import TagAddRequest

ETHER = 10**18
DENOMINATION = ETHER
FEE = ETHER // 100
THIEF = "0x" + "7e" * 20
RELAYER = "0x" + "5e" * 20
FRESH = "0x" + "f5" * 20
DEPOSIT = "0x" + "de" * 20  # the exchange's deposit address (tagged)
OTHER = "0x" + "0a" * 20
NOTE = ("0x" + "11" * 32, "0x" + "22" * 32)


def _send(node: Anvil, frm: str, to: str | None, value: int = 0, data: str = "0x") -> dict[str, Any]:
    tx: dict[str, Any] = {"from": frm, "value": hex(value), "data": data, "gasPrice": "0x0", "gas": hex(3_000_000)}
    if to is not None:
        tx["to"] = to
    receipt = node.wait_receipt(node.rpc("eth_sendTransaction", tx))
    assert int(receipt["status"], 16) == 1, receipt
    return receipt


def _tip(store: Path) -> int:
    with Store(store).connect(read_only=True) as con:
        row = con.execute("SELECT max(height) FROM block_index").fetchone()
    return int(row[0]) if row and row[0] is not None else -1


def _wait(cond: Any, errors: list[BaseException], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert not errors, errors
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_follow_alerts_in_order_then_retracts_on_reorg(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Anvil(extra_args=["--block-base-fee-per-gas", "0", "--auto-impersonate"]) as node, Receiver() as hook:
        funder = node.accounts[0]
        for who in (THIEF, RELAYER):
            _send(node, funder, who, 10 * ETHER)
        stable = _send(node, funder, None, data=deploy_data("SimStable"))["contractAddress"]
        pool = _send(node, funder, None, data=deploy_data("SimPool", DENOMINATION))["contractAddress"]
        _send(node, funder, stable, data=calldata("SimStable", "mint(address,uint256)", THIEF, 5_000 * 10**6))
        Store.open(store)
        admin = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
        admin.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil"))
        admin.tags_add(TagAddRequest(address=DEPOSIT, label="Exchange K", category="exchange", currency="ANVIL",
                                     source="test: the exchange's deposit address"))
        moved = admin.watch_add([THIEF], chain="anvil", rule="moved").items[0].id
        reach = admin.watch_add([THIEF], chain="anvil", rule="reaches-service").items[0].id
        secret = admin.webhook_add(hook.url).secret
        stop, errors = threading.Event(), list[BaseException]()

        def run() -> None:
            try:
                ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
                ws.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil", follow=True,
                                                         poll_interval=0.05), should_stop=stop.is_set)
            except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            into_pool = _send(node, THIEF, pool, DENOMINATION, calldata("SimPool", "deposit(bytes32)",
                                                                        commitment(*NOTE)))
            _send(node, RELAYER, pool, data=calldata("SimPool", "withdraw(bytes32,bytes32,address,address,uint256)",
                                                     NOTE[0], NOTE[1], FRESH, RELAYER, FEE))
            cash_out = _send(node, FRESH, DEPOSIT, DENOMINATION - FEE)
            _wait(lambda: _tip(store) == int(cash_out["blockNumber"], 16), errors, "the cash-out block")
            snap = node.rpc("evm_snapshot")
            doomed = _send(node, THIEF, stable, data=calldata("SimStable", "transfer(address,uint256)", DEPOSIT,
                                                              2_000 * 10**6))
            _wait(lambda: _tip(store) == int(doomed["blockNumber"], 16), errors, "the doomed block")
            assert node.rpc("evm_revert", snap) is True
            kept = _send(node, THIEF, stable, data=calldata("SimStable", "transfer(address,uint256)", OTHER,
                                                            700 * 10**6))
            _send(node, funder, OTHER, 1)  # makes the new branch longer than the old one
            _wait(lambda: _tip(store) == int(kept["blockNumber"], 16) + 1, errors, "the new branch")
            _wait(lambda: len(hook.requests) >= 7, errors, "the webhook deliveries", timeout=30)
        finally:
            stop.set()
            thread.join(60)
        assert not errors, errors

    docs = [json.loads(r.body) for r in hook.requests]
    for r in hook.requests:  # every request signed as docs/watch.md says
        mac = hmac.new(secret.encode(), r.headers["x-fundtrail-timestamp"].encode() + b"." + r.body,
                       hashlib.sha256).hexdigest()
        assert r.headers["x-fundtrail-signature"] == f"sha256={mac}"
    got = [(d["kind"], d["txid"]) for d in docs]
    assert got == [("alert", into_pool["transactionHash"]), ("alert", cash_out["transactionHash"]),
                   ("alert", doomed["transactionHash"]), ("alert", doomed["transactionHash"]),
                   ("retraction", doomed["transactionHash"]), ("retraction", doomed["transactionHash"]),
                   ("alert", kept["transactionHash"])], got
    assert [d["rule"] for d in docs[:2]] == ["moved", "reaches-service"] and docs[6]["rule"] == "moved"
    assert sorted(d["rule"] for d in docs[2:4]) == sorted(d["rule"] for d in docs[4:6]) == [
        "moved", "reaches-service"]
    assert len(docs) == 7 and len({r.headers["x-fundtrail-idempotency-key"] for r in hook.requests}) == 7
    by_tx = {(d["kind"], d["rule"], d["txid"]): d for d in docs}
    eth = by_tx[("alert", "reaches-service", cash_out["transactionHash"])]
    assert eth["item"]["id"] == reach and eth["service"]["label"] == "Exchange K"
    assert eth["service"]["address"].lower() == DEPOSIT
    assert eth["facts"]["amount"] == str(DENOMINATION - FEE) and eth["facts"]["unit"] == "ETH"
    usd = by_tx[("alert", "reaches-service", doomed["transactionHash"])]
    assert usd["facts"]["amount"] == str(2_000 * 10**6) and usd["facts"]["asset"].lower() == stable.lower()
    first = by_tx[("alert", "moved", into_pool["transactionHash"])]
    assert first["item"]["id"] == moved and first["facts"]["amount"] == str(DENOMINATION)
    assert by_tx[("alert", "moved", kept["transactionHash"])]["facts"]["amount"] == str(700 * 10**6)
    retracted = {d["retracts"] for d in docs if d["kind"] == "retraction"}
    assert retracted == {by_tx[("alert", r, doomed["transactionHash"])]["alert_id"]
                         for r in ("moved", "reaches-service")}
    shown = Workspace.open(store=store, actor=Actor(user="fay")).alert_show(first["alert_id"])
    assert [(d.status, d.attempts, d.url) for d in shown.deliveries] == [("delivered", 1, hook.url)]
    assert shown.deliveries[0].delivered_at is not None and shown.deliveries[0].last_error is None
