"""Every exercise solvable with the tool's commands alone (issue 12 item 19).

A trainee gets `brief.md`, `blocks/` and `labels.csv`. These tests do what the brief says with
`fundtrail` commands only (simulate, ingest, tags import, cluster run, trace, exercise check),
write ANSWERS.json from what the commands print, and expect a score of 100. The key is computed by
the simulator's oracle (exact fractions over the simulated ledger), independently of the tracer,
so agreement is evidence, not a tautology.

Tests marked WIRING read `trace --follow-change` and the `coinjoin`/`change` marks on the nodes
of `trace --json` (`fundtrail.trace.follow`, `fundtrail.trace.marks`), which `cli/commands_trace.py`
must call (see docs/cli.md, `trace`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.exercise_check import load_key
from fundtrail.sim.exercises import EXERCISES

SEED = 5
POLICIES = ("haircut", "fifo", "poison")


def cli(*args: str) -> str:
    """Run `fundtrail ARGS` in-process; its stdout (exit code 0 required)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(list(args))
    assert rc == 0, f"fundtrail {' '.join(args)} exited {rc}"
    return buf.getvalue()


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each exercise as a trainee sets it up: simulate, ingest, import the labels, cluster."""
    base = tmp_path_factory.mktemp("solve")
    res = {}
    for name in EXERCISES:
        out, store = base / name, base / f"{name}-store"
        cli("simulate", "--exercise", name, "--seed", str(SEED), "--out", str(out))
        cli("--store", str(store), "-q", "ingest", "bitcoin", "--blocks-dir", str(out / "blocks"))
        cli("--store", str(store), "-q", "tags", "import", str(out / "labels.csv"))
        cli("--store", str(store), "-q", "cluster", "run")
        res[name] = {"out": out, "store": store,
                     "keypath": out / "instructor" / "answer-key.json",
                     "key": load_key(out / "instructor" / "answer-key.json")}
    return res


def _trace(w: dict, policy: str) -> dict:
    v = w["key"]["victim_payment"]
    return json.loads(cli("--store", str(w["store"]), "trace", f"{v['txid']}:{v['vout']}",
                          "--policy", policy, "--json"))


def _check(w: dict, answers: dict, tmp_path: Path) -> dict:
    path = tmp_path / "ANSWERS.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    return json.loads(cli("exercise", "check", str(path), "--key", str(w["keypath"]), "--json"))


def _answers_from_trace(doc: dict, policy: str) -> dict:
    """What the brief asks, read off the trace: where it stopped at an exchange, what is unspent."""
    return {"policy": policy,
            "cashout": [{"address": e["address"], "amount_sat": e["amount_sat"]}
                        for e in doc["endpoints"] if e["reason"] == "service"],
            "unspent": [{"outpoint": o} for e in doc["endpoints"] if e["reason"] == "unspent"
                        for o in e["outputs"]]}


@pytest.mark.parametrize("name", list(EXERCISES))
def test_labels_are_public_service_labels_only(worked: dict, name: str) -> None:
    w = worked[name]
    out, key = w["out"], w["key"]
    brief = (out / "brief.md").read_text(encoding="utf-8")
    assert "tags import labels.csv" in brief and "reached" in brief
    with open(out / "instructor" / "truth" / "addresses.csv", newline="", encoding="utf-8") as fh:
        truth = {r["address"]: r for r in csv.DictReader(fh)}
    with open(out / "labels.csv", newline="", encoding="utf-8") as fh:
        labels = {r["address"]: r for r in csv.DictReader(fh)}
    assert labels, "the trainee needs the service labels"
    for addr in labels:  # nothing about the criminal or the victim
        assert truth[addr]["category"] in ("exchange", "otc_desk", "mixer", "coinjoin_coordinator")
    assert key["victim_payment"]["address"] not in labels
    for pol in key["policies"].values():  # every cash-out the key names is a labelled exchange
        for row in pol["cashout"] + pol["minor_cashout"]:
            assert labels[row["address"]]["category"] == "exchange"
    shown = json.loads(cli("--store", str(w["store"]), "tags", "show", next(iter(labels)), "--json"))
    assert shown, "the shipped labels were imported"


@pytest.mark.parametrize("name", list(EXERCISES))
def test_trace_endpoints_are_never_marked_wrong(worked: dict, name: str, tmp_path: Path) -> None:
    """Item 19: an address the trace shows taint reaching is never 'wrong' in the checker, under
    any policy; each cash-out the key requires is an endpoint with the key's amount."""
    w = worked[name]
    for policy in POLICIES:
        doc = _trace(w, policy)
        res = _check(w, _answers_from_trace(doc, policy), tmp_path)
        wrong = [i for i in res["items"] if i["status"] == "wrong"]
        assert wrong == [], f"{policy}: trace endpoints the checker calls wrong: {wrong[:3]}"
        off = [i for i in res["items"] if i.get("amount") == "off"]
        assert off == [], f"{policy}: amounts the trace and key disagree on: {off[:3]}"
        missed = [i for i in res["items"] if i["kind"] == "cashout" and i["status"] == "missed"]
        assert missed == []


@pytest.mark.parametrize("name", [n for n in EXERCISES if n != "coinjoin"])
def test_solve_with_cli_only(worked: dict, name: str, tmp_path: Path) -> None:
    w = worked[name]
    res = _check(w, _answers_from_trace(_trace(w, "haircut"), "haircut"), tmp_path)
    assert res["score"] == 100, res["items"]
    assert res["required_cashouts"] >= 1


def test_solve_coinjoin_with_cli_only(worked: dict, tmp_path: Path) -> None:
    """WIRING: the tx0 is read off the trace's node marks (`coinjoin.protocol`)."""
    w = worked["coinjoin"]
    doc = _trace(w, "haircut")
    nodes = doc["graph"]["nodes"]
    assert all("coinjoin" in n and "change" in n for n in nodes), \
        "trace --json nodes carry no coinjoin/change marks (trace.marks.trace_marks not wired)"
    entry = [n["txid"] for n in nodes if (n["coinjoin"] or {}).get("protocol") == "whirlpool_tx0"]
    assert len(entry) == 1
    answers = {**_answers_from_trace(doc, "haircut"), "coinjoin": [{"txid": t} for t in entry]}
    res = _check(w, answers, tmp_path)
    assert res["score"] == 100, res["items"]
    text = cli("--store", str(w["store"]), "trace", f"{doc['seed']['outputs'][0]}")
    assert "whirlpool_tx0" in text and entry[0] in text  # the text report shows it too


def test_solve_peel_chain_by_following_change(worked: dict, tmp_path: Path) -> None:
    """WIRING: `trace --follow-change` walks the peel chain; the peeled slices and the unspent
    remainder it reports are the whole answer."""
    w = worked["peel-chain"]
    v = w["key"]["victim_payment"]
    doc = json.loads(cli("--store", str(w["store"]), "trace", f"{v['txid']}:{v['vout']}",
                         "--follow-change", "--json"))
    (chain,) = doc["chains"]
    assert chain["stop"] == "unspent" and len(chain["hops"]) >= 10
    answers = {"policy": "haircut",
               "cashout": [{"address": p["address"], "amount_sat": p["value_sat"]}
                           for h in chain["hops"] for p in h["payments"] if p["label"]],
               "unspent": [{"outpoint": chain["end"]}]}
    res = _check(w, answers, tmp_path)
    assert res["score"] == 100, res["items"]
    text = cli("--store", str(w["store"]), "trace", f"{v['txid']}:{v['vout']}", "--follow-change")
    assert "hop  10" in text and chain["end"] in text
