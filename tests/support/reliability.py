"""Shared helpers of the test_reliability_* files (loaded by path: tests run with importlib mode).

The central tool is `logical_state`: everything a store says about the regtest chain, independent of
how the work was cut into batches: every base table and public view (all columns, sorted), the
block index without its batch column, and the transaction export. Two stores that ingested the
same chain must give equal logical states, however often the ingest was killed and rerun.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.output import write_jsonl
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.store.tables import UTXO_TABLES, UTXO_VIEWS

CHAIN = "btc-regtest"
P = "btc_regtest"


# --- comparing stores --------------------------------------------------------------------------

def logical_state(root: Path) -> dict[str, Any]:
    """The chain's content in `root`, free of batch bookkeeping (batch ids, files, commit times)."""
    store = Store(root)
    out: dict[str, Any] = {}
    with store.query() as con:
        for table in UTXO_TABLES:
            out[f"__{table}"] = con.execute(f"SELECT * FROM {P}__{table} ORDER BY ALL").fetchall()
        for view in UTXO_VIEWS:
            out[f"_{view}"] = con.execute(f"SELECT * FROM {P}_{view} ORDER BY ALL").fetchall()
        out["block_index"] = con.execute(
            "SELECT block_id, hash, prev_hash, height, first_tx_id, first_output_id, first_address_id "
            "FROM block_index WHERE chain = ? ORDER BY block_id", [CHAIN]).fetchall()
    out["export"] = export_lines(root)
    return out


def export_lines(root: Path) -> list[str]:
    buf = io.StringIO()
    write_jsonl(iter_transactions(Store(root), CHAIN), buf)
    return buf.getvalue().splitlines()


def export_by_txid(root: Path) -> dict[str, dict]:
    """The export keyed by txid: comparable between stores that assigned ids in another order."""
    return {d["txid"]: d for d in map(json.loads, export_lines(root))}


def assert_same_store(got: Path, want: Path) -> None:
    """Logical equality, table by table, so that a failure names what differs."""
    a, b = logical_state(got), logical_state(want)
    assert a.keys() == b.keys()
    for key in a:
        if a[key] != b[key]:
            n = next((i for i, (x, y) in enumerate(zip(a[key], b[key])) if x != y), min(len(a[key]), len(b[key])))
            raise AssertionError(
                f"{key} differs: {len(a[key])} rows vs {len(b[key])} expected; first difference at row {n}: "
                f"{a[key][n] if n < len(a[key]) else None!r} vs {b[key][n] if n < len(b[key]) else None!r}")


def stored_hashes(root: Path) -> dict[int | None, list[bytes]]:
    """Block hashes in the store by height."""
    with Store(root).query() as con:
        rows = con.execute(f"SELECT height, hash FROM {P}_blocks ORDER BY block_id").fetchall()
    out: dict[int | None, list[bytes]] = {}
    for height, h in rows:
        out.setdefault(height, []).append(bytes(h))
    return out


def count(root: Path, table: str, where: str = "TRUE") -> int:
    with Store(root).query() as con:
        return con.execute(f"SELECT count(*) FROM {P}_{table} WHERE {where}").fetchone()[0]


def batch_rows(root: Path) -> list[tuple]:
    with Store(root).connect(read_only=True) as con:
        return con.execute("SELECT * FROM batches WHERE chain = ? ORDER BY batch_id", [CHAIN]).fetchall()


def stray_files(root: Path) -> list[str]:
    """Temp files anywhere in the store, spill directories left behind, and lake files no
    committed batch references."""
    root = Path(root)
    stray = [str(p.relative_to(root)) for p in root.rglob(".tmp-*")]
    stray += [str(p.relative_to(root)) for p in (root / "cache" / "spill").glob("*")]
    stray += [str(p.relative_to(root)) for p in root.rglob("*.tmp.npz")]
    base = root / "lake" / CHAIN
    if base.exists():
        with Store(root).connect(read_only=True) as con:
            rows = con.execute("SELECT files FROM batches WHERE chain = ?", [CHAIN]).fetchall()
        known = {f for (files,) in rows for f in files}
        stray += [f"lake/{CHAIN}/{p.parent.name}/{p.name}" for p in base.glob("*/*")
                  if p.is_file() and f"{p.parent.name}/{p.name}" not in known]
        missing = [f for f in known if not (base / f).is_file()]
        assert not missing, f"committed batches reference missing files: {missing}"
    return sorted(stray)


# --- the CLI in a subprocess -------------------------------------------------------------------

def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDTRAIL_")}
    env["FUNDTRAIL_CONFIG"] = str(tmp / "no-settings.toml")
    env.update(extra)
    return env


def cli_cmd(store: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), *args]


def run_cli(store: Path, *args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_cmd(store, *args), env=env, capture_output=True, text=True, timeout=timeout)


def run_cli_killed_after(store: Path, args: Sequence[str], env: dict[str, str], delay: float,
                         timeout: float = 60) -> int:
    """Start the CLI, wait until it writes a partition of a batch beyond those already in the
    store, wait `delay` more seconds, then SIGKILL it (unless it finished first). Returns the
    exit status."""
    lake = Path(store) / "lake" / CHAIN / "blocks"
    before = set(lake.glob("*.parquet")) if lake.exists() else set()
    proc = subprocess.Popen(cli_cmd(store, *args), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if lake.exists() and set(lake.glob("*.parquet")) - before:
                break
            time.sleep(0.002)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return proc.returncode


# --- taking blocks apart (a small independent parser) -----------------------------------------

def _varint(b: bytes, pos: int) -> tuple[int, int]:
    first = b[pos]
    if first < 0xFD:
        return first, pos + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(b[pos + 1:pos + 1 + width], "little"), pos + 1 + width


@dataclass
class ParsedTx:
    start: int
    end: int
    txid: bytes
    inputs: list[tuple[bytes, int]]  # prevout (txid, vout)
    outputs: list[tuple[int, bytes]]  # (value, script)


def parse_block(raw: bytes) -> list[ParsedTx]:
    """The transactions of a serialized block, with their byte ranges."""
    n, pos = _varint(raw, 80)
    txs = []
    for _ in range(n):
        start = pos
        pos += 4
        segwit = raw[pos] == 0 and raw[pos + 1] == 1
        if segwit:
            pos += 2
        io_start = pos
        n_in, pos = _varint(raw, pos)
        ins = []
        for _ in range(n_in):
            prev, vout = raw[pos:pos + 32], int.from_bytes(raw[pos + 32:pos + 36], "little")
            ln, pos = _varint(raw, pos + 36)
            pos += ln + 4
            ins.append((prev, vout))
        n_out, pos = _varint(raw, pos)
        outs = []
        for _ in range(n_out):
            value = int.from_bytes(raw[pos:pos + 8], "little")
            ln, pos = _varint(raw, pos + 8)
            outs.append((value, raw[pos:pos + ln]))
            pos += ln
        io_end = pos
        if segwit:
            for _ in range(n_in):
                items, pos = _varint(raw, pos)
                for _ in range(items):
                    ln, pos = _varint(raw, pos)
                    pos += ln
        pos += 4
        legacy = raw[start:start + 4] + raw[io_start:io_end] + raw[pos - 4:pos]
        txs.append(ParsedTx(start, pos, w.sha256d(legacy), ins, outs))
    assert pos == len(raw)
    return txs


# --- building forks ----------------------------------------------------------------------------

def build_fork(chain: list[bytes], fork_height: int, length: int, tag: int = 1) -> list[bytes]:
    """`length` blocks on top of chain[fork_height - 1], heights fork_height, fork_height + 1, ...

    The first fork block re-spends outputs that chain[fork_height:] spent (so the unspent set must
    be rolled back), pays some scripts first seen in chain[fork_height:] (so address ids must be
    rolled back), and the next fork block spends an output of the first.
    """
    created: dict[tuple[bytes, int], tuple[int, bytes, int]] = {}
    spent_at: dict[tuple[bytes, int], int] = {}
    for height, raw in enumerate(chain):
        for tx in parse_block(raw):
            for i, (value, script) in enumerate(tx.outputs):
                created[(tx.txid, i)] = (value, script, height)
            for prev in tx.inputs:
                if prev[0] != bytes(32):
                    spent_at[prev] = height
    respend = [op for op, h in spent_at.items() if h >= fork_height and created[op][2] < fork_height][:3]
    assert len(respend) >= 2, "the chain spends too little above the fork point"
    scripts = [s for raw in chain[fork_height:] for tx in parse_block(raw)[1:] for _, s in tx.outputs
               if s[:1] != b"\x6a"][:3]
    blocks: list[bytes] = []
    prev_hash = w.block_hash(chain[fork_height - 1])
    carry: tuple[bytes, int, int] | None = None
    for i in range(length):
        height = fork_height + i
        spends: list[w.Tx] = []
        fees = 0
        if i == 0:
            total = sum(created[op][0] for op in respend)
            fees = 5_000
            outs = [w.TxOut(total // 2, scripts[0]), w.TxOut(total - total // 2 - fees, scripts[1])]
            tx = w.Tx(2, [w.TxIn(t, v, b"\x51") for t, v in respend], outs)
            spends.append(tx)
            carry = (tx.txid(), 0, total // 2)
        elif i == 1 and carry is not None:
            fees = 3_000
            spends.append(w.Tx(1, [w.TxIn(carry[0], carry[1], b"\x51")],
                               [w.TxOut(carry[2] - fees, scripts[-1])]))
        cb = w.coinbase_tx(height, [w.TxOut(50 * w.COIN + fees, w.p2wpkh(bytes([tag, i]) * 10))],
                           b"fork" + bytes([tag, i]))
        raw = w.build_block(prev_hash, [cb, *spends], 1_700_000_000 + 600 * height + 7 + tag)
        blocks.append(raw)
        prev_hash = w.block_hash(raw)
    return blocks


def write_dir(path: Path, blocks: list[bytes], *, files: int = 3, xor_key: bytes | None = None) -> list[Path]:
    """A blocks dir with `blocks` in the given order over about `files` blk files."""
    total = sum(len(b) + 8 for b in blocks)
    size = max(max(len(b) + 8 for b in blocks), total // files + 1)
    return w.write_blocks_dir(path, blocks, REGTEST, max_file_size=size, xor_key=xor_key)


def blk_stream(path: Path, blocks: list[bytes]) -> Path:
    """A raw file holding blocks back to back in blk-record framing."""
    path.write_bytes(b"".join(w.blk_record(b, REGTEST) for b in blocks))
    return path


# --- a bitcoind look-alike over HTTP -----------------------------------------------------------

class FakeNode:
    """Serves a chain of raw blocks like bitcoind's JSON-RPC; `set_chain` reorganises it."""

    def __init__(self, blocks: list[bytes], *, verbosity3: bool = False) -> None:
        self.lock = threading.Lock()
        self.docs: dict[str, dict[str, Any]] = {}
        self.active: list[str] = []
        self.verbosity3 = verbosity3
        self.outputs: dict[tuple[str, int], tuple[int, bytes]] = {}
        self.set_chain(blocks)

    def set_chain(self, blocks: list[bytes]) -> None:
        docs = [self._doc(raw, h) for h, raw in enumerate(blocks)]
        with self.lock:
            for d in docs:
                self.docs[d["hash"]] = d
            self.active = [d["hash"] for d in docs]

    def _doc(self, raw: bytes, height: int) -> dict[str, Any]:
        version, prev, merkle, t, bits, nonce = struct.unpack_from("<i32s32sIII", raw)
        txs = []
        for tx in parse_block(raw):
            txid = w.display_hex(tx.txid)
            vin = []
            for prev_txid, vout in tx.inputs:
                if prev_txid == bytes(32):
                    vin.append({"coinbase": "00", "sequence": 4294967295})
                else:
                    vin.append({"txid": w.display_hex(prev_txid), "vout": vout})
            txs.append({"txid": txid, "hex": raw[tx.start:tx.end].hex(), "vin": vin})
            for i, (value, script) in enumerate(tx.outputs):
                self.outputs[(txid, i)] = (value, script)
        doc = {"hash": w.display_hex(w.block_hash(raw)), "height": height, "version": version,
               "merkleroot": w.display_hex(merkle), "time": t, "bits": f"{bits:08x}", "nonce": nonce,
               "nTx": len(txs), "tx": txs}
        if height:
            doc["previousblockhash"] = w.display_hex(prev)
        return doc

    def answer(self, method: str, params: list[Any]) -> Any:
        with self.lock:
            if method == "getblockchaininfo":
                return {"chain": "regtest", "blocks": len(self.active) - 1}
            if method == "getblockcount":
                return len(self.active) - 1
            if method == "getblockhash":
                h = int(params[0])
                if not 0 <= h < len(self.active):
                    raise _Fault(-8, "Block height out of range")
                return self.active[h]
            if method == "getblock":
                doc = self.docs.get(params[0])
                if doc is None:
                    raise _Fault(-5, "Block not found")
                verbosity = params[1] if len(params) > 1 else 1
                if verbosity == 3 and not self.verbosity3:
                    raise _Fault(-8, "Verbosity was 3, must be 0, 1 or 2")
                doc = dict(doc, confirmations=1 if doc["hash"] in self.active else -1)
                if verbosity == 3:
                    doc["tx"] = [dict(tx, vin=[dict(v, prevout=self._prevout(v)) if "txid" in v else v
                                               for v in tx["vin"]]) for tx in doc["tx"]]
                return doc
        raise _Fault(-32601, "Method not found")

    def _prevout(self, vin: dict[str, Any]) -> dict[str, Any]:
        value, script = self.outputs[(vin["txid"], vin["vout"])]
        return {"value": f"@@{value // 10**8}.{value % 10**8:08d}@@", "scriptPubKey": {"hex": script.hex()}}


class _Fault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _handler(node: FakeNode) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()  # headers and body go out in two writes: without this, Nagle's
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # algorithm adds 40 ms

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = [self._one(r) for r in body] if isinstance(body, list) else self._one(body)
            data = json.dumps(reply).replace('"@@', "").replace('@@"', "").encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _one(self, req: dict[str, Any]) -> dict[str, Any]:
            try:
                return {"result": node.answer(req["method"], req.get("params", [])), "error": None,
                        "id": req.get("id")}
            except _Fault as f:
                return {"result": None, "error": {"code": f.code, "message": f.message}, "id": req.get("id")}

    return Handler


def serve(node: FakeNode) -> tuple[str, Callable[[], None]]:
    """Start an HTTP JSON-RPC server for `node` on a free local port; returns (url, stop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(node))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return f"http://127.0.0.1:{server.server_address[1]}", stop


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def assert_prefix(root: Path, ref_state: dict[str, Any]) -> int:
    """`root` holds a committed prefix of the chain in `ref_state` (same ids, in chain order):
    every table's rows are the reference's first rows. Returns the number of blocks."""
    got = logical_state(root)
    for key, rows in got.items():
        want = ref_state[key]
        assert rows == want[:len(rows)], f"{key}: the store is not a prefix of the reference"
    heights = [r[3] for r in got["block_index"]]
    assert heights == list(range(len(heights)))
    return len(heights)


def blk_records(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of each record of a non-obfuscated blk file."""
    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos + 8 <= len(data) and data[pos:pos + 4] != b"\0\0\0\0":
        length = int.from_bytes(data[pos + 4:pos + 8], "little")
        out.append((pos, length))
        pos += 8 + length
    return out


def locate_block(blocks_dir: Path, block_hash: bytes) -> tuple[Path, int, int]:
    """(file, record offset, block length) of a block in a non-obfuscated blocks dir."""
    for f in sorted(Path(blocks_dir).glob("blk*.dat")):
        data = f.read_bytes()
        for off, length in blk_records(f):
            if w.block_hash(data[off + 8:off + 8 + 80]) == block_hash:
                return f, off, length
    raise KeyError(block_hash.hex())
