"""The TRON simulator end to end through the real CLI (issue 18, "A TRON simulator scenario").

`fundtrail simulate --chain tron` writes java-tron answers and an answer key; `ingest tron --replay`
reads them into a real store; then trace (each policy), cluster (with and without the opt-in
delegation heuristic), freezes, risk and export are checked against the simulator's answer key.
The answer key's taint amounts come from the EVM simulator's oracle (`sim/evm/oracle.py`) over the
movements the simulator planned, not from anything the ingest decoded.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import pytest

from fundtrail.chains.tron.address import parse_tron_address, to_base58
from fundtrail.cli.main import main
from fundtrail.cluster.delegation import delegation_links
from fundtrail.store import Store

SEED, TXS = 7, 1_500
ZERO = to_base58(bytes(20))


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code or 0, out.out, out.err


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = run(args, capsys)
    assert code == 0, err
    return json.loads(out)


def norm(text: str | None) -> str:
    """Any accepted address form as T… (the answer key's form)."""
    return to_base58(parse_tron_address(text)) if text else ""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("tronsim")
    sim, store = base / "sim", str(base / "store")
    assert main(["-q", "simulate", "--chain", "tron", "--seed", str(SEED), "--txs", str(TXS), "--out", str(sim)]) == 0
    assert main(["-q", "--store", store, "ingest", "tron", "--replay", str(sim / "rpc")]) == 0
    case = json.loads((sim / "truth/cases/usdt-theft-1.json").read_text())
    with open(sim / "truth/addresses.csv") as fh:
        addresses = list(csv.DictReader(fh))
    # the oracle follows the thief's addresses and the OTC desk; every other address is a leaf
    stop = base / "leaves.txt"
    followed = set(case["followed"])
    stop.write_text("".join(f"{r['address']},{r['actor']}\n" for r in addresses
                            if r["address"] not in followed and r["role"] != "token"))
    return {"base": base, "sim": sim, "store": store, "case": case, "stop": stop,
            "manifest": json.loads((sim / "manifest.json").read_text())}


def test_the_recording_ingests_to_the_planned_movements(env: dict, capsys) -> None:
    """Every movement the simulator planned is in the store, and nothing else (export vs truth)."""
    m = env["manifest"]
    assert m["chain"] == "tron" and m["transactions"] >= TXS and m["cases"] == ["usdt-theft-1"]
    code, out, err = run(["--store", env["store"], "export", "transfers", "--chain", "tron"], capsys)
    assert code == 0, err
    got = Counter()
    for line in out.splitlines():
        r = json.loads(line)
        if r["success"]:
            frm = "" if r["block_number"] == 0 else (norm(r["from"]) if r["from"] else ZERO)
            got[(r["tx_hash"].removeprefix("0x"), r["kind"], frm, norm(r["to"]), norm(r["asset"]) if r["asset"] != "TRX"
                 else "TRX", int(r["amount"]))] += 1
    with open(env["sim"] / "truth/transfers.csv") as fh:
        want = Counter((t["txid"], t["kind"], t["from"], t["to"], t["asset"], int(t["amount"]))
                       for t in csv.DictReader(fh))
    assert sum(want.values()) == m["transfers"]
    assert got == want


@pytest.mark.parametrize("policy", ["poison", "haircut", "fifo"])
def test_forward_trace_equals_the_answer_key(env: dict, capsys, policy: str) -> None:
    """The stolen USDT, traced forward from the theft: every leaf (the exchange deposit addresses
    among them) gets exactly the answer key's amount, and what stays at followed addresses (the
    frozen mule, the drain, the OTC desk) is the key's `held`."""
    case = env["case"]
    doc = cli_json(["--store", env["store"], "trace", case["seed_txs"][0], "--policy", policy, "--exact",
                    "--stop-file", str(env["stop"]), "--asset", case["token"], "--json"], capsys)
    reached: dict[str, Fraction] = defaultdict(Fraction)
    held: dict[str, Fraction] = defaultdict(Fraction)
    for e in doc["endpoints"]:
        (reached if e["reason"] == "service" else held)[norm(e["address"])] += Fraction(e["amount_exact"])
    key = case["answers"][policy]
    want = {x["address"]: Fraction(x["amount"]) for x in key["cashout"] + key["other_leaves"]
            if x["asset"] == case["token"]}
    assert any(x["thief"] for x in key["cashout"]), "the loot must reach the thief's deposit addresses"
    assert dict(reached) == want
    assert dict(held) == {h["address"]: Fraction(h["amount"]) for h in key["held"] if h["asset"] == case["token"]}
    assert next(h for h in key["held"] if h["frozen"])["address"] == case["frozen"][0]["address"]


def test_policies_differ_through_the_otc_desk(env: dict) -> None:
    """The desk mixes the thief's USDT with its clients': the policies disagree there and only there."""
    ans = env["case"]["answers"]
    totals = {p: sum(Fraction(x["amount"]) for x in a["cashout"]) for p, a in ans.items()}
    assert totals["poison"] > totals["haircut"] and totals["poison"] > totals["fifo"]
    for p in ("haircut", "fifo"):  # conservation: injected = leaves + held
        a = ans[p]
        out = sum(Fraction(x["amount"]) for x in a["cashout"] + a["other_leaves"] + a["held"]
                  if x["asset"] == env["case"]["token"])
        assert out == Fraction(a["injected"][env["case"]["token"]])


def _cluster_members(env: dict, address: str, capsys) -> set[str]:
    doc = cli_json(["--store", env["store"], "cluster", "members", address, "--chain", "tron", "--limit", "1000",
                    "--json"], capsys)
    return {norm(m["address"]) for m in doc["members"]}


def test_delegation_joins_the_payer_and_its_mules_only_when_asked(env: dict, capsys) -> None:
    case = env["case"]
    hot = [a for h in case["hot_wallets"] for a in ("--hot-wallet", h)]
    base = ["--store", env["store"], "cluster", "run", "--chain", "tron", "--json"]
    crew = {*case["mules"], *case["peel_hops"]}
    run_doc = cli_json([*base, "--heuristics", "deposit", *hot], capsys)
    assert run_doc["heuristics"] == ["deposit"]
    assert _cluster_members(env, case["payer"], capsys) == {case["payer"]}
    run_doc = cli_json([*base, "--heuristics", "deposit,delegation", *hot], capsys)
    assert run_doc["heuristics"] == ["deposit", "delegation"]
    members = _cluster_members(env, case["payer"], capsys)
    assert crew <= members and case["payer"] in members
    # the evidence names the delegation transaction of the answer key
    mule = case["mules"][3]
    why = cli_json(["--store", env["store"], "cluster", "why", case["payer"], mule, "--chain", "tron", "--json"],
                   capsys)
    step = why["steps"][0]
    assert step["heuristic"] == "delegation"
    first = next(d["txid"] for d in case["delegations"] if d["to"] == mule)
    assert step["txid"].removeprefix("0x") == first
    # the false-positive mode: an energy-rental service delegates to strangers, who join it too
    rentals = {d["to"] for d in case["rental_delegations"]}
    assert rentals and rentals <= _cluster_members(env, case["rental_delegations"][0]["from"], capsys)


def test_a_payer_with_many_receivers_is_taken_for_a_service(env: dict) -> None:
    """`max_receivers`: the rental service's fan of delegations gives no links, the thief's payer does."""
    case = env["case"]
    n_rentals = len({d["to"] for d in case["rental_delegations"]})
    n_crew = len({d["to"] for d in case["delegations"]})
    assert n_rentals > n_crew
    with Store.open(Path(env["store"])).query() as con:
        ids = dict(con.execute("SELECT address_id, address FROM tron_addresses").fetchall())
        links = delegation_links(con, "tron", max_receivers=n_crew)
    payers = {to_base58(bytes(ids[int(a)])) for a in links.a}
    assert payers == {case["payer"]}
    assert {to_base58(bytes(ids[int(b)])) for b in links.b} == {d["to"] for d in case["delegations"]}


def test_freezes_list_the_issuer_freeze(env: dict, capsys) -> None:
    frozen = env["case"]["frozen"][0]
    doc = cli_json(["--store", env["store"], "freezes", "--chain", "tron", "--json"], capsys)
    rows = {(r["action"], norm(r["address"]), r["tx"].removeprefix("0x")) for r in doc["freezes"]}
    assert rows == {("blacklisted", frozen["address"], frozen["blacklist_tx"]),
                    ("destroyed", frozen["address"], frozen["destroy_tx"])}
    destroyed = next(r for r in doc["freezes"] if r["action"] == "destroyed")
    assert destroyed["issuer_known"] and int(destroyed["amount"]) == int(frozen["destroyed"])


def test_risk_scores_the_frozen_mule(env: dict, capsys) -> None:
    frozen = env["case"]["frozen"][0]["address"]
    doc = cli_json(["--store", env["store"], "risk", frozen, "--chain", "tron", "--json"], capsys)
    rules = {r["kind"] for r in doc["reasons"]}
    assert "freeze" in rules and doc["score"] > 0
    clean = cli_json(["--store", env["store"], "risk", env["case"]["payer"], "--chain", "tron", "--json"], capsys)
    assert "freeze" not in {r["kind"] for r in clean["reasons"]}


def test_same_seed_same_files(tmp_path: Path, capsys) -> None:
    """Determinism: the recording and the truth of a seed are byte-identical; another seed differs."""
    outs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert run(["-q", "simulate", "--chain", "tron", "--seed", str(seed), "--txs", "400", "--out",
                    str(tmp_path / name)], capsys)[0] == 0
        outs.append({p.relative_to(tmp_path / name).as_posix(): p.read_bytes()
                     for p in sorted((tmp_path / name).rglob("*")) if p.is_file()})
    assert outs[0] == outs[1]
    assert outs[0].keys() != outs[2].keys() or outs[0] != outs[2]
    assert not (tmp_path / "a" / ".incomplete").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--txs", "10"], "too small"),
    (["--scenario", "nope"], "unknown scenario"),
    (["--exercise", "peel-chain"], "not for --chain tron"),
])
def test_bad_input_gives_one_line(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    code, _, err = run(["simulate", "--chain", "tron", *args, "--out", str(tmp_path / "x")], capsys)
    lines = [line for line in err.strip().splitlines() if line and not line.startswith("simulating")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_delegation_is_for_account_chains_only() -> None:
    from fundtrail.cluster.engine import check_params, parse_heuristics
    from fundtrail.errors import UsageError

    assert check_params("account", parse_heuristics(["deposit", "delegation"]), None, 0.5)[0] == \
        ("deposit", "delegation")
    assert check_params("account", parse_heuristics(["multi-input"]), None, 0.5)[0] == ("deposit",)
    with pytest.raises(UsageError, match="account chains only"):
        check_params("utxo", parse_heuristics(["multi-input", "delegation"]), None, 0.5)
    with pytest.raises(UsageError, match="known: .*delegation"):
        parse_heuristics(["delegations"])
