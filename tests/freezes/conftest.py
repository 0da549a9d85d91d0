"""A real anvil chain with stablecoin freezes, ingested by the real EVM pipeline, for tests/freezes.

`frozen_chain` plays a script on anvil with `tests/contracts/TestIssuer.sol` (Tether's and Circle's
blacklist functions and events) and returns what it did: the freeze actions the chain must show
(address, action, amount) come from the script, not from the store or the node's logs. Only block
numbers and transaction hashes come from the node. Anvil stops once the store is ingested.

    issuer   TestIssuer "Test Dollar" (TUSD, 6 decimals): the known issuer (the test profile adds it)
    rogue    a second TestIssuer: its freeze events are listed but marked issuer not known
    holder   receives 1,000 TUSD; sends 400 to `mule` and 100 to `cleared`, keeps 500
    mule     blacklisted Tether-style, then its 400 TUSD destroyed: frozen now
    cleared  blacklisted Circle-style, then unblacklisted: not frozen now
    circled  blacklisted Circle-style: frozen now (holds 50 TUSD from `holder`)
    holder is also blacklisted by `rogue` (not a known issuer: must not score)

Malformed freeze-looking logs (emitted with `emitRaw` by the issuer contract itself) must give no
row: AddedBlackList with an extra topic, AddedBlackList with a dirty address word, Blacklisted with
the address in the data instead of a topic, DestroyedBlackFunds with one data word.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.anvil import Anvil
from support.eth_scenario import calldata, deploy_data, load_artefacts

from fundtrail.chains.ethereum.freezes import ADDED_BLACK_LIST, BLACKLISTED, DESTROYED_BLACK_FUNDS
from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace

TUSD = 10**6


@dataclass
class FrozenChain:
    """What the script did (see the module docstring); addresses lowercase 0x hex."""

    store: Path
    issuer: str
    rogue: str
    roles: dict[str, str]
    actions: list[dict[str, Any]] = field(default_factory=list)  # newest last: block, tx, token, address,
    # action, amount (None unless destroyed)
    tx: dict[str, str] = field(default_factory=dict)  # label -> tx hash
    block: dict[str, int] = field(default_factory=dict)  # label -> block number
    malformed_txs: list[str] = field(default_factory=list)
    tip: int = 0

    def profile(self, tmp: Path) -> Path:
        """The shipped profile with the issuer contract added to its freeze rule."""
        from importlib import resources
        text = resources.files("fundtrail.risk").joinpath("profiles/default.yaml").read_text()
        anchor = "    kind: freeze\n"
        assert anchor in text, "the shipped profile has a freeze rule"
        text = text.replace(anchor, anchor + f"    issuers: {{anvil: ['{self.issuer}']}}\n")
        path = tmp / "freeze-profile.yaml"
        path.write_text(text)
        return path


def _send(node: Anvil, frm: str, to: str | None, data: str) -> dict:
    tx: dict[str, Any] = {"from": frm, "data": data, "gas": hex(3_000_000)}
    if to is not None:
        tx["to"] = to
    receipt = node.wait_receipt(node.rpc("eth_sendTransaction", tx))
    assert int(receipt["status"], 16) == 1, receipt
    return receipt


def _word(hex_addr: str, dirty: bool = False) -> bytes:
    return (b"\x01" if dirty else b"\x00") + bytes(11) + bytes.fromhex(hex_addr[2:])


def play(node: Anvil, root: Path) -> FrozenChain:
    art = load_artefacts()["TestIssuer"]
    owner, holder, mule, cleared, circled = node.accounts[:5]
    issuer = _send(node, owner, None, deploy_data(art, "Test Dollar", "TUSD"))["contractAddress"].lower()
    rogue = _send(node, owner, None, deploy_data(art, "Rogue Dollar", "RUSD"))["contractAddress"].lower()
    fc = FrozenChain(root, issuer, rogue, {"owner": owner, "holder": holder, "mule": mule, "cleared": cleared,
                                           "circled": circled})

    def call(label: str, frm: str, to: str, sig: str, *args: Any) -> dict:
        rc = _send(node, frm, to, calldata(art, sig, *args))
        fc.tx[label], fc.block[label] = rc["transactionHash"], int(rc["blockNumber"], 16)
        return rc

    def acted(label: str, token: str, who: str, action: str, amount: int | None = None) -> None:
        fc.actions.append({"block": fc.block[label], "tx": fc.tx[label], "token": token, "address": who,
                           "action": action, "amount": amount})

    call("mint", owner, issuer, "mint(address,uint256)", holder, 1_000 * TUSD)
    call("to_mule", holder, issuer, "transfer(address,uint256)", mule, 400 * TUSD)
    call("to_cleared", holder, issuer, "transfer(address,uint256)", cleared, 100 * TUSD)
    call("to_circled", holder, issuer, "transfer(address,uint256)", circled, 50 * TUSD)
    call("blacklist_mule", owner, issuer, "addBlackList(address)", mule)
    acted("blacklist_mule", issuer, mule, "blacklisted")
    call("destroy_mule", owner, issuer, "destroyBlackFunds(address)", mule)
    acted("destroy_mule", issuer, mule, "destroyed", 400 * TUSD)
    call("blacklist_cleared", owner, issuer, "blacklist(address)", cleared)
    acted("blacklist_cleared", issuer, cleared, "blacklisted")
    call("unblacklist_cleared", owner, issuer, "unBlacklist(address)", cleared)
    acted("unblacklist_cleared", issuer, cleared, "unblacklisted")
    call("blacklist_circled", owner, issuer, "blacklist(address)", circled)
    acted("blacklist_circled", issuer, circled, "blacklisted")
    call("rogue_blacklist", owner, rogue, "addBlackList(address)", holder)
    acted("rogue_blacklist", rogue, holder, "blacklisted")
    raw = "emitRaw(bytes32[],bytes)"
    for label, topics, data in (
        ("extra_topic", [ADDED_BLACK_LIST, _word(holder)], _word(holder)),
        ("dirty_word", [ADDED_BLACK_LIST], _word(holder, dirty=True)),
        ("circle_in_data", [BLACKLISTED], _word(holder)),
        ("destroy_one_word", [DESTROYED_BLACK_FUNDS], _word(holder)),
    ):
        rc = call(label, owner, issuer, raw, [int.from_bytes(t, "big") for t in topics], data)
        assert len(rc["logs"]) == 1 and rc["logs"][0]["topics"][0] == "0x" + topics[0].hex()
        fc.malformed_txs.append(rc["transactionHash"])
    fc.tip = node.block_number()
    store = Store.open(root)
    ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain="anvil", first=0, last=fc.tip, batch_blocks=5)
    return fc


@pytest.fixture(scope="session")
def frozen_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrozenChain]:
    root = tmp_path_factory.mktemp("freezes") / "store"
    with Anvil() as node:
        fc = play(node, root)
    yield fc


@pytest.fixture(scope="session")
def ws(frozen_chain: FrozenChain) -> Workspace:
    return Workspace.open(Settings.load(store=frozen_chain.store), actor=Actor(user="test", via="python"))
