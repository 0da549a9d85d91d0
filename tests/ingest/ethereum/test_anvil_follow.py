"""Follow mode on a real node through a reorganisation: anvil's evm_snapshot/evm_revert replaces
blocks the store already holds with a longer different branch; the store must end up equal to a
fresh ingest of the final chain."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from support.anvil import Anvil

from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.store import Store
from fundtrail.store.account_export import iter_transfers
from fundtrail.store.status import status


def _pay(node: Anvil, frm: str, to: str, value: int) -> None:
    tx = node.rpc("eth_sendTransaction", {"from": frm, "to": to, "value": hex(value)})
    node.wait_receipt(tx)


def _tip(store: Store) -> int | None:
    chains = status(store)["chains"]
    return chains[0]["max_height"] if chains else None


_LAST: dict = {}  # what the follower thread reported, shown if a wait times out


def _wait(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out; follower: {_LAST}"
        time.sleep(0.05)


def test_follow_rolls_back_a_reorg_and_matches_a_fresh_ingest(tmp_path: Path) -> None:
    with Anvil() as node:
        a, b, c = node.accounts[:3]
        _pay(node, a, b, 10**18)  # block 1
        snap = node.rpc("evm_snapshot")
        _pay(node, a, b, 2 * 10**18)  # block 2 (to be replaced)
        _pay(node, b, a, 3 * 10**17)  # block 3 (to be replaced)
        store = Store.open(tmp_path / "follow")
        stop = threading.Event()
        result: dict = {}

        def run() -> None:
            try:
                result["report"] = ingest_ethereum(
                    store, EthRpc(HttpTransport(node.url)), chain="anvil", follow=True, first=0,
                    poll_interval=0.1, should_stop=stop.is_set)
            except BaseException as exc:  # noqa: BLE001 (surfaced by the assertion below)
                result["error"] = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        _LAST["result"] = result
        _wait(lambda: _tip(store) == 3)
        old = {t["tx_hash"] for t in iter_transfers(store, "anvil")}
        assert node.rpc("evm_revert", snap) is True  # the chain is back at block 1
        _pay(node, a, c, 5 * 10**18)  # block 2'
        _pay(node, c, b, 10**18)  # block 3'
        _pay(node, b, c, 10**15)  # block 4'
        _wait(lambda: _tip(store) == 4)
        stop.set()
        thread.join(10)
        assert "error" not in result, result.get("error")
        report = result["report"]
        assert report.rolled_back == 2 and any("reorganisation" in w for w in report.warnings)
        fresh = Store.open(tmp_path / "fresh")
        ingest_ethereum(fresh, EthRpc(HttpTransport(node.url)), chain="anvil", first=0, last=4)
        got = list(iter_transfers(store, "anvil"))
        assert got == list(iter_transfers(fresh, "anvil"))
        assert not ({t["tx_hash"] for t in got} & (old - {t["tx_hash"] for t in got if t["block_number"] <= 1}))
