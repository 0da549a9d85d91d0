"""Address validation cross-checked against an independent implementation (bip-utils) on every
address of the real OFAC lists and on a sample of the GraphSense Bitcoin tags."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bip_utils import (BchP2PKHAddrDecoder, BchP2SHAddrDecoder, EthAddrDecoder, P2PKHAddrDecoder,
                       P2SHAddrDecoder, SegwitBech32Decoder, TrxAddrDecoder, XrpAddrDecoder)

from fundtrail.tags.currencies import InvalidAddress, normalise
from fundtrail.tags.tagpack import load_yaml


def _b58(*versions: bytes) -> list[Callable[[str], object]]:
    return [lambda a, v=v: P2PKHAddrDecoder.DecodeAddr(a, net_ver=v) for v in versions]


def _cashaddr(a: str) -> object:
    full = a if ":" in a else "bitcoincash:" + a
    for dec in (BchP2PKHAddrDecoder, BchP2SHAddrDecoder):
        try:
            return dec.DecodeAddr(full.lower(), hrp="bitcoincash",
                                  net_ver=b"\x00" if dec is BchP2PKHAddrDecoder else b"\x08")
        except Exception:  # noqa: BLE001 - try the next form
            continue
    raise ValueError("not cashaddr")


def _eth(a: str) -> object:
    body = a[2:]
    # bip-utils wants the checksum form; all-lower/all-upper carry none and are valid as they are.
    return EthAddrDecoder.DecodeAddr(a, skip_chksum_enc=body in (body.lower(), body.upper()))


DECODERS: dict[str, list[Callable[[str], object]]] = {
    "BTC": [*_b58(b"\x00"), lambda a: P2SHAddrDecoder.DecodeAddr(a, net_ver=b"\x05"),
            lambda a: SegwitBech32Decoder.Decode("bc", a)],
    "LTC": [*_b58(b"\x30", b"\x32", b"\x05"), lambda a: SegwitBech32Decoder.Decode("ltc", a)],
    "ZEC": _b58(b"\x1c\xb8", b"\x1c\xbd"),
    "DASH": _b58(b"\x4c", b"\x10"),
    "BCH": [*_b58(b"\x00", b"\x05"), _cashaddr],
    "TRX": [TrxAddrDecoder.DecodeAddr],
    "XRP": [XrpAddrDecoder.DecodeAddr],
    "ETH": [_eth],
}
OFAC_ASSETS = {"XBT": "BTC", "LTC": "LTC", "ZEC": "ZEC", "DASH": "DASH", "BCH": "BCH", "TRX": "TRX",
               "XRP": "XRP", "ETH": "ETH", "USDT": None, "USDC": None}


def _theirs(currency: str, address: str) -> bool:
    for decode in DECODERS[currency]:
        try:
            decode(address)
            return True
        except Exception:  # noqa: BLE001 - bip-utils raises several types for invalid input
            continue
    return False


def _ours(currency: str, address: str) -> tuple[str, bool]:
    try:
        return normalise(currency, address)[0], True
    except InvalidAddress:
        return currency, False


@pytest.mark.parametrize("asset", sorted(OFAC_ASSETS))
def test_ofac_lists_agree_with_bip_utils(testdata: Path, asset: str) -> None:
    path = testdata / f"sanctions/ofac-0xB10C/sanctioned_addresses_{asset}.txt"
    addresses = path.read_text().split()
    assert addresses
    for address in addresses:
        currency, ours = _ours(OFAC_ASSETS[asset] or asset, address)
        if currency not in DECODERS:  # a token address of a chain without a decoder here
            continue
        assert ours == _theirs(currency, address), (asset, address)


def test_graphsense_bitcoin_tags_agree_with_bip_utils(testdata: Path) -> None:
    packs = testdata / "tagpacks/graphsense/packs"
    checked = 0
    for name in ("ransomware.yaml", "samourai.yaml", "hacks.yaml", "exchange-wallets-bitmex_6.yaml",
                 "etherscamdb_tagpack.yaml"):
        data, problem = load_yaml((packs / name).read_text(), name)
        assert problem is None
        for tag in data["tags"][:3000]:
            currency = str(tag.get("currency") or data.get("currency") or "").upper()
            if currency in ("BTC", "ETH"):
                assert _ours(currency, tag["address"])[1] == _theirs(currency, tag["address"]), tag
                checked += 1
    assert checked > 10_000
