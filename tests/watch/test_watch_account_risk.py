"""`risk-above` on an account chain, block by block on a real anvil (one-off ingests between
blocks): an address's score — the one `fundtrail risk` gives an EVM address (direct tags,
per-asset exposure) — crossing the threshold raises one alert per crossing, on the batch that
pays it (`"via": "new activity"`, naming that transaction) or on a change of attribution
(`"via": "new attribution"`); an address watched before it first appears is scored when it does.

The oracle is the shipped profile: an address with no illicit contact scores 0; one paid directly
by an address tagged ransomware gets the rule `exposure-illicit` (at least its base 40, direct)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.anvil import Anvil

from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.job_models import IngestEthereumRequest
from fundtrail.workspace.risk import RiskRequest
from fundtrail.workspace.tag_models import TagAddRequest

ETHER = 10**18
RANSOM = "0x" + "4a" * 20
MULE = "0x" + "3e" * 20
QUIET = "0x" + "9c" * 20  # paid by an untagged address that is tagged later
LATER = "0x" + "1a" * 20  # watched before it first appears
THRESHOLD = 35.0


def _pay(node: Anvil, frm: str, to: str, value: int) -> str:
    tx = {"from": frm, "to": to, "value": hex(value), "gasPrice": "0x0", "gas": hex(21_000)}
    receipt = node.wait_receipt(node.rpc("eth_sendTransaction", tx))
    assert int(receipt["status"], 16) == 1
    return str(receipt["transactionHash"])


def _alerts(store: Path, item: str) -> list[dict[str, Any]]:
    with Store(store).connect(read_only=True) as con:
        rows = con.execute("SELECT document FROM alerts WHERE item_id = ? ORDER BY created_at", [item]).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.fixture()
def node() -> Any:
    with Anvil(extra_args=["--block-base-fee-per-gas", "0", "--auto-impersonate"]) as n:
        yield n


def test_risk_above_on_new_activity_new_attribution_and_first_appearance(node: Anvil, tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
    funder = node.accounts[0]
    _pay(node, funder, RANSOM, 5 * ETHER)
    _pay(node, funder, MULE, 1 * ETHER)
    hidden = node.accounts[1]  # an untagged payer of QUIET, tagged later
    _pay(node, hidden, QUIET, 1 * ETHER)
    ws.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil"))
    ws.tags_add(TagAddRequest(address=RANSOM, label="Locker gang", category="ransomware", currency="ANVIL"))

    def score(address: str) -> float:
        return ws.risk(RiskRequest(target=address, chain="anvil")).score

    assert score(MULE) == 0 and score(QUIET) == 0
    add = {a: ws.watch_add([a], chain="anvil", rule="risk-above", threshold=THRESHOLD) for a in (MULE, QUIET, LATER)}
    items = {a: r.items[0].id for a, r in add.items()}
    assert "not on the chain yet" in add[LATER].notes[0]
    assert _alerts(store, items[MULE]) == []

    paid = _pay(node, RANSOM, MULE, 2 * ETHER)  # direct illicit exposure: the score crosses
    first = _pay(node, RANSOM, LATER, ETHER)  # LATER appears, paid by the gang
    ws.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil"))
    after = score(MULE)
    assert after >= 40  # exposure-illicit, direct: at least its base
    (doc,) = _alerts(store, items[MULE])
    assert doc["rule"] == "risk-above" and doc["via"] == "new activity" and doc["txid"] == paid
    assert doc["facts"]["address"].lower() == MULE and doc["facts"]["score"] == after
    assert doc["facts"]["threshold"] == THRESHOLD
    assert any(r["rule"] == "exposure-illicit" for r in doc["facts"]["reasons"])
    receipt = node.rpc("eth_getTransactionReceipt", paid)
    assert doc["height"] == int(receipt["blockNumber"], 16) and doc["block_hash"] == receipt["blockHash"]
    (late,) = _alerts(store, items[LATER])
    assert late["txid"] == first and late["facts"]["score"] == score(LATER) >= 40

    _pay(node, RANSOM, MULE, ETHER)  # still above: once per crossing
    ws.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil"))
    assert len(_alerts(store, items[MULE])) == 1
    assert _alerts(store, items[QUIET]) == []  # QUIET was not touched and nothing changed for it

    ws.tags_add(TagAddRequest(address=hidden, label="Scam hub", category="scam", currency="ANVIL"))
    (via_tag,) = _alerts(store, items[QUIET])
    assert via_tag["via"] == "new attribution" and via_tag["attribution"]["kind"] == "analyst tag"
    assert via_tag["txid"] is None and via_tag["facts"]["score"] == score(QUIET) >= 40
    assert len(_alerts(store, items[MULE])) == 1  # re-scored, still above: nothing new
    with Store(store).connect(read_only=True) as con:
        (state,) = con.execute("SELECT state FROM watch_frontier WHERE item_id = ?", [items[MULE]]).fetchone()
    assert json.loads(state)["risk"]["above"] is True
