"""Address summary, transactions and transaction detail on an account chain: the EVM simulator's
recording (made on a real anvil node), ingested, checked against SQL over the lake's transfers."""

from __future__ import annotations

import csv

import pytest
from support.anvil import require_anvil

from fundtrail.cli.main import main
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store import Store
from fundtrail.workspace import Workspace


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_anvil()
    base = tmp_path_factory.mktemp("lookup-evm")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "300", "--out", str(base / "sim")]) == 0
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "ethereum", "--replay", str(base / "sim" / "rpc")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        addresses = [r["address"] for r in csv.DictReader(fh)]
    return {"ws": Workspace.open(store=store), "store": Store.open(store, create=False), "addresses": addresses}


def _oracle(store: Store, address: bytes) -> dict:
    with store.query() as con:
        aid = con.execute("SELECT address_id FROM anvil_addresses WHERE address = ?", [address]).fetchone()[0]
        rows = con.execute("SELECT from_id, to_id, amount_raw FROM anvil_transfers WHERE success AND asset_id IS NULL "
                           "AND kind IN (0, 1, 5, 6, 7) AND (from_id = ? OR to_id = ?)", [aid, aid]).fetchall()
        txs = con.execute("SELECT count(DISTINCT tx_id) FROM anvil_transfers WHERE success AND kind IN (0,1,2,5,6,7) "
                          "AND tx_id IS NOT NULL AND (from_id = ? OR to_id = ?)", [aid, aid]).fetchone()[0]
    got = sum(int.from_bytes(bytes(r[2]), "big") for r in rows if r[1] == aid)
    gave = sum(int.from_bytes(bytes(r[2]), "big") for r in rows if r[0] == aid)
    return {"received": got, "sent": gave, "txs": int(txs)}


def test_native_totals_match_the_lake(env: dict) -> None:
    ws: Workspace = env["ws"]
    checked = 0
    for text in env["addresses"][:30]:
        try:
            s = ws.address(text, risk=False)
        except NotFoundError:
            continue
        want = _oracle(env["store"], bytes.fromhex(text[2:]))
        assert s.family == "account" and s.unit == "wei" and s.assets[0].contract is None
        assert (int(s.received), int(s.sent)) == (want["received"], want["sent"])
        assert s.balance == str(want["received"] - want["sent"]) and s.tx_count == want["txs"]
        assert s.address == ws.search(text.lower()).hits[0].text  # EIP-55 both ways
        checked += 1
    assert checked >= 10


def test_txs_pages_and_transaction_detail(env: dict) -> None:
    ws: Workspace = env["ws"]
    busiest = max(env["addresses"][:30], key=lambda a: _count(ws, a))
    every = ws.address_txs(busiest, limit=1000)
    seen, cursor = [], None
    while True:
        page = ws.address_txs(busiest, limit=3, cursor=cursor)
        seen += [(t.txid, t.height) for t in page.txs]
        cursor = page.page.next_cursor
        if cursor is None:
            break
    assert seen == [(t.txid, t.height) for t in every.txs] and len(seen) == every.total >= 4
    heights = [h for _, h in seen]
    assert heights == sorted(heights)
    txid = next(t.txid for t in every.txs if t.txid)
    d = ws.transaction(txid)
    assert d.family == "account" and d.status in (0, 1) and d.transfers
    mine = {t.from_address for t in d.transfers} | {t.to_address for t in d.transfers}
    assert every.address in mine
    assert any(t.kind == "fee" for t in d.transfers)


def _count(ws: Workspace, text: str) -> int:
    try:
        return ws.address(text, risk=False).tx_count
    except NotFoundError:
        return 0


def test_account_bad_input(env: dict) -> None:
    ws: Workspace = env["ws"]
    with pytest.raises(UsageError) as err:
        ws.address("0x1234")
    assert err.value.field == "address"
    with pytest.raises(UsageError) as err:
        ws.transaction("abcd" * 16, chain="anvil")
    assert err.value.field == "txid"
    with pytest.raises(NotFoundError) as err:
        ws.transaction("0x" + "00" * 32)
    assert err.value.field == "txid"
