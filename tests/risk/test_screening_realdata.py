"""`risk` and `screen` on real data: mainnet block 574200 and the real OFAC lists (issue 12 items
2, 3, 5, 8, 9, 10, 17, 18).

Expected answers come from the data, not from fundtrail: the transaction's outputs and inputs from
embit's parse of the raw block, sanctioned addresses from the OFAC list files themselves.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from embit import compact
from embit.networks import NETWORKS
from embit.transaction import Transaction

from fundtrail.cli.progress import progress_steps
from fundtrail.cli.main import main
from fundtrail.risk.profile import load_profile
from fundtrail.risk.screening import RiskService
from fundtrail.store import Store

BLOCK = "btc-raw-blocks/btcd/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
OFAC = "sanctions/ofac-0xB10C"
TXID = "41f366c2afcc222fe45398b6dc13dcca8874ca6ed288420700575495d03f8dad"  # block 574200
SANCTIONED = "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d"


def _ofac(testdata: Path, asset: str) -> list[str]:
    """The addresses of one OFAC list file (one per line)."""
    path = testdata / OFAC / f"sanctioned_addresses_{asset}.txt"
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _embit_block(path: Path) -> list[Transaction]:
    stream = io.BytesIO(path.read_bytes())
    stream.read(80)
    return [Transaction.read_from(stream) for _ in range(compact.read_from(stream))]


def _address(script) -> str | None:
    try:
        return script.address(NETWORKS["main"])
    except Exception:  # noqa: BLE001 (embit raises various errors for scripts without an address)
        return None


@pytest.fixture(scope="module")
def data(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("screening")
    tags_only = base / "tags-only"
    assert main(["-q", "--store", str(tags_only), "tags", "import", str(testdata / OFAC)]) == 0
    pristine = base / "btc-pristine"  # the OFAC tags and block 574200, no derived index yet
    shutil.copytree(tags_only, pristine)
    assert main(["-q", "--store", str(pristine), "ingest", "bitcoin", "--raw", str(testdata / BLOCK)]) == 0
    btc = base / "btc"
    shutil.copytree(pristine, btc)
    txs = _embit_block(testdata / BLOCK)
    return {"base": base, "tags_only": str(tags_only), "pristine": pristine, "btc": str(btc),
            "txs": {tx.txid().hex(): tx for tx in txs}, "order": [tx.txid().hex() for tx in txs]}


def _risk(store: str, capsys, *args: str) -> list[dict]:
    assert main(["--store", store, "risk", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


# -- item 2: a transaction is scored by both sides, and unresolved inputs are said ----------------

def test_payment_to_a_sanctioned_address_is_a_hit(data: dict, testdata: Path, capsys) -> None:
    assert SANCTIONED in _ofac(testdata, "XBT")
    tx = data["txs"][TXID]
    paid = [n for n, out in enumerate(tx.vout) if _address(out.script_pubkey) == SANCTIONED]
    assert paid, "the transaction pays the OFAC-listed address (embit)"
    (r,) = _risk(data["btc"], capsys, TXID)
    assert r["kind"] == "transaction" and r["score"] == 100 and r["severity"] == "severe"
    hit = r["reasons"][0]
    assert (hit["rule"], hit["side"], hit["via_address"], hit["outputs"]) == (
        "tagged-sanctioned", "paying", SANCTIONED, paid)
    assert hit["tags"][0]["category"] == "sanction" and hit["tags"][0]["currency"] == "BTC"
    assert "treasury.gov/ofac" in hit["tags"][0]["source"]
    # only this block is stored: none of the spent outputs are, and the result says so
    n_in = len(tx.vin)
    assert r["transaction"]["inputs"] == r["transaction"]["inputs_unresolved"] == n_in
    assert r["transaction"]["funding_score"] == 0 and r["transaction"]["paying_score"] == 100
    line = f"{n_in} of {n_in} inputs unresolved: the funding side could not be assessed"
    assert line in r["note"]
    assert main(["--store", data["btc"], "risk", TXID]) == 0
    out = capsys.readouterr().out
    assert line in out and f"(paying side: {SANCTIONED}, output {paid[0]})" in out


def test_funding_side_is_scored_where_inputs_resolve(data: dict, capsys) -> None:
    """A transaction of block 574200 spending an output of an earlier one in the same block: its
    funder (found by embit) tagged as ransomware makes it a hit on the funding side."""
    pos = {txid: i for i, txid in enumerate(data["order"])}
    spender, funder = None, None
    for txid in data["order"][1:]:
        tx = data["txs"][txid]
        prev = [(inp.txid.hex(), inp.vout) for inp in tx.vin]
        if all(p in pos and pos[p] < pos[txid] for p, _ in prev):
            addrs = {_address(data["txs"][p].vout[v].script_pubkey) for p, v in prev}
            if len(addrs) == 1 and None not in addrs:
                spender, funder = txid, addrs.pop()
                break
    assert spender is not None, "block 574200 has transactions spending outputs of earlier ones"
    assert main(["-q", "--store", data["btc"], "tags", "add", funder, "--label", "test funder",
                 "--category", "ransomware", "--currency", "BTC"]) == 0
    capsys.readouterr()
    (r,) = _risk(data["btc"], capsys, spender)
    tx = data["txs"][spender]
    assert r["transaction"]["inputs"] == len(tx.vin) and r["transaction"]["inputs_unresolved"] == 0
    funding = [x for x in r["reasons"] if x["side"] == "funding"]
    assert funding and funding[0]["via_address"] == funder and funding[0]["rule"] == "tagged-illicit"
    assert r["score"] >= 90 and "unresolved" not in (r["note"] or "")


# -- item 3: screening without chain data, and across chains --------------------------------------

def _samples(testdata: Path) -> dict[str, str]:
    """One OFAC-listed address per list: Bitcoin, Ethereum, TRON, USDT on TRON and on Ethereum."""
    usdt = _ofac(testdata, "USDT")
    return {"XBT": _ofac(testdata, "XBT")[0], "ETH": _ofac(testdata, "ETH")[0], "TRX": _ofac(testdata, "TRX")[0],
            "USDT-TRON": next(a for a in usdt if a.startswith("T")),
            "USDT-EVM": next(a for a in usdt if a.startswith("0x"))}


def test_tags_only_store_scores_every_currency(data: dict, testdata: Path, capsys) -> None:
    samples = _samples(testdata)
    results = _risk(data["tags_only"], capsys, *samples.values())
    for (asset, address), r in zip(samples.items(), results):
        assert r["address"] == address and r["score"] == 100, asset
        assert r["reasons"][0]["rule"] == "tagged-sanctioned"
        assert r["exposure_computed"] is False and r["exposure"] is None
        assert "stored: none" in r["exposure_reason"] and "exposure not computed" in r["note"]
    assert [r["currency"] for r in results] == ["BTC", "ETH", "TRX", "TRX", "ETH"]
    assert "EVM" in results[1]["exposure_reason"] and "tags of ETH" in results[1]["note"]
    assert main(["--store", data["tags_only"], "risk", samples["TRX"]]) == 0
    assert "exposure not computed (the store holds no TRX chain" in capsys.readouterr().out
    # naming a chain fundtrail knows but the store lacks: that chain's tags, said so
    (r,) = _risk(data["tags_only"], capsys, "--chain", "btc", samples["XBT"])
    assert r["score"] == 100 and r["exposure_reason"].startswith("chain btc is not in the store")
    # a transaction cannot be looked up without its chain
    assert main(["--store", data["tags_only"], "risk", TXID]) == 6
    assert "holds no UTXO (Bitcoin-family) chain" in capsys.readouterr().err


def test_bitcoin_store_scores_other_currencies_from_tags(data: dict, testdata: Path, capsys) -> None:
    samples = _samples(testdata)
    btc, eth, trx = _risk(data["btc"], capsys, SANCTIONED, samples["ETH"], samples["TRX"])
    assert btc["chain"] == "btc" and btc["exposure_computed"] is True and btc["activity_in_store"] is True
    assert btc["score"] == 100 and btc["exposure"]["received_sat"] > 0
    for r in (eth, trx):
        assert r["score"] == 100 and r["exposure_computed"] is False and r["chain"] is None
        assert "(stored: btc)" in r["exposure_reason"]
    assert main(["--store", data["btc"], "risk", "--chain", "btc", samples["ETH"]]) == 2
    assert "is not a btc address" in capsys.readouterr().err


# -- items 3, 5, 18: screen keeps every input column and scores rows of every currency ------------

def _screen_input(testdata: Path) -> tuple[list[list[str]], list[str]]:
    """Rows (customer id, address, comment): the first address of every OFAC list, then bad rows."""
    rows, assets = [], []
    for path in sorted((testdata / OFAC).glob("sanctioned_addresses_*.txt")):
        asset = path.stem.rsplit("_", 1)[1]
        rows.append([f"C{len(rows) + 1:03d}", _ofac(testdata, asset)[0], f"OFAC {asset}"])
        assets.append(asset)
    rows.append(["C900", SANCTIONED[:-1] + "e", "typo"])  # one character off: bad checksum
    rows.append(["C901", "", "no address given"])
    return rows, assets


@pytest.mark.parametrize("store_key", ["tags_only", "btc"])
def test_screen_keeps_columns_and_scores_every_currency(data: dict, testdata: Path, capsys, tmp_path: Path,
                                                        store_key: str) -> None:
    rows, assets = _screen_input(testdata)
    assert len(assets) >= 15
    text = "customer_id;Address;comment\r\n" + "".join(";".join(r) + "\r\n" for r in rows)
    src = tmp_path / "customers.csv"
    src.write_bytes(text.encode("utf-16"))  # Excel's "Unicode text": UTF-16 with a BOM
    out = tmp_path / "out.csv"
    assert main(["--store", data[store_key], "screen", str(src), "-o", str(out)]) == 3
    assert f"2 of {len(rows)} inputs could not be screened" in capsys.readouterr().err
    with open(out, newline="") as fh:
        got = list(csv.reader(fh))
    header, body = got[0], got[1:]
    assert header[:3] == ["customer_id", "Address", "comment"] and header[3] == "input"
    assert [r[:3] for r in body] == rows  # every row, in order, with its own columns
    res = [dict(zip(header, r)) for r in body]
    for r, asset in zip(res, assets):
        assert r["error"] == "" and r["score"] == "100" and "tagged-sanctioned" in r["top_reasons"], asset
    assert res[-2]["error"].startswith(f"line {len(rows)}: ") and "checksum" in res[-2]["error"]
    assert res[-1]["error"].startswith(f"line {len(rows) + 1}: ") and res[-1]["score"] == ""


def test_screen_reads_utf8_bom_crlf(data: dict, capsys, tmp_path: Path) -> None:
    src = tmp_path / "bom.csv"
    src.write_bytes(b"\xef\xbb\xbfaddress,id\r\n" + f"{SANCTIONED},1\r\n".encode())
    assert main(["--store", data["tags_only"], "screen", str(src)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["address"] == SANCTIONED and rows[0]["score"] == "100"


# -- items 8, 9: bad output paths and options are one-line errors ---------------------------------

@pytest.mark.parametrize("extra, text", [
    (["-o", "{tmp}/missing/out.csv"], "does not exist"),
    (["-o", "{tmp}"], "is a directory"),
    (["--top", "-1"], "--top must be 0 or more"),
])
def test_screen_bad_output_or_option(data: dict, capsys, tmp_path: Path, extra: list[str], text: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(f"address\n{SANCTIONED}\n")
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(["--store", data["tags_only"], "screen", str(src), *args]) == 2
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "missing").exists()


# -- item 10: malformed input is rejected before any index is built or loaded ---------------------

def test_malformed_input_is_rejected_before_any_index(data: dict, capsys, tmp_path: Path) -> None:
    store = data["pristine"]
    for bad in ("not-an-address", SANCTIONED[:-1] + "e", "0x1234"):
        assert main(["--store", str(store), "risk", bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and bad in err
    src = tmp_path / "bad.csv"
    src.write_text("address\nnot-an-address\n0x1234\n")
    assert main(["--store", str(store), "screen", str(src)]) == 3
    assert "2 of 2 inputs could not be screened" in capsys.readouterr().err
    assert not (store / "derived").exists(), "no graph, tag map or exposure index was built"


# -- item 17: long steps are announced on stderr ----------------------------------------------------

def test_progress_lines_for_each_step(data: dict, tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(data["pristine"], root)
    store = Store.open(root, create=False)
    quiet = io.StringIO()
    RiskService(store, load_profile(), step=progress_steps(True, after=0, stream=quiet)).score(
        [RiskService(store, load_profile()).classify(SANCTIONED)])
    assert quiet.getvalue() == ""
    shutil.rmtree(root / "derived")
    lines = io.StringIO()
    service = RiskService(store, load_profile(), step=progress_steps(False, after=0, stream=lines))
    (r,) = service.score([service.classify(SANCTIONED)])
    assert r.score == 100
    text = lines.getvalue()
    for step in ("updating the graph index of btc", "resolving BTC tags to btc addresses",
                 "updating the exposure index of btc"):
        assert f"fundtrail: {step}…\n" in text and f"fundtrail: {step}: done in " in text
    slow_only = io.StringIO()  # steps quicker than the threshold stay silent
    service = RiskService(store, load_profile(), step=progress_steps(False, after=60, stream=slow_only))
    service.score([service.classify(SANCTIONED)])
    assert slow_only.getvalue() == ""
