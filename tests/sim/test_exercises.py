"""Training exercises: deterministic, ingestible, briefs that match the chain, keys that score."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.sim.exercise_check import load_answers, load_key, score
from fundtrail.sim.exercises import EXERCISES, make_exercise
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions

SEED = 5


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(out)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("ex")
    res = {}
    for name in EXERCISES:
        key = make_exercise(base / name, name, seed=SEED)
        res[name] = {"out": base / name, "key": key}
    return res


def _perfect(key: dict, policy: str = "haircut") -> dict:
    pol = key["policies"][policy]
    return {"policy": policy,
            "cashout": {r["address"]: r["amount_sat"] for r in pol["cashout"]},
            "unspent": [u["outpoint"] for u in pol["unspent"]],
            "coinjoin": list(key.get("coinjoin", {}).get("entry_required", []))}


@pytest.mark.parametrize("name", list(EXERCISES))
def test_same_seed_same_files(made: dict, name: str, tmp_path: Path) -> None:
    again = make_exercise(tmp_path / "again", name, seed=SEED)
    assert again == made[name]["key"]
    assert _digest(tmp_path / "again") == _digest(made[name]["out"])
    other = make_exercise(tmp_path / "other", name, seed=SEED + 1)
    assert other["victim_payment"] != again["victim_payment"]


@pytest.mark.parametrize("name", list(EXERCISES))
def test_ingests_and_brief_matches_chain(made: dict, name: str, tmp_path: Path) -> None:
    out, key = made[name]["out"], made[name]["key"]
    report = ingest_blocks_dir(Store.open(tmp_path / "store"), out / "blocks")
    assert report.unresolved_inputs == 0 and report.stale == 0
    assert [x for x in report.warnings if "genesis" not in x] == []
    txs = {tx["txid"]: tx for tx in iter_transactions(Store.open(tmp_path / "store"), "btc-regtest")}
    v = key["victim_payment"]
    seed_out = txs[v["txid"]]["outputs"][v["vout"]]
    assert (seed_out["address"], seed_out["value"]) == (v["address"], v["amount_sat"])
    brief = (out / "brief.md").read_text(encoding="utf-8")
    assert v["address"] in brief and v["txid"] in brief and f"seed {SEED}" in brief
    assert "answer" not in json.dumps(sorted(p.name for p in out.iterdir() if p.is_file()))
    spent = {(i["prev_txid"], i["prev_vout"]) for tx in txs.values() for i in tx["inputs"]}
    for pol in key["policies"].values():
        for u in pol["unspent"]:
            txid, vout = u["outpoint"].split(":")
            assert (txid, int(vout)) not in spent and txid in txs


@pytest.mark.parametrize("name", list(EXERCISES))
def test_key_cashouts_are_exchange_deposits(made: dict, name: str) -> None:
    out, key = made[name]["out"], made[name]["key"]
    with open(out / "instructor" / "truth" / "addresses.csv", newline="", encoding="utf-8") as fh:
        addrs = {r["address"]: r for r in csv.DictReader(fh)}
    haircut = key["policies"]["haircut"]
    assert haircut["cashout"], "an exercise without a cash-out teaches nothing"
    for pol in key["policies"].values():
        for row in pol["cashout"] + pol["minor_cashout"]:
            a = addrs[row["address"]]
            assert a["role"] == "deposit" and a["category"] in ("exchange", "otc_desk")
    if name == "peel-chain":
        assert len(haircut["cashout"]) >= 3 and haircut["unspent"]
    if name == "mixer":  # haircut through the pool differs from what the criminal really got
        real = {d["address"]: d["amount_sat"] for d in key["perpetrator_deposits"]}
        assert any(real.get(r["address"]) != r["amount_sat"] for r in haircut["cashout"])
        assert "impossible" in key["notes"]


@pytest.mark.parametrize("name", list(EXERCISES))
def test_scores_perfect_empty_partial(made: dict, name: str) -> None:
    key = made[name]["key"]
    for policy in ("haircut", "fifo", "poison"):
        assert score(_perfect(key, policy), key)["score"] == 100
    assert score({"policy": "haircut", "cashout": {}, "unspent": []}, key)["score"] == 0
    part = _perfect(key)
    first = next(iter(part["cashout"]))
    part["cashout"][first] = part["cashout"][first] * 2 + 10_000  # right address, wrong amount
    part["cashout"]["bcrt1qnotarealanswer"] = 5
    res = score(part, key)
    assert 0 < res["score"] < 100
    statuses = {(i["kind"], i["status"]) for i in res["items"]}
    assert ("cashout", "wrong") in statuses
    assert any(i.get("amount") == "off" for i in res["items"])


def test_coinjoin_key_entry_is_exact_and_scored(made: dict, tmp_path: Path) -> None:
    out, key = made["coinjoin"]["out"], made["coinjoin"]["key"]
    cj = key["coinjoin"]
    assert key["difficulty"] == 4 and cj["entry_required"] == [cj["tx0"]] and cj["mixes"]
    ingest_blocks_dir(Store.open(tmp_path / "store"), out / "blocks")
    txs = {tx["txid"]: tx for tx in iter_transactions(Store.open(tmp_path / "store"), "btc-regtest")}
    tx0 = txs[cj["tx0"]]
    v = key["victim_payment"]
    assert [(i["prev_txid"], i["prev_vout"]) for i in tx0["inputs"]] == [(v["txid"], v["vout"])]
    assert sum(o["script_type"] == "op_return" for o in tx0["outputs"]) == 1
    premix = {p["outpoint"]: p["amount_sat"] for p in cj["premix_outputs"]}
    assert len(set(premix.values())) == 1 and cj["pool_sat"] < min(premix.values())
    spent_by = {(i["prev_txid"], i["prev_vout"]): t for t in txs.values() for i in t["inputs"]}
    for op in premix:  # every premix went into a 5-in/5-out mix the key names
        txid, vout = op.split(":")
        mix = spent_by[(txid, int(vout))]
        assert mix["txid"] in cj["mixes"] and len(mix["inputs"]) == len(mix["outputs"]) == 5
    # The exact part is the same under every policy: required amounts do not depend on it.
    required = [{(r["address"], r["amount_sat"]) for r in key["policies"][p]["cashout"]}
                for p in ("haircut", "fifo", "poison")]
    assert required[0] and required[0] == required[1] == required[2]
    assert all(cj["exact_cashout"][a] == amt for a, amt in required[0])
    # Post-mix cash-outs of the criminal are accepted, never required.
    real = {d["address"] for d in key["perpetrator_deposits"]}
    assert real - {a for a, _ in required[0]}
    perfect = _perfect(key)
    assert score(perfect, key)["score"] == 100
    assert score({**perfect, "coinjoin": []}, key)["score"] == 80
    assert score({**perfect, "coinjoin": perfect["coinjoin"] + cj["mixes"][:1]},
                 key)["score"] == 100
    assert score({**perfect, "coinjoin": perfect["coinjoin"] + [v["txid"]]}, key)["score"] == 90
    extra = {a: 1 for a in real if a not in perfect["cashout"]}
    with_real = {**perfect, "cashout": {**perfect["cashout"], **extra}}
    assert score(with_real, key)["score"] == 100


def test_cli_round_trip_and_malformed(made: dict, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    assert main(["simulate", "--exercise", "direct-cashout", "--seed", "2", "--out", str(out)]) == 0
    keyp = out / "instructor" / "answer-key.json"
    assert (out / "brief.md").exists() and keyp.exists() and not (out / "answer-key.json").exists()
    key = load_key(keyp)
    perfect = _perfect(key)
    ans = tmp_path / "answers.json"
    ans.write_text(json.dumps({"policy": "haircut",
                               "cashout": [{"address": a, "amount_sat": v}
                                           for a, v in perfect["cashout"].items()]}))
    assert load_answers(ans)["cashout"] == perfect["cashout"]
    capsys.readouterr()
    assert main(["exercise", "check", str(ans), "--key", str(keyp), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 100
    assert main(["exercise", "check", str(ans), "--key", str(keyp)]) == 0
    assert capsys.readouterr().out.startswith("score 100/100")
    for text, needle in (('{"cashout": [\n}', "line 2"),
                         ('{"unspent": []}', "'cashout'"),
                         ('{"cashout": [{"address": "x", "amount_sat": "1"}]}', "cashout[0].amount_sat"),
                         ('{"cashout": [], "unspent": [{"outpoint": "ab:1"}]}', "unspent[0].outpoint"),
                         ('{"cashout": [], "policy": "lifo"}', "'policy'"),
                         ('{"cashout": [], "coinjoin": [{"txid": "xy"}]}', "coinjoin[0].txid")):
        ans.write_text(text)
        assert main(["exercise", "check", str(ans), "--key", str(keyp)]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    assert main(["simulate", "--exercise", "nope", "--out", str(tmp_path / "n")]) == 2
    assert main(["simulate", "--exercise", "mixer", "--scenario", "other",
                 "--out", str(tmp_path / "m")]) == 2
