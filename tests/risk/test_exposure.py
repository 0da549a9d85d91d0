"""Exposure equals the haircut answers of the reference oracle; profiles validate; scores explain."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fundtrail.errors import ConfigError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.risk.exposure import ExposureIndex
from fundtrail.risk.profile import load_profile
from fundtrail.risk.score import TagEvidence, score_address
from fundtrail.sim.oracle import case_answers
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.seeds import address_id

CHAIN = "btc-regtest"
CATS = ("ransomware", "exchange", "mixing_service")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("exp")
    simulate(base / "sim", seed=21, txs=4000)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "sim" / "blocks")
    g = GraphIndex.ensure(store, CHAIN)
    case = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    exchanges = {r["address"] for r in rows if r["category"] in ("exchange", "otc_desk")}
    tagged = {address_id(g, a): "exchange" for a in exchanges}
    for a in case["seed_addresses"]:
        tagged[address_id(g, a)] = "ransomware"
    txs = [{"txid": t["txid"], "time": t["time"],
            "inputs": [{"txid": i["prev_txid"], "vout": i["prev_vout"], "value": i["value"]} for i in t["inputs"]],
            "outputs": [{"value": o["value"], "address": o["address"]} for o in t["outputs"]]}
           for t in iter_transactions(store, CHAIN)]
    return {"store": store, "graph": g, "case": case, "exchanges": exchanges, "tagged": tagged, "txs": txs}


def test_incoming_exposure_of_cashout_points_equals_haircut_oracle(world: dict) -> None:
    g, case = world["graph"], world["case"]
    seeds = [(o["txid"], o["vout"]) for o in case["seed_outputs"]]
    answers = case_answers(world["txs"], seeds, world["exchanges"], policies=["haircut"])["haircut"]
    idx = ExposureIndex.ensure(world["store"], g, CATS, world["tagged"])
    targets = sorted(answers["by_target"])
    assert targets
    ids = np.array([address_id(g, a) for a in targets])
    exp = idx.of_addresses(ids)
    col = CATS.index("ransomware")
    for i, a in enumerate(targets):
        total = exp.direct_in[i, col] + exp.indirect_in[i, col]
        assert total == pytest.approx(float(answers["by_target"][a]), rel=1e-5, abs=2), a


def test_outgoing_exposure_of_each_ransom_address_equals_oracle(world: dict) -> None:
    g, case = world["graph"], world["case"]
    idx = ExposureIndex.ensure(world["store"], g, CATS, world["tagged"])
    col = CATS.index("exchange")
    for o in case["seed_outputs"]:
        ans = case_answers(world["txs"], [(o["txid"], o["vout"])], world["exchanges"],
                           policies=["haircut"])["haircut"]
        exp = idx.of_addresses(np.array([address_id(g, o["address"])]))
        got = exp.direct_out[0, col] + exp.indirect_out[0, col]
        assert got == pytest.approx(float(ans["total_arrived"]), rel=1e-5, abs=2)


def test_index_is_cached_and_recomputed_when_tags_change(world: dict) -> None:
    g = world["graph"]
    idx = ExposureIndex.ensure(world["store"], g, CATS, world["tagged"])
    again = ExposureIndex.ensure(world["store"], g, CATS, world["tagged"])
    assert isinstance(again.inc.base, np.memmap) and np.array_equal(idx.inc, again.inc)
    fewer = dict(list(world["tagged"].items())[:5])
    other = ExposureIndex.ensure(world["store"], g, CATS, fewer)
    assert not np.array_equal(np.asarray(other.inc), np.asarray(idx.inc))


def test_default_profile_scores_with_reasons(world: dict) -> None:
    prof = load_profile()
    assert prof.label == "default@1"
    sanctioned = score_address(prof, "x", [TagEvidence("sanction", "OFAC SDN", "ofac.txt")], None)
    assert sanctioned.score == 100 and sanctioned.reasons[0]["rule"] == "tagged-sanctioned"
    assert not sanctioned.exposure_computed and "tags alone" in " ".join(sanctioned.lines())
    g, case = world["graph"], world["case"]
    idx = ExposureIndex.ensure(world["store"], g, prof.exposure_categories, world["tagged"])
    cash = case["cashout_points"][0]["address"]
    exp = idx.of_addresses(np.array([address_id(g, cash)])).row(0)
    res = score_address(prof, cash, [TagEvidence("exchange", "exchange-1")], exp)
    assert res.reasons and res.reasons[0]["category"] == "ransomware"
    assert 40 <= res.score <= 95 and res.severity == "high"
    clean = score_address(prof, "y", [], {"incoming": {"direct": {}, "indirect": {}},
                                          "outgoing": {"direct": {}, "indirect": {}}})
    assert clean.score == 0 and clean.reasons == [] and clean.exposure_computed and clean.lines() == []


@pytest.mark.parametrize("text, message", [
    ("profile: x\nversion: 1\nrules: []\n", "exposure_categories: must be a non-empty list"),
    ("profile: x\nversion: 1\nexposure_categories: [scam]\nrules:\n"
     "  - {id: a, kind: tag, categories: [nope], score: 5}\n",
     "rules[0].categories: unknown category 'nope'"),
    ("profile: x\nversion: one\n", "field 'version' must be int"),
    ("profile: x\nversion: 1\nexposure_categories: [scam]\nrules:\n"
     "  - {id: a, kind: exposure, categories: [ransomware], score: {base: 1}}\n",
     "category 'ransomware' is not in exposure_categories"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_profiles_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_profile(p)
    assert message in err.value.one_line() and str(p) in err.value.one_line()
