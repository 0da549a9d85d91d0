"""Read blocks from a Bitcoin Core node over JSON-RPC, batch or follow the tip across reorgs.

The node's JSON is turned back into the exact serialized block (header rebuilt from its fields,
transactions from their `hex`) so RPC blocks go through the same parser as blk-file blocks; the
rebuilt header must hash to the node's block hash, which catches mapping bugs and lying nodes.
Only the standard library is used for HTTP so the RPC source adds no dependency. The node is an
untrusted source: every exchange is bounded (`ingest/rpchttp.py`: time per request and per call,
answer size, JSON nesting), and every field read is type-checked, so a wrong answer is a one-line
SourceError naming the method and the field, never a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from fundtrail.chains.bitcoin.params import MAINNET, REGTEST, SIGNET, TESTNET, TESTNET4, Network
from fundtrail.errors import SourceError, UsageError
from fundtrail.ingest.bitcoin.rpcjson import (
    build_block,
    compact_size,
    sha256d,
    to_satoshi,
    want_hash,
    want_int,
    want_obj,
)
from fundtrail.ingest.bitcoin.rpcclient import RpcClient, RpcError
from fundtrail.ingest.bitcoin.source import Rollback, SourceBlock

log = logging.getLogger(__name__)

_CHAINS: dict[str, Network] = {
    "main": MAINNET, "test": TESTNET, "testnet4": TESTNET4, "signet": SIGNET, "regtest": REGTEST,
}
__all__ = ["BitcoinRpcSource", "RpcClient", "RpcError", "compact_size", "sha256d", "to_satoshi"]
_KEEP_OWN_HASHES = 2000  # follow(): how many of its own yielded hashes to remember for reorgs


def _list_or_empty(value: object) -> list[Any]:
    """`value` if the node sent a list there, else an empty list."""
    return value if isinstance(value, list) else []


def _is_verbosity_error(exc: RpcError) -> bool:
    return exc.rpc_code == -8 or "verbosity" in exc.rpc_message.lower()


class BitcoinRpcSource:
    """Blocks (and, with verbosity 3, their prevouts) from a node, as `SourceBlock`s."""

    def __str__(self) -> str:
        return self.client.url  # what a run records as its source: no credentials

    def __repr__(self) -> str:
        return f"BitcoinRpcSource({self.client.url!r})"

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
        return want_int(self.client.call("getblockcount"), f"{self.client.url}: getblockcount",
                        "result", 0, (1 << 31) - 1)

    def block_hash(self, height: int) -> str:
        """Hash of the node's active-chain block at `height`."""
        return want_hash(self.client.call("getblockhash", height),
                         f"{self.client.url}: getblockhash {height}", "result")

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
                answers = self.client.batch([("getblockhash", [h]) for h in range(low, high + 1)])
                hashes = [want_hash(a, f"{self.client.url}: getblockhash {h}", "result")
                          for h, a in zip(range(low, high + 1), answers, strict=True)]
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
        for h, doc in zip(hashes, docs, strict=True):
            want_obj(doc, f"{self.client.url}: getblock {h}")
        if not self._decided:
            for doc in docs:  # the first non-coinbase input tells whether prevouts came back
                vin = next((v for tx in _list_or_empty(doc.get("tx")) if isinstance(tx, dict)
                            for v in _list_or_empty(tx.get("vin"))
                            if isinstance(v, dict) and "coinbase" not in v), None)
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
        raw, got_hash, prev_hash, got_height, prevouts = build_block(doc, where, with_prevouts)
        if got_hash != block_hash or got_height != height:
            raise SourceError(f"{where}: node returned block {got_hash} at height {got_height}")
        origin = f"rpc {self.client.url} height {height}"
        return SourceBlock(raw, origin, height, prevouts), block_hash, prev_hash


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Sleep in small steps so a stop request is honoured within ~0.2 s."""
    deadline = time.monotonic() + seconds
    while not should_stop():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.1, left))
