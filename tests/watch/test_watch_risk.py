"""`risk-above` on a simulated chain: an address's score (the one `fundtrail risk` gives) crossing
the threshold upward raises one alert per crossing.

Scenarios (ground truth from the simulator): (1) an exchange deposit address the ransomware case
paid scores 0 while nothing is tagged; labels for the case's seed addresses (category
ransomware) give it illicit exposure (the profile's exposure-illicit rule: at least 40 x 0.75 =
30 when indirect) and it crosses 25 on that attribution change; (2) with the seeds tagged, an
exchange deposit address first paid by the case in a tail block crosses on that block's batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from tests.watch.support_attribution import catalog, fifo_arrivals, head_store, labels, outputs
from tests.watch.support_watch import cli, cli_json

THRESHOLD = "25"


def _seed_labels(world: dict[str, Any], path: Path) -> Path:
    return labels(path, [(a, "ransomware-1", "ransomware") for a in world["truth"]["seed_addresses"]])


def _scores(capsys: pytest.CaptureFixture[str], store: Path, addresses: list[str]) -> dict[str, float]:
    """Scores from scratch, as `fundtrail risk A B ... --json` gives them."""
    code, out, err = cli(capsys, store, "ann", "risk", *addresses, "--json")  # one JSON line per address
    assert code == 0, err
    return {r["address"]: r["score"] for r in map(json.loads, out.splitlines())}


def _alerts(capsys: pytest.CaptureFixture[str], store: Path, item: str) -> list[dict[str, Any]]:
    return cli_json(capsys, store, "ann", "alerts", "list", "--item", item, "--limit", "1000")["alerts"]


@pytest.fixture(scope="module")
def whole(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole simulated chain, no tags."""
    store = head_store(world, tmp_path_factory.mktemp("risk") / "store")
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
    return store


def test_risk_rises_when_a_counterparty_gets_tagged(world: dict[str, Any], whole: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    shutil.copytree(whole, store)
    outs = outputs(world)
    paid = {outs[(o.split(":")[0], int(o.split(":")[1]))][1] for o in fifo_arrivals(world)}
    deposit = next(p["address"] for p in world["truth"]["cashout_points"] if p["address"] in paid)
    before = cli_json(capsys, store, "ann", "risk", deposit)["score"]
    assert before < float(THRESHOLD)
    (item,) = cli_json(capsys, store, "ann", "watch", "add", deposit, "--rule", "risk-above", "--threshold",
                       THRESHOLD)["items"]
    out = cli_json(capsys, store, "ann", "tags", "import", str(_seed_labels(world, tmp_path / "seeds.csv")),
                   "--format", "csv")
    (import_id,) = [f["import_id"] for f in out["files"]]
    after = cli_json(capsys, store, "ann", "risk", deposit)["score"]
    assert after >= 30  # the profile's illicit-exposure floor, indirect
    (alert,) = _alerts(capsys, store, item["id"])
    doc = alert["document"]
    assert alert["rule"] == "risk-above" and doc["facts"]["address"] == deposit
    assert doc["facts"]["score"] == after and doc["facts"]["threshold"] == float(THRESHOLD)
    assert doc["via"] == "new attribution" and doc["attribution"] == {"kind": "tag import",
                                                                      "import_ids": [import_id]}
    assert any(r["rule"] == "exposure-illicit" for r in doc["facts"]["reasons"])
    # still above: another change of attribution raises nothing more (once per crossing)
    cli_json(capsys, store, "ann", "tags", "add", world["truth"]["seed_addresses"][0], "--label", "ransomware-1 b",
             "--category", "ransomware", "--currency", "BTC-REGTEST")
    assert len(_alerts(capsys, store, item["id"])) == 1
    ((score, state),) = catalog(store, "SELECT amount, state FROM watch_frontier WHERE item_id = ?", [item["id"]])
    assert float(score) == after and '"above":true' in state


def test_risk_crosses_on_the_block_that_pays_the_address(world: dict[str, Any], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """With the seeds tagged, every head address the tail pays that scores below the threshold at
    the head tip is watched; the tail is ingested block by block and after each block the tests
    score the addresses from scratch (`fundtrail risk`). Each item alerts exactly once, on the
    first block touching its address after which that score is at or above the threshold, and
    names a transaction of that block paying or spending from the address (raw blocks)."""
    outs = outputs(world)
    tip = world["head_tip"]
    tail = [t for t in world["txs"] if t["height"] > tip]
    head = {a for (_, _), (_, a, h) in outs.items() if a and h <= tip}

    def touching(t: dict[str, Any]) -> set[str]:
        return ({a for _, a in t["outputs"] if a} | {str(outs[tuple(p)][1]) for p in t["inputs"]
                                                     if tuple(p) in outs and outs[tuple(p)][1]})

    paid = sorted({a for t in tail for _, a in t["outputs"] if a in head})
    store = head_store(world, tmp_path / "store")
    capsys.readouterr()
    cli_json(capsys, store, "ann", "tags", "import", str(_seed_labels(world, tmp_path / "seeds.csv")),
             "--format", "csv")
    scores = _scores(capsys, store, paid)
    watched = [a for a in paid if scores[a] < float(THRESHOLD)]
    items = {i["target"]: i["id"] for i in cli_json(capsys, store, "ann", "watch", "add", *watched, "--rule",
                                                    "risk-above", "--threshold", THRESHOLD)["items"]}
    want: dict[str, int] = {}
    for n, f in enumerate(world["tail"]):
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
        capsys.readouterr()
        height = tip + 1 + n
        touched = set().union(*(touching(t) for t in tail if t["height"] == height))
        now = _scores(capsys, store, watched)
        for a in watched:
            if a not in want and a in touched and now[a] >= float(THRESHOLD):
                want[a] = height
    assert want, "no watched address crossed the threshold in the tail"
    got: dict[str, list[tuple[int, str]]] = {}
    for a, item in items.items():
        got[a] = [(x["height"], x["txid"]) for x in _alerts(capsys, store, item)]
    assert {a: [h for h, _ in v] for a, v in got.items() if v} == {a: [h] for a, h in want.items()}
    for a, [(h, txid)] in ((a, v) for a, v in got.items() if v):
        (tx,) = [t for t in tail if t["txid"] == txid]
        assert tx["height"] == h and a in touching(tx)
