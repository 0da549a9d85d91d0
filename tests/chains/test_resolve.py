"""The one address rule: typed text -> key/fingerprint (chains.resolve) -> stored id (store.addresses),
agreeing with the ids ingest assigned."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.realchain import real_store

from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.resolve import accepts, parse_account_address, parse_utxo_address
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store.addresses import account_address_id, utxo_address_id


def test_parse_utxo_address_canonical_and_fingerprint() -> None:
    a = parse_utxo_address("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "mainnet")
    assert a.text == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4" and a.script_name == "p2wpkh"
    assert (a.fp1, a.fp2) == fingerprint(*address_key(a.script_type, a.payload))
    with pytest.raises(UsageError) as err:
        parse_utxo_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "regtest", field="q")
    assert err.value.field == "q" and "mainnet" in err.value.message
    assert accepts("utxo", "mainnet", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    assert not accepts("account", "", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")


def test_parse_account_address_checks_eip55() -> None:
    raw = parse_account_address("0x52908400098527886E0F7030069857D2E4169EE7")
    assert len(raw) == 20
    with pytest.raises(UsageError) as err:
        parse_account_address("0x52908400098527886e0F7030069857D2E4169EE7")
    assert err.value.field == "address"
    with pytest.raises(UsageError):
        parse_account_address("0x" + "a" * 39)
    with pytest.raises(UsageError):
        parse_account_address("x" * 500)


def test_p2pk_outputs_resolve_as_their_p2pkh_address() -> None:
    key = bytes.fromhex("04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f3"
                        "5504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f")  # the genesis coinbase key
    kind, payload = address_key(1, key)
    assert fingerprint(kind, payload) == (lambda a: (a.fp1, a.fp2))(
        parse_utxo_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "mainnet"))


def test_store_resolvers_on_real_blocks(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    store = real_store(testdata, tmp_path_factory.mktemp("resolve"))
    chain, aid = utxo_address_id(store, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")
    with store.query() as con:
        first = con.execute("SELECT address_id FROM btc_outputs WHERE tx_id = 0 AND n = 0").fetchone()[0]
    assert (chain, aid) == ("btc", first)
    with pytest.raises(NotFoundError) as err:
        utxo_address_id(store, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", chain="btc")
    assert err.value.field == "address"
    with pytest.raises(NotFoundError):  # no account chain stored
        account_address_id(store, "0x52908400098527886E0F7030069857D2E4169EE7")
