"""Test support for delivery: a real webhook receiver on loopback, and alerts written as docs/watch.md says.

`Receiver` is an `http.server` in a thread on 127.0.0.1 (an ephemeral port). It records every
request it is sent (the wire), and processes each idempotency key once (what a receiver following
the documented contract does). It can be told to answer 500 the next N times, to always fail, or
to hang the next request until released. `add_alerts` writes alerts with their outbox rows (one per
active webhook, `pending`, due now) in one transaction, as the watch evaluator does with a batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import shutil
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace


@dataclass
class Received:
    """One request as the receiver read it."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # what it answered (None: hung, never answered)


@dataclass
class Receiver:
    """A loopback webhook receiver; use as a context manager."""

    fail_next: int = 0  # answer 500 to this many requests first
    always_fail: bool = False
    hang_next: int = 0  # hang this many requests until `release()`
    status_ok: int = 200
    requests: list[Received] = field(default_factory=list)
    processed: Counter[str] = field(default_factory=Counter)  # key -> times processed (deduplicated: 0 or 1)
    wire: Counter[str] = field(default_factory=Counter)  # key -> times it arrived
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _closed: bool = False

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook?team=aml"

    def release(self) -> None:
        """Let hung requests answer (200)."""
        self._release.set()

    def _answer(self, req: Received) -> int:
        with self._lock:
            self.requests.append(req)
            key = req.headers.get("x-fundtrail-idempotency-key", "")
            self.wire[key] += 1
            if self.hang_next > 0:
                self.hang_next -= 1
                hang = True
            else:
                hang = False
                if self.always_fail or self.fail_next > 0:
                    self.fail_next = max(self.fail_next - 1, 0)
                    return 500
        if hang:
            self._release.wait(120)
        with self._lock:
            if self.processed[key] == 0:  # a receiver following the contract: once per key
                self.processed[key] = 1
        return self.status_ok

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                req = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                code = receiver._answer(req)
                req.status = code
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the deliverer died while we hung
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        assert self._server is not None
        if not self._closed:
            self._closed = True
            self._server.shutdown()
            self._server.server_close()


def copy_store(src: Path, dest: Path) -> Path:
    """A private copy of a built store (each test changes its outbox)."""
    shutil.copytree(src, dest)
    return dest


def idempotency_key(item_id: str, rule: str, chain: str, block_hash: str, txid: str, detail: str) -> str:
    """`sha256(item_id, rule, chain, block_hash, txid, detail)` as docs/watch.md defines it."""
    raw = json.dumps([item_id, rule, chain, block_hash, txid, detail], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def blocks_of(store_root: Path, outputs: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The chain, height, block hash and time of each output's transaction, read from the store."""
    ws = Workspace.open(store=store_root, actor=Actor(user="test", via="python"))
    found: dict[str, dict[str, Any]] = {}
    for output in outputs:
        tx = ws.transaction(output.split(":")[0])
        assert tx.block_hash is not None and tx.height is not None
        found[output] = {"chain": tx.chain, "height": tx.height, "block_hash": tx.block_hash, "time": tx.time}
    return found


def add_alerts(store_root: Path, outputs: dict[str, int], blocks: dict[str, dict[str, Any]], *,
               service: str = "exchange-b") -> list[dict[str, Any]]:
    """One `reaches-service` alert per traced output (`TXID:VOUT` -> satoshi) of the simulated case, in
    its block (`blocks_of`), written with its outbox rows in one transaction.
    Returns the alerts (alert_id, idempotency_key, document, ...)."""
    item_id = f"W-{secrets.token_hex(4)}"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    made: list[dict[str, Any]] = []
    chain = ""
    for output, amount in outputs.items():
        txid = output.split(":")[0]
        block = blocks[output]
        chain = block["chain"]
        alert_id = f"AL-{secrets.token_hex(6)}"
        key = idempotency_key(item_id, "reaches-service", chain, block["block_hash"], txid, output)
        title = f"{amount / 1e8:.8f} BTC of traced funds reached {service} (output {output})"
        doc = {"alert_id": alert_id, "kind": "alert", "retracts": None, "rule": "reaches-service",
               "severity": "critical",
               "item": {"id": item_id, "name": "ransom proceeds", "kind": "frontier", "target": "T-00000001",
                        "case_id": None},
               "chain": chain, "height": block["height"], "block_hash": block["block_hash"], "txid": txid,
               "time": block["time"], "title": title,
               "facts": {"outputs": [output], "amount": str(amount), "unit": "BTC", "decimals": 8},
               "service": {"label": service, "category": "exchange", "address": None, "via": "tag",
                           "tag_source": "test"},
               "policy": "fifo", "created_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        made.append({"alert_id": alert_id, "idempotency_key": key, "txid": txid, "height": block["height"],
                     "block_hash": block["block_hash"], "title": title,
                     "document": json.dumps(doc, separators=(",", ":"))})
    store = Store(store_root)
    with store.connect() as con:
        con.execute("BEGIN")
        con.execute("INSERT INTO watch_items (item_id, chain, kind, target, rule, name, severity, owner, created_at) "
                    "VALUES (?, ?, 'frontier', 'T-00000001', 'reaches-service', 'ransom proceeds', 'critical', "
                    "'test', ?)", [item_id, chain, now])
        hooks = [r[0] for r in con.execute("SELECT webhook_id FROM webhooks WHERE removed_at IS NULL").fetchall()]
        for i, a in enumerate(made):
            created = now + dt.timedelta(microseconds=i)  # creation order = the order given
            con.execute("INSERT INTO alerts (alert_id, item_id, chain, rule, severity, kind, height, block_hash, "
                        "txid, title, document, idempotency_key, created_at) VALUES "
                        "(?, ?, ?, 'reaches-service', 'critical', 'alert', ?, ?, ?, ?, ?, ?, ?)",
                        [a["alert_id"], item_id, chain, a["height"], a["block_hash"], a["txid"],
                         a["title"], a["document"], a["idempotency_key"], created])
            for hook in hooks:
                con.execute("INSERT INTO alert_outbox VALUES (?, ?, 'pending', 0, ?, NULL, NULL)",
                            [a["alert_id"], hook, created])
        con.execute("COMMIT")
    return made


def outbox(store_root: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Every outbox row: (alert_id, webhook_id) -> status, attempts, last_error, delivered_at."""
    with Store(store_root).connect(read_only=True) as con:
        rows = con.execute("SELECT alert_id, webhook_id, status, attempts, last_error, delivered_at "
                           "FROM alert_outbox").fetchall()
    return {(r[0], r[1]): {"status": r[2], "attempts": r[3], "last_error": r[4], "delivered_at": r[5]}
            for r in rows}
