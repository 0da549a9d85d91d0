"""java-tron HTTP API client: the calls TRON ingest needs, checked, concurrent, optionally recorded.

Blocks come 100 at a time from `getblockbylimitnext` (its limit; `getblockbynum` one by one from a
recording), transaction infos (receipts, logs, internal transactions) one block per call from
`gettransactioninfobyblocknum`, several at once. With a solidity endpoint every data call goes to
`/walletsolidity/...`: only solidified (final) blocks, so no reorganisation can reach the store.
Whatever comes back is checked before it is used (the block asked for, each once, infos of
exactly the block's transactions), so a lagging or misbehaving node stops the batch with a
one-line error naming the endpoint and the block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from fundtrail.errors import BlockMissing, SourceError, UsageError
from fundtrail.ingest.ethereum.rpc import decode_decimals, decode_text
from fundtrail.ingest.tron.replay import BLOCK, INFOS, Recorder
from fundtrail.ingest.tron.transport import TronNodeError, TronTransport, describe

log = logging.getLogger(__name__)

MAX_RANGE = 100  # getblockbylimitnext: endNum - startNum <= 100
_ZERO_OWNER = "41" + "00" * 20
_META = (("name", "name()"), ("symbol", "symbol()"), ("decimals", "decimals()"))
_TRC10_IDS = 10**18  # TRC-10 ids are stored as a number in 20 bytes: far below any account hash
T = TypeVar("T")


def block_number(block: Any) -> int | None:
    """The number in a java-tron block (protobuf JSON omits zero: genesis has none), or None."""
    if not isinstance(block, dict):
        return None
    raw = block.get("block_header", {}).get("raw_data") if isinstance(block.get("block_header"), dict) else None
    if not isinstance(raw, dict):
        return None
    number = raw.get("number", 0)
    return number if isinstance(number, int) and not isinstance(number, bool) and number >= 0 else None


def block_id(block: dict[str, Any], where: str) -> bytes:
    """The 32-byte `blockID` of a java-tron block; SourceError naming `where` otherwise."""
    value = block.get("blockID")
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SourceError(f"{where}: field blockID is not a 32-byte hex hash: {str(value)[:80]!r}")
    return raw


class TronRpc:
    """The java-tron calls of TRON ingest over a `TronTransport` (HTTP or a recording).

    `solidity` (a second transport) serves the data calls when given; `by_range` fetches blocks
    with `getblockbylimitnext` (False: `getblockbynum`, as recordings hold them); `recorder`
    writes every answer used, in the replay format."""

    def __init__(self, transport: TronTransport, *, solidity: TronTransport | None = None,
                 concurrency: int = 4, by_range: bool = True, recorder: Recorder | None = None) -> None:
        if concurrency < 1:
            raise UsageError(f"concurrency must be >= 1, not {concurrency}", field="concurrency")
        self.node, self.data = transport, solidity or transport
        self.solidified = solidity is not None or bool(getattr(transport, "solidified", False))
        self.prefix = "/walletsolidity" if self.solidified else "/wallet"
        self.concurrency, self.by_range, self.recorder = concurrency, by_range, recorder
        self._pool: ThreadPoolExecutor | None = None
        self._tokens: dict[str, dict[str, Any]] = {}

    @property
    def source(self) -> str:
        """Where the data comes from (redacted URL or `replay:DIR`), for messages and provenance."""
        return str(getattr(self.data, "url", None) or self.data)

    def __str__(self) -> str:
        return self.source

    def close(self) -> None:
        """Stop the worker threads, close the transports."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for t in {id(self.node): self.node, id(self.data): self.data}.values():
            closer = getattr(t, "close", None)
            if callable(closer):
                closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="tron-rpc")
        return list(self._pool.map(fn, items))

    def _call(self, name: str, body: dict[str, Any]) -> Any:
        path = f"{self.prefix}/{name}"
        answer = self.data.post(path, body)
        if self.recorder is not None and name != "getblockbylimitnext":
            self.recorder.write(path, body, answer)
        return answer

    # -- head and blocks ---------------------------------------------------------------------

    def head(self) -> int:
        """Number of the node's head block (the solidified head with a solidity endpoint)."""
        doc = self._call("getnowblock", {})
        number = block_number(doc)
        if number is None:
            raise SourceError(f"{self.source}: {self.prefix}/getnowblock: no block in the answer "
                              f"({str(doc)[:80]!r}); is the node synced?")
        return number

    def blocks(self, numbers: list[int]) -> list[dict[str, Any]]:
        """Blocks `numbers` in order, each checked to be the one asked for."""
        if not self.by_range:
            return self._map(self._one_block, numbers)
        chunks: list[list[int]] = []
        for n in numbers:  # runs of consecutive numbers, at most MAX_RANGE each
            if chunks and n == chunks[-1][-1] + 1 and len(chunks[-1]) < MAX_RANGE:
                chunks[-1].append(n)
            else:
                chunks.append([n])
        return [b for part in self._map(self._range, chunks) for b in part]

    def _one_block(self, n: int) -> dict[str, Any]:
        body = {"num": n}
        doc = self._call(BLOCK, body)
        return self._checked(doc, n, describe(f"{self.prefix}/{BLOCK}", body))

    def _range(self, numbers: list[int]) -> list[dict[str, Any]]:
        body = {"startNum": numbers[0], "endNum": numbers[-1] + 1}
        where = describe(f"{self.prefix}/getblockbylimitnext", body)
        doc = self._call("getblockbylimitnext", body)
        if not isinstance(doc, dict) or not isinstance(doc.get("block", []), list):
            raise SourceError(f"{self.source}: {where}: expected {{\"block\": [...]}}, got "
                              f"{str(doc)[:80]!r}")
        got: dict[int, dict[str, Any]] = {}
        for b in doc.get("block", []):
            n = block_number(b)
            if n is None or n not in numbers or n in got:
                raise SourceError(f"{self.source}: {where}: unexpected block in the answer "
                                  f"(number {n}): the node is not trustworthy")
            got[n] = b
        out = [self._checked(got.get(n, {}), n, where) for n in numbers]
        if self.recorder is not None:
            for n, b in zip(numbers, out, strict=True):
                self.recorder.write(f"{self.prefix}/{BLOCK}", {"num": n}, b)
        return out

    def _checked(self, doc: Any, n: int, where: str) -> dict[str, Any]:
        if not doc:
            raise BlockMissing(f"{self.source}: {where}: block {n} not found (node not synced, or pruned?)")
        got = block_number(doc)
        if got != n:
            raise SourceError(f"{self.source}: {where}: asked for block {n}, the node returned "
                              f"{'no block' if got is None else f'block {got}'}")
        block_id(doc, f"{self.source}: {where}")
        if not isinstance(doc.get("transactions", []), list):
            raise SourceError(f"{self.source}: {where}: field transactions is not a list")
        return dict(doc)

    def genesis(self) -> dict[str, Any] | None:
        """Block 0, not recorded (it is asked for the network check, not ingested); None when a
        recording does not hold it."""
        path, body = f"{self.prefix}/{BLOCK}", {"num": 0}
        has = getattr(self.data, "has", None)
        if callable(has) and not has(path, body):
            return None
        return self._checked(self.data.post(path, body), 0, describe(path, body))

    def block_hash(self, n: int) -> bytes:
        """The hash (blockID) of the node's block `n` (follow mode compares it with the stored one)."""
        body = {"num": n}
        return block_id(self._one_block(n), f"{self.source}: {describe(f'{self.prefix}/{BLOCK}', body)}")

    def infos(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        """The transaction infos of `block`, in the block's transaction order; the node must give
        one for each of its transactions and none for any other."""
        txs = block.get("transactions") or []
        n = block_number(block)
        if not txs:
            return []
        body = {"num": n}
        where = f"{self.source}: {describe(f'{self.prefix}/{INFOS}', body)}"
        doc = self._call(INFOS, body)
        if doc == {}:
            doc = []
        if not isinstance(doc, list):
            raise SourceError(f"{where}: expected a list of transaction infos, got {str(doc)[:80]!r}")
        by_id = {str(i.get("id", "")).lower(): i for i in doc if isinstance(i, dict)}
        ids = [str(t.get("txID", "")).lower() if isinstance(t, dict) else "" for t in txs]
        missing = [i for i in ids if i not in by_id]
        if missing or len(by_id) != len(doc) or len(doc) != len(ids):
            what = f"none for transaction {missing[0]}" if missing else f"{len(doc)} for {len(ids)}"
            raise SourceError(f"{where}: transaction infos do not match the block's transactions "
                              f"({what}); node not synced, or pruned?")
        return [by_id[i] for i in ids]

    def infos_of(self, blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """`infos` of several blocks, fetched concurrently."""
        return self._map(self.infos, blocks)

    # -- tokens ------------------------------------------------------------------------------

    def token_metadata(self, token: str) -> dict[str, Any]:
        """{"symbol", "name", "decimals"} of a token (`0x` + 20 bytes), each None when unreadable
        (a reverting call, a node error, or no recording of the call); cached. A TRC-10 asset,
        stored under its numeric id (`chains.tron.contracts.asset_address`), is asked with
        `getassetissuebyid`; a TRC-20 contract with `name()`, `symbol()`, `decimals()`."""
        key = token.lower()
        if key not in self._tokens:
            number = int(key, 16)
            if number < _TRC10_IDS:
                self._tokens[key] = self._asset(str(number))
            else:
                texts = {field: self._constant(key, selector) for field, selector in _META}
                self._tokens[key] = {"name": decode_text(texts["name"]),
                                     "symbol": decode_text(texts["symbol"]),
                                     "decimals": decode_decimals(texts["decimals"])}
        return dict(self._tokens[key])

    def _ask(self, path: str, body: dict[str, Any]) -> Any:
        """An optional call to the full node: None when unrecorded or answered with an error."""
        has = getattr(self.node, "has", None)
        if callable(has) and not has(path, body):
            return None
        try:
            doc = self.node.post(path, body)
        except TronNodeError:
            return None
        if self.recorder is not None:
            self.recorder.write(path, body, doc)
        return doc

    def _asset(self, asset_id: str) -> dict[str, Any]:
        doc = self._ask("/wallet/getassetissuebyid", {"value": asset_id})
        meta: dict[str, Any] = {"name": None, "symbol": None, "decimals": None}
        if isinstance(doc, dict) and doc:
            meta["name"], meta["symbol"] = _hex_text(doc.get("name")), _hex_text(doc.get("abbr"))
            precision = doc.get("precision", 0)
            meta["decimals"] = precision if isinstance(precision, int) and 0 <= precision <= 18 else None
        return meta

    def _constant(self, token: str, selector: str) -> str | None:
        body = {"owner_address": _ZERO_OWNER, "contract_address": "41" + token.removeprefix("0x"),
                "function_selector": selector, "parameter": ""}
        doc = self._ask("/wallet/triggerconstantcontract", body)
        result = doc.get("result") if isinstance(doc, dict) else None
        values = doc.get("constant_result") if isinstance(doc, dict) else None
        if not (isinstance(result, dict) and result.get("result") is True and isinstance(values, list)
                and values and isinstance(values[0], str)):
            return None
        return "0x" + values[0]


def _hex_text(value: Any) -> str | None:
    """A java-tron bytes field (hex) as printable UTF-8 text, else None."""
    try:
        text = bytes.fromhex(value).decode("utf-8") if isinstance(value, str) else None
    except (ValueError, UnicodeDecodeError):
        return None
    return text if text and text.isprintable() else None
