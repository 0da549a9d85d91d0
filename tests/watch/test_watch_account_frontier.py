"""A saved account-chain trace (`T-…`) watched as a frontier, block by block on a real anvil: the
trace's `unspent` endpoints become the item's ledgers and move forward with the new blocks.

Hand-checked amounts (gas price 0: no fee dilutes a balance). The mule holds 3 ETH clean when
the thief's 1 ETH (the seed transfer) arrives: the trace leaves 1 ETH traced there under haircut
(share 1/4) and all 4 ETH under poison. The mule then pays 2 ETH to a tagged exchange deposit:
haircut 0.5 ETH of it is traced, poison 2 ETH. After 2 clean ETH more arrive (the mule holds
4 ETH, 0.5 traced: share 1/8), a second watch of the same trace re-runs it (the store moved on)
and starts from 0.5 ETH traced; the mule's next 4 ETH to the exchange carry 0.5 ETH for both
haircut items."""

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
from fundtrail.workspace.trace_models import TraceRequest

ETHER = 10**18
THIEF = "0x" + "71" * 20
MULE = "0x" + "3e" * 20
DEPOSIT = "0x" + "de" * 20


def _pay(node: Anvil, frm: str, to: str, value: int) -> str:
    tx = {"from": frm, "to": to, "value": hex(value), "gasPrice": "0x0", "gas": hex(21_000)}
    receipt = node.wait_receipt(node.rpc("eth_sendTransaction", tx))
    assert int(receipt["status"], 16) == 1
    return str(receipt["transactionHash"])


def _alerts(store: Path, item: str) -> list[dict[str, Any]]:
    with Store(store).connect(read_only=True) as con:
        rows = con.execute("SELECT document FROM alerts WHERE item_id = ? ORDER BY created_at", [item]).fetchall()
    return [json.loads(r[0]) for r in rows]


def _held(store: Path, item: str) -> list[tuple[str, str]]:
    """(address, amount) of the item's newest ledger rows."""
    with Store(store).connect(read_only=True) as con:
        rows = con.execute("SELECT output, amount, height FROM watch_frontier WHERE item_id = ? ORDER BY height",
                           [item]).fetchall()
    newest: dict[str, str] = {}
    for output, amount, _h in rows:
        newest[output.split(":")[1].lower()] = amount
    return sorted(newest.items())


@pytest.fixture()
def node() -> Any:
    with Anvil(extra_args=["--block-base-fee-per-gas", "0", "--auto-impersonate"]) as n:
        yield n


def test_saved_trace_frontier_on_an_account_chain(node: Anvil, tmp_path: Path) -> None:
    store = tmp_path / "s"
    Store.open(store)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="fay"))

    def ingest() -> None:
        ws.ingest_ethereum(IngestEthereumRequest(rpc=node.url, chain="anvil"))

    funder = node.accounts[0]
    _pay(node, funder, MULE, 3 * ETHER)
    _pay(node, funder, THIEF, ETHER)
    ingest()
    seed = _pay(node, THIEF, MULE, ETHER)
    ingest()
    ws.tags_add(TagAddRequest(address=DEPOSIT, label="Exchange K", category="exchange", currency="ANVIL"))
    case = ws.case_new("mule").id
    traces = {p: ws.case_trace(case, TraceRequest(seeds=[seed], chain="anvil", policy=p)).id
              for p in ("haircut", "poison", "fifo")}

    def watch(policy: str, rule: str = "reaches-service") -> tuple[str, list[str]]:
        got = ws.watch_add([traces[policy]], case=case, rule=rule)
        return got.items[0].id, got.notes

    hair, notes = watch("haircut")
    assert any("from the saved result" in n for n in notes)
    poison, _ = watch("poison")
    moved, _ = watch("haircut", "moved")
    assert _held(store, hair) == [(MULE, str(ETHER))]
    assert _held(store, poison) == [(MULE, str(4 * ETHER))]
    with pytest.raises(UsageError) as err:
        watch("fifo")
    assert "FIFO" in err.value.message and traces["fifo"] in err.value.message

    first = _pay(node, MULE, DEPOSIT, 2 * ETHER)
    ingest()
    got = {k: [(a["txid"], a["facts"]["amount_exact"]) for a in _alerts(store, i)]
           for k, i in (("hair", hair), ("poison", poison), ("moved", moved))}
    assert got == {"hair": [(first, str(ETHER // 2))], "poison": [(first, str(2 * ETHER))],
                   "moved": [(first, str(ETHER // 2))]}
    doc = _alerts(store, hair)[0]
    assert doc["service"]["label"] == "Exchange K" and doc["item"]["kind"] == "frontier"
    assert doc["item"]["target"] == traces["haircut"]
    assert _held(store, hair) == [(MULE, str(ETHER // 2))]

    _pay(node, funder, MULE, 2 * ETHER)  # the mule: 4 ETH, 0.5 traced
    ingest()
    late, notes = watch("haircut")
    assert any("re-run" in n for n in notes)
    assert _held(store, late) == [(MULE, str(ETHER // 2))]
    second = _pay(node, MULE, DEPOSIT, 4 * ETHER)
    ingest()
    assert [(a["txid"], a["facts"]["amount_exact"]) for a in _alerts(store, hair)][1:] == [(second, str(ETHER // 2))]
    assert [(a["txid"], a["facts"]["amount_exact"]) for a in _alerts(store, late)] == [(second, str(ETHER // 2))]
