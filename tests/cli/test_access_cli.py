"""`fundtrail users|tokens|audit` and the CLI audit hook (`fundtrail.cli.audit`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.cli import audit
from fundtrail.cli.main import build_command, main
from fundtrail.errors import AuditError
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("access-cli") / "store"
    Workspace.open(store=root, create=True)
    return str(root)


def test_users_commands(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--store", store, "--as", "boss", "users", "add", "alice", "--role", "investigator",
                        "--json"], capsys)
    assert code == 0
    user = json.loads(out)
    assert (user["name"], user["role"], user["active"], user["created_by"]) == ("alice", "investigator", True,
                                                                                 "boss")
    code, out, _ = run(["users", "list", "--store", store], capsys)
    assert code == 0 and "alice" in out and "investigator" in out
    code, _, err = run(["--store", store, "users", "add", "bob", "--role", "wizard"], capsys)
    assert code == 2 and err.startswith("fundtrail: error: --role 'wizard' is not a role") and err.count("\n") == 1
    code, _, err = run(["--store", store, "users", "add", "alice", "--role", "analyst"], capsys)
    assert code == 2 and "already a user" in err
    code, out, _ = run(["--store", store, "users", "disable", "alice"], capsys)
    assert code == 0 and "disabled" in out
    code, out, _ = run(["--store", store, "users", "list", "--json"], capsys)
    assert [u["active"] for u in json.loads(out)["users"] if u["name"] == "alice"] == [False]
    code, _, err = run(["--store", store, "users", "disable", "nobody"], capsys)
    assert code == 6 and "'nobody' is not a user" in err


def test_tokens_commands(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--store", store, "users", "add", "carol", "--role", "analyst"], capsys)[0] == 0
    code, out, _ = run(["--store", store, "tokens", "create", "carol", "--json"], capsys)
    made = json.loads(out)
    assert code == 0 and set(made) == {"token", "id", "user"} and made["token"].startswith(f"ft_{made['id']}_")
    code, out, err = run(["--store", store, "tokens", "create", "carol"], capsys)
    assert code == 0 and out.strip().startswith("ft_") and len(out.strip().splitlines()) == 1
    assert "not shown again" in err
    second = out.strip()
    ws = Workspace.open(store=Path(store))
    assert ws.authenticate(made["token"]).user == "carol"
    code, out, _ = run(["--store", store, "tokens", "list", "--json"], capsys)
    listed = json.loads(out)["tokens"]
    assert made["id"] in [t["id"] for t in listed] and made["token"] not in out and second not in out
    code, out, _ = run(["--store", store, "tokens", "revoke", made["id"]], capsys)
    assert code == 0 and "revoked" in out
    code, out, _ = run(["--store", store, "tokens", "list"], capsys)
    assert f"{made['id']}  carol" in out and "revoked" in out
    code, _, err = run(["--store", store, "tokens", "revoke", "nope"], capsys)
    assert code == 2 and "is not a token id" in err


def run_audited(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """A command through `cli.main.main`, which plans, runs and records it (the hook as wired)."""
    code, out, _ = run(args, capsys)
    return code, out


def test_hook_records_commands_and_audit_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "s")
    Workspace.open(store=Path(store), create=True)
    run_audited(["--store", store, "--as", "dana", "status"], capsys)
    run_audited(["users", "add", "eve", "--role", "auditor", "--store", store], capsys)
    run_audited(["--store", store, "audit", "show", "--user", "dana"], capsys)
    run_audited(["--store", store, "--help"], capsys)  # not recorded
    run_audited(["--store", store, "audit", "verify"], capsys)
    code, out, _ = run(["--store", store, "audit", "show", "--json"], capsys)
    recs = json.loads(out)["records"]
    assert code == 0 and [r["action"] for r in recs] == ["status", "users add", "audit show", "audit verify"]
    assert recs[0]["user"] == "dana" and recs[0]["via"] == "cli" and recs[0]["status"] == 0
    assert recs[1]["subjects"] == ["eve"] and recs[1]["params"] == {"role": "auditor"}
    assert recs[2]["params"] == {"user": "dana"}
    code, out, _ = run(["--store", store, "audit", "verify"], capsys)
    assert code == 0 and "intact: 5 records" in out  # the four above and the `audit show --json`
    log = Path(store) / "audit" / "audit.log"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + b"".join(lines[2:]))  # the second record deleted, the end kept
    code, out, _ = run(["--store", store, "audit", "verify", "--json"], capsys)
    res = json.loads(out)
    assert code == 3 and res["ok"] is False and res["problem"]["line"] == 2 and res["problem"]["seq"] == 3
    code, out, err = run(["--store", store, "audit", "verify"], capsys)
    assert code == 3 and err.startswith("fundtrail: error: audit log not intact: first bad record at line 2 "
                                        "(seq 3): seq 3 where 2 was expected") and err.count("\n") == 1
    # a middle record missing is for verify to find; the end cut off stops every command before it runs
    assert audit.plan(build_command(), ["--store", store, "status"]) is not None
    log.write_bytes(b"".join(lines[:3]))
    with pytest.raises(AuditError, match=r"ends at seq 3 but its head anchor says seq \d+") as err:
        audit.plan(build_command(), ["--store", store, "status"])
    assert err.value.exit_code == 4
    log.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    with pytest.raises(AuditError):
        audit.check_writable(Settings.load(store=Path(store)))


def test_hook_subjects_params_and_secrets() -> None:
    cmd = build_command()
    path, subjects, params = audit.parse(cmd, [
        "--store", "/s", "-q", "trace", "1Seed", "--json", "--hops=3", "--seeds-file", "seeds.txt",
        "--policy", "haircut", "--stop-at", "exchange", "--stop-at", "mixer", "-v"])
    assert path == ["trace"] and subjects == ["1Seed", "seeds.txt"]
    assert params == {"json": True, "hops": "3", "policy": "haircut", "stop_at": ["exchange", "mixer"]}
    path, subjects, params = audit.parse(cmd, ["ingest", "bitcoin", "--rpc", "http://u:pw@127.0.0.1:1",
                                               "--rpc-password", "hunter2", "--", "-weird-file"])
    assert path == ["ingest", "bitcoin"] and subjects == ["-weird-file"]
    assert params["rpc_password"] == "hunter2"  # redacted when written (below)
    assert params["rpc"] == "http://***@127.0.0.1:1"  # a URL's user:password never reaches the record
    _, _, params = audit.parse(cmd, ["case", "bundle", "C-00000000", "-o", "b.zip", "--rpc",
                                     "https://alice:s3cret@node.example:8332/wallet/x?y=1"])
    assert params["rpc"] == "https://***@node.example:8332/wallet/x?y=1" and "s3cret" not in str(params)
    _, subjects, _ = audit.parse(cmd, ["webhooks", "add", "https://hooks.example.com/T000/B000/XXXXtoken?k=v"])
    assert subjects == ["https://hooks.example.com"]  # a token in a webhook's path or query is not kept
    assert audit.plan(cmd, ["--version"]) is None and audit.plan(cmd, ["trace", "--help"]) is None


def test_hook_redacts_and_skips_stores_without_catalog(tmp_path: Path) -> None:
    root = tmp_path / "s"
    none = Settings.load(store=tmp_path / "nothing")
    audit.check_writable(none)  # no catalog: nothing to check
    audit.record_command(none, Actor(user="x", via="cli"), "status", ["status"], 6, "not_found")
    assert not (tmp_path / "nothing").exists()
    Workspace.open(store=root, create=True)
    argv = ["--store", str(root), "ingest", "bitcoin", "--rpc", "http://u:pw@127.0.0.1:1", "--rpc-password",
            "hunter2", "--rpc-user", "u"]
    audit.record_command(Settings.load(store=root), Actor(user="x", via="cli"), "ingest bitcoin", argv, 5,
                         "source_failed")
    text = (root / "audit" / "audit.log").read_text()
    assert "hunter2" not in text and "u:pw" not in text and '"rpc_user":"u"' in text
    rec = json.loads(text)
    assert (rec["action"], rec["status"], rec["outcome"]) == ("ingest bitcoin", 5, "source_failed")
