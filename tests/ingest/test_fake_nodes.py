"""The nodes corpus: fake Bitcoin and Ethereum nodes on 127.0.0.1 that misbehave, one way each.

Each case serves real mainnet answers (bitcoin-etl's bitcoind recordings of blocks 0-1,
ethereum-etl's recordings of blocks 1755634-1755635) with one change: a wrong type in a field the
ingest reads, null, a huge, slow, dripping or deeply nested answer, a falsified value, a wrong hash
or parent, an error, a dropped connection. The real CLI (`fundtrail.cli.main.main`) ingests from
it into a real store. Expected for every rejected answer: exit code from the error tree (2-6),
one line `fundtrail: error: ...` naming the method or block and the field, no traceback, no hang
(time bounded through `rpc_timeout`/`rpc_deadline`), and the store's catalog rows (chains,
batches, block index) and lake files equal before and after. "Recovered" cases (a transient 503,
a dropped connection, one slow answer) must end with exit 0 and the same store as a clean run.
`benchmarks/reliability_nodes.py` runs the same corpus and prints the counts.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
import dataclasses
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.ethereum.encode import header_rlp
from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.cli.main import main
from fundtrail.store import Store

DATA = Path(os.environ.get("FUNDTRAIL_TESTDATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
BTC_DIR = DATA / "btc-raw-blocks" / "bitcoin-etl"
ETH_DIR = DATA / "eth" / "ethereum-etl-fixtures" / "test_stream" / "blocks_1755634_1755635"
RPC_TIMEOUT, RPC_DEADLINE = 1, 3  # seconds: bound every slow case
MAX_REQUESTS = 400  # a fake node answers at most this many HTTP requests


# --- the fake node server --------------------------------------------------------------------

class Hangup(Exception):
    """Close the connection without answering."""


@dataclass
class Raw:
    """An HTTP answer given as is (status, body), optionally dripped or delayed."""

    body: bytes
    status: int = 200
    drip: float = 0.0  # seconds between single bytes
    delay: float = 0.0  # seconds before answering
    length: int | None = None  # declared Content-Length (default: the body's)


class FakeNode:
    """Answers JSON-RPC from `answer(method, params)`; `http(payload, n)` may override the whole
    HTTP answer of request n (a Raw, or Hangup)."""

    def __init__(self, answer: Callable[[str, list[Any]], Any],
                 http: Callable[[Any, int], Raw | None] | None = None) -> None:
        self.answer, self.http = answer, http
        self.auth: str | None = None  # expected Authorization header, None accepts any
        self.requests = 0
        self.lock = threading.Lock()
        handler = _handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, payload: Any) -> bytes:
        items = payload if isinstance(payload, list) else [payload]
        out = []
        for call in items:
            try:
                result = self.answer(call["method"], call.get("params") or [])
                out.append({"jsonrpc": "2.0", "id": call.get("id"), "result": result})
            except RpcFault as fault:
                out.append({"jsonrpc": "2.0", "id": call.get("id"),
                            "error": {"code": fault.code, "message": fault.message}})
        return json.dumps(out if isinstance(payload, list) else out[0]).encode()


class RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _handler(node: FakeNode) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if node.auth is not None and self.headers.get("Authorization") != node.auth:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with node.lock:
                node.requests += 1
                n = node.requests
            if n > MAX_REQUESTS:
                self.close_connection = True
                return
            try:
                special = node.http(payload, n) if node.http else None
            except Hangup:
                self.close_connection = True
                return
            answer = special or Raw(node.reply(payload))
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(answer.length if answer.length is not None
                                                   else len(answer.body)))
            self.end_headers()
            try:
                if answer.drip:
                    for i in range(len(answer.body)):
                        self.wfile.write(answer.body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(answer.drip)
                else:
                    self.wfile.write(answer.body)
            except OSError:
                self.close_connection = True

    return Handler


# --- stores: what "unchanged" means ----------------------------------------------------------

def snapshot(store_dir: Path) -> dict[str, Any]:
    """Catalog rows that hold data (chains, batches, block index) and the lake's files with sizes.

    `ingest_runs` is left out on purpose: a failed attempt is recorded there, as provenance."""
    if not (store_dir / "catalog.duckdb").exists():  # no store yet: the same as an empty one
        return {"catalog": {"batches": [], "block_index": [], "chains": []}, "files": {}}
    store = Store.open(store_dir, create=False)
    with store.connect(read_only=True) as con:
        # when and by which run (and from which port of the fake node) a batch came is provenance
        rows = {t: sorted(map(str, con.execute(q).fetchall())) for t, q in (
            ("batches", "SELECT * EXCLUDE (committed_at, run_id, source) FROM batches"),
            ("block_index", "SELECT * FROM block_index"))}
        rows["chains"] = sorted(map(str, con.execute("SELECT chain, family, network FROM chains").fetchall()))
    lake = store_dir / "lake"
    files = {str(p.relative_to(lake)): p.stat().st_size for p in sorted(lake.rglob("*")) if p.is_file()} \
        if lake.exists() else {}
    return {"catalog": rows, "files": files}


# --- cases ----------------------------------------------------------------------------------

@dataclass
class Case:
    name: str
    chain: str  # "btc" | "eth"
    answer: Callable[[str, list[Any]], Any] | None = None  # replaces the node's answers
    http: Callable[[Any, int], Raw | None] | None = None
    recovers: bool = False  # expected exit 0 and the clean store
    seeded: bool = True  # the store holds the first block before the case runs
    to_tip: bool = False  # ingest up to the node's tip (asks getblockcount / eth_blockNumber)
    field: str = ""  # a word the error line must contain
    settings: dict[str, str] = dataclasses.field(default_factory=dict)


def _load(path: Path) -> Any:
    doc = json.loads(path.read_text())
    return doc["result"] if isinstance(doc, dict) and "result" in doc and "jsonrpc" in doc else doc


class BtcChain:
    """bitcoind's answers for mainnet blocks 0 and 1 (bitcoin-etl recordings)."""

    def __init__(self) -> None:
        self.blocks = {h: _load(next((BTC_DIR / f"block_{h}").glob("rpc_response_getblock_*")))
                       for h in (0, 1)}
        self.hashes = {h: b["hash"] for h, b in self.blocks.items()}

    def answer(self, method: str, params: list[Any]) -> Any:
        if method == "getblockchaininfo":
            return {"chain": "main", "blocks": 1}
        if method == "getblockcount":
            return 1
        if method == "getblockhash":
            return self.hashes[params[0]]
        if method == "getblock":
            if params[1] == 3:
                raise RpcFault(-8, "Verbosity was 3, but only 0, 1 and 2 are allowed")
            return copy.deepcopy(next(b for b in self.blocks.values() if b["hash"] == params[0]))
        raise RpcFault(-32601, "Method not found")


class EthChain:
    """A mainnet node's answers for blocks 1755634-1755635 (ethereum-etl recordings): no
    eth_getBlockReceipts and no traces, so receipts come per transaction."""

    def __init__(self) -> None:
        self.blocks = {n: _load(ETH_DIR / f"web3_response.eth_getBlockByNumber_{hex(n)}_true.json")
                       for n in (1755634, 1755635)}
        self.receipts = {p.name.split("_")[-1][:-5]: _load(p)
                         for p in ETH_DIR.glob("web3_response.eth_getTransactionReceipt_*.json")}
        self.served: dict[str, str] = {}  # recorded block hash -> the hash a lying node gave instead

    def answer(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return "0x1"
        if method == "eth_blockNumber":
            return hex(1755635)
        if method == "eth_getBlockByNumber":
            block = copy.deepcopy(self.blocks.get(int(params[0], 16)))
            if block is not None:
                self.served.pop(block["hash"], None)  # a change (below) may set it again
            return block
        if method == "eth_getTransactionReceipt":
            receipt = copy.deepcopy(self.receipts.get(params[0]))
            if isinstance(receipt, dict) and receipt.get("blockHash") in self.served:
                receipt["blockHash"] = self.served[receipt["blockHash"]]
            return receipt
        raise RpcFault(-32601, f"the method {method} does not exist/is not available")


NULL = object()  # a change returning NULL makes the node answer null


def _rehash(block: dict[str, Any]) -> dict[str, Any]:
    """The block with its hash recomputed from its (changed) header: a node lying consistently."""
    block["hash"] = "0x" + keccak256(header_rlp(block, "fake")).hex()
    for tx in block.get("transactions") or []:
        if isinstance(tx, dict):
            tx["blockHash"] = block["hash"]
    return block


def _on(base: Any, method: str, change: Callable[[Any, list[Any]], Any], only: int | None = None,
        ) -> Callable[[str, list[Any]], Any]:
    """`base.answer` with `method`'s result replaced by `change(result, params)` (for block
    number `only` when given)."""
    def answer(m: str, params: list[Any]) -> Any:
        result = base.answer(m, params)
        if m != method:
            return result
        if only is not None and params and isinstance(params[0], str) and params[0].startswith("0x") \
                and int(params[0], 16) != only:
            return result
        if only is not None and params and isinstance(params[0], int) and params[0] != only:
            return result
        return change(result, params)
    return answer


def _set(path: str, value: Any) -> Callable[[Any, list[Any]], Any]:
    """Set a dotted path (`tx.0.hex`) in the result to `value`."""
    def change(result: Any, _params: list[Any]) -> Any:
        keys = path.split(".")
        obj = result
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        last = keys[-1]
        if isinstance(obj, list):
            obj[int(last)] = value
        else:
            obj[last] = value
        return result
    return change


def _const(value: Any) -> Callable[[Any, list[Any]], Any]:
    return lambda _r, _p: value


def _nested(depth: int) -> Raw:
    return Raw(b'{"jsonrpc":"2.0","id":1,"result":' + b"[" * depth + b"]" * depth + b"}")


def _first(n_fail: int, raw: Raw | type[Hangup]) -> Callable[[Any, int], Raw | None]:
    """Misbehave on the first `n_fail` requests that reach block data, then answer normally."""
    seen = {"n": 0}

    def http(payload: Any, _n: int) -> Raw | None:
        calls = payload if isinstance(payload, list) else [payload]
        if not any(c.get("method") in ("getblock", "eth_getBlockByNumber") for c in calls):
            return None
        seen["n"] += 1
        if seen["n"] > n_fail:
            return None
        if raw is Hangup:
            raise Hangup
        return raw  # type: ignore[return-value]
    return http


def _always_on_blocks(raw: Raw | type[Hangup]) -> Callable[[Any, int], Raw | None]:
    return _first(10**9, raw)


def _btc_cases() -> list[Case]:
    c = BtcChain()
    b = "getblock"
    cases = [
        Case("getblock null", "btc", _on(c, b, _const(None)), field="getblock"),
        Case("getblock string", "btc", _on(c, b, _const("00ff")), field="getblock"),
        Case("getblock list of strings", "btc", _on(c, b, _const(["a", "b"])), field="getblock"),
        Case("getblock empty object", "btc", _on(c, b, _const({})), field="field"),
        Case("getblock version string", "btc", _on(c, b, _set("version", "1")), field="version"),
        Case("getblock version float", "btc", _on(c, b, _set("version", 1.5)), field="version"),
        Case("getblock merkleroot number", "btc", _on(c, b, _set("merkleroot", 123)), field="merkleroot"),
        Case("getblock merkleroot short", "btc", _on(c, b, _set("merkleroot", "ab")), field="merkleroot"),
        Case("getblock time negative", "btc", _on(c, b, _set("time", -1)), field="time"),
        Case("getblock time huge", "btc", _on(c, b, _set("time", 1 << 40)), field="time"),
        Case("getblock bits not hex", "btc", _on(c, b, _set("bits", "zzzzzzzz")), field="bits"),
        Case("getblock bits null", "btc", _on(c, b, _set("bits", None)), field="bits"),
        Case("getblock nonce string", "btc", _on(c, b, _set("nonce", "5")), field="nonce"),
        Case("getblock nonce changed", "btc", _on(c, b, lambda r, p: {**r, "nonce": r["nonce"] ^ 1}),
             field="hash"),
        Case("getblock tx string", "btc", _on(c, b, _set("tx", "abc")), field="tx"),
        Case("getblock tx item number", "btc", _on(c, b, _set("tx.0", 5)), field="tx[0]"),
        Case("getblock tx hex number", "btc", _on(c, b, _set("tx.0.hex", 7)), field="hex"),
        Case("getblock tx hex odd", "btc", _on(c, b, _set("tx.0.hex", "abc")), field="hex"),
        Case("getblock tx hex truncated", "btc",
             _on(c, b, lambda r, p: _set("tx.0.hex", r["tx"][0]["hex"][:-8])(r, p)), field="block"),
        Case("getblock tx dropped", "btc", _on(c, b, _set("tx", [])), field="nTx"),
        Case("getblock hash null", "btc", _on(c, b, _set("hash", None)), field="hash"),
        Case("getblock hash of another block", "btc",
             _on(c, b, _set("hash", "00" * 32)), field="hash"),
        Case("getblock height string", "btc", _on(c, b, _set("height", "1")), field="height"),
        Case("getblock height wrong", "btc", _on(c, b, _set("height", 7)), field="height"),
        Case("getblock previousblockhash number", "btc", _on(c, b, _set("previousblockhash", 5), only=None),
             field="previousblockhash"),
        Case("getblockcount abc", "btc", _on(c, "getblockcount", _const("abc")), to_tip=True, field="getblockcount"),
        Case("getblockcount null", "btc", _on(c, "getblockcount", _const(None)), to_tip=True, field="getblockcount"),
        Case("getblockcount negative", "btc", _on(c, "getblockcount", _const(-5)), to_tip=True, field="getblockcount"),
        Case("getblockcount float", "btc", _on(c, "getblockcount", _const(1.5)), to_tip=True, field="getblockcount"),
        Case("getblockhash number", "btc", _on(c, "getblockhash", _const(12)), field="getblockhash"),
        Case("getblockhash null", "btc", _on(c, "getblockhash", _const(None)), field="getblockhash"),
        Case("getblockhash not hex", "btc", _on(c, "getblockhash", _const("zz" * 32)), field="getblockhash"),
        Case("getblockchaininfo null", "btc", _on(c, "getblockchaininfo", _const(None)),
             field="getblockchaininfo"),
        Case("getblockchaininfo chain number", "btc", _on(c, "getblockchaininfo", _const({"chain": 5})),
             field="chain"),
        Case("getblockchaininfo list", "btc", _on(c, "getblockchaininfo", _const([1, 2])),
             field="getblockchaininfo"),
    ]
    return cases + _transport_cases("btc", BtcChain())


def _btc_prevout_cases() -> list[Case]:
    """getblock verbosity 3 with a spending input whose prevout is malformed."""
    c = BtcChain()

    def v3(prevout: Any) -> Callable[[str, list[Any]], Any]:
        def answer(method: str, params: list[Any]) -> Any:
            if method == "getblock" and params[1] == 3:
                doc = copy.deepcopy(next(x for x in c.blocks.values() if x["hash"] == params[0]))
                doc["tx"][0]["vin"].append({"txid": "11" * 32, "vout": 0, "prevout": prevout})
                return doc
            return c.answer(method, params)
        return answer

    spk = {"hex": "76a914" + "00" * 20 + "88ac"}
    return [
        Case("prevout value abc", "btc", v3({"value": "abc", "scriptPubKey": spk}), field="value"),
        Case("prevout value null", "btc", v3({"value": None, "scriptPubKey": spk}), field="value"),
        Case("prevout value negative", "btc", v3({"value": -1, "scriptPubKey": spk}), field="value"),
        Case("prevout value 1e30", "btc", v3({"value": 10**30, "scriptPubKey": spk}), field="value"),
        Case("prevout value true", "btc", v3({"value": True, "scriptPubKey": spk}), field="value"),
        Case("prevout string", "btc", v3("x"), field="prevout"),
        Case("prevout scriptPubKey null", "btc", v3({"value": 1, "scriptPubKey": None}), field="scriptPubKey"),
        Case("prevout scriptPubKey hex bad", "btc", v3({"value": 1, "scriptPubKey": {"hex": "zz"}}),
             field="hex"),
    ]


def _eth_cases() -> list[Case]:
    c = EthChain()
    g, n = "eth_getBlockByNumber", 1755635

    def block(change: Callable[[dict[str, Any]], Any], rehash: bool = False,
              ) -> Callable[[str, list[Any]], Any]:
        def f(result: Any, _p: list[Any]) -> Any:
            out = change(result)
            if out is NULL:
                return None
            out = result if out is None else out
            if rehash:
                old = out["hash"]
                out = _rehash(out)
                c.served[old] = out["hash"]
            return out
        return _on(c, g, f, only=n)

    def receipt(change: Callable[[dict[str, Any]], Any]) -> Callable[[str, list[Any]], Any]:
        def f(result: Any, _p: list[Any]) -> Any:
            out = change(result)
            return None if out is NULL else result if out is None else out
        return _on(c, "eth_getTransactionReceipt", f)

    def tx0(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
        return lambda b: b["transactions"][0].__setitem__(key, value)

    def parent_of_other_branch(b: dict[str, Any]) -> None:
        b["parentHash"] = "0x" + "ab" * 32

    cases = [
        Case("tx value 10^30", "eth", block(tx0("value", hex(10**30))), field="hash"),
        Case("tx value 10^30 with the roots recomputed", "eth",
             block(lambda b: _forge_tx_root(b, "value", hex(10**30)), rehash=True), field="hash"),
        Case("tx to changed", "eth", block(tx0("to", "0x" + "11" * 20)), field="hash"),
        Case("tx dropped, header rehashed", "eth",
             block(lambda b: b.__setitem__("transactions", b["transactions"][1:]), rehash=True),
             field="transactionsRoot"),
        Case("parent hash of another branch (hash recomputed)", "eth",
             block(parent_of_other_branch, rehash=True), field="parentHash"),
        Case("parent hash wrong inside one batch", "eth",
             block(parent_of_other_branch, rehash=True), seeded=False, field="parentHash"),
        Case("header field changed, hash kept", "eth", block(lambda b: b.__setitem__("gasUsed", "0x1")),
             field="hash"),
        Case("block hash of another block", "eth", block(lambda b: b.__setitem__("hash", "0x" + "cd" * 32)),
             field="hash"),
        Case("receipt cumulativeGasUsed changed", "eth",
             receipt(lambda r: r.__setitem__("cumulativeGasUsed", "0x1")), field="receiptsRoot"),
        Case("receipt logs dropped", "eth", receipt(lambda r: r.__setitem__("logs", [])),
             field="receiptsRoot"),
        Case("receipt null", "eth", receipt(lambda r: NULL), field="receipt"),
        Case("receipt logs string", "eth", receipt(lambda r: r.__setitem__("logs", "x")), field="logs"),
        Case("receipt logsBloom short", "eth", receipt(lambda r: r.__setitem__("logsBloom", "0x00")),
             field="logsBloom"),
        Case("block null", "eth", block(lambda b: NULL), field="block 1755635"),
        Case("block string", "eth", _on(c, g, _const("0x1234"), only=n), field="block 1755635"),
        Case("block list", "eth", _on(c, g, _const([1, 2]), only=n), field="block 1755635"),
        Case("block number wrong", "eth", block(lambda b: b.__setitem__("number", "0x1")), field="block"),
        Case("block number not hex", "eth", block(lambda b: b.__setitem__("number", "abc")), field="block"),
        Case("transactions string", "eth", block(lambda b: b.__setitem__("transactions", "x")),
             field="transactions"),
        Case("transactions numbers", "eth", block(lambda b: b.__setitem__("transactions", [1, 2])),
             field="transaction"),
        Case("tx value abc", "eth", block(tx0("value", "abc")), field="value"),
        Case("tx value number", "eth", block(tx0("value", 12.5)), field="value"),
        Case("tx hash short", "eth", block(tx0("hash", "0x12")), field="hash"),
        Case("tx from null", "eth", block(tx0("from", None)), field="from"),
        Case("tx type unknown", "eth", block(tx0("type", "0x7f")), field="type"),
        Case("tx r missing", "eth", block(tx0("r", None)), field="r"),
        Case("gasUsed list", "eth", block(lambda b: b.__setitem__("gasUsed", [1])), field="gasUsed"),
        Case("miner number", "eth", block(lambda b: b.__setitem__("miner", 5)), field="miner"),
        Case("withdrawals without root", "eth",
             block(lambda b: b.__setitem__("withdrawals", [{"index": "0x0"}])), field="withdrawal"),
        Case("eth_chainId abc", "eth", _on(c, "eth_chainId", _const("abc")), field="eth_chainId"),
        Case("eth_chainId null", "eth", _on(c, "eth_chainId", _const(None)), field="eth_chainId"),
        Case("eth_blockNumber null", "eth", _on(c, "eth_blockNumber", _const(None)),
             to_tip=True, field="eth_blockNumber"),
        Case("eth_blockNumber list", "eth", _on(c, "eth_blockNumber", _const([1])),
             to_tip=True, field="eth_blockNumber"),
    ]
    return cases + _transport_cases("eth", EthChain())


def _forge_tx_root(block: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Change a transaction field and recompute the transactions root (the tx hash stays)."""
    from fundtrail.chains.ethereum.encode import transaction_bytes
    from fundtrail.chains.ethereum.trie import ordered_trie_root

    block["transactions"][0][key] = value
    raw = [transaction_bytes(t, "fake") for t in block["transactions"]]
    block["transactionsRoot"] = "0x" + ordered_trie_root(raw).hex()
    return block


def _transport_cases(chain: str, base: Any) -> list[Case]:
    """Misbehaviour of the HTTP exchange itself, the same for both chains."""
    a = base.answer
    big = b'{"jsonrpc":"2.0","id":1,"result":"' + b"0" * (3 << 20) + b'"}'
    return [
        Case(f"{chain}: deeply nested JSON (100000 levels)", chain, a, _always_on_blocks(_nested(100_000)),
             field="max_json_depth"),
        Case(f"{chain}: nested JSON under the parser's limit but over max_json_depth", chain, a,
             _always_on_blocks(_nested(60)), field="max_json_depth", settings={"MAX_JSON_DEPTH": "50"}),
        Case(f"{chain}: 3 MB answer over max_rpc_response_mb=1", chain, a, _always_on_blocks(Raw(big)),
             field="max_rpc_response_mb", settings={"MAX_RPC_RESPONSE_MB": "1"}),
        Case(f"{chain}: declares 2 GB", chain, a, _always_on_blocks(Raw(b"{}", length=2 << 30)),
             field="max_rpc_response_mb"),
        Case(f"{chain}: slow (5 s per answer)", chain, a, _always_on_blocks(Raw(b"{}", delay=5)),
             field="rpc_timeout"),
        Case(f"{chain}: dripping one byte every 0.3 s", chain, a,
             _always_on_blocks(Raw(b'{"jsonrpc":"2.0","id":1,"result":null}', drip=0.3)),
             field="rpc_timeout"),
        Case(f"{chain}: hangs up without answering", chain, a, _always_on_blocks(Hangup), field="attempts"),
        Case(f"{chain}: HTTP 500 text", chain, a, _always_on_blocks(Raw(b"oops", status=500)), field="500"),
        Case(f"{chain}: HTTP 404 text", chain, a, _always_on_blocks(Raw(b"not here", status=404)), field="404"),
        Case(f"{chain}: not JSON", chain, a, _always_on_blocks(Raw(b"<html>hi</html>")), field="JSON"),
        Case(f"{chain}: truncated JSON", chain, a, _always_on_blocks(Raw(b'{"jsonrpc":"2.0","id":1,"res')),
             field="JSON"),
        Case(f"{chain}: JSON-RPC error object", chain, a, _always_on_blocks(
            Raw(b'{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"boom"}}')), field="boom"),
        Case(f"{chain}: error that is a list", chain, a, _always_on_blocks(
            Raw(b'{"jsonrpc":"2.0","id":1,"error":[1,2]}')), field=""),
        Case(f"{chain}: answer is a number", chain, a, _always_on_blocks(Raw(b"42")), field=""),
        Case(f"{chain}: batch of non-objects", chain, a, _always_on_blocks(Raw(b"[1, 2, 3]")), field=""),
        Case(f"{chain}: ids that are lists", chain, a, _always_on_blocks(
            Raw(b'[{"jsonrpc":"2.0","id":[1],"result":null}]')), field=""),
        Case(f"{chain}: recovers after one 503", chain, a, _first(1, Raw(b"busy", status=503)),
             recovers=True),
        Case(f"{chain}: recovers after one hang-up", chain, a, _first(1, Hangup), recovers=True),
        Case(f"{chain}: recovers after one slow answer", chain, a, _first(1, Raw(b"{}", delay=2)),
             recovers=True),
    ]


def all_cases() -> list[Case]:
    """The whole corpus (needs the shared data; empty without it)."""
    if not (BTC_DIR.is_dir() and ETH_DIR.is_dir()):
        return []
    return _btc_cases() + _btc_prevout_cases() + _eth_cases()


# --- running a case ---------------------------------------------------------------------------

def _ingest_args(case: Case, url: str, store: Path) -> list[str]:
    if case.chain == "btc":
        first, last = ("1", "1") if case.seeded else ("0", "1")
        args = ["--store", str(store), "ingest", "bitcoin", "--rpc", url, "--from", first, "--to", last,
                "--json", "--rpc-timeout", str(RPC_TIMEOUT)]
    else:
        first, last = ("1755635", "1755635") if case.seeded else ("1755634", "1755635")
        args = ["--store", str(store), "ingest", "ethereum", "--rpc", url, "--from", first, "--to",
                last, "--traces", "none", "--json", "--rpc-timeout", str(RPC_TIMEOUT),
                "--concurrency", "1"]
    if case.to_tip:
        del args[args.index("--to"):args.index("--to") + 2]
    return args


def _seed(chain: str, store: Path) -> None:
    base = BtcChain() if chain == "btc" else EthChain()
    node = FakeNode(base.answer)
    try:
        if chain == "btc":
            args = ["--store", str(store), "ingest", "bitcoin", "--rpc", node.url, "--from", "0", "--to", "0"]
        else:
            args = ["--store", str(store), "ingest", "ethereum", "--rpc", node.url, "--from", "1755634",
                    "--to", "1755634", "--traces", "none"]
        assert main(["--quiet", *args]) == 0
    finally:
        node.close()


@dataclass
class Outcome:
    code: int
    stderr: str
    seconds: float
    changed: bool  # store differs from the expectation
    traceback: bool


_SEEDS: dict[tuple[str, bool], Path] = {}


def seeded_store(chain: str, seeded: bool, workdir: Path) -> Path:
    """A fresh copy of the chain's seed store (block 0 / 1755634 stored) or an empty directory."""
    key = (chain, seeded)
    if key not in _SEEDS:
        path = workdir / f"seed-{chain}-{int(seeded)}"
        path.mkdir(parents=True)
        if seeded:
            _seed(chain, path / "store")
        _SEEDS[key] = path
    target = workdir / f"case-{len(list(workdir.iterdir()))}"
    shutil.copytree(_SEEDS[key], target)
    return target / "store"


def run_case(case: Case, workdir: Path, capture: Callable[[Callable[[], int]], tuple[int, str]]) -> Outcome:
    """Run the CLI against the case's fake node; `capture(fn)` runs fn and returns (code, stderr)."""
    store = seeded_store(case.chain, case.seeded, workdir)
    before = snapshot(store)
    expected = before
    if case.recovers:  # the clean run's store is what a recovery must give
        clean_store = seeded_store(case.chain, case.seeded, workdir)
        clean = FakeNode((BtcChain() if case.chain == "btc" else EthChain()).answer)
        try:
            capture(lambda: main(["--quiet", *_ingest_args(case, clean.url, clean_store)]))
        finally:
            clean.close()
        expected = snapshot(clean_store)
    base = BtcChain() if case.chain == "btc" else EthChain()
    node = FakeNode(case.answer or base.answer, case.http)
    env = {f"FUNDTRAIL_{k}": v for k, v in {"RPC_DEADLINE": str(RPC_DEADLINE), **case.settings}.items()}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t = time.monotonic()
    try:
        code, err = capture(lambda: main(["--quiet", *_ingest_args(case, node.url, store)]))
    finally:
        seconds = time.monotonic() - t
        node.close()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    after = snapshot(store)
    return Outcome(code, err, seconds, after != expected, "Traceback" in err or code == 1)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("fundtrail: error:")]


CASES = all_cases()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _SEEDS.clear()
    yield tmp_path_factory.mktemp("fake-nodes")
    _SEEDS.clear()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_misbehaving_node(case: Case, workdir: Path, capsys: pytest.CaptureFixture[str],
                          testdata: Path) -> None:
    def capture(fn: Callable[[], int]) -> tuple[int, str]:
        capsys.readouterr()
        code = fn()
        return code, capsys.readouterr().err

    out = run_case(case, workdir, capture)
    assert not out.traceback, out.stderr
    assert out.seconds < RPC_DEADLINE * 4 + 5, f"took {out.seconds:.1f}s"
    assert not out.changed, "the store changed"
    if case.recovers:
        assert out.code == 0, out.stderr
        return
    lines = error_lines(out.stderr)
    assert out.code in (2, 3, 4, 5, 6), out.stderr
    assert len(lines) == 1, out.stderr
    assert case.field in lines[0], lines[0]


def test_corpus_is_there(testdata: Path) -> None:
    assert len(CASES) > 100


# --- item 11: the RPC password stays out of `ps`, the recorded source out of credentials --------

def _basic(user: str, password: str) -> str:
    import base64
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("how", ["file", "stdin", "env"])
def test_rpc_password_from_file_stdin_or_env_and_source_without_credentials(
        how: str, tmp_path: Path, testdata: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import io

    node = FakeNode(BtcChain().answer)
    node.auth = _basic("alice", "s3cret pass")
    store = tmp_path / "store"
    args = ["--store", str(store), "--quiet", "ingest", "bitcoin", "--rpc", node.url, "--rpc-user", "alice",
            "--from", "0", "--to", "1"]
    if how == "file":
        (tmp_path / "pw").write_text("s3cret pass\n")
        args += ["--rpc-password-file", str(tmp_path / "pw")]
    elif how == "stdin":
        monkeypatch.setattr("sys.stdin", io.StringIO("s3cret pass\n"))
        args += ["--rpc-password-stdin"]
    else:
        monkeypatch.setenv("FUNDTRAIL_RPC_PASSWORD", "s3cret pass")
    try:
        assert main(args) == 0, capsys.readouterr().err
    finally:
        node.close()
    with Store.open(store, create=False).connect(read_only=True) as con:
        sources = [r[0] for r in con.execute("SELECT source FROM ingest_runs").fetchall()]
    assert sources == [f"rpc {node.url}"]  # not <BitcoinRpcSource object at 0x...>, no password
    assert "s3cret" not in sources[0] and "object at" not in sources[0]


def test_rpc_password_given_two_ways_or_empty_is_refused(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pw").write_text("x\n")
    (tmp_path / "empty").write_text("\n")
    base = ["--store", str(tmp_path / "s"), "ingest", "bitcoin", "--rpc", "http://127.0.0.1:9/",
            "--rpc-user", "u"]
    assert main([*base, "--rpc-password", "a", "--rpc-password-file", str(tmp_path / "pw")]) == 2
    assert main([*base, "--rpc-password-file", str(tmp_path / "empty")]) == 2
    assert main([*base, "--rpc-password-file", str(tmp_path / "missing")]) == 2
    assert all(line.startswith("fundtrail: error:") for line in capsys.readouterr().err.splitlines())
