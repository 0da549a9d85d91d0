"""Latency from a batch's commit to its alerts' webhook delivery, as a follow run delivers them.

Used by bench_watch.py (`--latency`): the tail blocks are ingested one block per batch inside the
same machinery an `ingest --follow` run uses (`workspace.follow_delivery.FollowDelivery` around the
watch hook), with one webhook pointing at a receiver on loopback (a process of its own, HTTP/1.1).
The commit time of each batch is taken where the hook hears of it (`committed`, right after the
catalog COMMIT); the receiver notes when each POST arrives; an alert's latency is its arrival minus its block's commit.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.ingest.hooks import batch_hooks
from fundtrail.settings import Settings
from fundtrail.watch.hooks import evaluator_factory
from fundtrail.workspace import Actor, Workspace, follow_delivery


class _Receiver:
    """The loopback webhook receiver (watch_receiver.py) in a process of its own, as a real one is."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="fundtrail-receiver-"))
        portfile = self._dir / "port"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("watch_receiver.py")),
                                      str(portfile)])
        deadline = time.monotonic() + 30
        while not portfile.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.02)
        self.port = int(portfile.read_text())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def arrived(self) -> list[tuple[int | None, float]]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/arrivals", timeout=30) as resp:
            return [(h, t) for h, t in json.loads(resp.read())]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self._dir, ignore_errors=True)


def measure(store: Path, raws: list[Path], *, poll_seconds: float = 2.0) -> dict[str, Any]:
    """Ingest `raws` one block per batch with follow-mode delivery; latency figures in seconds."""
    receiver = _Receiver()
    settings = Settings.load().with_(batch_blocks=1, webhook_poll_seconds=poll_seconds)
    ws = Workspace.open(settings, store=store, writable=True, actor=Actor.local(user="bench", via="cli"))
    ws.webhook_add(receiver.url)
    commits: dict[int, float] = {}
    signalling = follow_delivery._Signalling
    on_batch, committed = signalling.on_batch, signalling.committed

    def noting(self: Any, chain: str, tables: Any) -> Any:
        heights = [h for h in tables["blocks"].column("height").to_pylist() if h is not None]
        self.bench_height = max(heights) if heights else None
        return on_batch(self, chain, tables)

    def timed(self: Any) -> None:
        now = time.time()  # the batch's COMMIT has just returned
        committed(self)
        if getattr(self, "bench_height", None) is not None:
            commits[self.bench_height] = now

    signalling.on_batch, signalling.committed = noting, timed  # type: ignore[method-assign]
    try:
        with follow_delivery.FollowDelivery(ws.store, settings) as deliverer, \
                batch_hooks(deliverer.wrap(evaluator_factory)):
            t = time.perf_counter()
            ingest_raw_files(ws.store, raws, batch_blocks=1)  # one run, one block per batch, as follow commits
            ingest_s = time.perf_counter() - t
            end = time.monotonic() + 120
            while time.monotonic() < end and ws.webhook_list().webhooks[0].pending:
                time.sleep(0.05)
        arrived = receiver.arrived
    finally:
        signalling.on_batch, signalling.committed = on_batch, committed  # type: ignore[method-assign]
        receiver.close()
    lat = sorted(at - commits[h] for h, at in arrived if h in commits)
    if not lat:
        return {"alerts": 0, "ingest_s": ingest_s}
    per_block: dict[int, list[float]] = {}
    for h, at in arrived:
        if h in commits:
            per_block.setdefault(h, []).append(at - commits[h])
    blocks = [(h, len(v), min(v), max(v)) for h, v in sorted(per_block.items())]
    return {"alerts": len(lat), "ingest_s": ingest_s, "p50": statistics.median(lat),
            "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))], "max": lat[-1], "blocks": blocks}
