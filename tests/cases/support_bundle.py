"""Helpers of the evidence bundle tests: read a bundle, check its proofs with the standard-library
verifier core (`fundtrail.verify.bitcoin`, an implementation independent of the writer's), split a
blk stream by hand, and a local JSON-RPC node answering `getblock HASH 0` like bitcoind."""

from __future__ import annotations

import hashlib
import json
import struct
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fundtrail.verify import bitcoin as vb

#: the writer's fixed members (docs/bundle.md); per chain and per trace members are added
FIXED = {"SHA256SUMS", "manifest.json", "case/case.json", "tags/tags.jsonl", "clusters/evidence.jsonl"}
ROLES = {"traced", "funding", "seed", "finding"}


def read_zip(path: Path) -> dict[str, bytes]:
    """Every member of a bundle (no duplicate names, none outside the relative paths)."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names)), names
        assert all(not n.startswith("/") and ".." not in n.split("/") for n in names)
        return {n: zf.read(n) for n in names}


def jsonl(data: bytes) -> list[dict[str, Any]]:
    """The objects of a `.jsonl` member (each line `\\n`-terminated)."""
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.decode().splitlines()]


def expected_members(manifest: dict[str, Any]) -> set[str]:
    """The member list docs/bundle.md prescribes for this manifest."""
    names = set(FIXED) | {f"traces/{t['id']}.json" for t in manifest["traces"]}
    for chain, entry in manifest["chains"].items():
        if entry["proofs"] == "merkle" and entry["transactions"]:
            names |= {f"chains/{chain}/headers.bin", f"chains/{chain}/transactions.jsonl"}
    return names


def sums_ok(files: dict[str, bytes]) -> None:
    """SHA256SUMS names every other member once, sorted, with its SHA-256 (two spaces)."""
    lines = files["SHA256SUMS"].decode().splitlines()
    paths = [line[66:] for line in lines]
    assert paths == sorted(files.keys() - {"SHA256SUMS"})
    for line in lines:
        digest, sep, path = line[:64], line[64:66], line[66:]
        assert sep == "  " and hashlib.sha256(files[path]).hexdigest() == digest, path


def check_proofs(files: dict[str, bytes], chain: str) -> list[dict[str, Any]]:
    """Check a chain's headers and every transaction's txid and merkle inclusion with the stdlib
    verifier core; the transaction lines."""
    entry = json.loads(files["manifest.json"])["chains"][chain]
    blob = files[f"chains/{chain}/headers.bin"]
    first, last = entry["first_height"], entry["last_height"]
    assert len(blob) == 80 * (last - first + 1)
    headers = [blob[i:i + 80] for i in range(0, len(blob), 80)]
    assert vb.check_chain(headers) == []
    txs = jsonl(files[f"chains/{chain}/transactions.jsonl"])
    assert [(t["height"], t["index"]) for t in txs] == sorted((t["height"], t["index"]) for t in txs)
    assert txs[-1]["height"] == last and txs[0]["height"] >= first
    for t in txs:
        raw = bytes.fromhex(t["raw"])
        assert vb.txid(raw) == t["txid"]
        header = vb.parse_header(headers[t["height"] - first])
        assert vb.display(header.hash) == t["block_hash"]
        branch = [bytes.fromhex(h) for h in t["branch"]]
        root = vb.merkle_root_from_branch(vb.internal(t["txid"]), t["index"], branch, t["tx_count"])
        assert root == header.merkle_root, t["txid"]
        assert t["roles"] == sorted(t["roles"]) and set(t["roles"]) <= ROLES and t["roles"]
    return txs


def blk_records(blk: Path) -> list[bytes]:
    """The blocks of a blk stream, split by its 8-byte frames (magic, length)."""
    data, out, at = blk.read_bytes(), [], 0
    while at + 8 <= len(data) and data[at:at + 4] != b"\0\0\0\0":
        size = struct.unpack_from("<I", data, at + 4)[0]
        out.append(data[at + 8:at + 8 + size])
        at += 8 + size
    return out


@contextmanager
def fake_node(blocks: list[bytes], *, auth: str | None = None) -> Iterator[dict[str, Any]]:
    """A local HTTP JSON-RPC server answering `getblock HASH 0` (single or batched) from `blocks`,
    with bitcoind's error -5 for an unknown block; yields {"url", "requests", "auth_seen"}."""
    by_hash = {vb.header_hash(b[:80]): b.hex() for b in blocks}
    state: dict[str, Any] = {"requests": 0, "auth_seen": set()}

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        params = call.get("params") or []
        if call.get("method") != "getblock" or len(params) != 2 or params[1] != 0:
            return {"id": call.get("id"), "result": None, "error": {"code": -32601, "message": "Method not found"}}
        if params[0] not in by_hash:
            return {"id": call.get("id"), "result": None, "error": {"code": -5, "message": "Block not found"}}
        return {"id": call.get("id"), "result": by_hash[params[0]], "error": None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            state["requests"] += 1
            state["auth_seen"].add(self.headers.get("Authorization"))
            if auth is not None and self.headers.get("Authorization") != auth:
                self.send_response(401)
                self.end_headers()
                return
            doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps([answer(c) for c in doc] if isinstance(doc, list) else answer(doc)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {**state, "url": f"http://127.0.0.1:{server.server_address[1]}/", "state": state}
    finally:
        server.shutdown()
        server.server_close()
