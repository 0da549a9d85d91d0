"""Read blocks from a Bitcoin Core node over JSON-RPC, batch or follow the tip across reorgs.

The node's JSON is turned back into the exact serialized block (header rebuilt from its fields,
transactions from their `hex`) so RPC blocks go through the same parser as blk-file blocks; the
rebuilt header must hash to the node's block hash, which catches mapping bugs and lying nodes.
Only the standard library is used for HTTP so the RPC source adds no dependency.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import itertools
import json
import logging
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from fundtrail.chains.bitcoin.params import MAINNET, REGTEST, SIGNET, TESTNET, TESTNET4, Network
from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.bitcoin.source import Prevout, Rollback, SourceBlock

log = logging.getLogger(__name__)

_CHAINS: dict[str, Network] = {
    "main": MAINNET, "test": TESTNET, "testnet4": TESTNET4, "signet": SIGNET, "regtest": REGTEST,
}
_ZERO_HASH = "00" * 32
_AUTH_HINT = "check --rpc-cookie or --rpc-user/--rpc-password"
_MAX_BACKOFF = 30.0
_KEEP_OWN_HASHES = 2000  # follow(): how many of its own yielded hashes to remember for reorgs


class RpcError(SourceError):
    """The node answered a call with a JSON-RPC error (unknown block, bad parameter, ...)."""

    def __init__(self, message: str, *, code: int | None, rpc_message: str) -> None:
        super().__init__(message)
        self.code = code
        self.rpc_message = rpc_message


def _describe(method: str, params: Sequence[Any]) -> str:
    """`method p1 p2` for messages, long parameters kept whole (they are block hashes)."""
    return " ".join([method, *(str(p) for p in params)])


def to_satoshi(value: Decimal | int, where: str = "") -> int:
    """Convert a BTC amount from the node's JSON to satoshi, exactly or not at all."""
    sat = Decimal(value) * 100_000_000
    if sat != sat.to_integral_value():
        raise SourceError(f"amount {value} BTC is not a whole number of satoshi{where}")
    return int(sat)


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    """Bitcoin's variable-length integer encoding (CompactSize)."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


class RpcClient:
    """A JSON-RPC 1.0 client for bitcoind: Basic auth, batching, retries on transient failures."""

    def __init__(
        self, url: str, *, cookie_file: Path | None = None, user: str | None = None,
        password: str | None = None, timeout: float = 60, retries: int = 3, backoff: float = 0.5,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"bad RPC URL {url!r}: expected http://host:port")
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"bad port in RPC URL {parts.hostname}") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = f"{host}:{port}" if port else host
        self.url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if cookie_file is not None and (user is not None or password is not None):
            raise UsageError("give either an RPC cookie file or an RPC user and password, not both")
        if (user is None) != (password is None):
            raise UsageError("an RPC user needs a password and a password needs a user")
        if parts.username is not None:
            if cookie_file is not None or user is not None:
                raise UsageError("the RPC URL carries credentials; give no cookie or user as well")
            user, password = unquote(parts.username), unquote(parts.password or "")
        self._cookie_file = cookie_file
        self._static_auth = _basic(user, password or "") if user is not None else None
        if retries < 0 or timeout <= 0:
            raise UsageError("RPC retries must be >= 0 and the timeout > 0")
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._conn: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)
        self.requests = 0  # HTTP requests sent, for logging and tests

    def __repr__(self) -> str:
        return f"RpcClient({self.url!r})"

    def call(self, method: str, *params: Any) -> Any:
        """Call one method and return its result; a node error raises RpcError."""
        return self._exchange([(method, params)], single=True)[0]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send many calls in one HTTP request (far fewer round trips); results in call order."""
        return self._exchange(calls, single=False) if calls else []

    def _exchange(self, calls: Sequence[tuple[str, Sequence[Any]]], single: bool) -> list[Any]:
        ids = [next(self._ids) for _ in calls]
        body = [{"jsonrpc": "1.0", "id": i, "method": m, "params": list(p)}
                for i, (m, p) in zip(ids, calls, strict=True)]
        what = _describe(*calls[0])
        what = what if single else f"batch of {len(calls)} starting {what}"
        doc = self._post(body[0] if single else body, what)
        if isinstance(doc, dict):  # a single answer, or a whole batch rejected
            self._result(doc, what)
            doc = [doc] if single else None
        if not isinstance(doc, list):
            raise SourceError(f"{self.url}: {what}: unexpected response {str(doc)[:80]!r}")
        by_id = {item.get("id"): item for item in doc if isinstance(item, dict)}
        results = []
        for i, (method, params) in zip(ids, calls, strict=True):
            if i not in by_id:
                raise SourceError(f"{self.url}: {_describe(method, params)}: no answer from node")
            results.append(self._result(by_id[i], _describe(method, params)))
        return results

    def close(self) -> None:
        """Close the kept-alive connection (a later call reopens it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _result(self, doc: dict[str, Any], what: str) -> Any:
        err = doc.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            msg = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            msg = " ".join(msg.split())
            raise RpcError(f"{self.url}: {what}: {msg} (code {code})", code=code, rpc_message=msg)
        if "result" not in doc:
            raise SourceError(f"{self.url}: {what}: response has neither result nor error")
        return doc["result"]

    def _auth_header(self, what: str) -> str | None:
        if self._cookie_file is None:
            return self._static_auth
        try:  # re-read each time: bitcoind writes a new cookie on every start
            text = self._cookie_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SourceError(f"cannot read RPC cookie file {self._cookie_file} for {what}: "
                              f"{exc.strerror or exc} (is bitcoind running?)") from None
        user, sep, password = text.partition(":")
        if not sep:
            raise SourceError(f"RPC cookie file {self._cookie_file} is not user:password")
        return _basic(user, password)

    def _post(self, payload: object, what: str) -> Any:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        auth = self._auth_header(what)
        if auth is not None:
            headers["Authorization"] = auth
        delay, last = self.backoff, ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
            try:
                status, reason, body = self._send(data, headers)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            if status == 401:
                raise SourceError(f"authentication failed at {self.url} ({what}): {_AUTH_HINT}")
            if status == 403:
                raise SourceError(f"{self.url} refused {what} (HTTP 403): check rpcallowip")
            doc = _json_or_none(body)
            if status == 200 or (status in (404, 500) and _is_rpc_reply(doc)):
                if doc is None:
                    raise SourceError(f"{self.url}: {what}: response is not JSON")
                return doc
            last = f"HTTP {status} {reason}: {body[:80].decode(errors='replace').strip()}"
            if status < 500:
                raise SourceError(f"{self.url}: {what}: {last}")
        raise SourceError(f"cannot reach {self.url} for {what} after "
                          f"{self.retries + 1} attempts: {last}")

    def _send(self, data: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        if self._conn is not None:  # kept alive: the node may have closed it while we were idle
            try:
                return self._roundtrip(data, headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
        https = self._scheme == "https"
        cls = http.client.HTTPSConnection if https else http.client.HTTPConnection
        self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._roundtrip(data, headers)

    def _roundtrip(self, data: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        assert self._conn is not None
        self.requests += 1
        self._conn.request("POST", self._path, body=data, headers=headers)
        resp = self._conn.getresponse()
        body = resp.read()
        if resp.will_close:
            self.close()
        return resp.status, resp.reason, body


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body, parse_float=Decimal)
    except ValueError:
        return None


def _is_rpc_reply(doc: Any) -> bool:
    return isinstance(doc, list) or (isinstance(doc, dict) and doc.get("error") is not None)


def _is_verbosity_error(exc: RpcError) -> bool:
    return exc.code == -8 or "verbosity" in exc.rpc_message.lower()


class BitcoinRpcSource:
    """Blocks (and, with verbosity 3, their prevouts) from a node, as `SourceBlock`s."""

    def __init__(self, client: RpcClient, *, batch_size: int = 16,
                 verbosity: int | None = None) -> None:
        if batch_size < 1:
            raise UsageError(f"RPC batch size must be at least 1, not {batch_size}")
        if verbosity not in (None, 2, 3):
            raise UsageError(f"getblock verbosity must be 2 or 3, not {verbosity}")
        self.client, self.batch_size = client, batch_size
        self._verbosity = verbosity or 3
        self._decided = verbosity is not None  # None: probe 3, fall back to 2 on an old node

    @property
    def verbosity(self) -> int:
        """The getblock verbosity in use (3 until a probe shows the node lacks it)."""
        return self._verbosity

    def network(self) -> Network:
        """The network the node runs on, so blocks are not mixed across chains."""
        info = self.client.call("getblockchaininfo")
        chain = str(info.get("chain")) if isinstance(info, dict) else repr(info)
        try:
            return _CHAINS[chain]
        except KeyError:
            msg = f"{self.client.url}: getblockchaininfo: unknown chain {chain!r}"
            raise SourceError(msg) from None

    def tip_height(self) -> int:
        """Height of the node's best block."""
        return int(self.client.call("getblockcount"))

    def block_hash(self, height: int) -> str:
        """Hash of the node's active-chain block at `height`."""
        return str(self.client.call("getblockhash", height))

    def blocks(self, start: int, end: int) -> Iterator[SourceBlock]:
        """Blocks `start..end` inclusive; SourceError if the chain changes under the read."""
        prev: str | None = None
        for block, block_hash, prev_hash in self._fetch(start, end):
            if prev is not None and prev_hash != prev:
                raise SourceError(f"{self.client.url}: the node's chain changed while reading "
                                  f"(block {block.height} does not follow the one before); retry")
            prev = block_hash
            yield block

    def follow(
        self, start: int, known_hash: Callable[[int], str | None], *, poll_interval: float = 10.0,
        should_stop: Callable[[], bool] = lambda: False, confirmations: int = 0,
    ) -> Iterator[SourceBlock | Rollback]:
        """Yield blocks from `start` on, then new ones as they arrive, with Rollbacks on reorgs.

        `known_hash(h)` is the caller's (store's) hash at h; our own record of hashes yielded in
        this run takes precedence because the caller may not have committed them yet.
        """
        if start < 0 or confirmations < 0:
            raise UsageError("follow needs a start height and confirmations >= 0")
        own: dict[int, str] = {}

        def recorded(h: int) -> str | None:
            return own.get(h) or known_hash(h)

        next_h = start
        while not should_stop():
            node_tip = self.tip_height()
            fork = self._diverged(next_h - 1, node_tip, recorded)
            if fork is None and next_h > node_tip - confirmations:
                _sleep(poll_interval, should_stop)
                continue
            if fork is None:
                end = min(node_tip - confirmations, next_h + self.batch_size - 1)
                for block, block_hash, prev_hash in self._fetch(next_h, end):
                    if should_stop():
                        return
                    h = next_h
                    expected = recorded(h - 1) if h > 0 else None
                    if expected is not None and prev_hash != expected:
                        fork = self._fork_point(h - 1, recorded)
                        break
                    own[h] = block_hash
                    own.pop(h - _KEEP_OWN_HASHES, None)
                    next_h = h + 1
                    yield block
            if fork is not None:
                for h in [h for h in own if h > fork]:
                    del own[h]
                yield Rollback(keep_height=fork, reason=(
                    f"reorg at {self.client.url}: node's block {fork + 1} differs from ours; "
                    f"keeping up to {fork}"))
                next_h = fork + 1

    def _diverged(self, h: int, node_tip: int, recorded: Callable[[int], str | None]) -> int | None:
        """Fork height if our block at `h` left the node's chain (equal-length reorg, shrink)."""
        if h < 0 or recorded(h) is None:
            return None
        if h <= node_tip and self.block_hash(h) == recorded(h):
            return None
        return self._fork_point(min(h, node_tip), recorded)

    def _fork_point(self, h: int, recorded: Callable[[int], str | None]) -> int:
        """Highest height <= h where the node's hash equals the recorded one."""
        while h >= 0:
            low = max(0, h - self.batch_size + 1)
            node_hashes = self.client.batch([("getblockhash", [x]) for x in range(low, h + 1)])
            for x in range(h, low - 1, -1):
                ours = recorded(x)
                if ours is None or ours == node_hashes[x - low]:
                    return x  # nothing recorded below here to compare, or the common ancestor
            h = low - 1
        raise SourceError(f"{self.client.url}: the node shares no block with ours down to genesis "
                          f"(another network?)")

    def _fetch(self, start: int, end: int) -> Iterator[tuple[SourceBlock, str, str]]:
        if start < 0:
            raise UsageError(f"block heights start at 0, not {start}")
        for low in range(start, end + 1, self.batch_size):
            high = min(end, low + self.batch_size - 1)
            try:
                hashes = self.client.batch([("getblockhash", [h]) for h in range(low, high + 1)])
                docs, with_prevouts = self._getblocks(hashes)
            except SourceError as exc:  # add the heights, keep the type (RpcError has a code)
                exc.message = f"{exc.message}; reading heights {low}..{high}"
                exc.args = (exc.message,)
                raise
            for h, block_hash, doc in zip(range(low, high + 1), hashes, docs, strict=True):
                yield self._build(doc, block_hash, h, with_prevouts)

    def _getblocks(self, hashes: list[str]) -> tuple[list[dict[str, Any]], bool]:
        try:
            docs = self.client.batch([("getblock", [h, self._verbosity]) for h in hashes])
        except RpcError as exc:
            if self._decided or not _is_verbosity_error(exc):
                raise
            self._fall_back(exc.rpc_message)
            docs = self.client.batch([("getblock", [h, 2]) for h in hashes])
        if not self._decided:
            for doc in docs:  # the first non-coinbase input tells whether prevouts came back
                vin = next((v for tx in doc.get("tx", ()) for v in tx.get("vin", ())
                            if "coinbase" not in v), None)
                if vin is not None:
                    if "prevout" not in vin:
                        self._fall_back("getblock 3 returned inputs without prevout")
                    self._decided = True
                    break
        return docs, self._verbosity == 3

    def _fall_back(self, why: str) -> None:
        log.warning("node at %s lacks getblock verbosity 3 (%s); using verbosity 2 for the rest "
                    "of this run, so input values come from the store", self.client.url, why)
        self._verbosity, self._decided = 2, True

    def _build(self, doc: dict[str, Any], block_hash: str, height: int,
               with_prevouts: bool) -> tuple[SourceBlock, str, str]:
        where = f"{self.client.url}: getblock {block_hash} (height {height})"
        try:
            prev_hash = doc.get("previousblockhash") or _ZERO_HASH
            header = (struct.pack("<i", doc["version"]) + bytes.fromhex(prev_hash)[::-1]
                      + bytes.fromhex(doc["merkleroot"])[::-1]
                      + struct.pack("<II", doc["time"], int(doc["bits"], 16))
                      + struct.pack("<I", doc["nonce"]))
            txs = doc["tx"]
            raw = header + compact_size(len(txs)) + bytes.fromhex("".join(tx["hex"] for tx in txs))
            prevouts = self._prevouts(txs, where) if with_prevouts else None
            got_hash, got_height = doc["hash"], doc["height"]
        except (KeyError, TypeError, ValueError, struct.error) as exc:
            raise SourceError(f"{where}: malformed block JSON ({type(exc).__name__}: {exc})"
                              ) from None
        if len(header) != 80 or sha256d(header)[::-1].hex() != got_hash:
            raise SourceError(f"{where}: header rebuilt from the JSON does not hash to {got_hash}")
        if got_hash != block_hash or got_height != height:
            raise SourceError(f"{where}: node returned block {got_hash} at height {got_height}")
        if "nTx" in doc and doc["nTx"] != len(txs):
            raise SourceError(f"{where}: nTx is {doc['nTx']} but {len(txs)} transactions came")
        origin = f"rpc {self.client.url} height {height}"
        return SourceBlock(raw, origin, height, prevouts), block_hash, prev_hash

    @staticmethod
    def _prevouts(txs: list[dict[str, Any]], where: str) -> tuple[Prevout, ...]:
        spent = [vin.get("prevout") for tx in txs for vin in tx["vin"] if "coinbase" not in vin]
        if None in spent:
            raise SourceError(f"{where}: getblock 3 returned an input without prevout")
        return tuple(Prevout(to_satoshi(p["value"], f" in {where}"),
                             bytes.fromhex(p["scriptPubKey"]["hex"])) for p in spent)


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep in small steps so a stop request is honoured within ~0.2 s."""
    deadline = time.monotonic() + seconds
    while not should_stop():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.1, left))
