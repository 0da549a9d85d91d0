"""A java-tron HTTP API on loopback (http.server in a thread) serving a small made-up TRON chain.

Answers have the shapes of the official java-tron API pages (../shared/data/tron/java-tron-docs):
`blockID` (8-byte number + 24 bytes), `block_header.raw_data` with `number` left out for genesis (as
protobuf JSON does), `TransferContract` transactions with `owner_address`/`to_address` in `41…`
hex, infos with `id`, `fee`, `blockNumber`, `blockTimeStamp`, `contractResult`, `receipt`. Genesis
carries mainnet's real block id, so its last 4 bytes are TRON mainnet's chain id (0x2b6653dc).

Faults are queued per (endpoint, block): an HTTP status, an `{"Error": ...}` answer, a truncated
body; `reorg` replaces the chain above a height by another branch.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAINNET_GENESIS_ID = "00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc"
USDT_41 = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"


def _h(*parts: object) -> bytes:
    return hashlib.sha256("|".join(map(str, parts)).encode()).digest()


def account(i: int) -> str:
    """The `41…` hex of made-up account i."""
    return "41" + _h("account", i)[:20].hex()


def make_block(number: int, parent: str, branch: str, n_tx: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Block `number` of `branch` (java-tron JSON) with `n_tx` TRX transfers, and its infos."""
    ts = 1_680_612_831_000 + number * 3000
    txs, infos = [], []
    for k in range(n_tx):
        tx_id = _h("tx", branch, number, k).hex()
        amount = 1_000_000 * (number + 1) + k
        txs.append({
            "ret": [{"contractRet": "SUCCESS"}],
            "signature": [_h("sig", tx_id).hex() * 2 + "1b"],
            "txID": tx_id,
            "raw_data": {
                "contract": [{"parameter": {"value": {"amount": amount,
                                                      "owner_address": account(number % 5 + k),
                                                      "to_address": account(number % 7 + k + 10)},
                                            "type_url": "type.googleapis.com/protocol.TransferContract"},
                              "type": "TransferContract"}],
                "ref_block_bytes": f"{number & 0xffff:04x}", "ref_block_hash": _h("ref", number).hex()[:16],
                "expiration": ts + 60_000, "timestamp": ts - 1000},
            "raw_data_hex": "0a02" + _h("rawhex", tx_id).hex(),
        })
        infos.append({"id": tx_id, "fee": 267_000, "blockNumber": number, "blockTimeStamp": ts,
                      "contractResult": [""], "receipt": {"net_fee": 267_000}})
    raw: dict[str, Any] = {"txTrieRoot": _h("trie", branch, number).hex(),
                           "witness_address": account(100 + number % 3), "parentHash": parent,
                           "version": 27, "timestamp": ts}
    if number:
        raw["number"] = number
        block_id = number.to_bytes(8, "big").hex() + _h("block", branch, number)[8:].hex()
    else:
        block_id, raw["parentHash"] = MAINNET_GENESIS_ID, _h("genesis-parent").hex()
    block: dict[str, Any] = {"blockID": block_id,
                             "block_header": {"raw_data": raw, "witness_signature": _h("ws", block_id).hex() * 2}}
    if txs:
        block["transactions"] = txs
    return block, infos


class FakeTron:
    """The chain (blocks 0..head) and the server; use as a context manager."""

    def __init__(self, head: int = 12, txs_per_block: int = 3) -> None:
        self.txs_per_block = txs_per_block
        self.blocks: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self.faults: dict[tuple[str, int | None], list[tuple[int, bytes]]] = defaultdict(list)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.solid_head: int | None = None  # the solidity endpoint's head (default: head)
        self.contracts: dict[tuple[str, str], str] = {}  # (41-hex contract, selector) -> constant_result
        self.assets: dict[str, dict[str, Any]] = {}  # TRC-10 id -> getassetissuebyid answer
        self.extend(head, "a")
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def head(self) -> int:
        return max(self.blocks)

    def extend(self, head: int, branch: str, start: int | None = None) -> None:
        """Blocks start..head of `branch` (start: after the current head)."""
        first = (self.head + 1) if start is None and self.blocks else (start or 0)
        for n in range(first, head + 1):
            parent = self.blocks[n - 1][0]["blockID"] if n else ""
            self.blocks[n] = make_block(n, parent, branch, 0 if n == 0 else self.txs_per_block)

    def put(self, block: dict[str, Any], infos: list[dict[str, Any]]) -> None:
        """Serve `block` (a real one, say) at its number, with `infos`."""
        self.blocks[block["block_header"]["raw_data"].get("number", 0)] = (block, infos)

    def reorg(self, fork_above: int, new_head: int, branch: str = "b") -> None:
        """Replace every block above `fork_above` by `branch`, up to `new_head`."""
        for n in [n for n in self.blocks if n > fork_above]:
            del self.blocks[n]
        self.extend(new_head, branch, start=fork_above + 1)

    def fail(self, endpoint: str, num: int | None, status: int, body: bytes | dict[str, Any],
             times: int = 1) -> None:
        """Answer the next `times` calls of `endpoint` (e.g. "getblockbynum") for block `num`
        (for getblockbylimitnext: its startNum) with `status` and `body`."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.faults[(endpoint, num)].extend([(status, raw)] * times)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        endpoint = path.rsplit("/", 1)[-1]
        solid = path.startswith("/walletsolidity/")
        num = body.get("num", body.get("startNum"))
        with self._lock:
            self.calls.append((path, body))
            queued = self.faults.get((endpoint, num))
            if queued:
                return queued.pop(0)
        top = self.solid_head if solid and self.solid_head is not None else self.head
        if endpoint == "getnowblock":
            return 200, self.blocks[top][0]
        if endpoint == "getblockbynum":
            n = body.get("num", 0)
            return 200, self.blocks[n][0] if n <= top and n in self.blocks else {}
        if endpoint == "getblockbylimitnext":
            start, end = body["startNum"], body["endNum"]
            if not 0 < end - start <= 100:
                return 200, {"Error": "class java.lang.IllegalArgumentException : bad range"}
            got = [self.blocks[n][0] for n in range(start, min(end, top + 1)) if n in self.blocks]
            return 200, {"block": got} if got else {}
        if endpoint == "gettransactioninfobyblocknum":
            n = body.get("num", 0)
            return 200, self.blocks[n][1] if 0 < n <= top and n in self.blocks else {}
        if endpoint == "triggerconstantcontract":
            value = self.contracts.get((body.get("contract_address", ""), body.get("function_selector", "")))
            if value is None:
                return 200, {"result": {"code": "CONTRACT_VALIDATE_ERROR", "message": "not a contract"}}
            return 200, {"result": {"result": True}, "energy_used": 300, "constant_result": [value]}
        if endpoint == "getassetissuebyid":
            return 200, self.assets.get(str(body.get("value")), {})
        return 404, {"Error": f"no servlet {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, answer = node.answer(self.path, body)
                raw = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> FakeTron:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def abi_string(text: str) -> str:
    """A `string` return value, ABI-encoded (hex without 0x), as `constant_result` holds it."""
    raw = text.encode()
    padded = raw + b"\0" * (-len(raw) % 32)
    return ((32).to_bytes(32, "big") + len(raw).to_bytes(32, "big") + padded).hex()


def abi_uint(value: int) -> str:
    return value.to_bytes(32, "big").hex()


def ingest_cli(store: Any, url: str, env: dict[str, str], batch_blocks: int) -> Any:
    """`fundtrail ingest tron --rpc URL` in a subprocess (the real CLI), its CompletedProcess."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "fundtrail.cli.main", "--store", str(store), "ingest", "tron",
           "--rpc", url, "--batch-blocks", str(batch_blocks), "--json"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def store_content(root: Any, chain: str = "tron") -> dict[str, Any]:
    """Everything the store holds of `chain`, free of batch bookkeeping: every account table
    (all columns, sorted) and the block index without its batch column."""
    from fundtrail.store import Store
    from fundtrail.store.tables import ACCOUNT_TABLES

    store = Store.open(root)
    p = chain.replace("-", "_")
    out: dict[str, Any] = {}
    with store.query() as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for table in ACCOUNT_TABLES:
            if f"{p}_{table}" in names:
                out[table] = con.execute(f"SELECT * FROM {p}_{table} ORDER BY ALL").fetchall()
    with store.connect(read_only=True) as con:
        out["block_index"] = con.execute(
            "SELECT height, hash, prev_hash, first_tx_id, first_output_id, first_address_id "
            "FROM block_index WHERE chain = ? ORDER BY height", [chain]).fetchall()
    return out
