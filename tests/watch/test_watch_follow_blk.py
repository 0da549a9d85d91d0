"""`ingest bitcoin --blocks-dir DIR --follow` (through the service layer, as the CLI runs it) while a
thread plays a node writing the simulated case's last blocks into its blocks directory: Core 28+'s
layout (xor.dat, a preallocated blk file: each record written over the zeros), the last block in a
new blk file, then two competing blocks (no more work: left out) and a third making their branch the
heavier one. Each alert reaches a loopback webhook, signed, on the block where the answer key says
taint reaches an exchange (before the next block is written), naming that exchange and the amount;
the alerts of the blocks the reorganisation drops are retracted, and the retractions arrive too."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.job_models import IngestBitcoinRequest
from support import reliability as rs
from support.blkfiles import blk_records
from tests.watch.support_receiver import Receiver, copy_store

DROP = 2  # the case's last blocks, replaced by a heavier branch
KEY = bytes.fromhex("3c5a00ff17e1b2d4")  # xor.dat
PAD = 1 << 20  # preallocation of the test's blk file


def _cli(store: Path, *args: str) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--store", str(store), "--as", "fay", *args, "--json"])
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


def _tip(store: Path) -> bytes | None:
    with Store(store).connect(read_only=True) as con:
        row = con.execute("SELECT hash FROM block_index ORDER BY height DESC LIMIT 1").fetchone()
    return bytes(row[0]) if row else None


def _wait(cond: Callable[[], bool], errors: list[BaseException], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert not errors, errors
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _write(path: Path, offset: int, record: bytes) -> None:
    """Write a record at `offset` as Core does: obfuscated there, frame first, then the body."""
    data = w.xor_obfuscate(record, KEY, offset)
    with open(path, "r+b" if path.exists() else "wb") as fh:
        for lo, hi in ((0, 8), (8, len(data) // 2), (len(data) // 2, len(data))):
            fh.seek(offset + lo)
            fh.write(data[lo:hi])
            fh.flush()


@pytest.fixture(scope="module")
def run(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Follow the blocks directory while the tail and the competing branch are written into it."""
    base = tmp_path_factory.mktemp("followblk")
    store = copy_store(world["store"], base / "store")
    blocks = [r[8:] for r in blk_records(world["base"] / "sim/blocks/blk00000.dat")]
    n_head = world["head_tip"] + 1
    fork = rs.build_fork(blocks, len(blocks) - DROP, DROP + 1)
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]
    case = _cli(store, "case", "new", "--title", "R")["id"]
    trace = _cli(store, "case", "trace", case, *seeds, "--policy", "haircut", "--exact")["id"]
    item = _cli(store, "watch", "add", trace, "--case", case, "--rule", "reaches-service")["items"][0]["id"]
    bdir = base / "blocks"
    w.write_blocks_dir(bdir, blocks[:n_head], REGTEST, xor_key=KEY, zero_pad=PAD)
    blk0, blk1 = bdir / "blk00000.dat", bdir / "blk00001.dat"
    end = sum(8 + len(b) for b in blocks[:n_head])
    lines = _Lines()
    logging.getLogger("fundtrail.ingest.bitcoin.follow_blk").addHandler(lines)
    stop, errors, result = threading.Event(), list[BaseException](), list[Any]()
    seen_at: dict[int, list[dict[str, Any]]] = {}  # height -> the alerts received when it was the tip
    with Receiver() as hook:
        ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
        secret = ws.webhook_add(hook.url).secret

        def follow() -> None:
            try:
                result.append(ws.ingest_bitcoin(IngestBitcoinRequest(blocks_dir=bdir, follow=True, poll_interval=0.02),
                                                should_stop=stop.is_set))
            except BaseException as exc:  # noqa: BLE001 (reported by the main thread)
                errors.append(exc)

        def alerts() -> list[dict[str, Any]]:
            return [json.loads(r.body) for r in list(hook.requests)]

        expect = _expected(world)
        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        try:
            for i in range(n_head, len(blocks)):
                rec = w.blk_record(blocks[i], REGTEST)
                if i < len(blocks) - 1:
                    _write(blk0, end, rec)
                    end += len(rec)
                else:  # Core moves on to a new file
                    _write(blk1, 0, rec)
                    end = len(rec)
                tip = w.block_hash(blocks[i])
                _wait(lambda: _tip(store) == tip, errors, f"block {i}")  # noqa: B023 (waited for here)
                want = sum(len(v) for k, v in expect.items() if k[0] == i)
                _wait(lambda: sum(d["height"] == i for d in alerts()) >= want,  # noqa: B023
                      errors, f"the alerts of block {i}")
                seen_at[i] = alerts()
            for j, raw in enumerate(fork):
                rec = w.blk_record(raw, REGTEST)
                _write(blk1, end, rec)
                end += len(rec)
                if j == DROP - 1:  # as much work as the stored blocks: the store keeps its chain
                    _wait(lambda: any("left out as stale" in line for line in lines.lines), errors, "the stale branch")
                    assert _tip(store) == w.block_hash(blocks[-1])
            _wait(lambda: _tip(store) == w.block_hash(fork[-1]), errors, "the heavier branch")
            _wait(lambda: any(d["kind"] == "retraction" for d in alerts()), errors, "the retractions")
            time.sleep(0.3)  # let the rest of the round arrive (asserted exactly below, not timed)
        finally:
            stop.set()
            thread.join(60)
            logging.getLogger("fundtrail.ingest.bitcoin.follow_blk").removeHandler(lines)
        assert not errors, errors
    return {"hook": hook, "secret": secret, "item": item, "blocks": blocks, "fork": fork, "n_head": n_head,
            "seen_at": seen_at, "expect": expect, "report": result[0], "store": store}


def _expected(world: dict[str, Any]) -> dict[tuple[int, str], dict[str, Fraction]]:
    """(height, txid) -> {output: taint amount} of the answer key's arrivals at exchanges in the tail."""
    key = world["truth"]["answers"]["haircut"]["arrived_outputs"]
    tail = {t["txid"]: t["height"] for t in world["txs"] if t["height"] > world["head_tip"]}
    out: dict[tuple[int, str], dict[str, Fraction]] = {}
    for output, amount in key.items():
        txid = output.split(":")[0]
        if txid in tail:
            out.setdefault((tail[txid], txid), {})[output] = Fraction(amount)
    return out


def _exchange(world: dict[str, Any], output: str) -> str:
    """The answer key's exchange (actor) owning an output's address."""
    txid, vout = output.split(":")
    addr = next(t["outputs"][int(vout)][1] for t in world["txs"] if t["txid"] == txid)
    return next(p["actor"] for p in world["truth"]["cashout_points"] if p["address"] == addr)


def test_alert_on_the_block_taint_reaches_the_exchange(run: dict[str, Any], world: dict[str, Any]) -> None:
    expect, blocks = run["expect"], run["blocks"]
    assert expect, "the tail holds no arrival: the test would prove nothing"
    for i, docs in run["seen_at"].items():  # when block i was the tip, before block i + 1 was written
        got = {d["facts"]["outputs"][0]: d for d in docs if d["kind"] == "alert" and d["height"] == i}
        want = {o: a for (h, _), arrived in expect.items() if h == i for o, a in arrived.items()}
        assert set(got) == set(want), i
        for output, doc in got.items():
            assert doc["rule"] == "reaches-service" and doc["item"]["id"] == run["item"]
            assert doc["block_hash"] == w.block_hash(blocks[i])[::-1].hex() and doc["txid"] == output.split(":")[0]
            assert Fraction(doc["facts"]["amount_exact"]) == want[output]
            assert doc["service"]["category"] == "exchange"
            assert doc["service"]["label"] == _exchange(world, output)
    hook = run["hook"]
    for r in hook.requests:  # every request signed as docs/watch.md says
        mac = hmac.new(run["secret"].encode(), r.headers["x-fundtrail-timestamp"].encode() + b"." + r.body,
                       hashlib.sha256).hexdigest()
        assert r.headers["x-fundtrail-signature"] == f"sha256={mac}"


def test_reorg_retracts_the_dropped_blocks_alerts(run: dict[str, Any]) -> None:
    docs = [json.loads(r.body) for r in run["hook"].requests]
    dropped = {w.block_hash(b)[::-1].hex() for b in run["blocks"][-DROP:]}
    raised = {d["alert_id"]: d for d in docs if d["kind"] == "alert" and d["item"]["id"] == run["item"]}
    gone = {a for a, d in raised.items() if d["block_hash"] in dropped}
    retracted = [d["retracts"] for d in docs if d["kind"] == "retraction"]
    assert gone and sorted(retracted) == sorted(gone)
    report = run["report"]
    assert report.rolled_back == DROP and report.stale == DROP  # the dropped blocks are the stale ones now
    assert any("left out as stale" in x for x in report.warnings)
    assert any(x.startswith(f"reorganisation: replaced stored blocks from height {len(run['blocks']) - DROP}")
               for x in report.warnings)
    assert _tip(run["store"]) == w.block_hash(run["fork"][-1])
    assert len({r.headers["x-fundtrail-idempotency-key"] for r in run["hook"].requests}) == len(docs)
