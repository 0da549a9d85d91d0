"""`fundtrail ingest tron --record` then `--replay`: the real CLI in a subprocess, against a java-tron
HTTP API on loopback; the replayed store must equal the live one, and a rerun change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.tron_fake_node import FakeTron, store_content

from fundtrail.chains.ethereum.recording import file_name
from fundtrail.errors import SourceError
from fundtrail.ingest.tron.jobs import ingest_tron
from fundtrail.ingest.tron.replay import TronReplayTransport, tron_key
from fundtrail.ingest.tron.rpc import TronRpc
from fundtrail.ingest.tron.transport import TronNodeError
from fundtrail.store import Store


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "ingest", "tron", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, FakeTron]:
    base = tmp_path_factory.mktemp("rec")
    with FakeTron(head=9, txs_per_block=2) as node:
        done = _cli(base / "live", "--rpc", node.url, "--record", str(base / "rec"), "--batch-blocks", "4",
                    "--json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["chain"], report["blocks"], report["transactions"]) == ("tron", 10, 18)
        yield base / "rec", store_content(base / "live"), node


def test_recording_holds_one_file_per_block_and_infos(recorded: tuple[Path, dict, FakeTron]) -> None:
    rec, _, node = recorded
    names = {p.name for p in rec.iterdir()}
    for n in range(10):
        assert file_name(f"wallet.getblockbynum_{n}") in names
        block = json.loads((rec / file_name(f"wallet.getblockbynum_{n}")).read_text())
        assert block == node.blocks[n][0]  # the node's answer, unchanged
    for n in range(1, 10):
        infos = json.loads((rec / file_name(f"wallet.gettransactioninfobyblocknum_{n}")).read_text())
        assert infos == node.blocks[n][1]
    assert file_name("wallet.getnowblock_") in names
    assert not [n for n in names if n.startswith(".tmp")]


def test_replay_equals_live_and_rerun_changes_nothing(recorded: tuple[Path, dict, FakeTron],
                                                      tmp_path: Path) -> None:
    rec, live, _ = recorded
    first = _cli(tmp_path, "--replay", str(rec), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["blocks"] == 10
    assert store_content(tmp_path) == live
    again = _cli(tmp_path, "--replay", str(rec))
    assert again.returncode == 0, again.stderr
    assert "every recorded block (0..9) is stored already" in again.stdout
    assert store_content(tmp_path) == live


def test_replay_of_an_error_answer(recorded: tuple[Path, dict, FakeTron], tmp_path: Path) -> None:
    rec, _, _ = recorded
    broken = tmp_path / "rec"
    broken.mkdir()
    for p in rec.iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    (broken / file_name("wallet.gettransactioninfobyblocknum_7")).write_text(
        json.dumps({"Error": "class java.lang.IllegalStateException : db closed"}))
    with TronRpc(TronReplayTransport(broken), by_range=False) as rpc, \
            pytest.raises(TronNodeError, match=r"gettransactioninfobyblocknum .*\(block 7\).*db closed"):
        ingest_tron(Store.open(tmp_path / "s"), rpc, batch_blocks=4,
                    recorded=rpc.data.recorded_blocks())  # type: ignore[attr-defined]
    assert [h for h, *_ in store_content(tmp_path / "s")["block_index"]] == [0, 1, 2, 3]


def test_replay_missing_file_says_which(tmp_path: Path) -> None:
    (tmp_path / file_name(tron_key("/wallet/getblockbynum", {"num": 3}))).write_text("{}")
    transport = TronReplayTransport(tmp_path)
    assert transport.recorded_blocks() == [3]
    with pytest.raises(SourceError, match=r"not recorded") as err:
        transport.post("/wallet/gettransactioninfobyblocknum", {"num": 3})
    assert err.value.hint == "expected file web3_response.wallet.gettransactioninfobyblocknum_3.json"


def test_cli_refuses_bad_combinations(tmp_path: Path) -> None:
    both = _cli(tmp_path / "s", "--rpc", "http://127.0.0.1:9", "--replay", str(tmp_path))
    assert both.returncode != 0 and "exactly one of --rpc URL and --replay DIR" in both.stderr
    follow = _cli(tmp_path / "s", "--replay", str(tmp_path), "--follow")
    assert follow.returncode != 0 and "follow needs a node" in follow.stderr
    assert not (tmp_path / "s").exists()  # a refused request creates nothing
