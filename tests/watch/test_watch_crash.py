"""A kill -9 of the ingest just before or just after the catalog commit of a batch with alerts,
then a rerun: the alerts are stored exactly once (and match the answer key), each with exactly
one pending outbox row per webhook, and the frontier is what an uninterrupted run leaves."""

from __future__ import annotations

import json
import signal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from fundtrail.store import Store
from tests.watch.support_watch import ingest_raw


def _frontier_and_alerts(store: Path) -> tuple[dict[str, str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with Store.open(store).connect(read_only=True) as con:
        rows = con.execute("SELECT output, amount, state FROM watch_frontier").fetchall()
        alerts = con.execute("SELECT txid, height, json_extract_string(document, '$.facts.amount_exact'), "
                             "json_extract_string(document, '$.facts.outputs[0]') FROM alerts ORDER BY 4").fetchall()
        outbox = con.execute("SELECT alert_id, webhook_id, status, attempts FROM alert_outbox").fetchall()
    live = {o: a for o, a, st in rows if json.loads(st)["spent"] is None}
    return live, alerts, outbox


@pytest.fixture(scope="module")
def reference(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The frontier after the tail is ingested without a crash, in one batch (in-process)."""
    import shutil

    from fundtrail.cli.main import main

    store = tmp_path_factory.mktemp("crashref") / "store"
    shutil.copytree(world["store"], store)
    _prepare(world, store)
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", *map(str, world["tail"])]) == 0
    return _frontier_and_alerts(store)[0]


def _prepare(world: dict[str, Any], store: Path) -> str:
    import contextlib
    import io

    from fundtrail.cli.main import main

    def call(*args: str) -> Any:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main(["--store", str(store), "--as", "alice", *args, "--json"]) == 0
        return json.loads(buf.getvalue())

    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]
    case = call("case", "new", "--title", "Ransom")["id"]
    trace = call("case", "trace", case, *seeds, "--policy", "haircut", "--exact")["id"]
    item = call("watch", "add", trace, "--case", case, "--rule", "reaches-service")["items"][0]["id"]
    with Store.open(store).connect() as con:  # a webhook (W2 manages them): each alert owes it one delivery
        con.execute("INSERT INTO webhooks VALUES ('WH-0000aaaa', 'http://127.0.0.1:9/hook', 'WH-0000aaaa', "
                    "'alice', now(), NULL)")
    return str(item)


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_kill_around_the_commit_then_rerun(world: dict[str, Any], store: Path, point: str,
                                           reference: dict[str, str]) -> None:
    _prepare(world, store)
    env = {"FUNDTRAIL_BATCH_BLOCKS": "1", "FUNDTRAIL_TEST_CRASH_POINT": point, "FUNDTRAIL_TEST_CRASH_AT": "4"}
    crashed = ingest_raw(store, *world["tail"], env=env)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    _, mid, _ = _frontier_and_alerts(store)
    rerun = ingest_raw(store, *world["tail"], env={"FUNDTRAIL_BATCH_BLOCKS": "1"})
    assert rerun.returncode == 0, rerun.stderr
    live, alerts, outbox = _frontier_and_alerts(store)
    tail_txs = {t["txid"] for t in world["txs"] if t["height"] > world["head_tip"]}
    key = world["truth"]["answers"]["haircut"]["arrived_outputs"]
    want = sorted((o, Fraction(a)) for o, a in key.items() if o.split(":")[0] in tail_txs)
    assert sorted((o, Fraction(a)) for _, _, a, o in alerts) == want  # each exactly once
    assert len(mid) < len(alerts)  # the crash came before the last alerts
    assert len(outbox) == len(alerts) and {r[1:] for r in outbox} == {("WH-0000aaaa", "pending", 0)}
    assert len({r[0] for r in outbox}) == len(alerts)
    # the frontier equals one moved without a crash, in one batch (the same outputs, exact amounts)
    assert live == reference and len(live) > 10
