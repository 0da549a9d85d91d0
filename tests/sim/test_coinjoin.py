"""CoinJoins of the default economy: each protocol's published shape holds in the ingested chain,
and the ground truth (coinjoins.csv, owners, coordinators) agrees with it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate
from fundtrail.sim.wasabi import (
    W2_DENOMINATIONS,
    W2_MIN_OUTPUT,
    is_standard,
    standard_denominations,
)
from fundtrail.sim.whirlpool import MAX_PREMIX, POOLS
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions

PROTOCOLS = ("wasabi1", "wasabi2", "whirlpool_tx0", "whirlpool_mix", "joinmarket")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("cj")
    simulate(base / "out", seed=3, txs=8000)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the command an investigator runs
        code = main(["--store", str(base / "store"), "ingest", "bitcoin", "--blocks-dir",
                     str(base / "out" / "blocks"), "--json"])
    assert code == 0
    report = json.loads(printed.getvalue())
    txs = {t["txid"]: t for t in iter_transactions(Store.open(base / "store"), "btc-regtest")}
    truth = base / "out" / "truth"
    owner = {a["address"]: a for a in _csv(truth / "addresses.csv")}
    rows = _csv(truth / "coinjoins.csv")
    return {"report": report, "txs": txs, "owner": owner, "rows": rows,
            "by": {p: [r for r in rows if r["protocol"] == p] for p in PROTOCOLS},
            "transactions": _csv(truth / "transactions.csv")}


def _tx(world: dict, row: dict[str, str]) -> dict:
    return world["txs"][row["txid"]]


def _is_coordinator(world: dict, address: str | None) -> bool:
    a = world["owner"].get(address or "")
    return bool(a) and (a["category"], a["role"]) == ("coinjoin_coordinator", "coordinator_fee")


def test_every_protocol_runs_and_the_chain_ingests_cleanly(world: dict) -> None:
    r = world["report"]
    assert r["unresolved_inputs"] == 0 and r["stale"] == 0
    assert [x for x in r["warnings"] if "genesis" not in x] == []
    assert all(i["value"] is not None for t in world["txs"].values() for i in t["inputs"])
    counts = Counter(row["protocol"] for row in world["rows"])
    assert set(counts) == set(PROTOCOLS), counts
    assert counts["whirlpool_mix"] >= 10 and counts["wasabi2"] >= 2 and counts["wasabi1"] >= 2


def test_truth_rows_match_the_chain_and_the_true_owners(world: dict) -> None:
    patterns = {t["txid"]: t["pattern"] for t in world["transactions"]}
    for row in world["rows"]:
        tx = _tx(world, row)
        assert (len(tx["inputs"]), len(tx["outputs"])) == (int(row["n_inputs"]),
                                                           int(row["n_outputs"]))
        owners = {world["owner"][i["address"]]["actor"] for i in tx["inputs"]}
        assert len(owners) == int(row["participants"])
        paid = {world["owner"][o["address"]]["actor"] for o in tx["outputs"] if o["address"]}
        coordinators = {world["owner"][o["address"]]["actor"] for o in tx["outputs"]
                        if _is_coordinator(world, o["address"])}
        assert paid - coordinators <= owners, "a CoinJoin output belongs to a participant"
        assert patterns[row["txid"]] == ("whirlpool_tx0" if row["protocol"] == "whirlpool_tx0"
                                         else "coinjoin")
        addrs = [o["address"] for o in tx["outputs"] if o["address"]]
        if row["protocol"] != "joinmarket":
            assert len(addrs) == len(set(addrs)), "fresh output addresses"
    marked = {t for t, p in patterns.items() if p in ("coinjoin", "whirlpool_tx0")}
    assert marked == {row["txid"] for row in world["rows"]}


def test_wasabi1_shape(world: dict) -> None:
    for row in world["by"]["wasabi1"]:
        tx = _tx(world, row)
        assert 30 <= len(tx["inputs"]) <= 100
        assert {o["script_type"] for o in tx["outputs"]} == {"p2wpkh"}
        assert {world["owner"][i["address"]]["script_kind"] for i in tx["inputs"]} == {"p2wpkh"}
        value, n = Counter(o["value"] for o in tx["outputs"]).most_common(1)[0]
        assert abs(value - 10_000_000) <= 200_000 and n == int(row["participants"]) >= 10
        assert sum(_is_coordinator(world, o["address"]) for o in tx["outputs"]) == 1
        assert len(tx["outputs"]) <= 2 * n + 1


def test_wasabi2_shape(world: dict) -> None:
    kinds: set[str] = set()
    for row in world["by"]["wasabi2"]:
        tx = _tx(world, row)
        assert len(tx["inputs"]) >= 50
        outs = [o for o in tx["outputs"] if not _is_coordinator(world, o["address"])]
        kinds |= {o["script_type"] for o in outs}
        standard = [o for o in outs if is_standard(o["value"])]
        assert len(standard) >= 0.75 * len(outs)
        assert all(o["value"] >= W2_MIN_OUTPUT for o in outs)
        groups = Counter(o["value"] for o in standard)
        assert sum(1 for c in groups.values() if c >= 2) >= 5, "many equal-value groups"
        assert sum(_is_coordinator(world, o["address"]) for o in tx["outputs"]) <= 1
    assert kinds == {"p2wpkh", "p2tr"}


def test_wasabi2_denominations_are_the_published_families() -> None:
    d = standard_denominations(5_000, 10**9)
    for v in (8192, 6561, 2 * 3**9, 10_000, 20_000, 50_000, 10**8, 2**26):
        assert v in d
    for v in (4096, 7000, 30_000, 3 * 10**5):
        assert v not in d  # below the minimum, or in no family (3 x 10^n)
    assert d == sorted(d, reverse=True) and W2_DENOMINATIONS[-1] == 5_000


def test_whirlpool_mix_shape(world: dict) -> None:
    for row in world["by"]["whirlpool_mix"]:
        tx = _tx(world, row)
        assert len(tx["inputs"]) == len(tx["outputs"]) == 5
        values = {o["value"] for o in tx["outputs"]}
        assert len(values) == 1 and values <= set(POOLS)
        pool = values.pop()
        assert {o["script_type"] for o in tx["outputs"]} == {"p2wpkh"}
        assert len({o["address"] for o in tx["outputs"]}) == 5
        assert len({i["address"] for i in tx["inputs"]}) == 5
        assert all(i["value"] >= pool for i in tx["inputs"])
        assert any(i["value"] > pool for i in tx["inputs"]), "a newcomer pays the miner fee"
        assert tx["fee"] == sum(i["value"] - pool for i in tx["inputs"])


def test_whirlpool_tx0_shape(world: dict) -> None:
    for row in world["by"]["whirlpool_tx0"]:
        tx = _tx(world, row)
        outs = tx["outputs"]
        nulls = [o for o in outs if o["script_type"] == "op_return"]
        assert len(nulls) == 1 and nulls[0]["value"] == 0
        fee = [o for o in outs if _is_coordinator(world, o["address"])]
        assert len(fee) == 1 and fee[0]["value"] in POOLS.values()
        pool = next(d for d, f in POOLS.items() if f == fee[0]["value"])
        premix = [o for o in outs if pool < o["value"] <= pool + 100_000]
        assert 1 <= len(premix) <= MAX_PREMIX and len({o["value"] for o in premix}) == 1
        assert len(outs) - len(premix) - 2 <= 1  # at most the toxic change besides
        assert len({world["owner"][i["address"]]["actor"] for i in tx["inputs"]}) == 1
        assert [o["value"] for o in outs] == sorted(o["value"] for o in outs)  # BIP69


def test_joinmarket_shape(world: dict) -> None:
    for row in world["by"]["joinmarket"]:
        tx = _tx(world, row)
        n = int(row["participants"])
        assert 3 <= n <= 10
        _, count = Counter(o["value"] for o in tx["outputs"]).most_common(1)[0]
        assert count == n and n <= len(tx["outputs"]) <= 2 * n
        assert len({o["script_type"] for o in tx["outputs"]}) == 1
        assert {o["script_type"] for o in tx["outputs"]} <= {"p2wpkh", "p2sh"}
        assert len(tx["inputs"]) >= n


def test_look_alikes_stay_out_of_the_coinjoin_truth(world: dict) -> None:
    """Batched withdrawals and pool payouts also pay many equal amounts: false-positive bait."""
    cj = {row["txid"] for row in world["rows"]}
    bait = [t for t in world["transactions"]
            if t["pattern"] in ("batched_withdrawal", "pool_payout")
            and Counter(o["value"] for o in world["txs"][t["txid"]]["outputs"]).most_common(1)[0][1]
            >= 3]
    assert bait and not {t["txid"] for t in bait} & cj
