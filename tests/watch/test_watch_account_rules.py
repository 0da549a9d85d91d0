"""The watch rules on an account chain, block by block on a real anvil (one-off ingests between
blocks, as a scheduler would run them): taint diluted by a clean balance under each policy, with
the amounts computed by hand from the script (the oracle); deposits from a listed category; an
address watched before it first appears; the errors of `watch add` for account chains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.anvil import Anvil

from fundtrail.errors import UsageError
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.job_models import IngestEthereumRequest
from fundtrail.workspace.tag_models import TagAddRequest

ETHER = 10**18
THIEF = "0x" + "71" * 20
MULE = "0x" + "3e" * 20
DEPOSIT = "0x" + "de" * 20
SANCTIONED = "0x" + "5a" * 20
LATER = "0x" + "1a" * 20  # paid only later: watched before it appears


def _pay(node: Anvil, frm: str, to: str, value: int) -> str:
    tx = {"from": frm, "to": to, "value": hex(value), "gasPrice": "0x0", "gas": hex(21_000)}
    receipt = node.wait_receipt(node.rpc("eth_sendTransaction", tx))
    assert int(receipt["status"], 16) == 1
    return str(receipt["transactionHash"])


def _ingest(ws: Workspace, node: Anvil) -> None:
    ws.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil"))


def _alerts(store: Path, item: str) -> list[dict[str, Any]]:
    with Store(store).connect(read_only=True) as con:
        rows = con.execute("SELECT document FROM alerts WHERE item_id = ? ORDER BY created_at", [item]).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.fixture()
def node() -> Any:
    with Anvil(extra_args=["--block-base-fee-per-gas", "0", "--auto-impersonate"]) as n:
        yield n


def test_haircut_poison_fifo_through_a_diluted_balance(node: Anvil, tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
    funder = node.accounts[0]
    _pay(node, funder, THIEF, 1 * ETHER)
    _pay(node, funder, MULE, 3 * ETHER)  # the mule's clean balance
    _ingest(ws, node)
    ws.tags_add(TagAddRequest(address=DEPOSIT, label="Exchange K", category="exchange", currency="ANVIL"))
    items = {p: ws.watch_add([THIEF], chain="anvil", rule="reaches-service", policy=p).items[0].id
             for p in ("haircut", "poison", "fifo")}
    _pay(node, THIEF, MULE, 1 * ETHER)  # the mule holds 3 clean + 1 traced
    _ingest(ws, node)
    first = _pay(node, MULE, DEPOSIT, 2 * ETHER)
    _ingest(ws, node)
    second = _pay(node, MULE, DEPOSIT, 2 * ETHER)
    _ingest(ws, node)
    got = {p: [(a["txid"], a["facts"]["amount_exact"]) for a in _alerts(store, i)] for p, i in items.items()}
    # haircut: each outflow carries the traced share 1/4 of what it takes; poison: all of it once
    # tainted; FIFO: the first 2 ETH take the older clean lots, the next 2 ETH 1 clean + 1 traced
    assert got["haircut"] == [(first, str(ETHER // 2)), (second, str(ETHER // 2))]
    assert got["poison"] == [(first, str(2 * ETHER)), (second, str(2 * ETHER))]
    assert got["fifo"] == [(second, str(ETHER))]
    doc = _alerts(store, items["fifo"])[0]
    assert doc["service"]["label"] == "Exchange K" and doc["facts"]["unit"] == "ETH"
    assert doc["facts"]["transfers"] == [{"from": doc["facts"]["transfers"][0]["from"], "to":
                                          doc["facts"]["transfers"][0]["to"], "amount": str(2 * ETHER)}]
    assert doc["facts"]["transfers"][0]["from"].lower() == MULE
    # the mule's ledger is kept as one row per block it changed in (the undo journal)
    with Store(store).connect(read_only=True) as con:
        rows = con.execute("SELECT output, amount FROM watch_frontier WHERE item_id = ? ORDER BY height",
                           [items["haircut"]]).fetchall()
    assert [a for o, a in rows if MULE[2:] in o.lower()] == [str(ETHER), str(ETHER // 2), "0"]


def test_deposit_from_a_category_and_an_address_not_seen_yet(node: Anvil, tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
    funder = node.accounts[0]
    _pay(node, funder, SANCTIONED, 5 * ETHER)
    _ingest(ws, node)
    ws.tags_add(TagAddRequest(address=SANCTIONED, label="Garantex", category="sanctioned", currency="ANVIL"))
    added = ws.watch_add([LATER], chain="anvil", rule="deposit", category="sanctioned")
    assert "not on the chain yet" in added.notes[0]
    watched = added.items[0].id
    tagged = ws.watch_add(["category:sanctioned"], chain="anvil", rule="moved").items[0].id
    _pay(node, funder, LATER, ETHER)  # not from the category: no deposit alert
    paid = _pay(node, SANCTIONED, LATER, 2 * ETHER)
    _ingest(ws, node)
    deposits = _alerts(store, watched)
    assert [(a["txid"], a["facts"]["amount"], a["payer"]["label"]) for a in deposits] == [
        (paid, str(2 * ETHER), "Garantex")]
    assert [(a["txid"], a["facts"]["amount"]) for a in _alerts(store, tagged)] == [(paid, str(2 * ETHER))]


def test_watch_add_errors_on_account_chains(node: Anvil, tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
    _pay(node, node.accounts[0], THIEF, ETHER)
    _ingest(ws, node)
    with pytest.raises(UsageError) as err:
        ws.watch_add([THIEF], chain="anvil", rule="risk-above")
    assert err.value.field == "threshold"
    with pytest.raises(UsageError) as err:
        ws.watch_add([THIEF], chain="anvil", rule="moved", min_value="0.5")
    assert err.value.field == "min_value" and "base units" in err.value.message
    with pytest.raises(UsageError) as err:
        ws.watch_add(["0x1234"], chain="anvil")
    assert err.value.field == "targets" and "0x1234" in err.value.message
    item = ws.watch_add([THIEF.upper().replace("0X", "0x")], chain="anvil", min_value="1000").items[0]
    assert item.target.lower() == THIEF and item.min_value == "1000"


def test_a_deposit_address_tagged_later_raises_via_new_attribution(node: Anvil, tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
    funder = node.accounts[0]
    _pay(node, funder, THIEF, 2 * ETHER)
    _pay(node, funder, MULE, ETHER)
    _ingest(ws, node)
    item = ws.watch_add([THIEF], chain="anvil", rule="reaches-service", policy="haircut").items[0].id
    _pay(node, THIEF, MULE, ETHER)  # the mule: 1 clean + 1 traced
    paid = _pay(node, MULE, DEPOSIT, ETHER)  # half of it traced reaches the (untagged) deposit address
    _ingest(ws, node)
    assert _alerts(store, item) == []
    ws.tags_add(TagAddRequest(address=DEPOSIT, label="Exchange K", category="exchange", currency="ANVIL"))
    docs = _alerts(store, item)
    assert len(docs) == 1, docs
    doc = docs[0]
    assert doc["via"] == "new attribution" and doc["attribution"]["kind"] == "analyst tag"
    assert doc["facts"]["amount_exact"] == str(ETHER // 2) and doc["service"]["label"] == "Exchange K"
    with Store(store).connect(read_only=True) as con:
        height = con.execute("SELECT height FROM block_index WHERE hash = ?",
                             [bytes.fromhex(doc["block_hash"][2:])]).fetchone()[0]
    receipt = node.rpc("eth_getTransactionReceipt", paid)
    assert height == doc["height"] == int(receipt["blockNumber"], 16)
    ws.tags_add(TagAddRequest(address=DEPOSIT, label="Exchange K hot", category="exchange", currency="ANVIL"))
    assert len(_alerts(store, item)) == 1  # the same ledger is not alerted twice
    _pay(node, THIEF, DEPOSIT, ETHER // 4)  # now tagged: the next batch alerts directly
    _ingest(ws, node)
    assert [d.get("via") for d in _alerts(store, item)] == ["new attribution", None]


def test_kyt_registration_on_an_account_chain(node: Anvil, tmp_path: Path) -> None:
    """A compliance desk registers a deposit its customer received from a sanctioned address: the
    risk of the paying side, the amount, and the alerts the rules raise today (a category item
    added after the ingest); an alert the ingest raised itself is reported, not raised twice."""
    from fundtrail.workspace.kyt_models import KytTransferRequest

    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))
    funder = node.accounts[0]
    _pay(node, funder, SANCTIONED, 5 * ETHER)
    _ingest(ws, node)
    ws.tags_add(TagAddRequest(address=SANCTIONED, label="Garantex", category="sanctioned", currency="ANVIL"))
    early = ws.watch_add([DEPOSIT], chain="anvil", rule="deposit").items[0].id  # watched before the payment
    paid = _pay(node, SANCTIONED, DEPOSIT, 2 * ETHER)
    _ingest(ws, node)
    late = ws.watch_add(["category:sanctioned"], chain="anvil", rule="moved").items[0].id  # added after it
    req = KytTransferRequest(chain="anvil", txid=paid, address=DEPOSIT, direction="received", customer_ref="cust-7")
    got = ws.kyt_register(req)
    assert got.created and got.amount == str(2 * ETHER) and got.unit == "ETH"
    assert [c.lower() for c in got.counterparties] == [SANCTIONED]
    assert got.score == 100 and got.severity == "severe"  # sanctioned: the shipped profile's top score
    by_item = {a.item_id: a for a in got.alerts}
    assert set(by_item) == {early, late}
    assert by_item[early].new is False  # the ingest raised it: reported with its id, not raised again
    assert by_item[late].new is True and "KYT transfer" in by_item[late].title
    assert len(_alerts(store, early)) == 1 and len(_alerts(store, late)) == 1
    again = ws.kyt_register(req)
    assert not again.created and {a.id for a in again.alerts} == {a.id for a in got.alerts}
    with pytest.raises(UsageError) as err:
        ws.kyt_register(KytTransferRequest(chain="anvil", txid=paid, address=THIEF, direction="received",
                                           customer_ref="cust-7"))
    assert err.value.field == "address" and "moves no value" in err.value.message
    with pytest.raises(UsageError) as err:
        ws.kyt_register(KytTransferRequest(chain="anvil", txid=paid, output=f"{paid[2:]}:0", direction="received",
                                           customer_ref="cust-7"))
    assert err.value.field == "output"
