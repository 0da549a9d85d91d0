"""A small, independent writer of evidence bundles (docs/bundle.md) for the verifier's tests.

It reads real blocks (the shared mainnet blk files, or a simulated chain's) with the project's
ingest parser (`chains.bitcoin.parser`, not the verifier's code), computes merkle branches with
plain hashlib, and zips the files the format lists with their SHA256SUMS. Tests then tamper with
the files (`rewrite`) and check the verifier names what they changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundtrail.chains.bitcoin.parser import parse_batch
from fundtrail.chains.bitcoin.txid import compute_txids

MAGICS = (bytes.fromhex("f9beb4d9"), bytes.fromhex("fabfb5da"), bytes.fromhex("0b110907"))


def blk_blocks(path: Path) -> list[bytes]:
    """The blocks of a blk*.dat stream (magic, length, block), in file order."""
    data, blocks, pos = path.read_bytes(), [], 0
    while pos + 8 <= len(data) and data[pos:pos + 4] in MAGICS:
        n = int.from_bytes(data[pos + 4:pos + 8], "little")
        blocks.append(data[pos + 8:pos + 8 + n])
        pos += 8 + n
    return blocks


def _dsha(b: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def branch(txids: list[bytes], index: int) -> list[bytes]:
    """Merkle branch of txid `index` (internal order), leaf level first."""
    level, out = list(txids), []
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        out.append(level[index ^ 1])
        level = [_dsha(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return out


@dataclass
class Chain:
    """Blocks of one chain by height (height 0 = the first block given), parsed by the ingest parser."""

    headers: list[bytes]
    txs: dict[str, dict[str, Any]] = field(default_factory=dict)  # display txid -> record

    @classmethod
    def load(cls, blocks: list[bytes]) -> Chain:
        pb = parse_batch(blocks, [f"block {i}" for i in range(len(blocks))])
        ids = compute_txids(pb)
        chain = cls([bytes(b[:80]) for b in blocks])
        buf = pb.buf.tobytes()
        for h in range(pb.n_blocks):
            first, n = int(pb.blk_first_tx[h]), int(pb.blk_ntx[h])
            block_ids = [ids[t].tobytes() for t in range(first, first + n)]
            for i in range(n):
                t = first + i
                ins = range(int(pb.tx_first_in[t]), int(pb.tx_first_in[t]) + int(pb.tx_nin[t]))
                chain.txs[block_ids[i][::-1].hex()] = {
                    "height": h, "index": i, "tx_count": n, "block_ids": block_ids,
                    "raw": buf[int(pb.tx_start[t]):int(pb.tx_end[t])],
                    "prevs": [(buf[int(pb.in_prev[k]):int(pb.in_prev[k]) + 32][::-1].hex(), int(pb.in_vout[k]))
                              for k in ins]}
        return chain

    def block_hash(self, height: int) -> str:
        return _dsha(self.headers[height])[::-1].hex()

    def line(self, txid: str, roles: set[str]) -> dict[str, Any]:
        rec = self.txs[txid]
        return {"txid": txid, "height": rec["height"], "block_hash": self.block_hash(rec["height"]),
                "index": rec["index"], "tx_count": rec["tx_count"], "raw": rec["raw"].hex(),
                "branch": [b.hex() for b in branch(rec["block_ids"], rec["index"])], "roles": sorted(roles)}


def roles_of(chain: Chain, traces: list[dict[str, Any]], findings: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each bundled transaction's roles: traced, funding (creates what a traced tx spends), seed, finding."""
    roles: dict[str, set[str]] = {}
    for t in traces:
        res = t["result"]
        if res.get("mode") == "follow_change":
            continue
        for node in res["graph"]["nodes"]:
            roles.setdefault(node["txid"], set()).add("traced")
            for prev, _vout in chain.txs[node["txid"]]["prevs"]:
                if prev in chain.txs:
                    roles.setdefault(prev, set()).add("funding")
        for out in res["seed"]["outputs"]:
            roles.setdefault(out.split(":")[0], set()).add("seed")
    for f in findings:
        for ref in f.get("refs") or []:
            kind, _, rest = ref.partition(":")
            if kind in ("tx", "output"):
                roles.setdefault(rest.split(":")[0], set()).add("finding")
    return roles


def bundle_files(chain: Chain, *, name: str, network: str, traces: list[dict[str, Any]],
                 findings: list[dict[str, Any]], tags: list[dict[str, Any]], case_id: str = "C-0123abcd",
                 evidence: list[dict[str, Any]] | None = None) -> dict[str, bytes]:
    """The files of a bundle (all but SHA256SUMS), as docs/bundle.md lists them."""
    roles = roles_of(chain, traces, findings)
    lines = sorted((chain.line(t, r) for t, r in roles.items()), key=lambda x: (x["height"], x["index"]))
    first, last = min(x["height"] for x in lines), max(x["height"] for x in lines)

    def js(obj: Any) -> bytes:
        return json.dumps(obj, sort_keys=True).encode()

    files = {
        f"chains/{name}/headers.bin": b"".join(chain.headers[first:last + 1]),
        f"chains/{name}/transactions.jsonl": b"".join(js(x) + b"\n" for x in lines),
        "case/case.json": js({"case": {"id": case_id, "title": "Test case", "status": "open"}, "members": [],
                              "seeds": [], "notes": [], "findings": findings, "proposed_tags": [],
                              "attachments": []}),
        "tags/tags.jsonl": b"".join(js(t) + b"\n" for t in tags),
        "clusters/evidence.jsonl": b"".join(js(e) + b"\n" for e in evidence or []),
    }
    for t in traces:
        files[f"traces/{t['id']}.json"] = js(t)
    files["manifest.json"] = js({
        "format": "fundtrail-evidence-bundle", "format_version": 1, "created_at": "2026-12-06T23:40:00Z",
        "created_by": "tester", "tool": {"name": "fundtrail", "version": "test"},
        "case": {"id": case_id, "title": "Test case", "agency": None, "number": None, "status": "open"},
        "chains": {name: {"family": "utxo", "network": network, "proofs": "merkle", "first_height": first,
                          "last_height": last, "tip_height": len(chain.headers) - 1,
                          "tip_hash": chain.block_hash(len(chain.headers) - 1), "transactions": len(lines),
                          "source": "test blocks"}},
        "traces": [{"id": t["id"], "chain": name, "policy": t["result"].get("policy"),
                    "direction": t["result"].get("direction"), "seed": t.get("seed"), "state": t.get("state")}
                   for t in traces],
        "policies": {}, "heuristics": {},
        "counts": {"transactions": len(lines), "tags": len(tags),
                   "cluster_links": sum(len(e["links"]) for e in evidence or []), "findings": len(findings)}})
    return files


def sums(files: dict[str, bytes]) -> bytes:
    """SHA256SUMS of the files, as `sha256sum` writes it, sorted by path."""
    return "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(files)).encode()


def write_zip(path: Path, files: dict[str, bytes], *, with_sums: bool = True) -> str:
    """Zip the files (adding SHA256SUMS unless given or `with_sums` is False); the bundle hash."""
    files = dict(files)
    if with_sums and "SHA256SUMS" not in files:
        files["SHA256SUMS"] = sums(files)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(files):
            zf.writestr(p, files[p])
    return hashlib.sha256(files.get("SHA256SUMS", b"")).hexdigest()


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(src: Path, dst: Path, change: Callable[[dict[str, bytes]], None], *, resum: bool = False) -> Path:
    """A copy of bundle `src` with `change` applied to its files; `resum`: SHA256SUMS recomputed
    (a consistent rewrite), else kept as it was (a tampering SHA256SUMS catches)."""
    files = read_zip(src)
    change(files)
    if resum:
        files.pop("SHA256SUMS", None)
    write_zip(dst, files)
    return dst


def edit_json(files: dict[str, bytes], path: str, change: Callable[[Any], None]) -> None:
    doc = json.loads(files[path])
    change(doc)
    files[path] = json.dumps(doc, sort_keys=True).encode()


def edit_line(files: dict[str, bytes], path: str, n: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Change line `n` (1-based) of a .jsonl file."""
    lines = files[path].decode().splitlines()
    rec = json.loads(lines[n - 1])
    change(rec)
    lines[n - 1] = json.dumps(rec, sort_keys=True)
    files[path] = ("\n".join(lines) + "\n").encode()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return buf.getvalue()


# -- the cases the tests bundle: built once per test session by the CLI ------------------------------

def run_cli(store: Path, *args: str) -> str:
    """Run `fundtrail --store STORE --as alice ARGS` in-process; its stdout (exit 0 asserted)."""
    import contextlib

    from fundtrail.cli.main import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["-q", "--store", str(store), "--as", "alice", *args])
    assert code == 0, (code, args)
    return buf.getvalue()


def tag_records(traces: list[dict[str, Any]], chain: str) -> list[dict[str, Any]]:
    """The tag records behind the traces' service stops, as docs/bundle.md lists their fields."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for t in traces:
        for e in t["result"].get("endpoints") or []:
            for tag in e.get("tags") or []:
                rec = {k: tag.get(k) for k in ("label", "category", "actor", "confidence", "source", "origin", "line",
                                               "import_id", "creator", "lastmod", "visibility", "case_id",
                                               "inherited_from")}
                seen[(e["address"], str(tag.get("label")))] = {"address": e["address"], "chain": chain, **rec}
    return [seen[k] for k in sorted(seen)]


def sim_case(base: Path) -> dict[str, Any]:
    """A simulated chain (seed 3, 500 txs) ingested by the CLI, exchange labels imported, and a case
    with the ransom payments traced forward under every policy, backward from an exchange deposit,
    with limits (hops, min value, exact haircut) and as a follow-change walk. Cached in `base`."""
    done = base / "saved.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    import csv

    from fundtrail.sim.scenario import simulate

    simulate(base / "sim", seed=3, txs=500)
    store = base / "store"
    run_cli(store, "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks"))
    with open(base / "sim/truth/addresses.csv") as fh, open(base / "labels.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["address", "label", "category", "source", "currency"])
        for r in csv.DictReader(fh):
            if r["category"] == "exchange" and r["role"] != "change":
                w.writerow([r["address"], r["actor"], "exchange", "test label provider", "BTC-REGTEST"])
    run_cli(store, "tags", "import", str(base / "labels.csv"), "--format", "csv")
    truth = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    seeds = [f"{s['txid']}:{s['vout']}" for s in truth["seed_outputs"]]
    cid = json.loads(run_cli(store, "case", "new", "--title", "Ransom", "--json"))["id"]

    def save(*args: str) -> dict[str, Any]:
        return dict(json.loads(run_cli(store, "case", "trace", cid, *args, "--json")))

    traces = [save(*seeds, "--policy", p) for p in ("haircut", "fifo", "poison", "lifo", "tiho")]
    deposit = next(e for e in traces[1]["result"]["endpoints"] if e["reason"] == "service")["outputs"][0]
    traces += [save(deposit, "--direction", "backward", "--policy", p, "--stop-at", "mixer")
               for p in ("haircut", "fifo", "poison", "lifo", "tiho")]
    traces.append(save(*seeds, "--policy", "haircut", "--exact", "--min-value", "2000000sat", "--hops", "4"))
    traces.append(save(seeds[0], "--follow-change"))
    keep = ("id", "created_at", "created_by", "seed", "policy", "request", "state", "result")
    saved = {"case_id": cid, "seeds": seeds, "traces": [{k: t[k] for k in keep} for t in traces],
             "blocks": str(base / "sim/blocks/blk00000.dat")}
    done.write_text(json.dumps(saved))
    return saved


def sim_bundle(base: Path, out: Path) -> tuple[str, dict[str, Any]]:
    """The bundle of `sim_case` at `out` with a fact (the payments and the FIFO trace) and an
    inference (the haircut trace reaching exchanges); its hash and the saved case."""
    case = sim_case(base)
    traces = case["traces"]
    findings = [
        {"id": "F-1", "kind": "fact", "text": "The victims' payments are on chain; FIFO traces them to exchanges.",
         "basis": "transactions and their inclusion proofs", "confidence": None, "source": None,
         "refs": [f"output:{s}" for s in case["seeds"]] + [f"trace:{traces[1]['id']}"]},
        {"id": "F-2", "kind": "inference", "text": "Most of the ransom reached exchange-a, -b and -c.",
         "basis": "haircut trace; exchange labels", "confidence": 0.8, "source": "test label provider",
         "refs": [f"trace:{traces[0]['id']}"]},
    ]
    chain = Chain.load(blk_blocks(Path(case["blocks"])))
    files = bundle_files(chain, name="btc-regtest", network="regtest", traces=traces, findings=findings,
                         tags=tag_records(traces, "btc-regtest"), case_id=case["case_id"])
    return write_zip(out, files), case


BLOCK_9_COINBASE = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9"
BLOCK_170_TX = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"


def mainnet_bundle(testdata: Path, base: Path, out: Path) -> tuple[str, dict[str, Any]]:
    """A bundle of real mainnet blocks 0-599: block 9's coinbase traced forward (FIFO, poison)
    through block 170's payment to Hal Finney, on a store the CLI ingested from the blk files;
    a fact citing the payment and the FIFO trace. Its hash and the saved traces."""
    import shutil

    blocks = base / "blocks"
    blocks.mkdir(parents=True, exist_ok=True)
    for name in ("blk00000.dat", "blk00001.dat"):
        shutil.copy(testdata / "btc-raw-blocks" / "nbitcoin" / name, blocks / name)
    store = base / "store"
    run_cli(store, "ingest", "bitcoin", "--blocks-dir", str(blocks))
    cid = json.loads(run_cli(store, "case", "new", "--title", "Block 170", "--json"))["id"]
    keep = ("id", "created_at", "created_by", "seed", "policy", "request", "state", "result")
    traces = [{k: v for k, v in json.loads(run_cli(store, "case", "trace", cid, f"{BLOCK_9_COINBASE}:0", "--policy", p,
                                                "--json")).items() if k in keep} for p in ("fifo", "poison")]
    findings = [{"id": "F-1", "kind": "fact", "text": "Satoshi paid Hal Finney 10 BTC in block 170.",
                 "basis": "the transaction and its inclusion proof", "confidence": None, "source": None,
                 "refs": [f"tx:{BLOCK_170_TX}", f"output:{BLOCK_170_TX}:0", f"trace:{traces[0]['id']}"]}]
    chain = Chain.load([b for n in ("blk00000.dat", "blk00001.dat") for b in blk_blocks(blocks / n)])
    files = bundle_files(chain, name="btc", network="mainnet", traces=traces, findings=findings, tags=[],
                         case_id=cid)
    return write_zip(out, files), {"case_id": cid, "traces": traces}
