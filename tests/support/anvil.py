"""A real Ethereum node for tests: `anvil` (npm `@foundry-rs/anvil`, installed by `make test`).

    from support.anvil import Anvil

    with Anvil() as node:                 # 127.0.0.1, a free port, chain id 31337
        node.rpc("eth_blockNumber")       # JSON-RPC over stdlib urllib; errors raise RpcError
        node.accounts                     # the 10 unlocked dev accounts (lowercase 0x hex)

Every transaction is mined in its own block (auto-mining). `Anvil(automine=False)` starts it with
`--no-mining`; then `node.mine()` puts everything pending into one block. `node.automine(False)`
switches at run time. The process is killed on exit, also when the test fails.

A missing binary skips the test with a message saying how to install it, except under CI=true,
where it fails: CI must not pass by skipping the node tests.

`anvil` below is a module-scoped pytest fixture; a test module may import it
(`from support.anvil import anvil`) or define its own around `Anvil`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import pytest

from fundtrail.sim.evm.node import find_anvil as _find_anvil

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = 31337
INSTALL_HINT = "run `make test` (installs npm packages)"


class RpcError(RuntimeError):
    """The node answered a JSON-RPC call with an error (or not at all)."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        self.error = error
        super().__init__(f"{method}: {error}")


def find_anvil(repo_root: Path = REPO_ROOT) -> Path | None:
    """The anvil executable npm installed under `repo_root` (the pinned version, never PATH's), or None."""
    return _find_anvil([repo_root], use_path=False)


def missing_tool(reason: str) -> None:
    """Skip the test for a missing npm tool, or fail it under CI=true (never returns)."""
    reason = f"{reason}: {INSTALL_HINT}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_anvil(repo_root: Path = REPO_ROOT) -> Path:
    """`find_anvil`, or skip the test (fail under CI=true) with how to install it."""
    path = find_anvil(repo_root)
    if path is None:
        missing_tool(f"anvil not found under {repo_root / 'node_modules'}")
    assert path is not None
    return path


def require_solcjs(repo_root: Path = REPO_ROOT) -> Path:
    """`node_modules/.bin/solcjs` (npm `solc`), or skip the test (fail under CI=true)."""
    path = repo_root / "node_modules" / ".bin" / "solcjs"
    if not path.exists():
        missing_tool(f"solcjs not found at {path}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Anvil:
    """One anvil process on 127.0.0.1 (context manager)."""

    def __init__(
        self,
        *,
        automine: bool = True,
        hardfork: str | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 30.0,
        binary: Path | None = None,
    ) -> None:
        self.binary = binary
        self.automine_at_start = automine
        self.hardfork = hardfork
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.port: int | None = None
        self.url = ""
        self.accounts: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._next_id = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        binary = self.binary or require_anvil()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind: retry
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            args = [
                str(binary), "--host", "127.0.0.1", "--port", str(self.port),
                "--chain-id", str(CHAIN_ID), "--order", "fifo", "--silent",
            ]
            if not self.automine_at_start:
                args.append("--no-mining")
            if self.hardfork:
                args += ["--hardfork", self.hardfork]
            args += self.extra_args
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as anvil; closed in stop)
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                self._wait_ready()
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
                continue
            self.accounts = [a.lower() for a in self.rpc("eth_accounts")]
            return
        raise RuntimeError(f"anvil did not start: {last_error}")

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"exited with {self._proc.returncode}: {self._output()}")
            try:
                if int(self.rpc("eth_chainId", timeout=2.0), 16) == CHAIN_ID:
                    return
            except (RpcError, OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"no answer to eth_chainId on {self.url} within {self.timeout} s")

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:].decode("utf-8", "replace").strip()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # its own session: anvil and nothing else
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

    # -- JSON-RPC ------------------------------------------------------------------------------

    def rpc(self, method: str, *params: Any, timeout: float = 30.0) -> Any:
        """Call `method` with positional `params`; return its result or raise RpcError."""
        self._next_id += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": list(params)}
        ).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = json.loads(response.read())
        except urllib.error.HTTPError as exc:  # anvil answers some errors with HTTP 4xx/5xx
            try:
                reply = json.loads(exc.read())
            except ValueError:
                raise RpcError(method, f"HTTP {exc.code}") from exc
        if reply.get("error") is not None:
            raise RpcError(method, reply["error"])
        return reply.get("result")

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` blocks now (with all pending transactions in the first)."""
        self.rpc("anvil_mine", hex(blocks))

    def automine(self, enabled: bool) -> None:
        """Switch auto-mining on or off (off: transactions wait in the pool for `mine`)."""
        self.rpc("evm_setAutomine", enabled)

    def wait_receipt(self, tx_hash: str, timeout: float = 10.0) -> dict:
        """The receipt of `tx_hash` once mined.

        Auto-mining can answer eth_sendTransaction before the block is there: wait for this.
        """
        deadline = time.monotonic() + timeout
        while (receipt := self.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            if time.monotonic() > deadline:
                raise RpcError("eth_getTransactionReceipt", f"{tx_hash} not mined in {timeout} s")
            time.sleep(0.01)
        return receipt

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    """A fresh auto-mining anvil for the test module."""
    with Anvil() as node:
        yield node
