"""Ethereum JSON-RPC client: batched, concurrent calls and the node-dependent probes ingest needs.

Nodes differ in what they offer (`eth_getBlockReceipts`; `trace_block` or `debug_traceBlockByNumber`),
so the client probes once, keeps the answer for the run and logs it; the ingest code sees one
interface. Answers ingest relies on are checked (block found, receipts match the block's
transactions, one trace per transaction) so a lagging or pruned node stops the batch with a clear
error instead of a partially stored block. Token metadata tolerates the many non-standard tokens.
The client talks through any `Transport`, so recorded responses can replace a live node.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

from fundtrail.errors import BlockMissing, SourceError, UsageError
from fundtrail.ingest.ethereum.transport import (
    HttpTransport,
    Transport,
    describe_call,
    hex_int,
)

__all__ = ["TRACE_MODES", "EthRpc", "HttpTransport", "RpcError", "Transport"]

log = logging.getLogger(__name__)

TRACE_MODES = ("auto", "parity", "geth", "none")
_TRACE_CALLS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "parity": ("trace_block", ()),
    "geth": ("debug_traceBlockByNumber", ({"tracer": "callTracer"},)),
}
_NAME, _SYMBOL, _DECIMALS = "0x06fdde03", "0x95d89b41", "0x313ce567"
_UNSUPPORTED_CODES = frozenset({-32601, -32602})  # method not found, invalid params
_UNSUPPORTED_TEXT = re.compile(
    r"method\b.*\b(not|unsupported|unknown|disabled)|\b(unsupported|unknown|invalid) method"
    r"|not (supported|implemented)", re.IGNORECASE)


class RpcError(SourceError):
    """The node answered a call with a JSON-RPC error object; its code and message are kept."""

    def __init__(self, message: str, *, code: int | None, rpc_message: str, method: str,
                 params: Sequence[Any]) -> None:
        super().__init__(message)
        # the node's code: `code` is FundtrailError's ("source_failed"), which the CLI and API report
        self.rpc_code, self.rpc_message = code, rpc_message
        self.method, self.params = method, list(params)

    @property
    def unsupported(self) -> bool:
        """Whether the error says the node lacks the method (so a fallback makes sense)."""
        return self.rpc_code in _UNSUPPORTED_CODES or bool(_UNSUPPORTED_TEXT.search(self.rpc_message))


class EthRpc:
    """Ethereum/EVM JSON-RPC calls as ingest needs them: batched, concurrent, checked."""

    def __init__(self, transport: Transport, *, batch_size: int = 50, concurrency: int = 4,
                 trace_mode: str = "auto") -> None:
        if batch_size < 1 or concurrency < 1:
            raise UsageError(f"RPC batch size and concurrency must be >= 1, not "
                             f"{batch_size} and {concurrency}")
        if trace_mode not in TRACE_MODES:
            raise UsageError(f"trace mode must be one of {', '.join(TRACE_MODES)}, not {trace_mode!r}")
        self.transport, self.batch_size, self.concurrency = transport, batch_size, concurrency
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # ids, the pool, the token cache
        self._probe_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._receipts: str | None = None  # "block" (eth_getBlockReceipts) or "tx", once probed
        self._traces: str | None = None if trace_mode == "auto" else trace_mode
        self._tokens: dict[str, dict[str, Any]] = {}

    @property
    def source(self) -> str:
        """Where the data comes from, credentials removed (for messages and provenance)."""
        return str(getattr(self.transport, "url", None) or self.transport)

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"EthRpc({self.source!r})"

    @property
    def receipts_mode(self) -> str | None:
        """"block" or "tx" once probed, None before."""
        return self._receipts

    @property
    def trace_mode(self) -> str | None:
        """"parity", "geth" or "none" once configured or probed, None before."""
        return self._traces

    def close(self) -> None:
        """Stop the worker threads and close the transport if it can be closed."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        closer = getattr(self.transport, "close", None)
        if callable(closer):
            closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------

    def call(self, method: str, *params: Any) -> Any:
        """One call's result; a node error raises RpcError naming the method and params."""
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Results in call order; chunks of `batch_size` are sent concurrently."""
        out = []
        for (method, params), (result, error) in zip(calls, self._run(calls), strict=True):
            if error is not None:
                raise self._error(error, method, params)
            out.append(result)
        return out

    def _run(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[Any, Any]]:
        """(result, error object) per call, in order; transport failures raise."""
        chunks = [calls[i:i + self.batch_size] for i in range(0, len(calls), self.batch_size)]
        if len(chunks) <= 1 or self.concurrency == 1:
            return [a for chunk in chunks for a in self._exchange(chunk)]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="eth-rpc")
            pool = self._pool
        futures = [pool.submit(self._exchange, chunk) for chunk in chunks]
        return [a for f in futures for a in f.result()]  # the first failing chunk raises

    def _exchange(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[Any, Any]]:
        with self._lock:
            ids = [next(self._ids) for _ in calls]
        items = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
                 for i, (m, p) in zip(ids, calls, strict=True)]
        doc = self.transport.request(items[0] if len(items) == 1 else items)
        if isinstance(doc, dict) and len(items) > 1 and doc.get("error") is not None:
            raise self._error(doc["error"], *calls[0], batch=len(calls))  # whole batch rejected
        answers = doc if isinstance(doc, list) else [doc]
        by_id = {a.get("id"): a for a in answers
                 if isinstance(a, dict) and isinstance(a.get("id"), (int, str))}
        out = []
        for i, (method, params) in zip(ids, calls, strict=True):
            answer = by_id.get(i, by_id.get(str(i)))
            if answer is None and len(items) == 1 and len(answers) == 1:
                answer = answers[0]  # a single call: some proxies and recordings rewrite the id
            if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
                raise SourceError(f"{self.source}: {describe_call(method, list(params))}: "
                                  f"no JSON-RPC answer for this call in the node's response")
            out.append((answer.get("result"), answer.get("error")))
        return out

    def _error(self, error: Any, method: str, params: Sequence[Any], batch: int = 1) -> RpcError:
        code = error.get("code") if isinstance(error, dict) else None
        text = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        where = describe_call(method, list(params))
        where = where if batch == 1 else f"batch of {batch} calls starting {where}"
        return RpcError(f"{self.source}: {where}: node error {code}: {text}", code=code,
                        rpc_message=text, method=method, params=params)

    # -- chain and blocks --------------------------------------------------------------------

    def chain_id(self) -> int:
        """The node's EIP-155 chain id, so blocks of different chains are never mixed."""
        return self._quantity(self.call("eth_chainId"), "eth_chainId")

    def block_number(self) -> int:
        """Number of the node's head block."""
        return self._quantity(self.call("eth_blockNumber"), "eth_blockNumber")

    def blocks(self, numbers: list[int], full_transactions: bool = True) -> list[dict[str, Any]]:
        """Blocks `numbers` in order; SourceError if the node lacks one."""
        docs = self.batch([("eth_getBlockByNumber", [hex(n), full_transactions]) for n in numbers])
        for n, doc in zip(numbers, docs, strict=True):
            if doc is None:
                raise BlockMissing(f"{self.source}: block {n} not found (node not synced, or pruned?)")
            got = hex_int(doc.get("number")) if isinstance(doc, dict) else None
            if got != n:
                raise SourceError(f"{self.source}: asked for block {n}, the node returned "
                                  f"{str(doc)[:80]!r}")
        return docs

    def block_receipts(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        """Receipts of `block`'s transactions in transaction order, checked against the block."""
        hashes = [_tx_hash(tx) for tx in block.get("transactions") or ()]
        number = block.get("number")
        if not hashes:
            return []
        if self._receipts != "tx":
            try:
                receipts = self.call("eth_getBlockReceipts", number)
            except RpcError as exc:
                if self._receipts == "block" or not exc.unsupported:
                    raise
                self._decide_receipts("tx", exc.rpc_message)
            else:
                self._decide_receipts("block", "")
                return self._check_receipts(block, hashes, receipts)
        receipts = self.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        for h, r in zip(hashes, receipts, strict=True):
            if r is None:
                raise BlockMissing(f"{self.source}: receipt of transaction {h} in block "
                                  f"{hex_int(number)} not found (node not synced, or pruned?)")
        return self._check_receipts(block, hashes, receipts)

    def _decide_receipts(self, mode: str, why: str) -> None:
        with self._probe_lock:
            if self._receipts is not None:
                return
            self._receipts = mode
        if mode == "block":
            log.info("%s: using eth_getBlockReceipts for receipts", self.source)
        else:
            log.info("%s: eth_getBlockReceipts unavailable (%s); fetching receipts per transaction "
                     "for the rest of this run", self.source, why)

    def _check_receipts(self, block: dict[str, Any], hashes: list[str],
                        receipts: Any) -> list[dict[str, Any]]:
        where = f"{self.source}: block {hex_int(block.get('number'))}"
        if not isinstance(receipts, list):
            raise SourceError(f"{where}: no receipts (node not synced, or pruned?): "
                              f"{str(receipts)[:80]!r}")
        if len(receipts) != len(hashes):
            raise SourceError(f"{where}: the node returned {len(receipts)} receipts for "
                              f"{len(hashes)} transactions")
        by_hash = {_tx_hash(r.get("transactionHash")): r for r in receipts if isinstance(r, dict)}
        missing = [h for h in hashes if h not in by_hash]
        if missing:
            raise SourceError(f"{where}: receipts do not match the block's transactions "
                              f"(none for {missing[0]})")
        block_hash = str(block.get("hash") or "").lower()
        for h in hashes:
            got = str(by_hash[h].get("blockHash") or "").lower()
            if block_hash and got and got != block_hash:
                raise SourceError(f"{where}: receipt of {h} belongs to block {got}, not "
                                  f"{block_hash} (the node reorganised?)")
        return [by_hash[h] for h in hashes]

    # -- traces ------------------------------------------------------------------------------

    def traces(self, number: int, tx_hashes: list[str]) -> tuple[str, list[Any]]:
        """("parity" | "geth", the node's traces of block `number`) or ("none", []).

        ("none", []) means internal transfers are unavailable from this node; the caller says so.
        """
        mode = self._traces
        if mode is None and number == 0:
            return "none", []  # genesis has no transactions, and geth refuses to trace it
        if mode is None:
            with self._probe_lock:
                if self._traces is None:
                    return self._probe_traces(number, tx_hashes)
            mode = self._traces
        if mode == "none":
            return "none", []
        return mode, self._fetch_traces(mode, number, tx_hashes)

    def _probe_traces(self, number: int, tx_hashes: list[str]) -> tuple[str, list[Any]]:
        failures = []
        for mode in ("parity", "geth"):
            try:
                result = self._fetch_traces(mode, number, tx_hashes)
            except RpcError as exc:
                failures.append(f"{exc.method}: {exc.rpc_message}")
                continue
            self._traces = mode
            log.info("%s: tracing with %s for internal transfers", self.source,
                     _TRACE_CALLS[mode][0])
            return mode, result
        self._traces = "none"
        log.warning("%s offers neither trace_block nor debug_traceBlockByNumber (%s); internal "
                    "transfers are unavailable for this run", self.source, "; ".join(failures))
        return "none", []

    def _fetch_traces(self, mode: str, number: int, tx_hashes: list[str]) -> list[Any]:
        method, extra = _TRACE_CALLS[mode]
        result = self.call(method, hex(number), *extra)
        where = f"{self.source}: {method} block {number}"
        if not isinstance(result, list):
            raise SourceError(f"{where}: no traces (node not synced, or pruned?): "
                              f"{str(result)[:80]!r}")
        wanted = [_tx_hash(h) for h in tx_hashes]
        if mode == "parity":
            known = set(wanted)
            for t in result:
                h = t.get("transactionHash") if isinstance(t, dict) else None
                if h is not None and _tx_hash(h) not in known:
                    raise SourceError(f"{where}: trace of transaction {h}, which is not in the block")
            return result
        if len(result) != len(wanted):
            raise SourceError(f"{where}: {len(result)} traces for {len(wanted)} transactions")
        for h, t in zip(wanted, result, strict=True):
            got = t.get("txHash") if isinstance(t, dict) else None
            if got is not None and _tx_hash(got) != h:
                raise SourceError(f"{where}: trace of {got} where {h} was expected")
            if isinstance(t, dict) and t.get("error") and t.get("result") is None:
                raise SourceError(f"{where}: the node could not trace {h}: {t['error']}")
        return result

    # -- contracts and tokens ----------------------------------------------------------------

    def call_contract(self, to: str, data: str, block: str = "latest") -> str | None:
        """eth_call's return data, or None when the call reverts or the node reports an error."""
        return self._contract_calls([(to, data)], block)[0]

    def _contract_calls(self, calls: list[tuple[str, str]], block: str) -> list[str | None]:
        answers = self._run([("eth_call", [{"to": to, "data": data}, block]) for to, data in calls])
        return [r if e is None and isinstance(r, str) else None for r, e in answers]

    def token_metadata(self, token: str) -> dict[str, Any]:
        """{"symbol", "name", "decimals"} of a token contract, each None when unreadable; cached."""
        key = token.lower()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None:
            return dict(cached)
        name, symbol, decimals = self._contract_calls(
            [(key, _NAME), (key, _SYMBOL), (key, _DECIMALS)], "latest")
        meta = {"symbol": decode_text(symbol), "name": decode_text(name),
                "decimals": decode_decimals(decimals)}
        with self._lock:
            self._tokens[key] = meta
        return dict(meta)

    @staticmethod
    def _quantity(value: Any, what: str) -> int:
        number = hex_int(value)
        if number is None:
            raise SourceError(f"{what}: expected a hex quantity, the node returned {str(value)[:80]!r}")
        return number


def _tx_hash(tx: Any) -> str:
    value = tx.get("hash") if isinstance(tx, dict) else tx
    return str(value).lower()


def _data(hex_data: str | None) -> bytes | None:
    if not isinstance(hex_data, str) or hex_data[:2] not in ("0x", "0X"):
        return None
    try:
        return bytes.fromhex(hex_data[2:])
    except ValueError:
        return None


def decode_text(hex_data: str | None) -> str | None:
    """A `string` or `bytes32` return value as text (NULs removed); None if it is neither.

    Standard tokens return an ABI string; early ones (MKR, EOS) a NUL-padded bytes32.
    """
    data = _data(hex_data)
    if not data:
        return None
    if len(data) >= 64:
        offset = int.from_bytes(data[:32], "big")
        if offset % 32 == 0 and offset + 32 <= len(data):
            end = offset + 32 + int.from_bytes(data[offset:offset + 32], "big")
            if end <= len(data):
                return _utf8(data[offset + 32:end], printable=False)
    return _utf8(data, printable=True) if len(data) == 32 else None


def _utf8(raw: bytes, *, printable: bool) -> str | None:
    try:
        text = raw.replace(b"\x00", b"").decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if printable and not text.isprintable() else text


def decode_decimals(hex_data: str | None) -> int | None:
    """A `decimals()` return value (uint8 as one ABI word), or None if missing or not plausible."""
    data = _data(hex_data)
    if data is None or len(data) != 32:
        return None
    value = int.from_bytes(data, "big")
    return value if value <= 255 else None
