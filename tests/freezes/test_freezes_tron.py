"""Freezes on TRON: USDT-TRC20's blacklist events in java-tron answers, ingested from a java-tron
HTTP API on loopback (tests/support/tron_fake_node.py), listed with T-addresses and scored.

The blocks are made up (no public TRON block holds a freeze event among the shared data); their
shapes are java-tron's (`TriggerSmartContract` transactions, infos with `log[{address, topics,
data}]` in hex without 0x, the log address as 20-byte hex). The issuer is the real USDT-TRC20
contract, so the shipped profile knows it: `TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t` is issue 18's vector.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
from support.tron_fake_node import USDT_41, FakeTron, account

from fundtrail.chains.ethereum.freezes import ADDED_BLACK_LIST, BLACKLISTED, DESTROYED_BLACK_FUNDS
from fundtrail.chains.tron.address import to_base58
from fundtrail.ingest.tron.jobs import ingest_tron
from fundtrail.ingest.tron.rpc import TronRpc
from fundtrail.ingest.tron.transport import TronHttpTransport
from fundtrail.risk.freezes import FreezeRisk
from fundtrail.risk.profile import load_profile
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.freeze_models import FreezesRequest

USDT_T = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
ROGUE_41 = account(900)
OWNER_41 = account(901)  # the issuer's admin account sending the blacklist calls
VICTIM, OTHER, UNTOUCHED = account(1), account(2), account(3)  # frozen; by the rogue; in a failed tx
DESTROYED = 1_234_567_890  # 1,234.56789 USDT


def _word(addr41: str) -> str:
    return "00" * 12 + addr41[2:]


def _call(template: dict, n: int, contract41: str, *, ok: bool = True) -> dict:
    tx = copy.deepcopy(template)
    tx["txID"] = hashlib.sha256(f"freeze-call-{n}".encode()).hexdigest()
    tx["ret"] = [{"contractRet": "SUCCESS" if ok else "REVERT"}]
    tx["raw_data"]["contract"] = [{"parameter": {"value": {"owner_address": OWNER_41, "contract_address": contract41,
                                                           "data": "0ecb93c0" + _word(VICTIM)},
                                                 "type_url": "type.googleapis.com/protocol.TriggerSmartContract"},
                                   "type": "TriggerSmartContract"}]
    return tx


def _info(tx: dict, block: int, ts: int, logs: list[tuple[str, list[bytes], str]], *, ok: bool = True) -> dict:
    info = {"id": tx["txID"], "fee": 1_000_000, "blockNumber": block, "blockTimeStamp": ts, "contractResult": [""],
            "receipt": {"energy_usage_total": 20_000, "energy_fee": 1_000_000,
                        "result": "SUCCESS" if ok else "REVERT"},
            "log": [{"address": c[2:], "topics": [t.hex() for t in topics], "data": data} for c, topics, data in logs]}
    if not ok:
        info["result"] = "FAILED"
    return info


@pytest.fixture(scope="module")
def tron_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tron-freezes") / "store"
    with FakeTron(head=5, txs_per_block=1) as node:
        for number, calls in (
            (4, [(USDT_41, [(USDT_41, [ADDED_BLACK_LIST], _word(VICTIM))], True),
                 (ROGUE_41, [(ROGUE_41, [ADDED_BLACK_LIST], _word(OTHER))], True),
                 (USDT_41, [(USDT_41, [ADDED_BLACK_LIST], _word(UNTOUCHED))], False),
                 (USDT_41, [(USDT_41, [BLACKLISTED], _word(UNTOUCHED))], True)]),  # Circle's shape: no row
            (5, [(USDT_41, [(USDT_41, [DESTROYED_BLACK_FUNDS], _word(VICTIM) + f"{DESTROYED:064x}")], True)]),
        ):
            block, infos = copy.deepcopy(node.blocks[number])
            ts = block["block_header"]["raw_data"]["timestamp"]
            for k, (contract, logs, ok) in enumerate(calls):
                tx = _call(block["transactions"][0], number * 10 + k, contract, ok=ok)
                block["transactions"].append(tx)
                infos.append(_info(tx, number, ts, logs, ok=ok))
            node.put(block, infos)
        rpc = TronRpc(TronHttpTransport(node.url, backoff=0.01, retries=3))  # type: ignore[arg-type]
        ingest_tron(Store.open(root), rpc, first=0, last=5)
    return root


@pytest.fixture(scope="module")
def tws(tron_store: Path) -> Workspace:
    return Workspace.open(Settings.load(store=tron_store), actor=Actor(user="test", via="python"))


def test_tron_freezes_are_listed_with_tron_addresses(tws: Workspace) -> None:
    res = tws.freezes(FreezesRequest(chain="tron"))
    rows = [(r.block, r.token, r.address, r.action, r.amount, r.issuer_known) for r in res.freezes]
    victim, other = to_base58(bytes.fromhex(VICTIM[2:])), to_base58(bytes.fromhex(OTHER[2:]))
    rogue = to_base58(bytes.fromhex(ROGUE_41[2:]))
    # newest first; the failed transaction's log and the Circle-shaped log with the address in the data: no row
    assert rows == [(5, USDT_T, victim, "destroyed", str(DESTROYED), True),
                    (4, rogue, other, "blacklisted", None, False),
                    (4, USDT_T, victim, "blacklisted", None, True)]
    usdt = res.freezes[0]
    assert (usdt.token_symbol, usdt.issuer, usdt.amount_display, usdt.frozen_now) == ("USDT", "Tether", "1234.56789",
                                                                                      True)
    assert [r.action for r in tws.freezes(FreezesRequest(token="usdt")).freezes] == ["destroyed", "blacklisted"]
    for form in (victim, VICTIM, "0x" + VICTIM[2:]):  # T…, 41… and 0x… name the same address
        assert [r.block for r in tws.freezes(FreezesRequest(address=form)).freezes] == [5, 4], form


def test_tron_freeze_rule_scores_usdt_frozen_address_under_the_shipped_profile(tron_store: Path) -> None:
    """The rule itself (risk.freezes): `fundtrail risk --chain tron` needs TRON address input in
    risk.screening and trace.account_seeds first (reported to the lead)."""
    store = Store.open(tron_store)
    rule = FreezeRisk(store, "tron", load_profile(), show=to_base58)
    with store.query() as con:
        ids = {bytes(a): int(i) for i, a in con.execute("SELECT address_id, address FROM tron_addresses").fetchall()}
    (reason,) = rule.reasons(ids[bytes.fromhex(VICTIM[2:])])
    assert (reason["rule"], reason["score"], reason["token"], reason["token_symbol"], reason["action"],
            reason["block"], reason["amount"]) == ("frozen-by-issuer", 85.0, USDT_T, "USDT", "destroyed", 5,
                                                   str(DESTROYED))
    assert rule.reasons(ids[bytes.fromhex(OTHER[2:])]) == []  # frozen by the rogue contract only
