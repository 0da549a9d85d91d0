"""`fundtrail case bundle|bundles` on a simulated chain ingested by the CLI, with tags imported from a
label file and a clustering run: the members are the ones docs/bundle.md lists, SHA256SUMS holds
(hashlib and coreutils), every transaction is proven (checked with the standard-library verifier
core), the roles are right (computed here from the raw bytes and the saved traces), the tag records
and cluster evidence trace back to the label file's lines and to `cluster why`, two bundles of one
case state differ only in the manifest's creation fields, and only members can bundle."""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.verify import bitcoin as vb
from fundtrail.workspace import Actor, Workspace
from tests.cases.support_bundle import (blk_records, check_proofs, expected_members, fake_node, jsonl, read_zip,
                                        sums_ok)

CHAIN = "btc-regtest"


def run(capsys: pytest.CaptureFixture[str], store: str, user: str, *args: str) -> tuple[int, str, str]:
    code = main(["--store", store, "--as", user, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def ok(capsys: pytest.CaptureFixture[str], store: str, user: str, *args: str) -> Any:
    code, out, err = run(capsys, store, user, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def labels(sim: Path, path: Path) -> None:
    """A label file as a provider would give it: exchange hot wallets and half the deposit addresses."""
    rows = []
    with open(sim / "truth" / "addresses.csv") as fh:
        for i, r in enumerate(csv.DictReader(fh)):
            if r["category"] in ("exchange", "otc_desk") and r["role"] in ("hot", "deposit") and (
                    r["role"] == "hot" or i % 2 == 0):
                rows.append((r["address"], r["actor"], "exchange", "test label provider", "BTC-REGTEST"))
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        w.writerows(rows)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("bundle")
    simulate(base / "sim", seed=3, txs=500)
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    labels(base / "sim", base / "labels.csv")
    assert main(["-q", "--store", store, "tags", "import", str(base / "labels.csv"), "--format", "csv"]) == 0
    assert main(["-q", "--store", store, "cluster", "run"]) == 0
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    other = json.loads((base / "sim/truth/cases/scam-1.json").read_text())
    seeds = [f"{s['txid']}:{s['vout']}" for s in truth["seed_outputs"]]
    return {"base": base, "store": store, "seeds": seeds, "scam_txid": other["seed_outputs"][0]["txid"]}


@pytest.fixture(scope="module")
def case(env: dict[str, Any]) -> dict[str, Any]:
    """The case: owner alice, viewer bob; two saved traces, a seed, a finding with references; bundled."""
    store, base = env["store"], env["base"]

    def cli(*args: str) -> Any:  # capsys is function-scoped: capture stdout here
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(["-q", "--store", store, "--as", "alice", *args, "--json"])
        assert code == 0, args
        return json.loads(buf.getvalue())

    cid = cli("case", "new", "--title", "Ransom", "--agency", "Police", "--number", "2026/17")["id"]
    cli("case", "members", cid, "--add", "bob", "--role", "viewer")
    cli("case", "add-seed", cid, env["seeds"][0], "--note", "victim 1 paid this")
    wide = cli("case", "trace", cid, *env["seeds"], "--policy", "haircut")
    fifo = cli("case", "trace", cid, env["seeds"][0], "--policy", "fifo", "--hops", "4")
    cli("case", "finding", cid, "--fact", "the scam paid into the same wallet", "--basis", "on chain",
        "--ref", f"tx:{env['scam_txid']}", "--ref", f"trace:{fifo['id']}")
    bundle = base / "case.zip"
    made = cli("case", "bundle", cid, "-o", str(bundle))
    return {"id": cid, "traces": [wide, fifo], "bundle": bundle, "made": made,
            "files": read_zip(bundle)}


def test_members_sums_and_hash(env: dict[str, Any], case: dict[str, Any], capsys: pytest.CaptureFixture[str],
                               tmp_path: Path) -> None:
    files, made = case["files"], case["made"]
    manifest = json.loads(files["manifest.json"])
    assert set(files) == expected_members(manifest)
    assert {f"traces/{t['id']}.json" for t in case["traces"]} <= set(files)
    sums_ok(files)
    assert made["bundle_hash"] == hashlib.sha256(files["SHA256SUMS"]).hexdigest()
    assert made["bytes"] == case["bundle"].stat().st_size and made["case_id"] == case["id"]
    with zipfile.ZipFile(case["bundle"]) as zf:  # sorted members, fixed timestamps, deflate
        infos = zf.infolist()
        assert [i.filename for i in infos] == sorted(files)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        zf.extractall(tmp_path / "x")
    done = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path / "x", capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": OK") == len(files) - 1
    listed = ok(capsys, env["store"], "bob", "case", "bundles", case["id"])["bundles"]
    mine = [b for b in listed if b["bundle_hash"] == made["bundle_hash"]]
    assert len(mine) == 1 and mine[0]["bytes"] == made["bytes"] and mine[0]["created_by"] == "alice"
    assert mine[0]["transactions"] == made["transactions"] and Path(mine[0]["path"]) == case["bundle"].resolve()
    code, out, _ = run(capsys, env["store"], "alice", "case", "bundles", case["id"])
    assert code == 0 and made["bundle_hash"] in out


def test_every_transaction_is_proven(case: dict[str, Any]) -> None:
    files = case["files"]
    txs = check_proofs(files, CHAIN)
    entry = json.loads(files["manifest.json"])["chains"][CHAIN]
    assert entry["proofs"] == "merkle" and entry["network"] == "regtest" and entry["transactions"] == len(txs)
    assert case["made"]["transactions"] == len(txs) == case["made"]["chains"][CHAIN]
    assert len({t["txid"] for t in txs}) == len(txs)
    assert "blocks directory" in entry["source"] and entry["tip_height"] >= entry["last_height"]


def test_roles_are_right(env: dict[str, Any], case: dict[str, Any]) -> None:
    files = case["files"]
    txs = {t["txid"]: t for t in jsonl(files[f"chains/{CHAIN}/transactions.jsonl"])}
    want: dict[str, set[str]] = {}
    for trace in case["traces"]:
        for node in trace["result"]["graph"]["nodes"]:
            want.setdefault(node["txid"], set()).add("traced")
        for out in trace["result"]["seed"]["outputs"]:
            want.setdefault(out.split(":")[0], set()).add("seed")
    want.setdefault(env["seeds"][0].split(":")[0], set()).add("seed")  # the case's seed
    for txid in [t for t, r in want.items() if "traced" in r]:
        parsed = vb.parse_tx(bytes.fromhex(txs[txid]["raw"]))
        for i in parsed.inputs:
            if i.prev_txid != b"\0" * 32:
                want.setdefault(vb.display(i.prev_txid), set()).add("funding")
    want.setdefault(env["scam_txid"], set()).add("finding")
    for line in jsonl(files["clusters/evidence.jsonl"]):
        for link in line["links"]:
            if link["txid"]:
                want.setdefault(link["txid"], set()).add("finding")
    assert {t: set(v["roles"]) for t, v in txs.items()} == want
    assert any(len(v["roles"]) > 1 for v in txs.values())


def test_tags_trace_back_to_the_label_file(env: dict[str, Any], case: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    files = case["files"]
    tags = jsonl(files["tags/tags.jsonl"])
    rows = list(csv.reader((env["base"] / "labels.csv").read_text().splitlines()))
    shown = {(e["address"], t["label"], t["inherited_from"]) for tr in case["traces"]
             for e in tr["result"]["endpoints"] for t in e["tags"]}
    assert shown and {(t["address"], t["label"], t["inherited_from"]) for t in tags} == shown
    for t in tags:
        row = rows[t["line"] - 1]  # the CSV's line numbers count the header as line 1
        assert t["origin"] == str(env["base"] / "labels.csv") and t["chain"] == CHAIN
        assert row[0] == (t["inherited_from"] or t["address"]) and row[1] == t["label"] and row[2] == t["category"]
        assert t["source"] == "test label provider" and t["visibility"] == "shared" and t["import_id"] == 1
    evidence = jsonl(files["clusters/evidence.jsonl"])
    inherited = {(t["address"], t["inherited_from"]) for t in tags if t["inherited_from"]}
    assert inherited and {(e["address"], e["tagged_address"]) for e in evidence} == inherited
    for e in evidence[::max(1, len(evidence) // 6)]:  # the paths `cluster why` gives, step by step
        why = ok(capsys, env["store"], "alice", "cluster", "why", e["address"], e["tagged_address"])
        assert e["links"] == [{"txid": s["txid"], "heuristic": s["heuristic"], "addresses": [s["from"], s["to"]]}
                              for s in why["steps"]] and e["run_id"] == why["run_id"]
    for e in evidence:
        chain = [e["address"]] + [link["addresses"][1] for link in e["links"]]
        assert [link["addresses"][0] for link in e["links"]] == chain[:-1] and chain[-1] == e["tagged_address"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"] == {"transactions": case["made"]["transactions"], "tags": len(tags),
                                  "cluster_links": sum(len(e["links"]) for e in evidence), "findings": 1}
    assert "multi_input" in manifest["heuristics"] and set(manifest["policies"]) == {"haircut", "fifo"}


def test_case_and_traces_files(case: dict[str, Any]) -> None:
    files = case["files"]
    doc = json.loads(files["case/case.json"])
    assert doc["id"] == case["id"] and doc["agency"] == "Police" and doc["case_number"] == "2026/17"
    assert "role" not in doc and "bundles" not in doc
    assert [m["user"] for m in doc["members"]] == ["alice", "bob"] and doc["seeds"][0]["note"] == "victim 1 paid this"
    assert doc["findings"][0]["refs"][0].startswith("tx:") and doc["attachments"] == []
    for trace in case["traces"]:
        saved = json.loads(files[f"traces/{trace['id']}.json"])
        assert set(saved) == {"id", "created_at", "created_by", "seed", "policy", "request", "state", "result"}
        assert saved["result"] == trace["result"] and saved["state"] == trace["state"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "fundtrail-evidence-bundle" and manifest["format_version"] == 1
    assert manifest["case"] == {"id": case["id"], "title": "Ransom", "agency": "Police", "number": "2026/17",
                                "status": "open"}
    assert [(t["id"], t["policy"], t["direction"]) for t in manifest["traces"]] == [
        (t["id"], t["policy"], "forward") for t in case["traces"]]


def test_two_bundles_differ_only_in_creation(env: dict[str, Any], case: dict[str, Any], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    again = ok(capsys, env["store"], "bob", "case", "bundle", case["id"], "-o", str(tmp_path / "b.zip"))
    first, second = case["files"], read_zip(tmp_path / "b.zip")
    assert set(first) == set(second)
    assert [p for p in first if first[p] != second[p]] == ["SHA256SUMS", "manifest.json"]
    m1, m2 = json.loads(first["manifest.json"]), json.loads(second["manifest.json"])
    assert m2["created_by"] == "bob" and m1["created_by"] == "alice"
    for m in (m1, m2):
        del m["created_at"], m["created_by"]
    assert m1 == m2 and again["bundle_hash"] != case["made"]["bundle_hash"]
    (record,) = ok(capsys, env["store"], "alice", "audit", "show", "--limit", "1")["records"]  # newest last
    assert (record["action"], record["user"], record["subjects"], record["outcome"]) == (
        "case bundle", "bob", [case["id"]], "ok")


def test_only_members_bundle(env: dict[str, Any], case: dict[str, Any], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c.zip"
    code, _, err = run(capsys, env["store"], "carol", "case", "bundle", case["id"], "-o", str(out))
    code2, _, err2 = run(capsys, env["store"], "carol", "case", "bundle", "C-00000000", "-o", str(out))
    assert code == code2 == 6 and err.replace(case["id"], "C-00000000") == err2 and len(err.splitlines()) == 1
    code, _, err3 = run(capsys, env["store"], "carol", "case", "bundles", case["id"])
    assert code == 6 and err3 == err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    code, _, err = run(capsys, env["store"], "alice", "case", "bundle", case["id"], "-o", str(tmp_path / "no/c.zip"))
    assert code == 2 and f"directory {tmp_path / 'no'} does not exist" in err and len(err.splitlines()) == 1


def test_a_closed_case_bundles(env: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cid = ok(capsys, env["store"], "alice", "case", "new", "--title", "Closed")["id"]
    ok(capsys, env["store"], "alice", "case", "trace", cid, env["seeds"][1], "--hops", "2")
    ok(capsys, env["store"], "alice", "case", "close", cid)
    made = ok(capsys, env["store"], "alice", "case", "bundle", cid, "-o", str(tmp_path / "closed.zip"))
    files = read_zip(tmp_path / "closed.zip")
    assert json.loads(files["manifest.json"])["case"]["status"] == "closed" and made["transactions"] > 0
    check_proofs(files, CHAIN)


def _flip_in(blk: Path, raw_hex: str) -> int:
    """Flip one byte in the middle of a transaction's bytes inside a blk file; its offset."""
    data = bytearray(blk.read_bytes())
    at = data.find(bytes.fromhex(raw_hex))
    assert at > 0
    at += len(raw_hex) // 4
    data[at] ^= 0x01
    blk.write_bytes(bytes(data))
    return at


def test_an_altered_blocks_dir_is_refused(env: dict[str, Any], case: dict[str, Any], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "blocks"
    shutil.copytree(env["base"] / "sim/blocks", bad)
    line = jsonl(case["files"][f"chains/{CHAIN}/transactions.jsonl"])[3]
    blk = sorted(bad.glob("blk*.dat"))[0]
    _flip_in(blk, line["raw"])
    out = tmp_path / "out" / "bad.zip"
    out.parent.mkdir()
    out.write_bytes(b"an earlier bundle")
    code, _, err = run(capsys, env["store"], "alice", "case", "bundle", case["id"], "-o", str(out),
                       "--blocks-dir", str(bad))
    assert code == 3 and len(err.strip().splitlines()) == 1, err
    assert str(blk) in err and "offset" in err and f"block {line['height']} ({line['block_hash']})" in err
    assert list(out.parent.iterdir()) == [out] and out.read_bytes() == b"an earlier bundle"


def test_a_missing_source_is_named(env: dict[str, Any], case: dict[str, Any], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    blocks = blk_records(env["base"] / "sim/blocks/blk00000.dat")
    half = tmp_path / "half"
    half.mkdir()
    with open(half / "blk00000.dat", "wb") as fh:  # the first 10 blocks only: later ones are missing
        for b in blocks[:10]:
            fh.write(bytes.fromhex("fabfb5da") + len(b).to_bytes(4, "little") + b)
    out = tmp_path / "m.zip"
    code, _, err = run(capsys, env["store"], "alice", "case", "bundle", case["id"], "-o", str(out),
                       "--blocks-dir", str(half))
    assert code == 6 and len(err.strip().splitlines()) == 1, err
    assert f"is not in blocks directory {half}" in err and "--blocks-dir DIR or --rpc URL" in err
    assert "block " in err and not out.exists()
    moved = env["base"] / "sim" / "blocks-moved"
    (env["base"] / "sim/blocks").rename(moved)  # the recorded source is gone
    try:
        code, _, err = run(capsys, env["store"], "alice", "case", "bundle", case["id"], "-o", str(out))
    finally:
        moved.rename(env["base"] / "sim/blocks")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no block source" in err, err
    assert f"blocks-dir {env['base'] / 'sim/blocks'}" in err and not out.exists()


def test_a_node_gives_the_same_proofs(env: dict[str, Any], case: dict[str, Any], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    blocks = blk_records(env["base"] / "sim/blocks/blk00000.dat")
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:s3cret")
    auth = "Basic " + base64.b64encode(b"__cookie__:s3cret").decode()
    out = tmp_path / "rpc.zip"
    with fake_node(blocks, auth=auth) as node:
        ok(capsys, env["store"], "alice", "case", "bundle", case["id"], "-o", str(out), "--rpc", node["url"],
           "--rpc-cookie", str(cookie))
        requests = node["state"]["requests"]
    files = read_zip(out)
    chain_files = [p for p in files if p.startswith("chains/")]
    assert len(chain_files) == 2 and all(files[p] == case["files"][p] for p in chain_files)
    source = json.loads(files["manifest.json"])["chains"][CHAIN]["source"]
    assert source == f"the node at {node['url']}" and "s3cret" not in files["manifest.json"].decode()
    heights = {t["height"] for t in jsonl(files[f"chains/{CHAIN}/transactions.jsonl"])}
    assert 0 < requests < len(heights)  # batched getblock calls
    with fake_node(blocks[:10]) as node:  # a node that lacks the later blocks
        code, _, err = run(capsys, env["store"], "alice", "case", "bundle", case["id"], "-o", str(out) + "2",
                           "--rpc", node["url"])
    assert code == 6 and len(err.strip().splitlines()) == 1 and f"is not in the node at {node['url']}" in err, err
    assert not Path(str(out) + "2").exists()


def test_the_verifier_accepts_it(case: dict[str, Any]) -> None:
    """The other implementation of docs/bundle.md (`python -m fundtrail.verify`, no store) agrees."""
    done = subprocess.run([sys.executable, "-m", "fundtrail.verify", str(case["bundle"]), "--expect",
                           case["made"]["bundle_hash"]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_server_keeps_bundles_by_hash(env: dict[str, Any], case: dict[str, Any], tmp_path: Path) -> None:
    """The service call the API and the web use: the file named by its bundle hash, recorded there."""
    ws = Workspace.open(Settings(store=Path(env["store"])), writable=True, actor=Actor(user="alice", role="admin"))
    made = ws.case_bundle(case["id"], tmp_path, by_hash=True)
    path = tmp_path / f"{made.bundle_hash}.zip"
    assert Path(made.path) == path and list(tmp_path.iterdir()) == [path]
    assert hashlib.sha256(read_zip(path)["SHA256SUMS"]).hexdigest() == made.bundle_hash
    kept = {b.bundle_hash: b.path for b in ws.case_bundles(case["id"]).bundles}
    assert kept[made.bundle_hash] == str(path.resolve())
