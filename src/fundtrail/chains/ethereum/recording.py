"""The file format of recorded JSON-RPC answers, shared by the ingest's replay and the EVM simulator.

A recording is a directory holding one file per JSON-RPC request, `web3_response.<key>.json` (the
layout of the ethereum-etl test fixtures). The key is the method, then each parameter flattened and
joined by "_": a scalar as its lower-cased string (True -> "true"), a dict as its keys in sorted
order each followed by its flattened value, a list as its flattened items; for example
`debug_traceBlockByNumber_0xf4240_tracer_calltracer` or `eth_chainId_` (no params). It lives here,
below both `ingest` and `sim`, so the writer and the reader cannot drift apart.
"""

from __future__ import annotations

from typing import Any

PREFIX = "web3_response."
SUFFIX = ".json"


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return "_".join(f"{key}_{_flatten(value[key])}" for key in sorted(value))
    if isinstance(value, (list, tuple)):
        return "_".join(_flatten(item) for item in value)
    return str(value).lower()


def request_key(method: str, params: list[Any] | tuple[Any, ...] | None) -> str:
    """The recording key of one JSON-RPC call."""
    return f"{method}_{_flatten(list(params or []))}"


def file_name(key: str) -> str:
    """The name of the file that holds the answer recorded under `key`."""
    return f"{PREFIX}{key}{SUFFIX}"


def key_of(name: str) -> str | None:
    """The key a recording file name stands for; None for a file that is not a recording."""
    if name.startswith(PREFIX) and name.endswith(SUFFIX) and len(name) >= len(PREFIX) + len(SUFFIX):
        return name[len(PREFIX):-len(SUFFIX)]
    return None
