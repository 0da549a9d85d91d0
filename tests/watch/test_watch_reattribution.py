"""Rules run again when attribution changes (issue 17): funds that reached an untagged deposit
address become a `reaches-service` hit when the address is tagged (a tag import, an analyst's tag)
or joins a tagged exchange wallet's cluster (a cluster run); the alert says it came from the new
attribution and which change. Oracles: the simulator's FIFO answer key (amounts), its
addresses.csv (who owns what) and the tests' own multi-input union-find over the raw blocks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.watch.reattribute import reattribute
from tests.watch.support_attribution import (catalog, fifo_arrivals, head_store, in_frontier, labels,
                                             multi_input_clusters, outputs, truth_addresses)
from tests.watch.support_watch import cli, cli_json

CHAIN = "btc-regtest"


@pytest.fixture(scope="module")
def followed(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The head without tags, one FIFO reaches-service item per seed output of the case, then the
    tail ingested block by block: the frontiers hold the case's funds, no alert raised (no tags)."""
    base = tmp_path_factory.mktemp("reattr")
    store = head_store(world, base / "store")
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]
    assert main(["-q", "--store", str(store), "--as", "ann", "watch", "add", *seeds, "--rule", "reaches-service",
                 "--policy", "fifo"]) == 0
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
    assert catalog(store, "SELECT count(*) FROM alerts") == [(0,)]
    return {"store": store, "base": base}


@pytest.fixture
def fstore(followed: dict[str, Any], tmp_path: Path) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(followed["store"], dst)
    return dst


def _alerts(capsys: pytest.CaptureFixture[str], store: Path) -> list[dict[str, Any]]:
    return cli_json(capsys, store, "ann", "alerts", "list", "--limit", "1000")["alerts"]


def _by_output(alerts: list[dict[str, Any]]) -> dict[str, int]:
    """output -> satoshi over all items (FIFO taint of several seeds adds up to the case's)."""
    got: dict[str, int] = defaultdict(int)
    for a in alerts:
        (out,) = a["document"]["facts"]["outputs"]
        got[out] += int(a["document"]["facts"]["amount"])
    return dict(got)


def test_tag_import_turns_passed_funds_into_a_hit(world: dict[str, Any], fstore: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Labels for exchange-b's deposit addresses the case paid (only part of the exchange's
    addresses, as a label provider has them): the frontier outputs there, unspent or already
    passed through, become alerts naming exchange-b, via the new attribution, with the answer
    key's amounts; the unspent ones leave the frontier; a second run adds nothing."""
    deposits = sorted({p["address"] for p in world["truth"]["cashout_points"] if p["actor"] == "exchange-b"})
    outs = outputs(world)
    want = {o: v for o, v in fifo_arrivals(world).items()
            if outs[(o.split(":")[0], int(o.split(":")[1]))][1] in deposits and in_frontier(world, o)}
    assert len(want) >= 2
    out = cli_json(capsys, fstore, "ann", "tags", "import",
                   str(labels(fstore.parent / "b.csv", [(a, "exchange-b", "exchange") for a in deposits])),
                   "--format", "csv")
    (import_id,) = [f["import_id"] for f in out["files"]]
    alerts = _alerts(capsys, fstore)
    assert _by_output(alerts) == want
    for a in alerts:
        doc = a["document"]
        assert a["rule"] == "reaches-service" and doc["via"] == "new attribution"
        assert doc["attribution"] == {"kind": "tag import", "import_ids": [import_id]}
        assert doc["service"]["label"] == "exchange-b" and doc["service"]["via"] == "tag"
        assert doc["service"]["address"] in deposits and "new attribution: tag import" in a["title"]
        txid = doc["facts"]["outputs"][0].split(":")[0]
        assert a["txid"] == txid and a["height"] == outs[(txid, 0)][2]
    rows = {o for (o,) in catalog(fstore, "SELECT output FROM watch_frontier WHERE state LIKE '%\"spent\":null%'")}
    assert not rows & set(want)  # taint stopped at the service
    (state,) = catalog(fstore, "SELECT chain, cluster_run_id, tag_state FROM watch_attribution")
    assert state[0] == CHAIN and state[1] is None and state[2].startswith("[")
    n = len(alerts)
    again = reattribute(Store(fstore), CHAIN, {"kind": "tag import", "import_ids": [import_id]})
    assert again.alerts == [] and again.checked > 0
    assert len(_alerts(capsys, fstore)) == n


def test_analyst_tag_on_an_unspent_deposit(world: dict[str, Any], fstore: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An analyst tags one deposit address holding unspent traced funds: one alert per output
    there, named by the tag's import id, and the outputs leave the frontier."""
    outs = outputs(world)
    arrivals = fifo_arrivals(world)
    live = {o: v for o, v in arrivals.items() if in_frontier(world, o)
            and outs[(o.split(":")[0], int(o.split(":")[1]))][2] > world["head_tip"]}
    unspent = [o for o in live if (o.split(":")[0], int(o.split(":")[1])) not in
               {tuple(p) for t in world["txs"] for p in t["inputs"]}]
    assert unspent
    address = outs[(unspent[0].split(":")[0], int(unspent[0].split(":")[1]))][1]
    owner = truth_addresses(world)[str(address)]
    want = {o: v for o, v in arrivals.items() if in_frontier(world, o)
            and outs[(o.split(":")[0], int(o.split(":")[1]))][1] == address}
    tag = cli_json(capsys, fstore, "ann", "tags", "add", str(address), "--label", owner["actor"], "--category",
                   owner["category"], "--currency", "BTC-REGTEST")
    alerts = _alerts(capsys, fstore)
    assert _by_output(alerts) == want
    assert {a["document"]["attribution"]["kind"] for a in alerts} == {"analyst tag"}
    assert {tuple(a["document"]["attribution"]["import_ids"]) for a in alerts} == {(tag["import_id"],)}
    assert not catalog(fstore, "SELECT output FROM watch_frontier WHERE list_contains(?, output)", [list(want)])


def test_cluster_run_joins_the_deposit_with_a_tagged_wallet(world: dict[str, Any], fstore: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Only one other exchange-b address is tagged (no traced funds there: no alert); the cluster
    run joins exchange-b's deposit addresses with it: the frontier outputs at its cluster's
    addresses become alerts via the cluster, naming the tagged member and the run."""
    owners = truth_addresses(world)
    clusters = multi_input_clusters(world)
    arrivals = fifo_arrivals(world)
    outs = outputs(world)
    at = {o: outs[(o.split(":")[0], int(o.split(":")[1]))][1] for o in arrivals}
    deposit = next(p["address"] for p in world["truth"]["cashout_points"] if p["actor"] == "exchange-b"
                   and any(a == p["address"] and in_frontier(world, o) for o, a in at.items()))
    frontier_addresses = {a for o, a in at.items() if in_frontier(world, o)}
    wallet = next(a for a, r in owners.items() if r["actor"] == "exchange-b" and a in clusters
                  and clusters[a] == clusters[deposit] and a not in frontier_addresses and a != deposit)
    cli_json(capsys, fstore, "ann", "tags", "import",
             str(labels(fstore.parent / "w.csv", [(wallet, "exchange-b", "exchange")])), "--format", "csv")
    assert _alerts(capsys, fstore) == []
    run = cli_json(capsys, fstore, "ann", "cluster", "run")
    alerts = _alerts(capsys, fstore)
    members = {a for a, c in clusters.items() if c == clusters[wallet]}
    want = {o: v for o, v in arrivals.items() if at[o] in members and in_frontier(world, o)}
    assert len(want) >= 2 and _by_output(alerts) == want
    for a in alerts:
        doc = a["document"]
        assert doc["via"] == "new attribution" and doc["attribution"] == {"kind": "cluster run",
                                                                          "run_id": run["run_id"]}
        assert doc["service"]["via"] == "cluster" and doc["service"]["tagged_member"] == wallet
        assert doc["service"]["label"] == "exchange-b"
    (state,) = catalog(fstore, "SELECT cluster_run_id FROM watch_attribution")
    assert state[0] == run["run_id"]
    n = len(alerts)
    code, _, err = cli(capsys, fstore, "ann", "cluster", "run", "--full")  # a new run, same clusters
    assert code == 0, err
    assert len(_alerts(capsys, fstore)) == n


def test_killed_before_reevaluating_catches_up_at_the_next_ingest(world: dict[str, Any], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`tags import` killed (SIGKILL) after its tags are committed and before the rules ran on
    them: the next ingest sees the attribution state differ (`watch_attribution`) and re-evaluates
    first; the alerts are those of a run that was not killed."""
    base = head_store(world, tmp_path / "base")
    seeds = [f"{s['txid']}:{s['vout']}" for s in world["truth"]["seed_outputs"]]
    assert main(["-q", "--store", str(base), "--as", "ann", "watch", "add", *seeds, "--rule", "reaches-service",
                 "--policy", "fifo"]) == 0
    for f in world["tail"][:-1]:
        assert main(["-q", "--store", str(base), "ingest", "bitcoin", "--raw", str(f)]) == 0
    capsys.readouterr()
    csv_path = labels(tmp_path / "all.csv", [(p["address"], p["actor"], "exchange")
                                             for p in world["truth"]["cashout_points"]])
    runs: dict[str, list[tuple[Any, ...]]] = {}
    for name in ("calm", "killed"):
        store = tmp_path / name
        shutil.copytree(base, store)
        args = [sys.executable, "-m", "fundtrail.cli.main", "-q", "--store", str(store), "tags", "import",
                str(csv_path), "--format", "csv"]
        env = {**os.environ, **({"FUNDTRAIL_TEST_CRASH_POINT": "before_reattribution"} if name == "killed" else {})}
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == (-signal.SIGKILL if name == "killed" else 0), done.stderr
        if name == "killed":
            assert catalog(store, "SELECT count(*) FROM alerts") == [(0,)]
            assert catalog(store, "SELECT count(*) FROM tags")[0][0] > 0  # the import itself is committed
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(world["tail"][-1])]) == 0
        capsys.readouterr()
        runs[name] = sorted((a["item_id"], a["height"], a["txid"], a["document"]["facts"]["outputs"][0],
                             a["document"]["facts"]["amount"], a["document"].get("via"),
                             str(a["document"].get("attribution"))) for a in _alerts(capsys, store))
    assert runs["killed"] == runs["calm"] and len(runs["calm"]) >= 5
    assert any(r[5] == "new attribution" for r in runs["calm"])


def test_an_analysts_merge_joins_the_deposit_with_a_tagged_wallet(world: dict[str, Any], fstore: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A tagged exchange-b address in another cluster than a deposit holding traced funds: the
    cluster run alerts nothing there; an analyst's `cluster merge` of the two (in force at once)
    makes the deposit's frontier outputs alerts via the cluster, naming the override."""
    owners = truth_addresses(world)
    clusters = multi_input_clusters(world)
    arrivals = fifo_arrivals(world)
    outs = outputs(world)
    at = {o: outs[(o.split(":")[0], int(o.split(":")[1]))][1] for o in arrivals}
    frontier_addresses = {a for o, a in at.items() if in_frontier(world, o)}
    deposit = next(p["address"] for p in world["truth"]["cashout_points"] if p["address"] in frontier_addresses)
    wallet = next(a for a, r in owners.items() if r["actor"] == owners[deposit]["actor"]
                  and clusters.get(a, a) != clusters.get(deposit, deposit) and a not in frontier_addresses)
    cli_json(capsys, fstore, "ann", "tags", "import",
             str(labels(fstore.parent / "w.csv", [(wallet, owners[deposit]["actor"], "exchange")])), "--format", "csv")
    cli_json(capsys, fstore, "ann", "cluster", "run")
    mine = clusters.get(deposit, deposit)
    before = {o for o in _by_output(_alerts(capsys, fstore)) if clusters.get(at[o], at[o]) == mine}
    assert not before
    merged = cli_json(capsys, fstore, "ann", "cluster", "merge", str(deposit), str(wallet), "--reason",
                      "same KYC file", "--author", "ann")
    alerts = [a for a in _alerts(capsys, fstore) if clusters.get(at[a["document"]["facts"]["outputs"][0]],
                                                                 at[a["document"]["facts"]["outputs"][0]]) == mine]
    want = {o: v for o, v in arrivals.items() if clusters.get(at[o], at[o]) == mine and in_frontier(world, o)}
    assert want and _by_output(alerts) == want
    for a in alerts:
        doc = a["document"]
        assert doc["attribution"] == {"kind": "cluster merge", "override_id": merged["override_id"]}
        assert doc["service"]["via"] == "cluster" and doc["service"]["tagged_member"] == wallet
