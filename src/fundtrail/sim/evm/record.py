"""Recorded JSON-RPC responses of a simulated chain, in the replay format of the Ethereum ingest.

A recording holds, for every request `fundtrail ingest ethereum` makes of a node, the node's answer
in a file `web3_response.<key>.json` (the format of `fundtrail.chains.ethereum.recording`, which the
ingest's replay reads), so `fundtrail ingest ethereum --replay DIR` ingests the chain without a
node: the chain id, the head, every block with full transactions, block receipts, parity traces
(`trace_block`) and the token's name, symbol and decimals.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fundtrail.chains.ethereum.recording import file_name, request_key
from fundtrail.sim.evm.node import EvmNode

__all__ = ["BATCH", "TOKEN_CALLS", "record_chain", "request_key"]

TOKEN_CALLS = {"name": "0x06fdde03", "symbol": "0x95d89b41", "decimals": "0x313ce567"}
BATCH = 100


def record_chain(node: EvmNode, directory: Path, tip: int, tokens: list[str],
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Write the recording of blocks 0..`tip` into `directory`; return the number of files."""
    directory.mkdir(parents=True, exist_ok=True)
    calls: list[tuple[str, list[Any]]] = [("eth_chainId", []), ("eth_blockNumber", [])]
    for token in tokens:
        calls += [("eth_call", [{"to": token.lower(), "data": data}, "latest"])
                  for data in TOKEN_CALLS.values()]
    written = _write(node, directory, calls)
    for first in range(0, tip + 1, BATCH):
        numbers = range(first, min(tip, first + BATCH - 1) + 1)
        blocks = node.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
        for n, block in zip(numbers, blocks, strict=True):
            _save(directory, request_key("eth_getBlockByNumber", [hex(n), True]), block)
            written += 1
        more = [("eth_getBlockReceipts", [hex(n)]) for n, b in zip(numbers, blocks, strict=True)
                if b["transactions"]]
        more += [("trace_block", [hex(n)]) for n in numbers if n > 0]
        written += _write(node, directory, more)
        if progress is not None:
            progress(numbers[-1], tip)
    return written


def _write(node: EvmNode, directory: Path, calls: list[tuple[str, list[Any]]]) -> int:
    for i in range(0, len(calls), BATCH):
        chunk = calls[i:i + BATCH]
        for (method, params), result in zip(chunk, node.batch(chunk), strict=True):
            _save(directory, request_key(method, params), result)
    return len(calls)


def _save(directory: Path, key: str, result: Any) -> None:
    text = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}, sort_keys=True) + "\n"
    (directory / file_name(key)).write_text(text, encoding="utf-8")
