"""Currency codes of tags, and per-currency address validation and normalisation.

A tag is keyed by (currency, normalised address). Normalisation makes one address one string:
EVM hex and bech32/cashaddr are case-insensitive, so they are stored in lower case; Base58 is
case-sensitive and kept as written. `lookup_key` applies the same rule to any text without knowing
its currency, which is what lets a lookup find tags of every currency at once.

What is checked (docs/attribution.md has the table):
- BTC: BIP173/BIP350 bech32(m) with hrp `bc`, or Base58Check with version 0x00/0x05 (the parser in
  `chains.bitcoin.address`; testnet addresses are refused as the wrong network).
- BTC-TESTNET, BTC-TESTNET4, BTC-SIGNET, BTC-REGTEST (TBTC = BTC-TESTNET): the same parser for that
  network (the simulator's chains are regtest).
- EVM chains (ETH, ETC, BSC, POLYGON, ARB, OP, AVAX, FTM, BASE, ...): `0x` + 40 hex digits; a
  mixed-case address must carry a valid EIP-55 checksum. All-lower/all-upper has none: "format".
- LTC, DOGE, DASH, BCH/BSV (legacy form), BTG, XVG, ZEC (transparent), TRX, XRP: Base58Check with the
  currency's version bytes (XRP with the Ripple alphabet); LTC also bech32 `ltc`, ZEC sapling `zs`.
  TRX also as `41…`/`0x…` hex (java-tron's and the TVM's forms), stored as its `T…` text.
- BCH/BSV cashaddr (with or without the `bitcoincash:` prefix, stored without it): its checksum.
- Hex accounts of other chains (Zilliqa, ...): 40 hex digits, format only.
- XMR and every other currency: format only (plausible characters and length).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fundtrail.chains.bitcoin.address import (B58_ALPHABET, base58check_decode, bech32_decode,
                                              segwit_decode,
                                              parse_address as parse_btc_address)
from fundtrail.chains.bitcoin.params import MAINNET, REGTEST, SIGNET, TESTNET, TESTNET4, Network
from fundtrail.chains.tron.address import parse_tron_address, to_base58
from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.errors import UsageError

CHECKSUM = "checksum"  # the address's own checksum was verified
FORMAT = "format"  # plausible format only (no checksum exists or none is checked)

_CURRENCY_ALIASES = {"XBT": "BTC", "RIPPLE": "XRP", "BEP20": "BSC", "BNB": "BSC", "MATIC": "POLYGON",
                     "ARBITRUM": "ARB", "OPTIMISM": "OP", "FANTOM": "FTM", "TRON": "TRX",
                     "LITECOIN": "LTC", "BITCOIN": "BTC", "ETHEREUM": "ETH", "LUNA2": "LUNA",
                     "TBTC": "BTC-TESTNET"}
EVM = frozenset({"ETH", "ETC", "BSC", "POLYGON", "ARB", "OP", "AVAX", "FTM", "BASE", "KCS", "GNO",
                 "CELO", "CRO", "HT", "OKT", "MOVR", "GLMR", "AURORA", "RBTC", "SGB", "CLO"})
#: Tokens that live on several chains: the address format says which chain is meant.
TOKENS = frozenset({"USDT", "USDC", "DAI", "BUSD", "TUSD", "PAX", "WBTC", "UNKNOWN"})
#: Bitcoin test networks: their own currency codes (the store chain name in upper case), so that
#: tags for a testnet, signet or regtest store (the simulator writes regtest) never mix with mainnet.
BTC_TEST_NETWORKS = {"BTC-TESTNET": TESTNET, "BTC-TESTNET4": TESTNET4, "BTC-SIGNET": SIGNET,
                     "BTC-REGTEST": REGTEST}
#: Currency code -> fundtrail store chain, where fundtrail ingests that chain.
STORE_CHAINS = {"BTC": "btc", "ETH": "eth", "BSC": "bsc", "POLYGON": "polygon", "ARB": "arbitrum",
                "OP": "optimism", "AVAX": "avalanche", "BASE": "base", "TRX": "tron"}
#: Base58Check version prefixes (as bytes) of the legacy address forms.
_B58_VERSIONS: dict[str, tuple[bytes, ...]] = {
    "LTC": (b"\x30", b"\x32", b"\x05"), "DOGE": (b"\x1e", b"\x16"), "DASH": (b"\x4c", b"\x10"),
    "BCH": (b"\x00", b"\x05"), "BSV": (b"\x00", b"\x05"), "BTG": (b"\x26", b"\x17"),
    "XVG": (b"\x1e", b"\x21"), "ZEC": (b"\x1c\xb8", b"\x1c\xbd"), "TRX": (b"\x41",), "XRP": (b"\x00",),
}
_BECH32_HRP = {"LTC": "ltc", "ZEC": "zs"}
_RIPPLE_ALPHABET = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"
_RIPPLE_TO_BTC = str.maketrans(_RIPPLE_ALPHABET, B58_ALPHABET)
_HEX40 = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEX42 = re.compile(r"41[0-9a-fA-F]{40}")
_B58_CHARS = frozenset(B58_ALPHABET)
_BECH32_HRPS = ("bc1", "tb1", "bcrt1", "ltc1", "tltc1", "zs1", "bnb1", "cosmos1", "terra1", "addr1")
_CASHADDR = re.compile(r"(bitcoincash:)?[qp][qpzry9x8gf2tvdw0s3jn54khce6mua7l]{41}")
_CASHADDR_GEN = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
_CASHADDR_CHARS = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_FORMAT_ONLY = re.compile(r"[\x21-\x7e]{2,128}")
#: A currency code as tag sources write them: letters and digits, parts joined by single hyphens
#: (BTC, BTC-TESTNET4, L-BTC, V-SYSTEMS, 1INCH), after `currency_code` upper-cases it.
_CODE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
MAX_CODE_CHARS = 32
#: No address form is longer (Cardano Byron addresses, the longest, stay under 200 characters):
#: checked first, so a huge value is refused before any decoding (Base58 is quadratic).
MAX_ADDRESS_CHARS = 512


class InvalidAddress(ValueError):
    """An address that does not validate for its currency (the message says why)."""


class UnrecognisedAddress(InvalidAddress):
    """Text of no address form `address_currencies` knows (rather than a known form that fails)."""


def currency_code(text: str | None) -> str | None:
    """The canonical upper-case code of a currency name; None when empty."""
    if text is None:
        return None
    code = str(text).strip().upper()
    if not code:
        return None
    return _CURRENCY_ALIASES.get(code, code)


def check_currency(text: str, *, field: str = "currency") -> str:
    """The canonical code of a currency a user typed; UsageError on `field` when it cannot be a code.

    Any well-formed code is accepted, known or not: imported tag sources carry many currencies this
    module has no rule for (NEO, ADA, DOT, ...), whose addresses are then checked by format only
    (`normalise`). What is refused is text that is no code at all (spaces, punctuation, a sentence),
    which would otherwise be stored as a currency that no lookup ever asks for."""
    code = currency_code(text)
    if code is None or len(code) > MAX_CODE_CHARS or not _CODE.fullmatch(code):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise UsageError(f"currency {shown!r} is not a currency code", field=field,
                         hint="letters and digits, parts joined by '-': BTC, ETH, BTC-REGTEST, ...")
    return code


def infer_currency(address: str) -> str | None:
    """The chain an address of unknown or multi-chain currency belongs to, by its form."""
    text = address.strip()
    if _HEX40.fullmatch(text):
        return "ETH"
    if text[:1] == "T" and len(text) == 34 and _B58_CHARS.issuperset(text):
        return "TRX"
    if text.lower().startswith("bc1") or (text[:1] in "13" and 26 <= len(text) <= 35
                                          and _B58_CHARS.issuperset(text)):
        return "BTC"
    return None


def lookup_key(text: str) -> str:
    """The stored form of an address written in any case, without knowing its currency."""
    text = text.strip()
    lower = text.lower()
    if lower.startswith("0x") and len(text) == 42:
        return lower
    if (text == lower or text == text.upper()) and lower.startswith(_BECH32_HRPS):
        return lower
    if lower.startswith("bitcoincash:"):
        return lower[len("bitcoincash:"):]
    if len(text) == 42 and lower.startswith("41") and _HEX42.fullmatch(text):  # java-tron's hex: the T… key
        try:
            return to_base58(parse_tron_address(text))
        except UsageError:
            return text
    return text


def too_long(addr: str) -> str:
    """Why text longer than any address is refused."""
    return f"too long to be an address ({len(addr):,} characters; at most {MAX_ADDRESS_CHARS})"


def normalise(currency: str, text: str) -> tuple[str, str, str]:
    """(currency, stored address, validation) of one tagged address; InvalidAddress if invalid.

    A token currency (USDT, USDC, ...) resolves to the chain its address belongs to.
    """
    addr = str(text).strip()
    if not addr:
        raise InvalidAddress("empty address")
    if len(addr) > MAX_ADDRESS_CHARS:
        raise InvalidAddress(too_long(addr))
    cur = currency_code(currency) or "UNKNOWN"
    if cur in TOKENS:
        cur = infer_currency(addr) or cur
    if cur == "BTC":
        return cur, _bitcoin(addr), CHECKSUM
    if cur in BTC_TEST_NETWORKS:
        _bitcoin_test(addr, BTC_TEST_NETWORKS[cur])
        return cur, lookup_key(addr), CHECKSUM
    if cur in EVM and (addr[:2].lower() == "0x" or cur != "AVAX"):  # AVAX X/P-chain: bech32, below
        return cur, *_evm(addr)
    if _HEX40.fullmatch(addr) and cur not in _B58_VERSIONS:
        # Hex account of a chain whose checksum rule we do not know (Zilliqa's differs from EIP-55).
        return cur, addr.lower(), FORMAT
    if cur == "TRX" and addr[:2] in ("41", "0x", "0X"):
        return cur, _tron_hex(addr), FORMAT
    if cur in _B58_VERSIONS:
        return cur, *_base58_family(cur, addr)
    if cur == "XMR":
        if addr[:1] not in "48" or len(addr) not in (95, 106) or not _B58_CHARS.issuperset(addr):
            raise InvalidAddress("not a Monero address (4/8..., 95 or 106 Base58 characters)")
        return cur, addr, FORMAT
    if not _FORMAT_ONLY.fullmatch(addr):
        raise InvalidAddress("not an address (2..128 printable characters without spaces)")
    return cur, lookup_key(addr), FORMAT


def _bitcoin(addr: str) -> str:
    """Mainnet bech32(m) or Base58Check P2PKH/P2SH; the common forms are checked directly
    (segwit_decode, base58check_decode), anything else goes through the full parser for its message."""
    try:
        if addr[:3].lower() == "bc1":
            segwit_decode("bc", addr)
            return addr.lower()
        if addr[:1] in "13":
            bad = next((c for c in addr if c not in _B58_CHARS), None)
            if bad is not None:
                raise InvalidAddress(f"invalid Base58 character {bad!r}")
            payload = base58check_decode(addr)
            if len(payload) == 21 and payload[0] in (MAINNET.p2pkh_prefix, MAINNET.p2sh_prefix):
                return addr
        parse_btc_address(addr, MAINNET)
    except UsageError as exc:
        raise InvalidAddress(exc.message.split(": ", 1)[-1]) from None
    return lookup_key(addr)


def _bitcoin_test(addr: str, net: Network) -> None:
    """A Bitcoin test network's address (`parse_address` on `net`); its bech32(m) form is checked
    directly (`segwit_decode`: what `parse_address` checks of it), anything else or a failure goes
    through the full parser for its message."""
    if addr[:len(net.hrp) + 1].lower() == net.hrp + "1":
        try:
            segwit_decode(net.hrp, addr)
            return
        except UsageError:
            pass
    try:
        parse_btc_address(addr, net)
    except UsageError as exc:
        raise InvalidAddress(exc.message.split(": ", 1)[-1]) from None


def _evm(addr: str) -> tuple[str, str]:
    if not _HEX40.fullmatch(addr):
        raise InvalidAddress("not an EVM address (0x followed by 40 hex digits)")
    body = addr[2:]
    lower = body.lower()
    if body == lower or body == body.upper():
        return "0x" + lower, FORMAT
    raw = bytes.fromhex(lower)
    if eip55(raw)[2:] != body:
        raise InvalidAddress(f"bad EIP-55 checksum (the checksummed form is {eip55(raw)})")
    return "0x" + lower, CHECKSUM


def cashaddr_ok(prefix: str, body: str) -> bool:
    """The 40-bit cashaddr checksum of `body` (lower case, no prefix) under `prefix` (bitcoincash,
    ecash, ...)."""
    values = [ord(c) & 31 for c in prefix] + [0] + [_CASHADDR_CHARS.index(c) for c in body]
    chk = 1
    for v in values:
        top = chk >> 35
        chk = ((chk & 0x07FFFFFFFF) << 5) ^ v
        for i, gen in enumerate(_CASHADDR_GEN):
            if top >> i & 1:
                chk ^= gen
    return chk == 1


def _cashaddr(addr: str) -> str:
    """Bitcoin Cash cashaddr (prefix optional): the 40-bit BCH checksum over prefix and payload."""
    if addr != addr.lower() and addr != addr.upper():
        raise InvalidAddress("cashaddr in mixed case")
    body = lookup_key(addr.lower())
    if not cashaddr_ok("bitcoincash", body):
        raise InvalidAddress("bad cashaddr checksum")
    return body


def _tron_hex(addr: str) -> str:
    """A TRX address typed as `41…` or `0x…` hex (how java-tron and the TVM write it), stored as the
    `T…` Base58Check text every TRON tag is keyed by; hex carries no checksum (validation "format")."""
    try:
        return to_base58(parse_tron_address(addr))
    except UsageError as exc:
        raise InvalidAddress(exc.message.split(": ", 1)[-1]) from None


def _base58_family(cur: str, addr: str) -> tuple[str, str]:
    hrp = _BECH32_HRP.get(cur)
    if hrp and addr.lower().startswith(hrp + "1"):
        try:
            got, _, _ = bech32_decode(addr)
        except UsageError as exc:
            raise InvalidAddress(f"invalid bech32: {exc.message}") from None
        if got != hrp:
            raise InvalidAddress(f"bech32 prefix {got!r}, expected {hrp!r}")
        return addr.lower(), CHECKSUM
    if cur in ("BCH", "BSV") and _CASHADDR.fullmatch(addr.lower()):
        return _cashaddr(addr), CHECKSUM
    text = addr.translate(_RIPPLE_TO_BTC) if cur == "XRP" else addr
    try:
        payload = base58check_decode(text)
    except UsageError as exc:
        raise InvalidAddress(f"invalid Base58Check: {exc.message}") from None
    for version in _B58_VERSIONS[cur]:
        if payload.startswith(version) and len(payload) == len(version) + 20:
            return addr, CHECKSUM
    raise InvalidAddress(f"Base58Check version 0x{payload[:2].hex()} or length {len(payload)} "
                         f"is not a {cur} address")


#: Currencies whose address forms `address_currencies` recognises, most likely first. Forms shared
#: by several currencies (a `1...` Base58Check address is valid on BTC, BCH and BSV; `3...` also on
#: LTC; testnet forms on every Bitcoin test network) yield all of them, in this order.
_FORM_ORDER = ("BTC", "BTC-TESTNET", "BTC-TESTNET4", "BTC-SIGNET", "BTC-REGTEST", "TRX", "LTC", "BCH",
               "BSV", "DOGE", "DASH", "ZEC", "BTG", "XVG", "XRP", "XMR")
#: EVM currencies in the order `address_currencies` lists them for a `0x` + 40 hex address.
EVM_ORDER = ("ETH", *sorted(EVM - {"ETH"}))


#: Base58Check version bytes of every currency `normalise` checks by them (Bitcoin networks
#: included): what the form check (`addressform`) reads a Base58Check payload's currencies from.
BASE58_VERSIONS: dict[str, tuple[bytes, ...]] = {
    **{cur: (bytes([net.p2pkh_prefix]), bytes([net.p2sh_prefix]))
       for cur, net in (("BTC", MAINNET), *BTC_TEST_NETWORKS.items())},
    **{cur: v for cur, v in _B58_VERSIONS.items() if cur != "XRP"},  # XRP: its own alphabet
}
FORM_ORDER = _FORM_ORDER


def address_currencies(text: str) -> tuple[str, ...]:
    """Every currency whose address form `text` is valid for (checksum verified where the form has
    one), most likely first: an EVM address gives every EVM currency (`EVM_ORDER`).

    Raises InvalidAddress when no form fits, with the reason of the form the text most resembles
    (a bad checksum, a wrong length), so a typo is reported, never screened as a clean address;
    UnrecognisedAddress when it resembles none. The form check is `addressform.check_address`
    (`addressform.currencies_of`), so what counts as an address is decided in one place.
    """
    addr = str(text).strip()
    if not addr:
        raise InvalidAddress("empty address")
    if len(addr) > MAX_ADDRESS_CHARS:
        raise InvalidAddress(too_long(addr))
    return (_currencies_of or _load_currencies_of())(addr)


_currencies_of: Callable[[str], tuple[str, ...]] | None = None


def _load_currencies_of() -> Callable[[str], tuple[str, ...]]:
    """`addressform.currencies_of`, imported on first use (addressform builds on this module)."""
    global _currencies_of
    from fundtrail.tags.addressform import currencies_of

    _currencies_of = currencies_of
    return currencies_of


def explain_invalid(addr: str) -> None:
    """Raise why `addr` is no address of any currency: an EVM-looking text's reason, else that of
    the currency it resembles, else UnrecognisedAddress. Returns for a valid 0x + 40 hex address."""
    if addr[:2].lower() == "0x":
        _evm(addr)  # raises with the reason (length, EIP-55 checksum)
        return
    resembles = infer_currency(addr) or ("BTC-TESTNET" if addr[:3].lower() in ("tb1", "bcr") else None)
    if resembles is not None:
        try:
            normalise(resembles, addr)
        except InvalidAddress as exc:
            raise InvalidAddress(f"not a valid {resembles} address: {exc}") from None
    raise UnrecognisedAddress("not an address of a currency fundtrail can recognise by its form "
                              "(BTC, EVM 0x..., TRX, LTC, BCH, DOGE, DASH, ZEC, BTG, XVG, XRP, XMR)")
