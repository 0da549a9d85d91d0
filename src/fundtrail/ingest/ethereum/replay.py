"""A JSON-RPC transport that answers from recorded responses instead of a node.

It lets the ingest run unchanged on real mainnet data without a network: the recordings are the
ethereum-etl test fixtures (real node answers, one file per request) or any directory written the
same way. A request maps to `web3_response.<key>.json`, the key scheme of
`fundtrail.chains.ethereum.recording` (for example `debug_traceBlockByNumber_0xf4240_tracer_calltracer`
or `eth_chainId_`).
Recordings made by other tools often lack `eth_chainId_` and `eth_blockNumber_`: the chain then
comes from `--chain`/`--chain-id` and the block range from the blocks recorded (docs/cli.md).
A file may hold the whole JSON-RPC response or only its result. It has the same `request(payload)`
method as the HTTP transport, so anything built on one runs on the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fundtrail.chains.ethereum.recording import PREFIX, SUFFIX, file_name, key_of, request_key
from fundtrail.errors import SourceError
from fundtrail.ingest.rpchttp import loads_bounded

__all__ = ["METHOD_NOT_FOUND", "ReplayTransport", "request_key"]

_ENVELOPE_KEYS = frozenset({"jsonrpc", "id", "result", "error"})
METHOD_NOT_FOUND = -32601
_NOT_RECORDED = object()


class ReplayTransport:
    """Answers JSON-RPC requests (one or a batch) from the recordings in `directory`.

    A request without a recording raises `SourceError` naming its key. With
    `unrecorded_as_rpc_error=True` it gets a JSON-RPC "method not found" error response instead,
    as a node lacking that method would answer, so fallbacks (per-transaction receipts when
    `eth_getBlockReceipts` is missing, geth traces when `trace_block` is) can be replayed too.
    """

    def __init__(self, directory: Path, *, unrecorded_as_rpc_error: bool = False,
                 max_response_mb: int = 512, max_json_depth: int = 2500) -> None:
        self.max_bytes, self.max_json_depth = max_response_mb << 20, max_json_depth
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise SourceError(f"no recorded responses: {self.directory} is not a directory")
        self.unrecorded_as_rpc_error = unrecorded_as_rpc_error
        self.served: list[str] = []  # keys answered, in order: lets tests see what was asked
        self.url = f"replay:{self.directory}"  # the source named in provenance and messages

    def __str__(self) -> str:
        return self.url

    def keys(self) -> list[str]:
        """The request keys this directory has recordings for, sorted."""
        keys = (key_of(p.name) for p in self.directory.glob(f"{PREFIX}*{SUFFIX}"))
        return sorted(k for k in keys if k is not None)

    def recorded_blocks(self) -> list[int]:
        """Numbers of the blocks recorded (`eth_getBlockByNumber_0x<n>_...`), sorted: a recording's
        natural range when no `eth_blockNumber` answer was recorded."""
        prefix = "eth_getBlockByNumber_0x"
        found = set()
        for key in self.keys():
            if key.startswith(prefix):
                try:
                    found.add(int(key[len(prefix):].split("_", 1)[0], 16))
                except ValueError:
                    continue
        return sorted(found)

    def request(self, payload: dict | list[dict]) -> dict | list[dict]:
        """The response to one request (a dict) or the responses to a batch (a list, in order)."""
        if isinstance(payload, list):
            return [self._answer(item) for item in payload]
        return self._answer(payload)

    def _answer(self, call: Any) -> dict:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            raise SourceError(f"not a JSON-RPC request: {str(call)[:120]}")
        params = call.get("params")
        if params is not None and not isinstance(params, (list, tuple)):
            raise SourceError(f"{call['method']}: params must be a list in a recorded request")
        key = request_key(call["method"], params)
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": call.get("id")}
        recorded = self._load(key)
        if recorded is _NOT_RECORDED:
            if not self.unrecorded_as_rpc_error:
                raise SourceError(f"no recorded response for {key} in {self.directory}",
                                  hint=f"expected file {file_name(key)}")
            response["error"] = {"code": METHOD_NOT_FOUND, "message": f"no recorded response for {key}"}
        elif _is_envelope(recorded):
            if recorded.get("error") is not None:
                response["error"] = recorded["error"]
            else:
                response["result"] = recorded.get("result")
        else:
            response["result"] = recorded
        self.served.append(key)
        return response

    def _load(self, key: str) -> Any:
        """The parsed recording for `key` (parsed afresh each time, as a node's answer would be)."""
        path = self.directory / file_name(key)
        if not path.is_file():
            return _NOT_RECORDED
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise SourceError(f"recorded response {path.name} is {size:,} bytes, over "
                                  f"max_rpc_response_mb = {self.max_bytes >> 20}")
            value = loads_bounded(path.read_bytes(), self.max_json_depth,
                                  f"recorded response {path.name}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SourceError(f"recorded response {path.name} is unreadable: {err}") from None
        return value


def _is_envelope(recorded: Any) -> bool:
    """Whether a file holds a whole JSON-RPC response rather than only the result."""
    return (isinstance(recorded, dict) and ("result" in recorded or "error" in recorded)
            and _ENVELOPE_KEYS.issuperset(recorded))
