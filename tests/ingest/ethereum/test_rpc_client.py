"""EthRpc and HttpTransport against a real, scripted JSON-RPC server on 127.0.0.1.

The server answers batches in reverse order (clients must map answers by id), counts HTTP
requests and how many are in flight at once, and lets a test script HTTP-level misbehaviour.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fundtrail.errors import SourceError
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport, RpcError

LOGGER = "fundtrail.ingest.ethereum.rpc"
Hook = Callable[[int], "tuple[int, dict[str, str], bytes] | None"]


class NodeError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Node:
    """Scripted node: `methods[name](params)` answers a call; `hook(n)` may answer request n raw."""

    def __init__(self) -> None:
        self.methods: dict[str, Callable[[list[Any]], Any]] = {}
        self.calls: list[tuple[str, list[Any]]] = []
        self.hook: Hook | None = None
        self.delay = 0.0
        self.requests = self.in_flight = self.max_in_flight = 0
        self.seen: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, item: dict[str, Any]) -> dict[str, Any]:
        method, params = item["method"], item.get("params", [])
        with self.lock:
            self.calls.append((method, params))
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": item["id"]}
        fn = self.methods.get(method)
        try:
            if fn is None:
                raise NodeError(-32601, f"the method {method} does not exist/is not available")
            reply["result"] = fn(params)
        except NodeError as exc:
            reply["error"] = {"code": exc.code, "message": exc.message}
        return reply

    def respond(self, n: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
        time.sleep(self.delay)
        raw = self.hook(n) if self.hook else None
        if raw is not None:
            return raw
        doc = json.loads(body)
        out = [self.answer(i) for i in doc][::-1] if isinstance(doc, list) else self.answer(doc)
        return 200, {}, json.dumps(out).encode()

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.calls if m == method)


def _handler(node: Node) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with node.lock:
                node.requests += 1
                n = node.requests
                node.in_flight += 1
                node.max_in_flight = max(node.max_in_flight, node.in_flight)
                node.seen.append((self.path, self.headers.get("Authorization")))
            try:
                status, headers, out = node.respond(n, body)
            finally:
                with node.lock:
                    node.in_flight -= 1
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", **headers}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of the tests


@pytest.fixture
def node() -> Iterator[Node]:
    n = Node()
    server = _Server(("127.0.0.1", 0), _handler(n))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    n.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield n
    server.shutdown()
    server.server_close()


def client(node: Node, *, transport: dict[str, Any] | None = None, **kw: Any) -> EthRpc:
    return EthRpc(HttpTransport(node.url, backoff=0.01, **(transport or {})), **kw)


def raw(status: int, body: bytes | str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, headers, body.encode() if isinstance(body, str) else body


# -- batching, concurrency, retries, rate limit --------------------------------------------

def test_batch_of_120_calls_takes_three_requests_and_keeps_order(node: Node) -> None:
    node.methods["eth_getBalance"] = lambda p: p[0]
    with client(node, batch_size=50) as rpc:
        out = rpc.batch([("eth_getBalance", [hex(i), "latest"]) for i in range(120)])
    assert out == [hex(i) for i in range(120)]
    assert node.requests == 3


def test_chunks_go_out_concurrently(node: Node) -> None:
    node.methods["eth_getBalance"] = lambda p: p[0]
    node.delay = 0.3
    with client(node, batch_size=10, concurrency=4) as rpc:
        out = rpc.batch([("eth_getBalance", [hex(i)]) for i in range(40)])
    assert out == [hex(i) for i in range(40)]
    assert node.requests == 4 and node.max_in_flight >= 3  # the server saw them overlap


def test_503_is_retried(node: Node) -> None:
    node.methods["eth_blockNumber"] = lambda p: "0x10"
    node.hook = lambda n: raw(503, "busy") if n <= 2 else None
    assert client(node).block_number() == 16
    assert node.requests == 3


def test_429_waits_for_retry_after(node: Node) -> None:
    node.methods["eth_blockNumber"] = lambda p: "0x10"
    node.hook = lambda n: raw(429, "slow down", **{"Retry-After": "1"}) if n == 1 else None
    t = time.monotonic()
    assert client(node).block_number() == 16
    assert time.monotonic() - t >= 0.95  # backoff alone would be 0.01 s


def test_gives_up_after_retries_naming_url_method_and_block(node: Node) -> None:
    node.hook = lambda n: raw(503, "upstream down")
    with pytest.raises(SourceError) as err:
        client(node, transport={"retries": 2}).blocks([2112234])
    msg = err.value.one_line()
    assert node.requests == 3
    for part in (node.url, "eth_getBlockByNumber", "block 2112234", "HTTP 503", "3 attempts"):
        assert part in msg


def test_client_errors_are_not_retried(node: Node) -> None:
    node.hook = lambda n: raw(404, "no such path")
    with pytest.raises(SourceError, match="HTTP 404"):
        client(node).chain_id()
    assert node.requests == 1


def test_timeout_is_retried(node: Node) -> None:
    node.methods["eth_chainId"] = lambda p: "0x1"
    node.hook = lambda n: time.sleep(0.6) if n == 1 else None  # type: ignore[func-returns-value]
    assert client(node, transport={"timeout": 0.2}).chain_id() == 1
    assert node.requests == 2


def test_rate_limit_holds_across_worker_threads(node: Node) -> None:
    node.methods["eth_getBalance"] = lambda p: p[0]
    rpc = client(node, batch_size=1, concurrency=4, transport={"max_requests_per_second": 10})
    t = time.monotonic()
    assert rpc.batch([("eth_getBalance", [hex(i)]) for i in range(8)]) == [hex(i) for i in range(8)]
    assert time.monotonic() - t >= 0.65  # 8 requests 0.1 s apart
    assert node.requests == 8


def test_unreachable_port_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rpc = EthRpc(HttpTransport(f"http://127.0.0.1:{port}", retries=1, backoff=0.01))
    t = time.monotonic()
    with pytest.raises(SourceError) as err:
        rpc.block_number()
    assert time.monotonic() - t < 10  # no long retry ladder (generous: loaded CI machines)
    msg = str(err.value)
    assert f"127.0.0.1:{port}" in msg and "eth_blockNumber" in msg and "unreachable" in msg


def test_credentials_never_appear_in_messages(node: Node) -> None:
    key = "0123456789abcdef0123456789abcdef"
    url = node.url.replace("http://", "http://alice:s3cret@") + f"v3/{key}?apikey=hush"
    node.hook = lambda n: raw(404, "nope")
    with pytest.raises(SourceError) as err:
        EthRpc(HttpTransport(url)).chain_id()
    assert not any(s in err.value.one_line() for s in ("alice", "s3cret", key, "hush"))
    path, auth = node.seen[0]
    assert path == f"/v3/{key}?apikey=hush" and auth is not None and auth.startswith("Basic ")


# -- malformed answers and node errors -----------------------------------------------------

def test_malformed_json_quotes_the_body(node: Node) -> None:
    node.hook = lambda n: raw(200, "<html><body>Bad gateway</body></html>")
    with pytest.raises(SourceError) as err:
        client(node).blocks([5])
    msg = str(err.value)
    assert "malformed JSON" in msg and "<html><body>Bad gateway" in msg and "block 5" in msg


def test_json_that_is_not_jsonrpc(node: Node) -> None:
    node.hook = lambda n: raw(200, '{"status": "ok"}')
    with pytest.raises(SourceError, match="not a JSON-RPC response"):
        client(node).chain_id()


def test_node_error_object_gives_code_and_message(node: Node) -> None:
    def fail(p: list[Any]) -> Any:
        raise NodeError(-32000, "header not found")
    node.methods["eth_getBlockByNumber"] = fail
    with pytest.raises(RpcError) as err:
        client(node).blocks([5])
    assert err.value.rpc_code == -32000 and err.value.rpc_message == "header not found"
    msg = str(err.value)
    assert "-32000" in msg and "header not found" in msg and "eth_getBlockByNumber" in msg
    assert "block 5" in msg


def test_error_in_a_batch_names_that_call(node: Node) -> None:
    def balance(p: list[Any]) -> Any:
        if p[0] == "0xbad":
            raise NodeError(-32602, "invalid address")
        return "0x0"
    node.methods["eth_getBalance"] = balance
    with pytest.raises(RpcError, match=r'eth_getBalance \["0xbad"\].*-32602: invalid address'):
        client(node).batch([("eth_getBalance", [a]) for a in ("0x1", "0xbad", "0x2")])


def test_null_block_names_the_block(node: Node) -> None:
    node.methods["eth_getBlockByNumber"] = lambda p: None
    with pytest.raises(SourceError, match=r"block 7 not found \(node not synced, or pruned\?\)"):
        client(node).blocks([7])


def test_any_object_with_request_is_a_transport() -> None:
    class Memory:
        def request(self, payload: Any) -> Any:
            if isinstance(payload, list):
                return [{"id": "nonsense"}]
            return {"jsonrpc": "2.0", "id": 99, "result": "0x1234"}  # a recording's own id
    rpc = EthRpc(Memory())
    assert rpc.chain_id() == 0x1234
    with pytest.raises(SourceError, match="no JSON-RPC answer"):
        rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])


# -- receipts ------------------------------------------------------------------------------

def block(n: int, n_tx: int) -> dict[str, Any]:
    txs = [{"hash": f"0x{n:04x}{i:060x}"} for i in range(n_tx)]
    return {"number": hex(n), "hash": f"0x{n:064x}", "transactions": txs}


def receipt(b: dict[str, Any], i: int) -> dict[str, Any]:
    return {"transactionHash": b["transactions"][i]["hash"], "blockHash": b["hash"], "index": i}


def test_receipts_fall_back_to_per_transaction(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    blocks = {hex(n): block(n, 3) for n in (10, 11)}
    by_tx = {t["hash"]: receipt(b, i) for b in blocks.values()
             for i, t in enumerate(b["transactions"])}
    node.methods["eth_getTransactionReceipt"] = lambda p: by_tx[p[0]]
    rpc = client(node)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for b in blocks.values():
            assert [r["index"] for r in rpc.block_receipts(b)] == [0, 1, 2]
    assert rpc.receipts_mode == "tx" and node.count("eth_getBlockReceipts") == 1
    assert node.count("eth_getTransactionReceipt") == 6
    assert sum("per transaction" in r.message for r in caplog.records) == 1


def test_block_receipts_are_used_and_reordered(node: Node) -> None:
    b = block(12, 3)
    node.methods["eth_getBlockReceipts"] = lambda p: [receipt(b, i) for i in (2, 0, 1)]
    rpc = client(node)
    assert [r["index"] for r in rpc.block_receipts(b)] == [0, 1, 2]
    assert rpc.block_receipts(block(13, 0)) == []
    assert rpc.receipts_mode == "block" and node.count("eth_getTransactionReceipt") == 0


@pytest.mark.parametrize("answer, message", [
    (lambda b: [receipt(b, 0), receipt(b, 1)], "2 receipts for 3 transactions"),
    (lambda b: [receipt(b, 0), receipt(b, 1), {**receipt(b, 2), "transactionHash": "0xee"}],
     "do not match the block's transactions"),
    (lambda b: [receipt(b, i) | {"blockHash": "0xff"} for i in range(3)], "reorganised"),
])
def test_receipts_that_do_not_match_the_block(node: Node, answer: Any, message: str) -> None:
    b = block(14, 3)
    node.methods["eth_getBlockReceipts"] = lambda p: answer(b)
    with pytest.raises(SourceError, match=message):
        client(node).block_receipts(b)


def test_other_receipt_errors_do_not_trigger_the_fallback(node: Node) -> None:
    def fail(p: list[Any]) -> Any:
        raise NodeError(-32000, "header not found")
    node.methods["eth_getBlockReceipts"] = fail
    with pytest.raises(RpcError, match="header not found"):
        client(node).block_receipts(block(15, 1))
    assert node.count("eth_getTransactionReceipt") == 0


# -- traces --------------------------------------------------------------------------------

TX = ["0xaa", "0xbb"]
PARITY = [{"transactionHash": "0xaa", "type": "call"}, {"transactionHash": "0xbb", "type": "call"},
          {"transactionHash": None, "type": "reward"}]
GETH = [{"txHash": "0xaa", "result": {"type": "CALL"}}, {"result": {"type": "CALL"}}]


def test_traces_prefer_trace_block(node: Node) -> None:
    node.methods["trace_block"] = lambda p: PARITY
    node.methods["debug_traceBlockByNumber"] = lambda p: GETH
    rpc = client(node)
    assert rpc.traces(100, TX) == ("parity", PARITY)
    assert rpc.traces(101, TX) == ("parity", PARITY)
    assert node.count("debug_traceBlockByNumber") == 0 and rpc.trace_mode == "parity"


def test_traces_fall_back_to_geth_call_tracer(node: Node) -> None:
    node.methods["debug_traceBlockByNumber"] = lambda p: GETH
    rpc = client(node)
    assert rpc.traces(100, TX) == ("geth", GETH)
    assert rpc.traces(101, TX) == ("geth", GETH)
    assert node.count("trace_block") == 1
    assert ("debug_traceBlockByNumber", ["0x64", {"tracer": "callTracer"}]) in node.calls


def test_no_tracing_warns_once(node: Node, caplog: pytest.LogCaptureFixture) -> None:
    rpc = client(node)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert rpc.traces(100, TX) == ("none", [])
        assert rpc.traces(101, TX) == ("none", [])
    assert node.requests == 2 and len(caplog.records) == 1
    assert "internal transfers are unavailable" in caplog.records[0].message


def test_configured_trace_modes(node: Node) -> None:
    assert client(node, trace_mode="none").traces(100, TX) == ("none", [])
    assert node.requests == 0
    with pytest.raises(RpcError, match="trace_block"):
        client(node, trace_mode="parity").traces(100, TX)


def test_trace_answers_are_checked(node: Node) -> None:
    node.methods["debug_traceBlockByNumber"] = lambda p: GETH[:1]
    with pytest.raises(SourceError, match="1 traces for 2 transactions"):
        client(node, trace_mode="geth").traces(100, TX)
    node.methods["trace_block"] = lambda p: [{"transactionHash": "0xcc"}]
    with pytest.raises(SourceError, match="not in the block"):
        client(node, trace_mode="parity").traces(100, TX)


# -- token metadata ------------------------------------------------------------------------

def abi_string(text: str) -> str:
    raw = text.encode()
    pad = b"\0" * (-len(raw) % 32)
    return "0x" + ((32).to_bytes(32, "big") + len(raw).to_bytes(32, "big") + raw + pad).hex()


def word(value: int | bytes) -> str:
    return "0x" + (value.ljust(32, b"\0") if isinstance(value, bytes) else value.to_bytes(32, "big")).hex()


def serve_tokens(node: Node, answers: dict[tuple[str, str], Any]) -> None:
    """eth_call by (to, selector); a missing entry reverts like a contract without the method."""
    def eth_call(p: list[Any]) -> Any:
        key = (p[0]["to"].lower(), p[0]["data"])
        if key not in answers:
            raise NodeError(3, "execution reverted")
        return answers[key]
    node.methods["eth_call"] = eth_call


NAME, SYMBOL, DECIMALS = "0x06fdde03", "0x95d89b41", "0x313ce567"


@pytest.mark.parametrize("name, symbol, decimals, expected", [
    (abi_string("Dai Stablecoin"), abi_string("DAI"), word(18), ("Dai Stablecoin", "DAI", 18)),
    (word(b"Maker"), word(b"MKR"), word(18), ("Maker", "MKR", 18)),
    (None, None, None, (None, None, None)),  # every call reverts
    (abi_string("NoDecimals"), abi_string("ND"), "0x", ("NoDecimals", "ND", None)),
    ("0x1234", "0x" + "ff" * 32, word(2**200), (None, None, None)),  # garbage
    ("0x" + "00" * 31 + "40" + "00" * 32, "0xzz", "0x12", (None, None, None)),  # bad offset/hex
])
def test_token_metadata(node: Node, name: Any, symbol: Any, decimals: Any, expected: Any) -> None:
    token = "0x" + "11" * 20
    serve_tokens(node, {(token, sel): v for sel, v in ((NAME, name), (SYMBOL, symbol),
                                                        (DECIMALS, decimals)) if v is not None})
    rpc = client(node)
    meta = rpc.token_metadata(token.upper().replace("0X", "0x"))
    assert (meta["name"], meta["symbol"], meta["decimals"]) == expected
    before = node.requests
    assert rpc.token_metadata(token) == meta and node.requests == before  # cached
    if name is None:
        assert rpc.call_contract(token, NAME) is None


def test_token_metadata_from_recorded_mainnet_responses(node: Node, testdata: Path) -> None:
    root = testdata / "eth" / "ethereum-etl-fixtures"
    dirs = [root / "test_stream" / "blocks_2112234_2112234",
            root / "test_export_tokens_job" / "token_with_alternative_return_type",
            root / "test_export_tokens_job" / "token_with_invalid_data"]
    answers = {}
    for d in dirs:
        for f in d.glob("web3_response.eth_call_data_*_to_*_latest.json"):
            _, data, _, to, _ = f.name.removeprefix("web3_response.eth_call_").split("_")
            answers[(to, data)] = json.loads(f.read_text())["result"]
    serve_tokens(node, answers)
    rpc = client(node)
    expected = [json.loads((dirs[0] / "expected_tokens.json").read_text())]
    for d in dirs[1:]:
        head, row = (d / "expected_tokens.csv").read_text().splitlines()[:2]
        expected.append(dict(zip(head.split(","), row.split(","))))
    for exp in expected:
        meta = rpc.token_metadata(exp["address"])
        assert meta == {"symbol": exp["symbol"], "name": exp["name"],
                        "decimals": int(exp["decimals"])}, exp["address"]
