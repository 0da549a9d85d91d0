"""A bundle made on real mainnet blocks 0-599 (NBitcoin's blk files): block 170's payment, the first
bitcoin transaction between people (10 BTC from Satoshi Nakamoto to Hal Finney), traced and bundled.
Its proofs are checked against the real headers with the standard-library verifier core: mainnet
proof of work, the real block 170 hash, the txid recomputed, the merkle branch to block 170's root,
and the coinbase of block 9 it spends, as the funding transaction."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.verify import bitcoin as vb
from tests.cases.support_bundle import check_proofs, expected_members, jsonl, read_zip, sums_ok
from tests.support.realchain import real_store

PAYMENT = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
BLOCK_170 = "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee"
#: block 9's coinbase: the 50 BTC Satoshi spends in block 170
FUNDING = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9"


@pytest.fixture(scope="module")
def bundled(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("realbundle")
    real_store(testdata, base)
    store = str(base / "store")

    def cli(*args: str) -> Any:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = main(["-q", "--store", store, "--as", "alice", *args, "--json"])
        assert code == 0, args
        return json.loads(buf.getvalue())

    cid = cli("case", "new", "--title", "Block 170")["id"]
    trace = cli("case", "trace", cid, f"{PAYMENT}:0", "--policy", "fifo", "--hops", "3")
    made = cli("case", "bundle", cid, "-o", str(base / "b170.zip"))
    return {"made": made, "trace": trace, "files": read_zip(base / "b170.zip")}


def test_block_170_bundle_verifies_against_the_real_headers(bundled: dict[str, Any]) -> None:
    files = bundled["files"]
    manifest = json.loads(files["manifest.json"])
    assert set(files) == expected_members(manifest)
    sums_ok(files)
    entry = manifest["chains"]["btc"]
    assert entry["network"] == "mainnet" and entry["tip_height"] == 599
    txs = {t["txid"]: t for t in check_proofs(files, "btc")}
    blob = files["chains/btc/headers.bin"]
    headers = [blob[i:i + 80] for i in range(0, len(blob), 80)]
    assert all(vb.meets_pow(h) for h in headers)  # real mainnet work, at mainnet's limit
    assert entry["first_height"] == 9
    assert vb.header_hash(headers[170 - 9]) == BLOCK_170
    pay = txs[PAYMENT]
    assert (pay["height"], pay["block_hash"], pay["index"], pay["tx_count"]) == (170, BLOCK_170, 1, 2)
    assert "traced" in pay["roles"] and "seed" in pay["roles"]
    assert txs[FUNDING]["height"] == 9 and txs[FUNDING]["roles"] == ["funding"]
    parsed = vb.parse_tx(bytes.fromhex(pay["raw"]))
    assert parsed.outputs[0].value == 10 * 100_000_000 and vb.display(parsed.inputs[0].prev_txid) == FUNDING
    nodes = {n["txid"] for n in bundled["trace"]["result"]["graph"]["nodes"]}
    assert nodes <= txs.keys() and PAYMENT in nodes
    assert bundled["made"]["transactions"] == len(txs) == len(jsonl(files["chains/btc/transactions.jsonl"]))


def test_fundtrail_verify_accepts_it_and_recomputes_the_trace(bundled: dict[str, Any]) -> None:
    """The whole verifier, as a court's expert runs it (no store): the mainnet headers' proof of
    work, every inclusion proof, and the FIFO trace of the 10 BTC recomputed to the satoshi."""
    from fundtrail.workspace.verification import verify_bundle

    report = verify_bundle(Path(bundled["made"]["path"]), expect=bundled["made"]["bundle_hash"])
    assert report.ok and not report.failures, report.failures[:5]
    assert report.bundle_hash == bundled["made"]["bundle_hash"]
    (trace,) = report.traces
    assert trace.status == "recomputed", trace
