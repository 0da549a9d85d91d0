"""How the deliverer uses connections (docs/watch.md, "Delivery"): one kept-alive connection per webhook,
a fresh one when the receiver dropped an idle one, webhooks served at the same time with each one's order
kept, a round that stops starting POSTs when its time is up, and the POSTs sent from a child process
(`ProcessPoster`, what `ingest --follow` uses) with nothing lost when that process dies.

Real receivers on loopback (`http.server` in threads, HTTP/1.1 or 1.0), a real store built by the CLI."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.watch import delivery
from fundtrail.watch.delivery import deliver_due
from fundtrail.watch.poster import ProcessPoster
from tests.watch.support_receiver import add_alerts, blocks_of, copy_store, outbox


@dataclass
class Peer:
    """A receiver noting, per POST, the alert id, the client's port (its connection) and the time."""

    http11: bool = True
    delay: float = 0.0  # seconds before each answer
    close_after_each: bool = False  # answer as HTTP/1.1 keep-alive, then drop the connection anyway
    seen: list[tuple[str, int, float]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> Peer:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if peer.http11 else "HTTP/1.0"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if peer.delay:
                    time.sleep(peer.delay)
                peer.seen.append((self.headers["X-Fundtrail-Alert"], self.client_address[1], time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if peer.close_after_each:
                    self.close_connection = True  # without saying so: the client finds out on its next POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("connections")
    simulate(base / "sim", seed=3, txs=500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    outputs = dict(sorted(truth["answers"]["fifo"]["arrived_outputs"].items())[:6])
    return {"store": store, "outputs": outputs, "blocks": blocks_of(store, outputs)}


def hooks(store: Path, *urls: str) -> None:
    for url in urls:
        assert main(["-q", "--store", str(store), "webhooks", "add", url]) == 0


def test_one_kept_alive_connection_per_webhook(built: dict[str, Any], tmp_path: Path) -> None:
    store = copy_store(built["store"], tmp_path / "store")
    with Peer() as keep, Peer(http11=False) as old:
        hooks(store, keep.url, old.url)
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        report = deliver_due(Store(store), timeout=5)
    assert report.count("delivered") == 12
    order = [a["alert_id"] for a in alerts]
    assert [s[0] for s in keep.seen] == order and [s[0] for s in old.seen] == order  # each webhook in alert order
    assert len({s[1] for s in keep.seen}) == 1  # HTTP/1.1: all six on one connection
    assert len({s[1] for s in old.seen}) == 6  # HTTP/1.0 closes after each answer: a new connection each time


def test_a_dropped_idle_connection_is_replaced_without_losing_a_post(built: dict[str, Any], tmp_path: Path) -> None:
    store = copy_store(built["store"], tmp_path / "store")
    with Peer(close_after_each=True) as rude:
        hooks(store, rude.url)
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        report = deliver_due(Store(store), timeout=5)
    assert report.count("delivered") == 6 and report.count("retry") == 0
    assert [s[0] for s in rude.seen] == [a["alert_id"] for a in alerts]
    assert {r["attempts"] for r in outbox(store).values()} == {1}  # the resend on a new connection is not an attempt


def test_a_slow_webhook_does_not_hold_back_a_fast_one(built: dict[str, Any], tmp_path: Path) -> None:
    store = copy_store(built["store"], tmp_path / "store")
    with Peer(delay=0.25) as slow, Peer() as fast:
        hooks(store, slow.url, fast.url)
        add_alerts(store, built["outputs"], built["blocks"])
        report = deliver_due(Store(store), timeout=5)
    assert report.count("delivered") == 12
    assert fast.seen[-1][2] < slow.seen[1][2]  # all six at the fast one before the slow one's second


def test_a_round_stops_starting_posts_when_its_time_is_up(built: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = copy_store(built["store"], tmp_path / "store")
    monkeypatch.setattr(delivery, "ROUND_BUDGET_S", 0.3)
    with Peer(delay=0.2) as slow:
        hooks(store, slow.url)
        alerts = add_alerts(store, built["outputs"], built["blocks"])
        first = deliver_due(Store(store), timeout=5)
        assert 1 <= first.count("delivered") < 6 and first.untried == 6 - first.count("delivered")
        rows = outbox(store)
        expected = [1] * first.count("delivered") + [0] * first.untried
        assert sorted(r["attempts"] for r in rows.values()) == sorted(expected)
        assert first.pending == first.untried  # due again at once, attempts given back
        rounds = 1
        while outbox_pending(store) and rounds < 20:
            deliver_due(Store(store), timeout=5)
            rounds += 1
    assert [s[0] for s in slow.seen] == [a["alert_id"] for a in alerts]  # each once, in order, over several rounds
    assert {(r["status"], r["attempts"]) for r in outbox(store).values()} == {("delivered", 1)}


def outbox_pending(store: Path) -> int:
    return sum(r["status"] == "pending" for r in outbox(store).values())


def test_posts_from_a_child_process_and_a_dead_child_loses_nothing(built: dict[str, Any], tmp_path: Path) -> None:
    store = copy_store(built["store"], tmp_path / "store")
    poster = ProcessPoster(timeout=5)
    try:
        with Peer(delay=0.2) as peer:
            hooks(store, peer.url)
            alerts = add_alerts(store, built["outputs"], built["blocks"])
            report = deliver_due(Store(store), timeout=5, base=0.01, poster=poster)
            assert report.count("delivered") == 6 and len({s[1] for s in peer.seen}) == 1
            child = poster._proc
            assert child is not None and child.poll() is None  # kept for the next round
            child.kill()  # dies between rounds: the next round starts another
            child.wait()
            more = add_alerts(store, built["outputs"], built["blocks"])
            assert deliver_due(Store(store), timeout=5, base=0.01, poster=poster).count("delivered") == 6
            assert poster._proc is not None and poster._proc.pid != child.pid
            last = add_alerts(store, built["outputs"], built["blocks"])
            seen = len(peer.seen)
            killer = threading.Thread(target=_kill_after_first_post, args=(poster, peer, seen))
            killer.start()
            failed = deliver_due(Store(store), timeout=5, base=0.01, poster=poster)  # dies mid-round
            killer.join()
            assert failed.count("retry") == 1 and failed.count("delivered") == 0  # one attempt counted, five released
            assert "the delivery process ended" in (failed.outcomes[0].error or "")
            time.sleep(0.05)
            rounds = 0
            while outbox_pending(store) and rounds < 10:
                deliver_due(Store(store), timeout=5, base=0.01, poster=poster)
                rounds += 1
    finally:
        poster.close()
    arrived = [s[0] for s in peer.seen]
    assert arrived[:12] == [a["alert_id"] for a in alerts + more]
    assert set(arrived[12:]) == {a["alert_id"] for a in last}  # each at least once (some twice: sent, then killed)
    assert {r["status"] for r in outbox(store).values()} == {"delivered"}


def _kill_after_first_post(poster: ProcessPoster, peer: Peer, seen: int) -> None:
    deadline = time.monotonic() + 30
    while len(peer.seen) <= seen and time.monotonic() < deadline:
        time.sleep(0.005)
    assert poster._proc is not None
    poster._proc.kill()
