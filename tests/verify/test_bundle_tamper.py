"""Every tampering with a bundle is detected AND named: the file, the line or transaction, what
differs. A change to any file breaks its SHA256SUMS line; a consistent rewrite (file and SHA256SUMS)
changes the bundle hash (`--expect`) and, for on-chain data and trace amounts, fails the proofs and
the recomputation themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from verify.support_bundle import BLOCK_170_TX, edit_json, edit_line, mainnet_bundle, read_zip, rewrite, sim_bundle

from fundtrail.workspace.verification import verify_bundle

TXS = "chains/btc-regtest/transactions.jsonl"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.getbasetemp() / "verify-sim"
    base.mkdir(exist_ok=True)
    path = tmp_path_factory.mktemp("tamper") / "case.zip"
    digest, case = sim_bundle(base, path)
    assert verify_bundle(path).ok
    return {"path": path, "hash": digest, "case": case, "files": read_zip(path)}


def failures(path: Path, expect: str | None = None) -> list[str]:
    result = verify_bundle(path, expect=expect)
    assert not result.ok and result.readable
    return result.failures


def trace_of(good: dict[str, Any], policy: str, direction: str = "forward") -> dict[str, Any]:
    return next(t for t in good["case"]["traces"] if t["result"].get("policy") == policy
                and t["result"].get("direction") == direction and not t["request"].get("exact"))


def test_a_flipped_byte_in_a_transaction_is_named_by_line_and_txid(good: dict[str, Any], tmp_path: Path) -> None:
    lines = good["files"][TXS].decode().splitlines()
    n = 7
    rec = json.loads(lines[n - 1])

    def flip(files: dict[str, bytes]) -> None:  # the locktime's last byte: still a transaction
        edit_line(files, TXS, n, lambda r: r.update(raw=r["raw"][:-1] + ("1" if r["raw"][-1] != "1" else "2")))

    kept = failures(rewrite(good["path"], tmp_path / "a.zip", flip))
    assert f"SHA256SUMS: {TXS}: sha256 differs" in "\n".join(kept)
    resummed = failures(rewrite(good["path"], tmp_path / "b.zip", flip, resum=True))
    assert any(f.startswith(f"{TXS} line {n}: txid {rec['txid']} does not match its raw bytes (recomputed ")
               for f in resummed), resummed


def test_a_wrong_merkle_branch_or_block_is_named(good: dict[str, Any], tmp_path: Path) -> None:
    rec = json.loads(good["files"][TXS].decode().splitlines()[2])
    if not rec["branch"]:
        pytest.skip("line 3 is alone in its block")

    def bad_branch(files: dict[str, bytes]) -> None:
        edit_line(files, TXS, 3, lambda r: r["branch"].__setitem__(0, "00" * 32))

    got = failures(rewrite(good["path"], tmp_path / "a.zip", bad_branch, resum=True))
    assert any(f.startswith(f"{TXS} line 3: txid {rec['txid']}: its merkle branch at index {rec['index']} does not "
                            f"reach the merkle root of block {rec['height']}") for f in got), got
    got = failures(rewrite(good["path"], tmp_path / "b.zip",
                           lambda fs: edit_line(fs, TXS, 3, lambda r: r.update(index=r["index"] + 2 * r["tx_count"])),
                           resum=True))
    assert any(f.startswith(f"{TXS} line 3: txid {rec['txid']}: merkle branch: index") for f in got), got


def test_a_flipped_byte_in_a_header_breaks_the_chain_where_it_is(good: dict[str, Any], tmp_path: Path) -> None:
    manifest = json.loads(good["files"]["manifest.json"])["chains"]["btc-regtest"]
    k = 10  # the 11th header: its merkle root changes, so the 12th no longer links to it

    def flip(files: dict[str, bytes]) -> None:
        data = bytearray(files["chains/btc-regtest/headers.bin"])
        data[80 * k + 40] ^= 0x01
        files["chains/btc-regtest/headers.bin"] = bytes(data)

    assert "SHA256SUMS: chains/btc-regtest/headers.bin: sha256 differs" in "\n".join(
        failures(rewrite(good["path"], tmp_path / "a.zip", flip)))
    got = failures(rewrite(good["path"], tmp_path / "b.zip", flip, resum=True))
    height = manifest["first_height"] + k + 1
    assert any(f.startswith(f"chains/btc-regtest/headers.bin: height {height}: previous hash ") for f in got), got
    assert any(" no proven header at height " in f for f in got)  # nothing rests on a broken chain


def test_real_mainnet_header_without_its_proof_of_work(testdata: Path, tmp_path: Path) -> None:
    digest, _case = mainnet_bundle(testdata, tmp_path / "m", tmp_path / "m.zip")

    def nonce(files: dict[str, bytes]) -> None:
        first = json.loads(files["manifest.json"])["chains"]["btc"]["first_height"]
        data = bytearray(files["chains/btc/headers.bin"])
        data[80 * (170 - first) + 76] ^= 0xFF
        files["chains/btc/headers.bin"] = bytes(data)

    got = failures(rewrite(tmp_path / "m.zip", tmp_path / "bad.zip", nonce, resum=True), expect=None)
    assert any(f.startswith("chains/btc/headers.bin: height 170: block ") and "does not meet its proof of work "
               "(bits 0x1d00ffff, mainnet limit)" in f for f in got), got
    assert any(f.startswith("case/case.json: finding F-1: unverified fact: tx:" + BLOCK_170_TX) for f in got), got


def test_a_changed_tag_record_or_manifest_breaks_sha256sums(good: dict[str, Any], tmp_path: Path) -> None:
    def tag(files: dict[str, bytes]) -> None:
        edit_line(files, "tags/tags.jsonl", 2, lambda r: r.update(label="someone else"))

    assert "SHA256SUMS: tags/tags.jsonl: sha256 differs" in "\n".join(
        failures(rewrite(good["path"], tmp_path / "a.zip", tag)))

    def manifest(files: dict[str, bytes]) -> None:
        files["manifest.json"] = files["manifest.json"].replace(b'"tester"', b'"mallory"')

    got = failures(rewrite(good["path"], tmp_path / "b.zip", manifest))
    assert got[0].startswith("SHA256SUMS: manifest.json: sha256 differs (file ")


def test_a_consistent_rewrite_is_caught_by_the_expected_hash(good: dict[str, Any], tmp_path: Path) -> None:
    def tag(files: dict[str, bytes]) -> None:
        edit_line(files, "tags/tags.jsonl", 2, lambda r: r.update(label="someone else"))

    path = rewrite(good["path"], tmp_path / "a.zip", tag, resum=True)
    result = verify_bundle(path)
    assert result.ok and result.bundle_hash != good["hash"]  # a tag is stated, not proven: only the hash shows it
    got = failures(path, expect=good["hash"])
    assert got == [f"bundle hash {result.bundle_hash} is not the expected {good['hash']} (SHA256SUMS was rewritten "
                   "or is another bundle's)"]
    done = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "verify", str(path), "--expect", good["hash"]],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 1 and f"FAILED: bundle hash {result.bundle_hash}" in done.stdout


@pytest.mark.parametrize("policy,direction", [("fifo", "forward"), ("haircut", "forward"), ("tiho", "backward")])
def test_an_edge_amount_is_caught_by_the_recomputation(good: dict[str, Any], tmp_path: Path, policy: str,
                                                       direction: str) -> None:
    t = trace_of(good, policy, direction)
    path = f"traces/{t['id']}.json"
    edge = next(e for e in t["result"]["graph"]["edges"] if e["amount_sat"] > 1000)

    def more(files: dict[str, bytes]) -> None:
        def change(doc: dict[str, Any]) -> None:
            for e in doc["result"]["graph"]["edges"]:
                if e["output"] == edge["output"]:
                    e["amount_sat"] += 1
        edit_json(files, path, change)

    assert f"SHA256SUMS: {path}: sha256 differs" in "\n".join(failures(rewrite(good["path"], tmp_path / "a.zip", more)))
    got = failures(rewrite(good["path"], tmp_path / "b.zip", more, resum=True))
    assert f"{path}: edge {edge['output']} amount {edge['amount_sat'] + 1} sat, recomputed {edge['amount_sat']} sat " \
           f"({policy})" in got
    result = verify_bundle(tmp_path / "b.zip")
    assert next(x for x in result.traces if x.id == t["id"]).status == "failed"


def test_an_endpoint_moved_consistently_is_caught_by_the_recomputation(good: dict[str, Any], tmp_path: Path) -> None:
    """A forger moves 1,000 sat from one exchange endpoint to another in the trace's every total
    (endpoint, edges, accounting unchanged): the raw transactions say otherwise."""
    t = trace_of(good, "fifo")
    path = f"traces/{t['id']}.json"
    ends = [e for e in t["result"]["endpoints"] if e["reason"] == "service"]
    a, b = ends[0], ends[1]

    def move(files: dict[str, bytes]) -> None:
        def change(doc: dict[str, Any]) -> None:
            for e in doc["result"]["endpoints"]:
                e["amount_sat"] += {a["address"]: -1000, b["address"]: 1000}.get(e["address"], 0)
            for e in doc["result"]["graph"]["edges"]:
                e["amount_sat"] += {a["outputs"][0]: -1000, b["outputs"][0]: 1000}.get(e["output"], 0)
        edit_json(files, path, change)

    got = failures(rewrite(good["path"], tmp_path / "a.zip", move, resum=True))
    assert f"{path}: endpoint {a['address']} (service) amount {a['amount_sat'] - 1000} sat, recomputed " \
           f"{a['amount_sat']} sat (fifo)" in got
    assert f"{path}: edge {b['outputs'][0]} amount " in "\n".join(got)
    finding = next(f for f in got if f.startswith("case/case.json: finding F-1: unverified fact: trace:"))
    assert finding.endswith("trace failed")  # the fact resting on that trace is no longer verified


def test_removed_and_unlisted_files_are_named(good: dict[str, Any], tmp_path: Path) -> None:
    t = trace_of(good, "fifo")
    got = failures(rewrite(good["path"], tmp_path / "a.zip", lambda fs: fs.pop(f"traces/{t['id']}.json")))
    assert f"missing file traces/{t['id']}.json listed in SHA256SUMS" in got

    def add(files: dict[str, bytes]) -> None:
        files["traces/T-00000000.json"] = b"{}"
        files["notes.txt"] = b"hello"

    got = failures(rewrite(good["path"], tmp_path / "b.zip", add))
    assert "traces/T-00000000.json: file not listed in SHA256SUMS" in got
    assert "notes.txt: not a path of the bundle format (unlisted file)" in got
    assert "notes.txt: file not listed in SHA256SUMS" in got


def test_a_fact_citing_what_the_bundle_does_not_prove_is_unverified(good: dict[str, Any], tmp_path: Path) -> None:
    def cite(files: dict[str, bytes]) -> None:
        def change(doc: dict[str, Any]) -> None:
            doc["findings"].append({"id": "F-3", "kind": "fact", "text": "x", "refs": ["tx:" + "ab" * 32]})
            doc["findings"].append({"id": "F-4", "kind": "fact", "text": "y", "refs": []})
        edit_json(files, "case/case.json", change)

    got = failures(rewrite(good["path"], tmp_path / "a.zip", cite, resum=True))
    assert f"case/case.json: finding F-3: unverified fact: tx:{'ab' * 32}: no proven transaction of the bundle " \
           "has this txid" in got
    assert "case/case.json: finding F-4: unverified fact: (none): a fact must cite what proves it" in got
    assert "manifest.json: counts.findings 2, the bundle holds 4" in got
