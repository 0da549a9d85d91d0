"""The service layer's status and jobs (ingest, export, fsck, migrate): typed results equal to the
CLI's `--json`, requests that refuse bad input naming the field before anything is created, the
progress protocol, the secret kept out of reprs, and the one way to upgrade an older store."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin.samplechain import sample_chain_blocks_dir
from fundtrail.cli.main import main
from fundtrail.errors import StoreError, UsageError
from fundtrail.settings import Settings
from fundtrail.store import Store, migrations
from support.schema import make_older
from fundtrail.workspace import Workspace
from fundtrail.workspace.jobs import (ExportTransactionsRequest, IngestBitcoinRequest, IngestEthereumRequest,
                                      IngestIncomplete)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[tuple[str, int, int]], object]:
    base = tmp_path_factory.mktemp("ws")
    chain = sample_chain_blocks_dir(base / "blocks", seed=3)
    seen: list[tuple[str, int, int]] = []
    ws = Workspace.open(Settings.load(store=base / "store"), create=True)
    result = ws.ingest_bitcoin(IngestBitcoinRequest(blocks_dir=base / "blocks"),
                               lambda stage, done, total: seen.append((stage, done, total)))
    assert result.blocks == len(chain.blocks) and result.chain == "btc-regtest"
    return base, base / "store", seen, chain


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_is_the_cli_json(built, capsys) -> None:
    _, store, _, chain = built
    st = Workspace.open(Settings.load(store=store)).status()
    code, out, _ = cli(capsys, "--store", str(store), "status", "--json")
    assert code == 0 and st.model_dump(mode="json") == json.loads(out)
    assert out == json.dumps(st.model_dump(mode="json"), indent=2) + "\n"  # key order kept too
    (c,) = st.chains
    assert c.family == "utxo" and c.tip_hash == chain.manifest["tip_hash"]
    assert c.coverage.ranges == [(0, len(chain.blocks) - 1)] and not c.empty


def test_ingest_reports_progress_and_is_idempotent(built) -> None:
    _, store, seen, chain = built
    assert {s for s, _, _ in seen} == {"blocks", "transactions"}
    assert max(d for s, d, _ in seen if s == "blocks") == len(chain.blocks)
    assert max(d for s, d, _ in seen if s == "transactions") == chain.manifest["n_transactions"]
    ws = Workspace.open(Settings.load(store=store), writable=True)
    again = ws.ingest_bitcoin(IngestBitcoinRequest(blocks_dir=built[0] / "blocks"))
    assert (again.blocks, again.skipped_known) == (0, len(chain.blocks))
    ro = Workspace.open(Settings.load(store=store))
    with pytest.raises(StoreError, match="read-only"):
        ro.ingest_bitcoin(IngestBitcoinRequest(blocks_dir=built[0] / "blocks"))


def test_bad_requests_name_the_field_and_create_nothing(tmp_path: Path) -> None:
    cases = [({"raw": [tmp_path / "a"], "rpc": "http://x"}, "source"),
             ({}, "source"),
             ({"raw": [tmp_path / "a"], "network": "moon"}, "network"),
             ({"raw": [tmp_path / "a"], "undo_file": [tmp_path / "u", tmp_path / "v"]}, "undo_file"),
             ({"raw": [tmp_path / "a"], "follow": True}, "follow"),
             ({"blocks_dir": tmp_path, "follow": True, "undo": True}, "undo")]
    for kwargs, field in cases:
        with pytest.raises(UsageError) as err:
            IngestBitcoinRequest(**kwargs)
        assert err.value.field == field and "--" not in err.value.message, kwargs
    for kwargs, field in [({"replay": tmp_path, "chain": "Eth main"}, "chain"),
                          ({"rpc": "http://x", "traces": "all"}, "traces"),
                          ({"replay": tmp_path, "follow": True}, "follow"),
                          ({"rpc": "http://x", "concurrency": 0}, "concurrency")]:
        with pytest.raises(UsageError) as err:
            IngestEthereumRequest(**kwargs)
        assert err.value.field == field, kwargs
    assert list(tmp_path.iterdir()) == []


def test_the_rpc_password_is_never_shown() -> None:
    req = IngestBitcoinRequest(rpc="http://127.0.0.1:8332", rpc_user="u", rpc_password="s3cret")
    assert "s3cret" not in repr(req) and "s3cret" not in req.model_dump_json()
    assert req.rpc_password is not None and req.rpc_password.get_secret_value() == "s3cret"


def test_a_bad_file_stores_the_rest_and_carries_the_result(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"\x00" * 200)
    ws = Workspace.open(Settings.load(store=tmp_path / "s"), create=True)
    with pytest.raises(IngestIncomplete) as err:
        ws.ingest_bitcoin(IngestBitcoinRequest(raw=[bad]))
    assert err.value.exit_code == 3 and "bad.dat" in err.value.message
    assert err.value.result.blocks == 0 and err.value.result.errors


def test_export_writes_the_cli_rows_and_checks_before_creating(built, tmp_path: Path, capsys) -> None:
    _, store, _, chain = built
    ws = Workspace.open(Settings.load(store=store))
    buf = io.StringIO()
    res = ws.export_transactions(ExportTransactionsRequest(from_height=10, to_height=10), stream=buf)
    rows = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert res.rows == len(rows) and [t["txid"] for t in rows] == chain.manifest["heights"][10]["txids"]
    code, out, _ = cli(capsys, "--store", str(store), "export", "transactions", "--from-height", "10",
                       "--to-height", "10")
    assert code == 0 and out == buf.getvalue()
    with pytest.raises(UsageError) as err:
        ws.export_transactions(ExportTransactionsRequest(), output=tmp_path / "no" / "x.jsonl")
    assert err.value.field == "output" and not (tmp_path / "no").exists()
    with pytest.raises(UsageError) as err:
        ExportTransactionsRequest(format="csv")
    assert err.value.field == "format"
    with pytest.raises(UsageError) as err:
        ws.export_transactions(ExportTransactionsRequest(block_hash="zz"), stream=io.StringIO())
    assert err.value.field == "block_hash"
    out_file = tmp_path / "tx.jsonl"
    assert ws.export_transactions(ExportTransactionsRequest(), output=out_file).output == str(out_file)


def test_fsck_finds_a_changed_file(built, tmp_path: Path, capsys) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built[1], copy)
    stages: list[str] = []
    rep = Workspace.open(Settings.load(store=copy)).fsck(progress=lambda s, d, t: stages.append(s))
    assert rep.ok and rep.files > 0 and stages == ["fsck btc-regtest"]
    victim = next((copy / "lake").rglob("*.parquet"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    rep = Workspace.open(Settings.load(store=copy)).fsck(chain="btc-regtest")
    assert not rep.ok and rep.errors >= 1 and any(f.check == "files" for f in rep.findings)
    code, out, err = cli(capsys, "--store", str(copy), "-q", "fsck", "--json")
    assert code == 4 and json.loads(out) == {**rep.model_dump(mode="json"), "seconds": json.loads(out)["seconds"]}
    with pytest.raises(UsageError) as bad:
        Workspace.open(Settings.load(store=copy)).fsck(chain="no such")
    assert bad.value.field == "chain"


def test_migrate_is_the_one_way_to_upgrade(built, tmp_path: Path, capsys) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(built[1], old)
    make_older(old, 4)
    with pytest.raises(StoreError) as err:
        Workspace.open(Settings.load(store=old))
    assert "fundtrail migrate" in err.value.one_line() and Store(old).schema_version() == 4
    code, out, _ = cli(capsys, "--store", str(old), "status")
    assert code == 4 and Store(old).schema_version() == 4  # reading never migrates
    # a command of its own, as a user runs it (this process created the store's early steps)
    done = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "--store", str(old), "migrate",
                           "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    res = json.loads(done.stdout)
    assert (res["from_version"], res["schema_version"], res["latest"]) == (4, migrations.LATEST, migrations.LATEST)
    assert res["applied_now"] == list(range(5, migrations.LATEST + 1))
    assert [m["version"] for m in res["migrations"]] == list(range(1, migrations.LATEST + 1))
    assert Workspace.open(Settings.load(store=old)).status().schema_version == migrations.LATEST
    code, out, _ = cli(capsys, "--store", str(old), "migrate")
    assert code == 0 and f"v{migrations.LATEST}" in out
