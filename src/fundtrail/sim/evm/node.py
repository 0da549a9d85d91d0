"""The anvil node the EVM simulator drives: a small JSON-RPC client and a launcher.

The simulator needs a real EVM (contracts run, gas is measured, traces and receipts are the
node's own), and anvil is the one that allows everything a deterministic run needs: manual mining,
fixed block timestamps, sending from any address (auto-impersonation) and a zero base fee.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from fundtrail.errors import ConfigError, SourceError

CHAIN_ID = 31337
GENESIS_TIME = 1_700_000_000  # 2023-11-14 22:13:20 UTC: fixed, so block hashes repeat
BLOCK_GAS_LIMIT = 300_000_000  # blocks stay under half full, so the base fee stays 0
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), platform.machine().lower())


def find_anvil(roots: Sequence[Path] | None = None, *, use_path: bool = True) -> Path | None:
    """`anvil` on PATH (unless `use_path` is False), else the npm package's binary under
    `roots`/node_modules (default: the working directory and the source checkout).

    The platform package's native binary is preferred to the `.bin/anvil` node wrapper, which
    would be one more process (and would hide the node's memory from the benchmark).
    """
    on_path = shutil.which("anvil") if use_path else None
    if on_path:
        return Path(on_path)
    for root in roots if roots is not None else [Path.cwd(), *Path(__file__).resolve().parents]:
        modules = root / "node_modules"
        native = sorted(modules.glob(f"@foundry-rs/anvil-*-{_ARCH}/bin/anvil"))
        candidates = [*native, modules / ".bin" / "anvil"]
        for candidate in candidates:
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    return None


class EvmNode:
    """JSON-RPC over HTTP to one node; batches are one HTTP request."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        """One call's result; a node error raises SourceError naming the method."""
        return self.batch([(method, list(params))])[0]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """The results of `calls`, in order (one HTTP request)."""
        if not calls:
            return []
        items = []
        for method, params in calls:
            self._id += 1
            items.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})
        body = json.dumps(items).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                replies = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                replies = json.loads(exc.read())
            except ValueError:
                raise SourceError(f"{self.url}: HTTP {exc.code} to {calls[0][0]}") from None
        except (OSError, ValueError) as exc:
            raise SourceError(f"{self.url}: no answer to {calls[0][0]}: {exc}",
                              hint="is the node running?") from None
        if isinstance(replies, dict):
            replies = [replies]
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        out = []
        for item in items:
            reply = by_id.get(item["id"])
            if reply is None:
                raise SourceError(f"{self.url}: no reply to {item['method']} in a batch")
            if reply.get("error") is not None:
                err = reply["error"]
                text = err.get("message", err) if isinstance(err, dict) else err
                raise SourceError(f"{self.url}: {item['method']} failed: {text}")
            out.append(reply.get("result"))
        return out


def _prctl() -> Any:
    """libc's prctl, looked up in the parent (the child only calls it), or None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _die_with_parent() -> None:
    """In the child before exec: ask for SIGTERM when the simulator dies, even by SIGKILL
    (PR_SET_PDEATHSIG), so no node is left behind; elsewhere `stop` is the only clean-up."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)


class AnvilProcess:
    """An anvil started for one simulation (127.0.0.1, a free port); stopped on exit."""

    def __init__(self, binary: Path | None = None) -> None:
        self.binary = binary or find_anvil()
        if self.binary is None:
            raise ConfigError("anvil not found on PATH or in node_modules",
                              hint="install it (npm install @foundry-rs/anvil) or pass --rpc-url")
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        for _attempt in range(3):  # the probed port can be taken before anvil binds it
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            args = [str(self.binary), "--host", "127.0.0.1", "--port", str(port),
                    "--chain-id", str(CHAIN_ID), "--timestamp", str(GENESIS_TIME),
                    "--block-base-fee-per-gas", "0", "--gas-limit", str(BLOCK_GAS_LIMIT),
                    "--no-mining", "--order", "fifo", "--silent"]
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop)
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          preexec_fn=_die_with_parent)  # one prctl call: fork-safe
            if self._wait_ready():
                return
            self.stop()
        raise SourceError(f"anvil ({self.binary}) did not start")

    def _wait_ready(self, timeout: float = 30.0) -> bool:
        node = EvmNode(self.url, timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                node.call("eth_chainId")
                return True
            except SourceError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: anvil only
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
