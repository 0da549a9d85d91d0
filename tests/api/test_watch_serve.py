"""Delivery inside a running server: alerts written while it runs (by another writer, as an ingest
batch writes them) reach a real loopback receiver, signed, once per key; a receiver that fails is
retried and then served; the failures are logged one line each, never with the secret; the
server stops cleanly with its deliverer."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api.conftest import stop
from tests.api.test_watch_support import build_world
from tests.watch.support_receiver import Receiver, add_alerts, blocks_of, outbox

WAIT_S = 60.0  # generous: a bound on waiting, not a timing assertion


def _until(what: str, ok: Callable[[], bool]) -> None:
    end = time.monotonic() + WAIT_S
    while not ok():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_running_server_delivers_alerts_written_while_it_runs(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="fundtrail.api.delivery")
    world = build_world(tmp_path, webhook_poll_seconds=0.1, webhook_retry_base=0.05, webhook_timeout=2)
    store = world.server.store
    secret = "receiver-secret-0123456789-abcdef"
    try:
        with Receiver() as good, Receiver(fail_next=2) as flaky:
            with world.client("admin") as admin:
                hooks = {}
                for name, rec in (("good", good), ("flaky", flaky)):
                    r = admin.post("/api/v1/webhooks", json={"url": rec.url, "secret": secret})
                    assert r.status_code == 201, r.text
                    hooks[name] = r.json()["id"]
            cps = world.truth["cashout_points"][:2]
            outputs = {}
            for cp in cps:
                n = next(n for n, (_, a) in enumerate(world.chain.txs[cp["first_txid"]]["outputs"])
                         if a == cp["address"])
                outputs[f"{cp['first_txid']}:{n}"] = world.chain.output(cp["first_txid"], n)[0]
            made = add_alerts(store, outputs, blocks_of(store, outputs))  # written while the server runs
            keys = {a["idempotency_key"] for a in made}
            _until("both receivers to process both alerts",
                   lambda: set(good.processed) == keys and set(flaky.processed) == keys)
            for rec in (good, flaky):
                for req in rec.requests:
                    stamp = req.headers["x-fundtrail-timestamp"]
                    want = "sha256=" + hmac.new(secret.encode(), f"{stamp}.".encode() + req.body,
                                                hashlib.sha256).hexdigest()
                    assert hmac.compare_digest(want, req.headers["x-fundtrail-signature"])
                    sent = next(a for a in made if a["alert_id"] == req.headers["x-fundtrail-alert"])
                    assert req.body == sent["document"].encode()
                    assert req.headers["x-fundtrail-idempotency-key"] == sent["idempotency_key"]
            assert all(good.wire[k] == 1 for k in keys)  # nothing sent twice to a receiver that answered
            assert sum(flaky.wire.values()) == len(keys) + 2  # two refused, each retried once
            _until("the outbox to record every delivery",
                   lambda: all(r["status"] == "delivered" for r in outbox(store).values()))
            assert len(outbox(store)) == 2 * len(keys)
        lines = [r.getMessage() for r in caplog.records if r.name == "fundtrail.api.delivery"]
        failed = [line for line in lines if line.startswith("webhook delivery of AL-")]
        assert len(failed) == 2 and all(hooks["flaky"] in line and "HTTP 500" in line for line in failed)
        assert all("\n" not in line and secret not in line for line in lines)
    finally:
        stop(world.server)  # the deliverer stops with the server (stop() asserts the thread ended)
    deliverer = world.server.uv.config.app.state.fundtrail_deliverer
    assert deliverer.rounds >= 1 and not deliverer.running
