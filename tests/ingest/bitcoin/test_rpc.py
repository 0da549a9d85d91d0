"""RPC source against a real local HTTP JSON-RPC server that answers like bitcoind.

Recorded bitcoind responses (bitcoin-etl fixtures, mainnet blocks 0, 1, 50000-50002) check that the
rebuilt raw block is byte-exact; a small synthetic chain we control checks follow mode and reorgs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fundtrail.chains.bitcoin.params import MAINNET, REGTEST
from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.bitcoin.rpc import BitcoinRpcSource, RpcClient, RpcError, to_satoshi
from fundtrail.ingest.bitcoin.source import Prevout, Rollback, SourceBlock

GENESIS = MAINNET.genesis_hash
FAKE_500000 = "00000000000000000024fb37364cbf81fd49cc2d51c09c75c35433c3a1945d04"


def _dsha(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _num(text: str) -> str:
    """Keep a JSON number's exact text through load/dump (bitcoind writes 50.00000000)."""
    return f"@@num:{text}@@"


def _dump(doc: object) -> bytes:
    return re.sub(r'"@@num:([^"@]+)@@"', r"\1", json.dumps(doc)).encode()


# --- a bitcoind look-alike ------------------------------------------------------------------------

class Fault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeNode:
    """The node's state; the HTTP handler answers from it. Tests mutate it between calls."""

    def __init__(self, chain: str = "main") -> None:
        self.chain = chain
        self.docs: dict[str, dict[str, Any]] = {}  # block hash -> getblock verbosity-2 JSON
        self.active: dict[int, str] = {}  # height -> hash of the active chain
        self.rawtx: dict[str, dict[str, Any]] = {}  # txid -> getrawtransaction JSON
        self.auth: str | None = None  # expected Authorization header; None accepts anything
        self.v3 = "reject"  # reject | synth (add prevouts) | ignore (old node: answer as v2)
        self.fail_next = 0  # answer this many requests with HTTP 503 text first
        self.drop_kept_alive = False  # close each connection after one answer, without telling
        self.requests = 0
        self.hook: Callable[[str, list[Any]], None] | None = None  # runs before each answer
        self.lock = threading.Lock()

    def answer(self, method: str, params: list[Any]) -> Any:
        if self.hook is not None:
            self.hook(method, params)
        if method == "getblockchaininfo":
            return {"chain": self.chain, "blocks": max(self.active)}
        if method == "getblockcount":
            return max(self.active)
        if method == "getblockhash":
            if params[0] not in self.active:
                raise Fault(-8, "Block height out of range")
            return self.active[params[0]]
        if method == "getblock":
            doc = self.docs.get(params[0])
            if doc is None:
                raise Fault(-5, "Block not found")
            verbosity = params[1] if len(params) > 1 else 1
            if verbosity == 3 and self.v3 == "reject":
                raise Fault(-8, "Verbosity was 3, but only 0, 1 and 2 are allowed")
            return self._with_prevouts(doc) if verbosity == 3 and self.v3 == "synth" else doc
        raise Fault(-32601, "Method not found")

    def _with_prevouts(self, doc: dict[str, Any]) -> dict[str, Any]:
        doc = copy.deepcopy(doc)
        for tx in doc["tx"]:
            for vin in tx["vin"]:
                if "coinbase" not in vin:
                    out = self.rawtx[vin["txid"]]["vout"][vin["vout"]]
                    vin["prevout"] = {"generated": True, "height": 0, "value": out["value"],
                                      "scriptPubKey": out["scriptPubKey"]}
        return doc


def _handler(node: FakeNode) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with node.lock:
                node.requests += 1
                if node.auth is not None and self.headers.get("Authorization") != node.auth:
                    return self._send(401, b"", "text/html")
                if node.fail_next:
                    node.fail_next -= 1
                    return self._send(503, b"Work queue depth exceeded", "text/plain")
                if isinstance(request, list):
                    return self._send(200, _dump([self._one(r)[1] for r in request]))
                status, reply = self._one(request)
                self._send(status, _dump(reply))
                self.close_connection = node.drop_kept_alive

        def _one(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            try:
                result = node.answer(req["method"], req.get("params", []))
            except Fault as f:
                status = 404 if f.code == -32601 else 500
                error = {"code": f.code, "message": f.message}
                return status, {"result": None, "error": error, "id": req["id"]}
            return 200, {"result": result, "error": None, "id": req["id"]}

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start a server for a FakeNode; returns its http://127.0.0.1:port/ URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(node: FakeNode) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(node))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# --- recorded mainnet responses -------------------------------------------------------------------

@pytest.fixture
def etl_dir(testdata: Path) -> Path:
    """bitcoin-etl's recorded bitcoind responses (testdata skips, or fails under CI, if absent)."""
    path = testdata / "btc-raw-blocks" / "bitcoin-etl"
    if not path.is_dir():
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"shared test data missing: {path}")
        pytest.skip(f"shared test data missing: {path}")
    return path


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=_num)


@pytest.fixture
def mainnet(etl_dir: Path) -> FakeNode:
    node = FakeNode("main")
    for f in etl_dir.glob("*/rpc_response_getblock_*.json"):
        doc = _load(f)
        node.docs[doc["hash"]] = doc
    for f in etl_dir.glob("*/rpc_response_getblockhash_*.json"):
        node.active[int(f.stem.rsplit("_", 1)[1])] = _load(f)
    for f in etl_dir.glob("*/rpc_response_getrawtransaction_*.json"):
        tx = _load(f)
        node.rawtx[tx["txid"]] = tx
    return node


def _tx_count(raw: bytes) -> int:
    first = raw[80]
    return first if first < 0xFD else struct.unpack_from("<H", raw, 81)[0]


@pytest.mark.parametrize("height", [0, 1, 50000, 50001, 50002])
def test_recorded_blocks_rebuild_exactly(serve: Any, mainnet: FakeNode, height: int) -> None:
    url = serve(mainnet)
    source = BitcoinRpcSource(RpcClient(url))
    [block] = list(source.blocks(height, height))
    doc = mainnet.docs[mainnet.active[height]]
    assert _dsha(block.raw[:80])[::-1].hex() == doc["hash"]
    assert len(block.raw) == doc["size"]  # bitcoind's size is the serialized size
    assert _tx_count(block.raw) == len(doc["tx"]) == doc["nTx"]
    assert block.raw.endswith(bytes.fromhex("".join(tx["hex"] for tx in doc["tx"])))
    assert block.height == height
    assert block.origin == f"rpc {url} height {height}"
    assert block.prevouts is None and source.verbosity == 2  # the server rejects verbosity 3


def test_genesis_raw_is_header_plus_coinbase(serve: Any, mainnet: FakeNode) -> None:
    [block] = BitcoinRpcSource(RpcClient(serve(mainnet))).blocks(0, 0)
    coinbase = mainnet.docs[GENESIS]["tx"][0]["hex"]
    assert block.raw[80:] == b"\x01" + bytes.fromhex(coinbase)
    assert block.raw[4:36] == bytes(32)
    assert _dsha(block.raw[:80])[::-1].hex() == GENESIS


def test_verbosity3_prevouts(serve: Any, mainnet: FakeNode, caplog: Any) -> None:
    mainnet.v3 = "synth"
    source = BitcoinRpcSource(RpcClient(serve(mainnet)))
    blocks = list(source.blocks(50000, 50002))
    assert [b.height for b in blocks] == [50000, 50001, 50002]
    assert blocks[0].prevouts == () and blocks[2].prevouts == ()
    spent = [("76a8d70a757be5055f60be076b683897cadaad6b7bdf78c43e39b9d59cb4a6ea", 0),
             ("0dd0394c6240355f4e4b3c88028f678ed746cebee3b3e8509620733f018914c9", 0),
             ("0d37522b89f991f8433b80f709ad31862a54435cd003f25732fe405e9db93216", 0)]
    want = tuple(Prevout(5_000_000_000, bytes.fromhex(mainnet.rawtx[t]["vout"][n]["scriptPubKey"]
                                                      ["hex"])) for t, n in spent)
    assert blocks[1].prevouts == want
    assert source.verbosity == 3 and "verbosity" not in caplog.text


def test_fallback_to_verbosity2_warns(serve: Any, mainnet: FakeNode, caplog: Any) -> None:
    source = BitcoinRpcSource(RpcClient(serve(mainnet)))
    with caplog.at_level(logging.WARNING):
        blocks = list(source.blocks(50000, 50002))
    assert [b.prevouts for b in blocks] == [None, None, None] and source.verbosity == 2
    assert "verbosity 3" in caplog.text and "Verbosity was 3" in caplog.text


def test_old_node_ignoring_verbosity3_falls_back(serve: Any, mainnet: FakeNode) -> None:
    mainnet.v3 = "ignore"  # pre-v23 bitcoind accepts 3 but returns no prevout
    source = BitcoinRpcSource(RpcClient(serve(mainnet)), batch_size=1)
    blocks = list(source.blocks(50000, 50002))
    assert blocks[0].prevouts == ()  # coinbase-only: nothing to decide yet
    assert blocks[1].prevouts is None and blocks[2].prevouts is None
    assert source.verbosity == 2


def test_explicit_verbosity3_does_not_fall_back(serve: Any, mainnet: FakeNode) -> None:
    source = BitcoinRpcSource(RpcClient(serve(mainnet)), verbosity=3)
    with pytest.raises(RpcError, match="Verbosity was 3"):
        list(source.blocks(1, 1))


def test_header_not_matching_hash_is_rejected(serve: Any, mainnet: FakeNode) -> None:
    # bitcoin-etl's fixture for "500000" is block 50001's header under another hash
    source = BitcoinRpcSource(RpcClient(serve(mainnet)))
    with pytest.raises(SourceError, match=f"does not hash to {FAKE_500000}"):
        list(source.blocks(500000, 500000))


def test_tampered_field_is_rejected(serve: Any, mainnet: FakeNode) -> None:
    mainnet.docs[mainnet.active[50001]]["nonce"] += 1
    with pytest.raises(SourceError, match="height 50001.*does not hash"):
        list(BitcoinRpcSource(RpcClient(serve(mainnet))).blocks(50001, 50001))


def test_network_from_chain_name(serve: Any, mainnet: FakeNode) -> None:
    assert BitcoinRpcSource(RpcClient(serve(mainnet))).network() is MAINNET
    mainnet.chain = "regtest"
    assert BitcoinRpcSource(RpcClient(serve(mainnet))).network() is REGTEST
    mainnet.chain = "litecoin"
    with pytest.raises(SourceError, match="unknown chain"):
        BitcoinRpcSource(RpcClient(serve(mainnet))).network()


def test_node_error_messages(serve: Any, mainnet: FakeNode) -> None:
    url = serve(mainnet)
    client = RpcClient(url)
    with pytest.raises(RpcError, match=f"{url}: getblock {'ab' * 32} 2: Block not found") as exc:
        client.call("getblock", "ab" * 32, 2)
    assert exc.value.rpc_code == -5
    with pytest.raises(SourceError, match="getblockhash 7: Block height out of range"):
        BitcoinRpcSource(client).block_hash(7)
    with pytest.raises(SourceError, match="Method not found"):
        client.call("nosuchmethod")
    with pytest.raises(SourceError, match="getblockhash 2: .*out of range.*heights 0..8"):
        list(BitcoinRpcSource(client, batch_size=16).blocks(0, 8))


def test_batch_maps_answers_and_item_errors(serve: Any, mainnet: FakeNode) -> None:
    client = RpcClient(serve(mainnet))
    assert client.batch([("getblockhash", [1]), ("getblockhash", [0])]) == [
        mainnet.active[1], GENESIS]
    with pytest.raises(RpcError, match="getblockhash 3: Block height out of range"):
        client.batch([("getblockhash", [0]), ("getblockhash", [3])])


# --- authentication, transport --------------------------------------------------------------------

def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_cookie_auth(serve: Any, mainnet: FakeNode, tmp_path: Path) -> None:
    mainnet.auth = _basic("__cookie__", "c0ffee")
    url = serve(mainnet)
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:c0ffee")
    assert BitcoinRpcSource(RpcClient(url, cookie_file=cookie)).tip_height() == 500000
    cookie.write_text("__cookie__:stale")
    with pytest.raises(SourceError, match="authentication failed.*--rpc-cookie"):
        RpcClient(url, cookie_file=cookie).call("getblockcount")
    with pytest.raises(SourceError, match="cannot read RPC cookie file"):
        RpcClient(url, cookie_file=tmp_path / "missing").call("getblockcount")


def test_user_password_auth(serve: Any, mainnet: FakeNode) -> None:
    mainnet.auth = _basic("alice", "s3cr:et")
    url = serve(mainnet)
    assert RpcClient(url, user="alice", password="s3cr:et").call("getblockcount") == 500000
    embedded = url.replace("http://", "http://alice:s3cr%3Aet@")
    client = RpcClient(embedded)
    assert client.url == url and client.call("getblockcount") == 500000
    with pytest.raises(SourceError) as exc:
        client.call("getblock", "00" * 32, 2)
    assert "s3cr" not in str(exc.value) and url in str(exc.value)
    with pytest.raises(SourceError, match="authentication failed"):
        RpcClient(url, user="alice", password="wrong").call("getblockcount")
    with pytest.raises(SourceError, match="authentication failed"):
        RpcClient(url).call("getblockcount")


def test_bad_options() -> None:
    with pytest.raises(UsageError):
        RpcClient("localhost:8332")
    with pytest.raises(UsageError):
        RpcClient("http://h:1/", cookie_file=Path("c"), user="u", password="p")
    with pytest.raises(UsageError):
        RpcClient("http://h:1/", user="u")
    with pytest.raises(UsageError):
        BitcoinRpcSource(RpcClient("http://h:1/"), verbosity=1)


def test_batching_bounds_http_requests(serve: Any) -> None:
    node, _ = _synthetic_node(40)
    url = serve(node)
    client = RpcClient(url)
    blocks = list(BitcoinRpcSource(client, batch_size=16).blocks(0, 39))
    assert [b.height for b in blocks] == list(range(40))
    # 3 chunks x (getblockhash batch + getblock batch), +1 for the rejected verbosity-3 probe
    assert client.requests == node.requests == 7


def test_unreachable_node_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RpcClient(f"http://bob:pw@127.0.0.1:{port}/", retries=2, backoff=0.01, timeout=2)
    started = time.monotonic()
    with pytest.raises(SourceError, match=f"cannot reach http://127.0.0.1:{port}/ for "
                       "getblockhash 5 after 3 attempts") as exc:
        BitcoinRpcSource(client).block_hash(5)
    assert time.monotonic() - started < 10 and "pw" not in str(exc.value)


def test_retries_http_503(serve: Any, mainnet: FakeNode) -> None:
    mainnet.fail_next = 2
    client = RpcClient(serve(mainnet), retries=2, backoff=0.01)
    assert client.call("getblockhash", 0) == GENESIS and client.requests == 3
    mainnet.fail_next = 5
    with pytest.raises(SourceError, match="after 3 attempts: HTTP 503.*Work queue"):
        client.call("getblockhash", 0)


def test_reconnects_when_node_dropped_kept_alive_connection(serve: Any, mainnet: FakeNode) -> None:
    mainnet.drop_kept_alive = True  # as bitcoind does after rpcservertimeout
    client = RpcClient(serve(mainnet), retries=0)
    assert [client.call("getblockhash", 0) for _ in range(3)] == [GENESIS] * 3
    assert client.requests == 5  # the two reuses failed and were resent on a new connection


def test_to_satoshi_is_exact() -> None:
    assert to_satoshi(Decimal("50.00000000")) == 5_000_000_000
    assert to_satoshi(Decimal("0.1")) == 10_000_000
    assert to_satoshi(Decimal("20999999.97690000")) == 2_099_999_997_690_000
    assert to_satoshi(7) == 700_000_000
    with pytest.raises(SourceError, match="whole number"):
        to_satoshi(Decimal("0.000000001"))


# --- follow mode on a synthetic chain -------------------------------------------------------------

def _make_block(prev: str | None, height: int, tag: bytes) -> dict[str, Any]:
    script_sig = b"\x04" + struct.pack("<I", height) + bytes([len(tag)]) + tag
    coinbase = (struct.pack("<iB", 1, 1) + bytes(32) + b"\xff" * 4 + bytes([len(script_sig)])
                + script_sig + b"\xff" * 4 + b"\x01" + struct.pack("<q", 50 * 10**8) + b"\x01\x51"
                + bytes(4))
    txid = _dsha(coinbase)[::-1].hex()
    t = 1_600_000_000 + height * 600
    header = (struct.pack("<i", 0x20000000) + bytes.fromhex(prev or "00" * 32)[::-1]
              + bytes.fromhex(txid)[::-1] + struct.pack("<III", t, 0x207FFFFF, height))
    doc: dict[str, Any] = {
        "hash": _dsha(header)[::-1].hex(), "height": height, "version": 0x20000000,
        "versionHex": "20000000", "merkleroot": txid, "time": t, "nonce": height,
        "bits": "207fffff", "nTx": 1, "size": 81 + len(coinbase),
        "tx": [{"txid": txid, "hash": txid, "hex": coinbase.hex(),
                "vin": [{"coinbase": script_sig.hex(), "sequence": 4294967295}],
                "vout": [{"value": _num("50.00000000"), "n": 0,
                          "scriptPubKey": {"hex": "51", "type": "nonstandard"}}]}]}
    if prev:
        doc["previousblockhash"] = prev
    return doc


def _extend(node: FakeNode, base: list[str], upto: int, tag: bytes) -> list[str]:
    """Chain `base` extended to height `upto` with blocks tagged `tag`; made active on `node`."""
    chain = list(base)
    while len(chain) <= upto:
        doc = _make_block(chain[-1] if chain else None, len(chain), tag)
        node.docs[doc["hash"]] = doc
        chain.append(doc["hash"])
    node.active = dict(enumerate(chain))
    return chain


def _synthetic_node(length: int) -> tuple[FakeNode, list[str]]:
    node = FakeNode("regtest")
    return node, _extend(node, [], length - 1, b"A")


class Store:
    """What the caller of follow() keeps: hashes by height, rolled back on Rollback."""

    def __init__(self) -> None:
        self.hashes: dict[int, str] = {}
        self.events: list[SourceBlock | Rollback] = []

    def take(self, event: SourceBlock | Rollback) -> None:
        self.events.append(event)
        if isinstance(event, Rollback):
            self.hashes = {h: x for h, x in self.hashes.items() if h <= event.keep_height}
        else:
            assert event.height is not None
            self.hashes[event.height] = _dsha(event.raw[:80])[::-1].hex()


def _follow(serve: Any, node: FakeNode, store: Store, stop: threading.Event,
            start: int = 0, **kw: Any) -> Iterator[SourceBlock | Rollback]:
    source = BitcoinRpcSource(RpcClient(serve(node)), batch_size=4)
    return source.follow(start, store.hashes.get, poll_interval=0.05,
                         should_stop=stop.is_set, **kw)


def _height(event: SourceBlock | Rollback) -> int | None:
    assert isinstance(event, SourceBlock)
    return event.height


def _take(gen: Iterator[SourceBlock | Rollback], store: Store, n: int) -> None:
    for _ in range(n):
        store.take(next(gen))


def test_follow_reorg_to_longer_fork(serve: Any) -> None:
    node, chain_a = _synthetic_node(6)
    store, stop = Store(), threading.Event()
    gen = _follow(serve, node, store, stop)
    _take(gen, store, 6)
    assert store.hashes == dict(enumerate(chain_a))
    chain_b = _extend(node, chain_a[:4], 7, b"B")
    _take(gen, store, 5)
    rollback = store.events[6]
    assert isinstance(rollback, Rollback) and rollback.keep_height == 3
    assert "reorg" in rollback.reason and "keeping up to 3" in rollback.reason
    assert [_height(e) for e in store.events[7:]] == [4, 5, 6, 7]
    assert store.hashes == dict(enumerate(chain_b))
    stop.set()
    assert list(gen) == []


def _switch_at(node: FakeNode, height: int, switch: Callable[[], object]) -> None:
    """Make the node reorganise just before it answers getblockhash `height` (a race)."""
    def hook(method: str, params: list[Any]) -> None:
        if method == "getblockhash" and params == [height] and node.hook is not None:
            node.hook = None
            switch()
    node.hook = hook


def test_follow_reorg_inside_a_fetched_range(serve: Any) -> None:
    node, chain_a = _synthetic_node(6)
    store, stop = Store(), threading.Event()
    gen = _follow(serve, node, store, stop)
    _take(gen, store, 6)
    _extend(node, chain_a, 7, b"A")
    _switch_at(node, 6, lambda: _extend(node, chain_a[:4], 8, b"B"))
    _take(gen, store, 6)  # B6 does not follow our A5: walk back to the common block 3
    assert isinstance(store.events[6], Rollback) and store.events[6].keep_height == 3
    assert [_height(e) for e in store.events[7:]] == [4, 5, 6, 7, 8]
    assert store.hashes == node.active
    stop.set()
    assert list(gen) == []


def test_blocks_refuses_a_chain_that_changes_mid_read(serve: Any) -> None:
    node, chain_a = _synthetic_node(8)
    _switch_at(node, 4, lambda: _extend(node, chain_a[:3], 8, b"B"))
    source = BitcoinRpcSource(RpcClient(serve(node)), batch_size=4)
    with pytest.raises(SourceError, match="chain changed while reading.*block 4"):
        list(source.blocks(0, 7))


def test_follow_equal_length_reorg_while_idle(serve: Any) -> None:
    node, chain_a = _synthetic_node(6)
    store, stop = Store(), threading.Event()
    gen = _follow(serve, node, store, stop)
    _take(gen, store, 6)
    chain_c = _extend(node, chain_a[:3], 5, b"C")  # same tip height, fork after height 2
    _take(gen, store, 4)
    assert isinstance(store.events[6], Rollback) and store.events[6].keep_height == 2
    assert store.hashes == dict(enumerate(chain_c))
    stop.set()


def test_follow_store_on_stale_branch(serve: Any) -> None:
    node, chain_a = _synthetic_node(6)
    store, stop = Store(), threading.Event()
    store.hashes = dict(enumerate(chain_a))  # committed before this run
    chain_b = _extend(node, chain_a[:4], 7, b"B")
    gen = _follow(serve, node, store, stop, start=6)
    _take(gen, store, 5)
    assert isinstance(store.events[0], Rollback) and store.events[0].keep_height == 3
    assert store.hashes == dict(enumerate(chain_b))
    stop.set()


def test_follow_confirmations_and_prompt_stop(serve: Any) -> None:
    node, _ = _synthetic_node(6)
    store, stop = Store(), threading.Event()
    source = BitcoinRpcSource(RpcClient(serve(node)))
    gen = source.follow(0, store.hashes.get, poll_interval=30, should_stop=stop.is_set,
                        confirmations=2)
    _take(gen, store, 4)
    assert sorted(store.hashes) == [0, 1, 2, 3]
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert list(gen) == []  # idles on the 30 s poll until stopped
    assert time.monotonic() - started < 10  # stopped long before the 30 s poll would end
