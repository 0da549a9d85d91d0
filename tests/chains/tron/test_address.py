"""TRON address codec against other projects' known answers, and the per-chain resolver.

Vectors: issue 18 (TGCRkw1…, USDT TR7NHqj…); tron-format-address (wemaketech, index.js); tron4j
(Base58CheckTest.java); iexbase/tron-api-python (examples/hex.py); TRON's documentation
(Tron-overview: TJCnKsPa7y5…, quoted by the tron-wallet converter spec); the all-zero account
T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb (a Rust TRON crate's test).
"""

from __future__ import annotations

import pytest

from fundtrail.chains.resolve import accepts, account_text, parse_account_address
from fundtrail.chains.tron.address import is_tron_address, node_address, parse_tron_address, to_base58, to_hex41
from fundtrail.chains.tron.address import TRON_NETWORKS
from fundtrail.errors import DataError, UsageError
from fundtrail.model.chains import ACCOUNT_CHAINS, TRON_CHAINS, address_format

VECTORS = [
    ("414450cf8c8b6a8229b7f628e36b3a658e84441b6f", "TGCRkw1Vq759FBCrwxkZGgqZbRX1WkBHSu"),
    ("41a614f803b6fd780986a42c78ec9c7f77e6ded13c", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    ("411a6ac17c82ad141ebc524a9ffc94965848f35279", "TCNtTa1rveKkovHR2ebABu4K66U6ocUCZX"),
    ("412eb90f8356345c903d9f85e58d1b8177890adfb6", "TEEFn7rQqx4Xc3GL1Bx27A155xAj7w5W7a"),
    ("4149a5f0cda413ab723fff9baf956329ecfe5d1a23", "TGgd7pXdZALo9GyT4pmF2tT6JRf7ETWVcL"),
    ("4159d3ad9d126e153b9564417d3a05cf51c1964edf", "TJAAinkKN2h9KxtBZXw6SyL7HwCQXnzFsE"),
    ("41bbc8c05f1b09839e72db044a6aa57e2a5d414a10", "TT67rPNwgmpeimvHUMVzFfKsjL9GZ1wGw8"),
    ("415a523b449890854c8fc460ab602df9f31fe4293f", "TJCnKsPa7y5okkXvQAidZBzqx3QyQ6sxMW"),
    ("410000000000000000000000000000000000000000", "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"),
]


@pytest.mark.parametrize(("hex41", "b58"), VECTORS)
def test_known_vectors_both_ways(hex41, b58):
    raw = bytes.fromhex(hex41[2:])
    assert to_base58(raw) == b58
    assert to_hex41(raw) == hex41
    for form in (b58, hex41, hex41.upper(), "0x" + hex41[2:], f"  {b58} "):
        assert parse_tron_address(form) == raw
    assert node_address(hex41, "here") == raw
    assert node_address(b58, "here") == raw


@pytest.mark.parametrize(("text", "why"), [
    ("TGCRkw1Vq759FBCrwxkZGgqZbRX1WkBHSv", "checksum"),  # last character changed
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "version byte 0x00"),  # a Bitcoin address
    ("424450cf8c8b6a8229b7f628e36b3a658e84441b6f", "expected T"),  # 42 hex digits, wrong prefix
    ("414450cf8c8b6a8229b7f628e36b3a658e84441b", "expected T"),  # too short
    ("0x4450cf8c8b6a8229b7f628e36b3a658e84441b", "40 hex digits"),
    ("TGCRkw1Vq759FBCrwxkZGgqZbRX1WkBHS0", "invalid Base58 character '0'"),
    ("", "empty"),
])
def test_bad_addresses_are_one_line_usage_errors_naming_the_field(text, why):
    with pytest.raises(UsageError) as exc:
        parse_tron_address(text, field="seed")
    assert exc.value.field == "seed"
    assert why in exc.value.message and "\n" not in exc.value.message
    assert not is_tron_address(text)


def test_node_data_errors_name_where():
    with pytest.raises(DataError, match="block 5, tx ab, field to_address: 'zz' is not a TRON address"):
        node_address("zz", "block 5, tx ab, field to_address")
    with pytest.raises(DataError, match="checksum"):
        node_address("TGCRkw1Vq759FBCrwxkZGgqZbRX1WkBHSv", "x")


def test_resolver_per_chain():
    raw = bytes.fromhex("a614f803b6fd780986a42c78ec9c7f77e6ded13c")
    usdt = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    for kw in ({"chain": "tron"}, {"network": "chain-id-728126428"}, {"chain": "tron-nile"}):
        assert parse_account_address(usdt, **kw) == raw
        assert parse_account_address("41" + raw.hex(), **kw) == raw
        assert account_text(raw, **kw) == usdt
    shown = account_text(raw, chain="eth")
    assert shown.lower() == "0x" + raw.hex() and shown != shown.lower()  # EIP-55 mixed case
    assert account_text(raw) == account_text(raw, chain="eth")
    with pytest.raises(UsageError) as exc:
        parse_account_address(usdt, chain="eth", field="q")
    assert exc.value.field == "q"
    assert accepts("account", "chain-id-728126428", usdt)
    assert accepts("account", "chain-id-728126428", "0x" + raw.hex())
    assert not accepts("account", "chain-id-1", usdt)
    assert accepts("account", "chain-id-999", usdt, chain="tron")


def test_resolver_and_chain_config_agree_on_which_chains_are_tron():
    assert {n: c.chain_id for n, c in TRON_CHAINS.items()} == TRON_NETWORKS
    for name, c in ACCOUNT_CHAINS.items():
        assert (address_format(name) == "base58check") == (name in TRON_NETWORKS)
        assert address_format(network=c.network) == address_format(name)
    tron = TRON_CHAINS["tron"]
    assert (tron.native_symbol, tron.native_decimals, tron.chain_id) == ("TRX", 6, 728126428)
    # TRON's chain id is the last 4 bytes of its genesis block id (T2's fake node carries the real one)
    assert int("00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc"[-8:], 16) == tron.chain_id
