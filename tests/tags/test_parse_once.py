"""Screening parses each address once: the form check (`addressform.check_address`) reuses the
verdict of the first per-currency parse for every currency of a bech32 hrp, and the Base58Check
currencies come from the version bytes of the one decode. What `address_currencies` returns (or
raises) is unchanged: it equals the per-currency definition (with the full Bitcoin parser for the
Bitcoin networks) on a corpus of generated address forms."""

from __future__ import annotations

import random

import pytest

import fundtrail.chains.bitcoin.address as btc_address
import fundtrail.tags.addressform as addressform
import fundtrail.tags.currencies as currencies
from fundtrail.chains.bitcoin.address import (Bech32Variant, _to_5bit, base58check_encode, bech32_encode,
                                              parse_address, segwit_encode)
from fundtrail.errors import UsageError
from fundtrail.risk.profile import load_profile
from fundtrail.risk.screening import RiskService
from fundtrail.tags.addressform import check_address
from fundtrail.tags.currencies import (BTC_TEST_NETWORKS, EVM_ORDER, FORM_ORDER, InvalidAddress,
                                       address_currencies, explain_invalid, normalise)


def _segwit_addresses() -> list[str]:
    rng = random.Random(7)
    out = []
    for hrp in ("bc", "tb", "bcrt", "ltc"):
        for version, size in ((0, 20), (0, 32), (1, 32)):
            addr = segwit_encode(hrp, version, bytes(rng.randrange(256) for _ in range(size)))
            out += [addr, addr.upper()]
    return out


class _Store:
    """What `RiskService` reads of a store to classify: its chains."""

    def chains(self) -> list[dict[str, str]]:
        return [{"chain": "btc", "family": "utxo"}, {"chain": "btc-regtest", "family": "utxo"}]


@pytest.fixture
def bech32_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every bech32 decode (wherever it is called from), by the text decoded."""
    calls: list[str] = []
    real = btc_address.bech32_decode

    def counting(text: str) -> tuple[str, list[int], Bech32Variant]:
        calls.append(text)
        return real(text)

    for module in (btc_address, currencies, addressform):
        monkeypatch.setattr(module, "bech32_decode", counting)
    return calls


@pytest.mark.parametrize("addr", _segwit_addresses())
def test_a_bech32_address_is_parsed_once_per_classification(addr: str, bech32_calls: list[str]) -> None:
    service = RiskService(_Store(), load_profile())  # type: ignore[arg-type]
    target = service.classify(addr)
    assert bech32_calls == [addr]
    assert target.kind == "address"
    expected = {"bc": "btc", "bcrt": "btc-regtest"}.get(addr.lower().partition("1")[0])
    assert target.chain == expected
    bech32_calls.clear()
    form = check_address(addr)
    assert bech32_calls == [addr] and form.currencies
    assert form.currencies == address_currencies(addr)


def test_testnet_bech32_parsed_once_for_its_three_networks(bech32_calls: list[str]) -> None:
    addr = segwit_encode("tb", 0, bytes(range(20)))
    assert address_currencies(addr) == ("BTC-TESTNET", "BTC-TESTNET4", "BTC-SIGNET")
    assert len(bech32_calls) == 1


def _corpus() -> list[str]:
    """bech32(m) of Bitcoin, Litecoin and other hrps over witness versions, program lengths and
    both checksum variants (valid checksums of invalid programs included), in upper and mixed case
    and with one character changed; Base58Check of every version byte and payload length near the
    addresses'; and forms of every other kind."""
    rng = random.Random(5)
    out = []
    for hrp in ("bc", "tb", "bcrt", "ltc", "tltc", "zs", "cosmos", "xyz", "tb1x"):
        for version in (0, 1, 2, 16, 17):
            for size in (1, 2, 20, 32, 40, 41):
                if hrp == "zs" and size < 16:  # under 26 data characters: no form (ZEC's rule alone accepts it)
                    continue
                program = bytes(rng.randrange(256) for _ in range(size))
                for variant in (Bech32Variant.BECH32, Bech32Variant.BECH32M):
                    try:
                        s = bech32_encode(hrp, [version, *_to_5bit(program)], variant)
                    except ValueError:  # over 90 characters
                        continue
                    i = rng.randrange(len(s))
                    out += [s, s.upper(), s[:i] + rng.choice("qpzry9x8") + s[i + 1:], s[:i] + s[i].upper() + s[i + 1:]]
    for version in [bytes([v]) for v in range(256)] + [b"\x1c\xb8", b"\x1c\xbd", b"\x1c\x00"]:
        for size in (19, 20, 21):
            s = base58check_encode(version + bytes(rng.randrange(256) for _ in range(size)))
            i = rng.randrange(len(s))
            out += [s, s[:i] + rng.choice("123abcXYZ") + s[i + 1:]]
    out += ["0x" + "ab" * 20, "0x52908400098527886E0F7030069857D2E4169EE7", "0x" + "ab" * 32, "0x12",
            "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a", "qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
            "ecash:qpm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq", "4" + "A" * 94, "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
            "zs1z7rejlpsa98s2rrrfkwmaxu53e4ue0ulcrw0h4x5g8jl04tak0d3mm47vdtahatqrlkngh9sly",
            "", " ", "a b", "bc1q\x7f", "bc1qé", "hello", "x" * 600, "A" * 56, "f" * 64, "bc1", "tb1", "1", "bcx"]
    return out


def _accepts(currency: str, addr: str) -> bool:
    """The per-currency rule, with the full Bitcoin parser for the Bitcoin test networks."""
    if currency in BTC_TEST_NETWORKS:
        try:
            parse_address(addr, BTC_TEST_NETWORKS[currency])
        except UsageError:
            return False
        return True
    try:
        normalise(currency, addr)
    except InvalidAddress:
        return False
    return True


def _definition(text: str) -> tuple[str, ...]:
    addr = text.strip()
    try:
        if not addr:
            raise InvalidAddress("empty address")
        if len(addr) > currencies.MAX_ADDRESS_CHARS:
            raise InvalidAddress(currencies.too_long(addr))
        if addr[:2].lower() == "0x":
            explain_invalid(addr)
            return EVM_ORDER
        found = tuple(c for c in FORM_ORDER if _accepts(c, addr))
        if found:
            return found
        explain_invalid(addr)
    except InvalidAddress as exc:
        return (type(exc).__name__, str(exc))
    raise AssertionError("explain_invalid returned")


def _built(text: str) -> tuple[str, ...]:
    try:
        return address_currencies(text)
    except InvalidAddress as exc:
        return (type(exc).__name__, str(exc))


def test_address_currencies_unchanged_on_a_corpus_of_forms() -> None:
    corpus = _corpus()
    assert len(corpus) > 2000
    differ = [(s, _built(s), _definition(s)) for s in corpus if _built(s) != _definition(s)]
    assert not differ, differ[:5]
    accepted = [s for s in corpus if not _built(s)[0].endswith("Address")]
    assert len(accepted) > 300
    assert all(check_address(s).currencies == _built(s) for s in accepted)


def test_test_network_rule_is_the_full_parser_with_its_message() -> None:
    for addr in _corpus():
        for currency, net in BTC_TEST_NETWORKS.items():
            try:
                parse_address(addr.strip(), net)
                expected: tuple[str, ...] = (currency, currencies.lookup_key(addr), "checksum")
            except UsageError as exc:
                expected = ("invalid", exc.message.split(": ", 1)[-1])
            except Exception:  # noqa: BLE001 - what normalise refuses before parsing (empty, too long)
                continue
            try:
                got: tuple[str, ...] = normalise(currency, addr)
            except InvalidAddress as exc:
                got = ("invalid", str(exc))
            if addr.strip() and len(addr) <= currencies.MAX_ADDRESS_CHARS:
                assert got == expected, (addr, currency)
