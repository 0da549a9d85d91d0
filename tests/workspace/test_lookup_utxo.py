"""Search, address summary, address transactions and transaction detail on UTXO chains: a simulated
chain (checked against SQL over the lake, an independent path) and real mainnet blocks 0-599."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from support.realchain import real_store

from fundtrail.errors import NotFoundError, UsageError
from fundtrail.sim.scenario import simulate
from fundtrail.store import Store
from fundtrail.workspace import Workspace
from fundtrail.cli.main import main


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("lookup")
    simulate(base / "sim", seed=9, txs=1500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        addresses = [r["address"] for r in csv.DictReader(fh)]
    ws = Workspace.open(store=store)
    return {"ws": ws, "store": Store.open(store, create=False), "addresses": addresses}


def _oracle(store: Store, address_id: int) -> dict:
    """What SQL over the lake says about an address (not the graph index)."""
    with store.query() as con:
        recv = con.execute("SELECT coalesce(sum(value), 0), count(*) FROM btc_regtest_outputs WHERE address_id = ?",
                           [address_id]).fetchone()
        sent = con.execute("SELECT coalesce(sum(value), 0), count(*) FROM btc_regtest_inputs WHERE address_id = ?",
                           [address_id]).fetchone()
        txs = con.execute(
            "SELECT DISTINCT t.txid, t.block_height, t.tx_index FROM btc_regtest_transactions t WHERE t.tx_id IN "
            "(SELECT tx_id FROM btc_regtest_outputs WHERE address_id = ? UNION "
            " SELECT tx_id FROM btc_regtest_inputs WHERE address_id = ?) ORDER BY 2, 3",
            [address_id, address_id]).fetchall()
    return {"received": int(recv[0]), "received_count": int(recv[1]), "sent": int(sent[0]),
            "sent_count": int(sent[1]), "txids": [bytes(t[0])[::-1].hex() for t in txs]}


def test_address_summary_matches_the_lake(sim: dict) -> None:
    ws: Workspace = sim["ws"]
    checked = 0
    for text in sim["addresses"][:40]:
        try:
            s = ws.address(text, risk=False)
        except NotFoundError:
            continue
        want = _oracle(sim["store"], s.address_id)
        assert (s.received, s.sent, s.received_count, s.sent_count) == (
            want["received"], want["sent"], want["received_count"], want["sent_count"])
        assert s.balance == s.received - s.sent
        assert s.tx_count == len(want["txids"])
        assert s.first_seen is not None and s.first_seen.txid == want["txids"][0]
        assert s.last_seen is not None and s.last_seen.txid == want["txids"][-1]
        assert s.model_dump(mode="json")["address"] == text.lower() or text.startswith(("2", "m", "n"))
        checked += 1
    assert checked >= 20


def test_address_txs_cursor_round_trip_covers_every_tx_once(sim: dict) -> None:
    ws: Workspace = sim["ws"]
    busiest = max(sim["addresses"][:200], key=lambda a: _safe_count(ws, a))
    want = _oracle(sim["store"], ws.address(busiest, risk=False).address_id)["txids"]
    assert len(want) >= 3
    seen, cursor, pages = [], None, 0
    while True:
        page = ws.address_txs(busiest, limit=2, cursor=cursor)
        assert page.total == len(want) and len(page.txs) <= 2
        seen += [t.txid for t in page.txs]
        pages += 1
        cursor = page.page.next_cursor
        if cursor is None:
            break
    assert seen == want and pages == (len(want) + 1) // 2
    one = ws.address_txs(busiest, limit=1000)
    assert sum(t.received or 0 for t in one.txs) == ws.address(busiest, risk=False).received


def _safe_count(ws: Workspace, text: str) -> int:
    try:
        return ws.address(text, risk=False).tx_count
    except NotFoundError:
        return 0


def test_transaction_detail_conserves_value(sim: dict) -> None:
    ws: Workspace = sim["ws"]
    page = ws.address_txs(sim["addresses"][5], limit=5)
    for row in page.txs:
        d = ws.transaction(row.txid or "")
        assert d.txid == row.txid and d.family == "utxo"
        outs = sum(o.value for o in d.outputs)
        assert outs == d.output_value
        if not d.coinbase:
            assert sum(i.value or 0 for i in d.inputs) == d.input_value == outs + int(d.fee or 0)
        for o in d.outputs:
            if o.spent_by is not None:
                spender = ws.transaction(o.spent_by.txid)
                assert spender.inputs[o.spent_by.input].prevout == f"{d.txid}:{o.n}"


def test_search_kinds(sim: dict) -> None:
    ws: Workspace = sim["ws"]
    row = ws.address_txs(sim["addresses"][5], limit=1).txs[0]
    hits = ws.search(row.txid or "").hits
    assert [(h.kind, h.chain) for h in hits] == [("transaction", "btc-regtest")]
    assert hits[0].link == f"/api/v1/btc-regtest/txs/{row.txid}"
    out = ws.search(f"{row.txid}:0").hits
    assert out[0].kind == "output" and out[0].text == f"{row.txid}:0"
    addr = ws.search(sim["addresses"][5].upper() if sim["addresses"][5].startswith("bcrt1") else
                     sim["addresses"][5]).hits
    assert addr[0].kind == "address" and addr[0].text == ws.address(sim["addresses"][5], risk=False).address
    assert ws.search("0" * 64).hits == [] and ws.search("nothing-like-this").hits == []


@pytest.mark.parametrize("call, field", [
    (lambda ws, a: ws.address("not-an-address"), "address"),
    (lambda ws, a: ws.address("1BoatSLRHtKNngkdXEeobR76b53LETtpyT"), "address"),  # mainnet on regtest
    (lambda ws, a: ws.address_txs(a, limit=0), "limit"),
    (lambda ws, a: ws.address_txs(a, limit=1001), "limit"),
    (lambda ws, a: ws.address_txs(a, cursor="garbage!"), "cursor"),
    (lambda ws, a: ws.address_txs(a, cursor="eyJhZnRlciI6IngifQ"),
     "cursor"),
    (lambda ws, a: ws.transaction("xyz"), "txid"),
    (lambda ws, a: ws.transaction("0x" + "00" * 32, chain="btc-regtest"), "txid"),
    (lambda ws, a: ws.search("x" * 513), "q"),
    (lambda ws, a: ws.search(""), "q"),
    (lambda ws, a: ws.search("a", limit=0), "limit"),
])
def test_bad_input_names_the_field(sim: dict, call, field: str) -> None:
    seen = next(t for t in sim["addresses"] if _safe_count(sim["ws"], t))
    with pytest.raises(UsageError) as err:
        call(sim["ws"], seen)
    assert err.value.field == field and "\n" not in err.value.one_line()


def test_unknown_objects_are_not_found(sim: dict) -> None:
    ws: Workspace = sim["ws"]
    with pytest.raises(NotFoundError) as err:
        ws.transaction("00" * 32)
    assert err.value.field == "txid"
    with pytest.raises(NotFoundError) as err:
        ws.address(sim["addresses"][0], chain="nope")
    assert err.value.field == "chain"
    with pytest.raises(NotFoundError) as err:  # a well-formed regtest address nobody used, untagged
        ws.address("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
    assert err.value.field == "address"


# -- real mainnet blocks 0-599 --------------------------------------------------------------------
@pytest.fixture(scope="module")
def real(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    base = tmp_path_factory.mktemp("lookup-real")
    real_store(testdata, base)
    return Workspace.open(store=base / "store")


def test_real_genesis_and_block_170(real: Workspace) -> None:
    genesis = real.address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", risk=False)
    assert genesis.first_seen is not None and genesis.first_seen.height == 0
    assert genesis.first_seen.txid == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert genesis.received >= 50 * 10**8 and genesis.script_type == "p2pkh"
    d = real.transaction("f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16")
    assert d.height == 170 and not d.coinbase
    assert [(o.address, o.value) for o in d.outputs] == [("1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3", 10 * 10**8),
                                                          ("12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S", 40 * 10**8)]
    assert d.inputs[0].value == 50 * 10**8 and d.inputs[0].address == "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"
    assert d.inputs[0].prevout == "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9:0"
    assert d.fee == 0
    hal = real.address_txs("1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3")
    assert hal.txs[0].txid == d.txid and hal.txs[0].received == 10 * 10**8
