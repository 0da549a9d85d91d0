"""Delivering alerts to a real webhook receiver on loopback: signed, retried with backoff, dead-lettered,
replayed (docs/watch.md, "Delivery"). The store is built by the CLI from a simulated chain; the alerts
name outputs of the simulator's answer key (where the ransom reached an exchange) and their blocks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import ConfigError
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.watch.delivery import MAX_DELAY_S, backoff_seconds, deliver_due
from fundtrail.workspace import Actor, Workspace
from tests.watch.support_receiver import Receiver, add_alerts, blocks_of, copy_store, outbox


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store of a small simulated chain and, from the answer key, the ransom's arrived outputs."""
    base = tmp_path_factory.mktemp("delivery")
    simulate(base / "sim", seed=3, txs=500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    arrived = truth["answers"]["fifo"]["arrived_outputs"]
    outputs = dict(sorted(arrived.items())[:3])
    return {"store": store, "outputs": outputs, "blocks": blocks_of(store, outputs)}


@pytest.fixture
def store(built: dict[str, Any], tmp_path: Path) -> Path:
    return copy_store(built["store"], tmp_path / "store")


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small retry settings, through the environment as a user would set them."""
    monkeypatch.setenv("FUNDTRAIL_WEBHOOK_RETRY_BASE", "0.02")
    monkeypatch.setenv("FUNDTRAIL_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("FUNDTRAIL_WEBHOOK_TIMEOUT", "1")


def cli(capsys: pytest.CaptureFixture[str], store: Path, *args: str) -> tuple[int, Any, str]:
    """Run `fundtrail --store STORE ARGS`; (exit code, stdout parsed as JSON when it is, stderr)."""
    capsys.readouterr()
    code = main(["--store", str(store), *args])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def add_hook(capsys: pytest.CaptureFixture[str], store: Path, url: str) -> dict[str, Any]:
    code, created, err = cli(capsys, store, "webhooks", "add", url, "--json")
    assert code == 0, err
    return created  # type: ignore[no-any-return]


def test_signed_post_with_the_exact_document(store: Path, built: dict[str, Any],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver() as rx:
        hook = add_hook(capsys, store, rx.url)
        assert len(bytes.fromhex(hook["secret"])) == 32
        secret_file = store / hook["secret_file"]
        assert secret_file.read_text() == hook["secret"]
        assert secret_file.stat().st_mode & 0o777 == 0o600
        assert secret_file.parent.stat().st_mode & 0o777 == 0o700
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        before = int(time.time())
        code, result, err = cli(capsys, store, "alerts", "deliver", "--json")
        assert code == 0, err
        assert (result["attempted"], result["delivered"], result["pending"]) == (3, 3, 0)
        assert [r.headers["x-fundtrail-alert"] for r in rx.requests] == [a["alert_id"] for a in alerts]
        for req, alert in zip(rx.requests, alerts, strict=True):
            assert req.path == "/hook?team=aml"
            assert req.body == alert["document"].encode()  # the stored bytes, not a re-serialisation
            assert req.headers["content-type"] == "application/json"
            assert req.headers["x-fundtrail-idempotency-key"] == alert["idempotency_key"]
            stamp = req.headers["x-fundtrail-timestamp"]
            assert before - 1 <= int(stamp) <= int(time.time()) + 1
            mac = hmac.new(hook["secret"].encode(), f"{stamp}.".encode() + req.body, hashlib.sha256).hexdigest()
            assert req.headers["x-fundtrail-signature"] == f"sha256={mac}"
            doc = json.loads(req.body)
            output = doc["facts"]["outputs"][0]
            assert doc["facts"]["amount"] == str(built["outputs"][output])  # the answer key's amount
        rows = outbox(store)
        assert {(r["status"], r["attempts"]) for r in rows.values()} == {("delivered", 1)}
        assert all(r["delivered_at"] is not None for r in rows.values())
        code, again, _ = cli(capsys, store, "alerts", "deliver", "--json")  # nothing is sent twice
        assert (code, again["attempted"], len(rx.requests)) == (0, 0, 3)
        code, listed, _ = cli(capsys, store, "webhooks", "list", "--json")
        assert listed["webhooks"][0]["delivered"] == 3 and "secret" not in listed["webhooks"][0]


def test_fails_twice_then_recovers_delivered_once_with_attempts_3(store: Path, built: dict[str, Any],
                                                                   fast: None, capsys: pytest.CaptureFixture[str]
                                                                   ) -> None:
    with Receiver(fail_next=2) as rx:
        add_hook(capsys, store, rx.url)
        (alert,) = add_alerts(store, dict(list(built["outputs"].items())[:1]), built["blocks"])
        ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="t", via="python"))
        not_yet = deliver_due(Store(store), now=dt.datetime(2000, 1, 1))  # nothing is due before it was raised
        assert (not_yet.outcomes, not_yet.pending, rx.requests) == ([], 1, [])
        result = ws.alerts_deliver(until_idle=True, max_wait=30)
        assert [o.status for o in result.outcomes] == ["retry", "retry", "delivered"]
        assert [o.attempts for o in result.outcomes] == [1, 2, 3]
        assert result.outcomes[0].http_status == 500 and result.outcomes[0].error.startswith("HTTP 500")
        assert [r.status for r in rx.requests] == [500, 500, 200]
        assert rx.processed == {alert["idempotency_key"]: 1}
        (row,) = outbox(store).values()
        assert (row["status"], row["attempts"]) == ("delivered", 3)


def test_always_failing_goes_dead_then_replay_delivers(store: Path, built: dict[str, Any], fast: None,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(always_fail=True) as rx:
        add_hook(capsys, store, rx.url)
        alerts = add_alerts(store, dict(list(built["outputs"].items())[:2]), built["blocks"])
        code, result, err = cli(capsys, store, "alerts", "deliver", "--until-idle", "--json")
        assert code == 0, err
        assert (result["dead"], result["pending"], len(rx.requests)) == (2, 0, 6)  # 3 attempts each
        code, dead, _ = cli(capsys, store, "alerts", "dead", "--json")
        assert [d["alert_id"] for d in dead["dead"]] == [a["alert_id"] for a in alerts]
        assert {(d["attempts"], d["last_error"], d["webhook_removed"]) for d in dead["dead"]} == {
            (3, "HTTP 500 Internal Server Error", False)}
        rx.always_fail = False
        code, replayed, _ = cli(capsys, store, "alerts", "replay", alerts[0]["alert_id"], "--json")
        assert (code, replayed["replayed"]) == (0, 1)
        assert outbox(store)[(alerts[0]["alert_id"], dead["dead"][0]["webhook_id"])]["attempts"] == 0
        code, replayed, _ = cli(capsys, store, "alerts", "replay", "--all-dead", "--json")
        assert (code, replayed["replayed"]) == (0, 1)
        code, result, _ = cli(capsys, store, "alerts", "deliver", "--json")
        assert (result["delivered"], result["pending"]) == (2, 0)
        assert rx.processed == {a["idempotency_key"]: 1 for a in alerts}
        assert {(r["status"], r["attempts"]) for r in outbox(store).values()} == {("delivered", 1)}
        code, dead, _ = cli(capsys, store, "alerts", "dead", "--json")
        assert dead["dead"] == []


@pytest.mark.parametrize(("mode", "expect"), [("hang", "TimeoutError: no answer within 1 s (webhook_timeout)"),
                                              ("redirect", "HTTP 302 Found (redirects are not followed)"),
                                              ("refused", "ConnectionRefusedError")])
def test_failed_attempt_records_one_line_error(store: Path, built: dict[str, Any], fast: None, mode: str,
                                               expect: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(hang_next=1 if mode == "hang" else 0, status_ok=302 if mode == "redirect" else 200) as rx:
        if mode == "refused":
            rx.__exit__()  # nothing listens on its port any more
        add_hook(capsys, store, rx.url)
        add_alerts(store, dict(list(built["outputs"].items())[:1]), built["blocks"])
        code, result, _ = cli(capsys, store, "alerts", "deliver", "--json")
        (outcome,) = result["outcomes"]
        assert (code, outcome["status"], outcome["attempts"]) == (0, "retry", 1)
        assert outcome["error"].startswith(expect) and "\n" not in outcome["error"]
        (row,) = outbox(store).values()
        assert (row["status"], row["last_error"]) == ("pending", outcome["error"])
        assert len(rx.requests) == (0 if mode == "refused" else 1)


def test_two_deliverers_at_once_never_send_the_same_row(store: Path, built: dict[str, Any],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(hang_next=1) as rx:
        add_hook(capsys, store, rx.url)
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        first = threading.Thread(target=deliver_due, args=(Store(store),), kwargs={"limit": 1, "timeout": 30})
        first.start()  # claims the first alert; the receiver holds its POST
        end = time.monotonic() + 60
        while not rx.requests:
            assert time.monotonic() < end and first.is_alive()
            time.sleep(0.02)
        second = deliver_due(Store(store), timeout=30)  # meanwhile: sends the others, not the claimed one
        assert [o.alert_id for o in second.outcomes] == [a["alert_id"] for a in alerts[1:]]
        assert second.pending == 1
        rx.release()
        first.join(60)
        assert not first.is_alive()
        assert rx.wire == {a["idempotency_key"]: 1 for a in alerts}
        assert {(r["status"], r["attempts"]) for r in outbox(store).values()} == {("delivered", 1)}


def test_removing_a_webhook_dead_letters_its_pending_deliveries(store: Path, built: dict[str, Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver() as kept, Receiver() as gone:
        keep_hook, gone_hook = add_hook(capsys, store, kept.url), add_hook(capsys, store, gone.url)
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        code, removed, _ = cli(capsys, store, "webhooks", "remove", gone_hook["id"], "--json")
        assert (code, removed["dead_lettered"], removed["webhook"]["dead"]) == (0, 3, 3)
        assert not (store / gone_hook["secret_file"]).exists()
        rows = outbox(store)
        assert {rows[(a["alert_id"], gone_hook["id"])]["last_error"] for a in alerts} == {"webhook removed"}
        code, result, _ = cli(capsys, store, "alerts", "deliver", "--json")
        assert (result["delivered"], len(kept.requests), len(gone.requests)) == (3, 3, 0)
        code, dead, _ = cli(capsys, store, "alerts", "dead", "--json")
        assert {(d["webhook_id"], d["webhook_removed"]) for d in dead["dead"]} == {(gone_hook["id"], True)}
        code, replayed, _ = cli(capsys, store, "alerts", "replay", "--all-dead", "--json")
        assert (replayed["replayed"], replayed["left_dead"]) == (0, 3)
        code, _, err = cli(capsys, store, "alerts", "replay", alerts[0]["alert_id"])
        assert code == 2 and "webhooks were removed" in err
        code, listed, _ = cli(capsys, store, "webhooks", "list", "--json")
        assert [w["id"] for w in listed["webhooks"]] == [keep_hook["id"]]
        code, _, err = cli(capsys, store, "webhooks", "remove", gone_hook["id"])
        assert code == 2 and "already removed" in err


def test_bad_input_is_one_line_naming_the_field_and_changes_nothing(store: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cases = [(["webhooks", "add", "http://alice:hunter2@127.0.0.1:9/x"], 2, "url must not carry user:password@"),
             (["webhooks", "add", "ftp://127.0.0.1/x"], 2, "url must start with http:// or https://"),
             (["webhooks", "add", "http:///x"], 2, "url has no host"),
             (["webhooks", "remove", "WH-zz"], 2, "webhook_id 'WH-zz' is not a webhook id"),
             (["webhooks", "remove", "WH-00000000"], 6, "no webhook WH-00000000"),
             (["alerts", "replay", "AL-1"], 2, "alert_id 'AL-1' is not an alert id"),
             (["alerts", "replay", "AL-000000000000"], 6, "no alert AL-000000000000"),
             (["alerts", "replay"], 2, "give an ALERT_ID or --all-dead"),
             (["alerts", "deliver", "--limit", "0"], 2, "limit must be between 1 and 10000")]
    for args, exit_code, message in cases:
        code, _, err = cli(capsys, store, *args)
        assert (code, err.count("\n")) == (exit_code, 1), (args, err)
        assert message in err and "hunter2" not in err, (args, err)
    code, listed, _ = cli(capsys, store, "webhooks", "list", "--json")
    assert listed["webhooks"] == [] and not (store / "secrets").exists()


def test_backoff_doubles_with_bounded_jitter() -> None:
    for attempts in range(1, 9):
        delay = backoff_seconds(attempts, 2.0)
        assert 2.0 * 2 ** (attempts - 1) <= delay <= 1.2 * 2.0 * 2 ** (attempts - 1)
    assert backoff_seconds(60, 2.0) == MAX_DELAY_S


def test_settings_of_delivery_are_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert (Settings.load(store=tmp_path).webhook_timeout, Settings.load(store=tmp_path).webhook_max_attempts) == (
        5.0, 8)
    monkeypatch.setenv("FUNDTRAIL_WEBHOOK_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="webhook_timeout must be between 0.1 and 600 seconds, got 0"):
        Settings.load(store=tmp_path)
    monkeypatch.setenv("FUNDTRAIL_WEBHOOK_TIMEOUT", "2.5")
    monkeypatch.setenv("FUNDTRAIL_WEBHOOK_MAX_ATTEMPTS", "x")
    with pytest.raises(ConfigError, match="webhook_max_attempts must be a whole number"):
        Settings.load(store=tmp_path)


def test_a_failing_webhook_is_tried_once_per_round_the_rest_released(store: Path, built: dict[str, Any]) -> None:
    """Rows are claimed a few at a time; when a webhook fails, its later rows of the batch are not
    sent to it in that round: their attempt is given back and they fall due again, in order."""
    with Receiver(always_fail=True) as rx:
        ws = Workspace.open(store=store, writable=True, actor=Actor(user="test"))
        hook = ws.webhook_add(rx.url).id
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        report = deliver_due(Store.open(store), limit=10, timeout=1.0, base=0.05, max_attempts=5)
        assert [(o.alert_id, o.status, o.attempts) for o in report.outcomes] == [(alerts[0]["alert_id"], "retry", 1)]
        assert len(rx.requests) == 1
        rows = outbox(store)
        assert [(rows[(a["alert_id"], hook)]["status"], rows[(a["alert_id"], hook)]["attempts"]) for a in alerts] == [
            ("pending", 1), ("pending", 0), ("pending", 0)]
        rx.always_fail = False
        time.sleep(0.3)  # past the backoff of the first and the release of the others
        again = deliver_due(Store.open(store), limit=10, timeout=1.0, base=0.05, max_attempts=5)
        assert [o.alert_id for o in again.outcomes] == [a["alert_id"] for a in alerts]
        assert {o.status for o in again.outcomes} == {"delivered"}
