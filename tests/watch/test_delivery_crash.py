"""Delivery across a crash, and where a webhook secret may be: real `fundtrail` subprocesses, one of them
killed with SIGKILL while the real loopback receiver holds its POST (docs/watch.md, "Delivery")."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate
from support.reliability import cli_cmd, cli_env, run_cli
from tests.watch.support_receiver import Receiver, add_alerts, blocks_of, copy_store, outbox


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store of a small simulated chain and, from the answer key, where the ransom arrived (FIFO)."""
    base = tmp_path_factory.mktemp("delivery-crash")
    simulate(base / "sim", seed=3, txs=500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    outputs = dict(sorted(truth["answers"]["fifo"]["arrived_outputs"].items())[:3])
    return {"store": store, "outputs": outputs, "blocks": blocks_of(store, outputs)}


@pytest.fixture
def store(built: dict[str, Any], tmp_path: Path) -> Path:
    return copy_store(built["store"], tmp_path / "store")


def wait_for(check: Any, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `check()` until true (bounded: a hang is a failure, not a slow pass)."""
    end = time.monotonic() + 60
    while not check():
        assert proc is None or proc.poll() is None, f"the deliverer exited before {what}"
        assert time.monotonic() < end, f"no {what} within 60 s"
        time.sleep(0.02)


def test_sigkill_mid_post_then_rerun_delivers_every_key_once(store: Path, built: dict[str, Any],
                                                            tmp_path: Path) -> None:
    env = cli_env(tmp_path, FUNDTRAIL_WEBHOOK_TIMEOUT="3", FUNDTRAIL_WEBHOOK_RETRY_BASE="0.05")
    with Receiver(hang_next=1) as rx:
        added = run_cli(store, "webhooks", "add", rx.url, "--json", env=env)
        assert added.returncode == 0, added.stderr
        hook = json.loads(added.stdout)["id"]
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        first, rest = alerts[0], alerts[1:]
        proc = subprocess.Popen(cli_cmd(store, "alerts", "deliver", "--until-idle"), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: rx.requests, "POST at the receiver", proc)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
        rows = outbox(store)
        assert {k[1] for k in rows} == {hook}
        # the rows were claimed together (an attempt counted for each) before the first POST; none
        # was recorded delivered, and only the first was sent
        assert {(r["status"], r["attempts"]) for r in rows.values()} == {("pending", 1)}
        rx.release()  # the receiver processes the held request; its answer goes to a dead process
        wait_for(lambda: rx.processed[first["idempotency_key"]] == 1, "processing of the held request")
        rerun = run_cli(store, "alerts", "deliver", "--until-idle", "--json", env=env)
        assert rerun.returncode == 0, rerun.stderr
        result = json.loads(rerun.stdout)
        assert (result["delivered"], result["pending"]) == (3, 0)
        # at least once on the wire (the held one twice), exactly once per idempotency key
        assert rx.wire == {first["idempotency_key"]: 2, **{a["idempotency_key"]: 1 for a in rest}}
        assert rx.processed == {a["idempotency_key"]: 1 for a in alerts}
        rows = outbox(store)
        assert {k[0]: (r["status"], r["attempts"]) for k, r in rows.items()} == {
            a["alert_id"]: ("delivered", 2) for a in alerts}
        again = run_cli(store, "alerts", "deliver", "--json", env=env)
        assert json.loads(again.stdout)["attempted"] == 0 and sum(rx.wire.values()) == 4


def _files_holding(root: Path, needle: bytes) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes())


def test_secrets_never_reach_the_catalog_logs_or_audit(store: Path, built: dict[str, Any], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = cli_env(tmp_path, FUNDTRAIL_WEBHOOK_RETRY_BASE="0.05", FUNDTRAIL_WEBHOOK_MAX_ATTEMPTS="3")
    given = f"given-{secrets.token_hex(16)}"
    with Receiver(fail_next=1) as rx:
        added = subprocess.run(cli_cmd(store, "webhooks", "add", rx.url, "--secret-stdin", "--json"), env=env,
                               input=given + "\n", capture_output=True, text=True, timeout=120)
        assert added.returncode == 0, added.stderr
        assert json.loads(added.stdout)["secret"] == given
        capsys.readouterr()
        assert main(["--store", str(store), "webhooks", "add", rx.url]) == 0  # a random secret, printed once
        random_secret = capsys.readouterr().out.strip()
        assert len(bytes.fromhex(random_secret)) == 32
        add_alerts(store, built["outputs"], built["blocks"])
        delivered = run_cli(store, "-vv", "alerts", "deliver", "--until-idle", env=env)
        assert "attempt 1 failed (HTTP 500" in delivered.stderr  # the log says what happened ...
        texts = [delivered.stdout + delivered.stderr]
        for args in (["webhooks", "list", "--json"], ["alerts", "dead", "--json"],
                     ["webhooks", "add", "http://alice:hunter2@127.0.0.1:9/x"], ["audit", "show"],
                     ["audit", "show", "--json"]):
            main(["--store", str(store), *args])
            out, err = capsys.readouterr()
            texts.append(out + err)
        assert json.loads(texts[-1])["records"][1]["action"] == "webhooks add"
    for secret in (given, random_secret):  # ... never with a secret in it
        assert all(secret not in text for text in texts)
        holders = _files_holding(store, secret.encode())
        assert len(holders) == 1 and holders[0].startswith("secrets/webhooks/WH-")
    assert "hunter2" not in texts[-1] + texts[-2] and _files_holding(store, b"hunter2") == []
    assert "webhooks add http://127.0.0.1:9 " in texts[-2]  # the refused URL: only its scheme and host are recorded
    assert len(rx.processed) == 3 and sum(r.status == 200 for r in rx.requests) == 6  # 3 alerts x 2 webhooks
