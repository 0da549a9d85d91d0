"""Address validation and normalisation per currency, against published test vectors."""

from __future__ import annotations

import pytest

from fundtrail.tags.currencies import CHECKSUM, FORMAT, InvalidAddress, infer_currency, lookup_key, normalise

# EIP-55 examples from the EIP itself.
EIP55 = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
         "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"]


@pytest.mark.parametrize("addr", EIP55)
def test_eip55_vectors_validate_and_store_lower_case(addr: str) -> None:
    assert normalise("ETH", addr) == ("ETH", addr.lower(), CHECKSUM)


def test_eip55_typo_is_refused_and_unchecksummed_is_format_only() -> None:
    bad = EIP55[0][:-2] + "Ed"  # one letter's case flipped: the checksum fails
    with pytest.raises(InvalidAddress, match="EIP-55"):
        normalise("ETH", bad)
    assert normalise("BSC", EIP55[0].lower())[2] == FORMAT
    with pytest.raises(InvalidAddress, match="0x followed by 40 hex"):
        normalise("ETH", "0x1234")


def test_bitcoin_bip173_vector_any_case_and_wrong_network() -> None:
    # BIP173: P2WPKH of the generator point's key, upper case is valid and the same address.
    upper = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"
    assert normalise("BTC", upper) == ("BTC", upper.lower(), CHECKSUM)
    assert normalise("XBT", "1Archive1n2C579dMsAu3iC6tWzuQJz8dN")[:2] == ("BTC", "1Archive1n2C579dMsAu3iC6tWzuQJz8dN")
    with pytest.raises(InvalidAddress, match="checksum"):
        normalise("BTC", "1Archive1n2C579dMsAu3iC6tWzuQJz8dM")
    with pytest.raises(InvalidAddress, match="wrong network"):
        normalise("BTC", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")
    with pytest.raises(InvalidAddress, match="mixed case"):
        normalise("BTC", "bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")


def test_cashaddr_spec_vector_with_and_without_prefix() -> None:
    # The cashaddr specification's example for 1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu.
    full = "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"
    assert normalise("BCH", full) == ("BCH", full.split(":")[1], CHECKSUM)
    assert normalise("BCH", full.split(":")[1].upper())[1] == full.split(":")[1]
    assert lookup_key(full) == full.split(":")[1]
    with pytest.raises(InvalidAddress, match="cashaddr checksum"):
        normalise("BCH", "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6c")


@pytest.mark.parametrize("currency, addr", [
    ("LTC", "LbonesGyyeUDpQqtZQMmBUPJSEg4jHhUvb"), ("LTC", "M8wRkiNmi5K5339LE8ncpWLYgbWmR121JL"),
    ("XRP", "rGeyCsqc6vKXuyTGF39WJxmTRemoV3c97h"), ("ZEC", "t1ZmpK4QFcvyQZ3ghTgSboBW8b4HgiZHQF9"),
    ("TRX", "TRYL7PKCG4b4xRCM554Q5J6o8f1UjUmfnY"), ("BCH", "1K1rgZ1dz9w7dsR1HGS1drmzfUHMtqx1Tc"),
])
def test_base58check_families_verify_their_checksum(currency: str, addr: str) -> None:
    assert normalise(currency, addr) == (currency, addr, CHECKSUM)
    broken = addr[:-1] + ("1" if addr[-1] != "1" else "2")
    with pytest.raises(InvalidAddress):
        normalise(currency, broken)


def test_wrong_family_is_refused() -> None:
    # A Litecoin address is valid Base58Check but not a TRON one; the message says why.
    with pytest.raises(InvalidAddress, match="not a TRX address"):
        normalise("TRX", "LbonesGyyeUDpQqtZQMmBUPJSEg4jHhUvb")


def test_tokens_resolve_to_the_chain_of_their_address() -> None:
    assert normalise("USDT", "TRYL7PKCG4b4xRCM554Q5J6o8f1UjUmfnY")[0] == "TRX"
    assert normalise("USDC", EIP55[1])[0] == "ETH"
    assert infer_currency("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4") == "BTC"
    assert infer_currency("not-an-address") is None


def test_monero_and_unknown_currencies_are_format_only() -> None:
    xmr = "4" + "A" * 94
    assert normalise("XMR", xmr) == ("XMR", xmr, FORMAT)
    with pytest.raises(InvalidAddress, match="Monero"):
        normalise("XMR", "5be5543ff73456ab9f2d207887e2af87322c651ea1a873c5b25b7ffae456c320")
    assert normalise("ATOM", "cosmos1nynns8ex9fq6sjjfj8k79ymkdz4sqth06xexae")[2] == FORMAT
    with pytest.raises(InvalidAddress, match="printable"):
        normalise("SOL", "has space")


def test_chains_with_other_rules_are_not_held_to_evm_or_bitcoin_ones() -> None:
    # Zilliqa hex accounts have their own checksum (not EIP-55); AVAX X-chain addresses are bech32;
    # Bitcoin SV kept cashaddr. Real entries of the GraphSense bitfinex pack.
    assert normalise("ZILIQA", "0x326031E680419FB020A5361fF56384e166b5aa85")[1:] == (
        "0x326031e680419fb020a5361ff56384e166b5aa85", FORMAT)
    assert normalise("AVAX", "X-avax1ju2khnvkex4u30rt5jm5x8jd3jdfhvawg7ed9x")[2] == FORMAT
    assert normalise("BSV", "bitcoincash:qpnrayau0ax6qcwlxhdzp8kze5gfjwlznygdmdpwjv")[2] == CHECKSUM
    with pytest.raises(InvalidAddress, match="EIP-55"):
        normalise("AVAX", "0x326031E680419FB020A5361fF56384e166b5aa85")  # C-chain is EVM
