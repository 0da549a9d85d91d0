"""`fundtrail case ...` on a real store built by the CLI (simulate + ingest): round trip,
per-case isolation (no existence leak), findings validation, closed-case refusal, audit subjects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.sim.scenario import simulate


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("casecli")
    simulate(base / "sim", seed=5, txs=500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    return {"store": str(store), "truth": truth}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, Any], user: str, *args: str) -> tuple[int, str, str]:
    code = main(["--store", env["store"], "--as", user, "case", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def new_case(capsys: pytest.CaptureFixture[str], env: dict[str, Any], user: str, title: str) -> str:
    code, out, err = run(capsys, env, user, "new", "--title", title, "--agency", "Cyber Police",
                         "--number", "2026-17", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert made["status"] == "open" and made["role"] == "owner" and made["created_by"] == user
    return str(made["id"])


def test_round_trip_new_list_show_seed_note_finding(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env, "alice", "Ransomware <b>payment</b>")
    assert cid.startswith("C-") and len(cid) == 10
    seed = env["truth"]["seed_outputs"][0]
    out_seed = f"{seed['txid']}:{seed['vout']}"
    code, out, err = run(capsys, env, "alice", "add-seed", cid, out_seed.upper(),
                         "--note", "victim paid this", "--json")
    assert code == 0, err
    added = json.loads(out)
    assert added["text"] == out_seed and added["chain"] == "btc-regtest" and added["note"] == "victim paid this"
    assert run(capsys, env, "alice", "add-seed", cid, seed["txid"])[0] == 0
    assert run(capsys, env, "alice", "note", cid, "called the exchange")[0] == 0
    code, _, err = run(capsys, env, "alice", "finding", cid, "--fact", f"{out_seed} paid the ransom",
                       "--basis", "transaction in block 120")
    assert code == 0, err
    code, _, err = run(capsys, env, "alice", "finding", cid, "--inference", "the wallet is the attacker's",
                       "--basis", "common-input heuristic", "--confidence", "0.8", "--source", "fundtrail cluster")
    assert code == 0, err
    code, out, _ = run(capsys, env, "alice", "show", cid, "--json")
    shown = json.loads(out)
    assert shown["id"] == cid and shown["title"] == "Ransomware <b>payment</b>" and shown["agency"] == "Cyber Police"
    assert shown["case_number"] == "2026-17"
    assert [m["user"] for m in shown["members"]] == ["alice"] and shown["members"][0]["role"] == "owner"
    assert [s["text"] for s in shown["seeds"]] == [out_seed, seed["txid"]]
    assert [n["text"] for n in shown["notes"]] == ["called the exchange"] and shown["notes"][0]["author"] == "alice"
    kinds = [(f["kind"], f["confidence"], f["basis"]) for f in shown["findings"]]
    assert kinds == [("fact", None, "transaction in block 120"), ("inference", 0.8, "common-input heuristic")]
    code, out, _ = run(capsys, env, "alice", "show", cid)
    assert code == 0 and "FACT" in out and "INFERENCE" in out and "confidence 0.8" in out
    code, out, _ = run(capsys, env, "alice", "list", "--json")
    assert cid in [c["id"] for c in json.loads(out)["cases"]]


def test_non_member_learns_nothing(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env, "alice", "Secret case")
    missing = "C-00000000" if cid != "C-00000000" else "C-00000001"
    code, out, _ = run(capsys, env, "bob", "list", "--json")
    assert code == 0 and cid not in [c["id"] for c in json.loads(out)["cases"]]
    seed = env["truth"]["seed_outputs"][0]["txid"]
    for args in (("show", "{}"), ("note", "{}", "hello"), ("add-seed", "{}", seed), ("close", "{}"),
                 ("finding", "{}", "--fact", "x", "--basis", "y"), ("members", "{}", "--add", "bob")):
        real = run(capsys, env, "bob", *(a.format(cid) for a in args))
        fake = run(capsys, env, "bob", *(a.format(missing) for a in args))
        assert real[0] == fake[0] == 6, (args, real, fake)
        assert real[2].replace(cid, "ID") == fake[2].replace(missing, "ID"), args
        assert "not a case you are a member of" in real[2]
    code, out, _ = run(capsys, env, "alice", "show", cid, "--json")
    assert json.loads(out)["notes"] == [] and [m["user"] for m in json.loads(out)["members"]] == ["alice"]


def test_members_and_viewers(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env, "carol", "Shared case")
    assert run(capsys, env, "carol", "members", cid, "--add", "dave", "--role", "viewer")[0] == 0
    assert run(capsys, env, "carol", "members", cid, "--add", "erin", "--role", "member")[0] == 0
    code, out, _ = run(capsys, env, "dave", "show", cid, "--json")
    assert code == 0 and {m["user"]: m["role"] for m in json.loads(out)["members"]} == {
        "carol": "owner", "dave": "viewer", "erin": "member"}
    code, _, err = run(capsys, env, "dave", "note", cid, "viewer writes")
    assert code == 7 and "you are a viewer" in err
    assert run(capsys, env, "erin", "note", cid, "member writes")[0] == 0
    code, _, err = run(capsys, env, "erin", "close", cid)
    assert code == 7 and "owner" in err
    code, _, err = run(capsys, env, "carol", "members", cid, "--add", "frank", "--role", "owner")
    assert code == 2 and "role" in err


@pytest.mark.parametrize(("args", "words"), [
    (("new", "--title", "  "), "title is empty"),
    (("finding", "{}", "--inference", "x", "--basis", "b", "--confidence", "1.5"), "confidence must be"),
    (("finding", "{}", "--inference", "x", "--basis", "b"), "confidence is missing"),
    (("finding", "{}", "--inference", "x", "--confidence", "0.5"), "basis is empty"),
    (("finding", "{}", "--fact", "x"), "basis is empty"),
    (("finding", "{}", "--fact", "x", "--basis", "b", "--confidence", "0.5"), "confidence is for inferences"),
    (("finding", "{}", "--fact", "x", "--inference", "y", "--basis", "b"), "exactly one of"),
    (("show", "case-1"), "is not a case id"),
    (("add-seed", "{}", "1111111111111111111111111111111111111111111111111111111111111111"), "seed"),
    (("add-seed", "{}", "bcrt1qnotanaddressatall"), "seed"),
])
def test_bad_input_is_one_line_naming_the_field(env: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                                args: tuple[str, ...], words: str) -> None:
    cid = new_case(capsys, env, "gina", "Validation")
    code, out, err = run(capsys, env, "gina", *(a.format(cid) for a in args))
    assert code in (2, 6) and words in err and out == ""
    assert len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, env, "gina", "show", cid, "--json")
    shown = json.loads(out)
    assert shown["seeds"] == [] and shown["findings"] == []


def test_closed_case_refuses_writes(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env, "hank", "To close")
    assert run(capsys, env, "hank", "note", cid, "before closing")[0] == 0
    code, out, _ = run(capsys, env, "hank", "close", cid, "--json")
    closed = json.loads(out)
    assert code == 0 and closed["status"] == "closed" and closed["closed_by"] == "hank" and closed["closed_at"]
    seed = env["truth"]["seed_outputs"][0]["txid"]
    for args in (("note", cid, "after"), ("add-seed", cid, seed), ("finding", cid, "--fact", "x", "--basis", "y"),
                 ("close", cid)):
        code, _, err = run(capsys, env, "hank", *args)
        assert code == 2 and f"case {cid} is closed" in err, args
    code, out, _ = run(capsys, env, "hank", "show", cid, "--json")
    assert [n["text"] for n in json.loads(out)["notes"]] == ["before closing"]


def test_audit_names_the_case(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cid = new_case(capsys, env, "ivan", "Audited")
    assert run(capsys, env, "ivan", "show", cid)[0] == 0
    assert run(capsys, env, "mallory", "show", cid)[0] == 6
    assert main(["--store", env["store"], "audit", "show", "--json", "--limit", "1000"]) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    shows = [r for r in records if r["action"] == "case show" and cid in r["subjects"]]
    assert [(r["user"], r["outcome"]) for r in shows] == [("ivan", "ok"), ("mallory", "not_found")]
    assert any(r["action"] == "case new" and r["user"] == "ivan" and r["params"].get("title") == "Audited"
               for r in records)


def test_cli_help_lists_case_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["case", "--help"]) == 0
    out = capsys.readouterr().out
    for name in ("new", "list", "show", "add-seed", "note", "finding", "close", "members"):
        assert name in out
