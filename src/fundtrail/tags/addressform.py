"""Is this text an address at all? The form check applied to every address a user asks about.

A lookup that treats a typo as "no tags" tells an analyst a bad address is clean. So every address
given to `tags show` / `tags lookup` is checked by its form before it is looked up, without knowing
its currency: a form that carries a checksum (Base58Check, bech32/bech32m, cashaddr, EIP-55 mixed
case) must verify, with the rules of the currency the form belongs to; a form without a checksum
(Solana/Polkadot Base58 keys, Stellar/Algorand base32, Monero, 0x + 64 hex) is accepted as
plausible. Text of no known form (EOS account names, numbers, `not-an-address`, a transaction
hash) is `unrecognised`: the caller accepts it only when a stored tag is keyed by it, since tag
sources do list such addresses for chains whose form is not checked here.

`check_address` raises `InvalidAddress` (from `tags.currencies`) with the reason; docs/attribution.md
("Checking the addresses users look up") has the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fundtrail.chains.bitcoin.address import B58_ALPHABET, base58_decode, bech32_decode
from fundtrail.chains.bitcoin.hashing import sha256d
from fundtrail.errors import UsageError
from fundtrail.tags.currencies import InvalidAddress, lookup_key, normalise

CHECKSUM = "checksum"  # the form's own checksum verified
FORMAT = "format"  # a known form without a checksum (or one not checked here)
UNRECOGNISED = "unrecognised"  # no known form: an address only if some tag is keyed by it

#: Base58Check version prefixes -> currency, for the currencies whose checksum is enforced.
_B58_VERSIONS: dict[bytes, str] = {
    b"\x00": "BTC", b"\x05": "BTC", b"\x6f": "BTC-TESTNET", b"\xc4": "BTC-TESTNET",
    b"\x30": "LTC", b"\x32": "LTC", b"\x1e": "DOGE", b"\x16": "DOGE", b"\x4c": "DASH", b"\x10": "DASH",
    b"\x26": "BTG", b"\x17": "BTG", b"\x21": "XVG", b"\x41": "TRX", b"\x1c\xb8": "ZEC", b"\x1c\xbd": "ZEC",
}
#: bech32 human-readable parts whose currency rules `normalise` applies (witness versions, lengths).
_SEGWIT_HRPS = {"bc": "BTC", "tb": "BTC-TESTNET", "bcrt": "BTC-REGTEST", "ltc": "LTC"}
_B58 = frozenset(B58_ALPHABET)
_RIPPLE = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"
_RIPPLE_TO_BTC = str.maketrans(_RIPPLE, B58_ALPHABET)
_HEX = re.compile(r"[0-9a-fA-F]+")
_BECH32 = re.compile(r"([a-z]{1,20})1([qpzry9x8gf2tvdw0s3jn54khce6mua7l]{26,})")
_CASHADDR = re.compile(r"(?:([a-z]+):)?([qp][qpzry9x8gf2tvdw0s3jn54khce6mua7l]{41})")
#: What claims to be a cashaddr (single case, q/p, about 42 characters, or a known prefix).
_CASHADDR_LIKE = re.compile(r"(?:bitcoincash|bchtest|bchreg|ecash|etoken|simpleledger):.*|[qp][0-9a-z]{37,45}")
_BASE32_UPPER = re.compile(r"[A-Z2-7]{52,58}")
_AVAX = re.compile(r"[XPC]-(avax1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{20,})")
_XDC = re.compile(r"xdc[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class AddressForm:
    """What the form of one address says: its lookup key, its currency (None when the form is
    shared by several or unknown) and how far it was checked (checksum, format, unrecognised)."""

    text: str
    key: str
    currency: str | None
    validation: str


def check_address(text: str) -> AddressForm:
    """The form of `text`; InvalidAddress naming the reason when it cannot be an address."""
    addr = text.strip()
    if not addr:
        raise InvalidAddress("empty address")
    bad = next((c for c in addr if not 33 <= ord(c) <= 126), None)
    if bad is not None:
        what = "a space" if bad.isspace() else f"the character {bad!r}"
        raise InvalidAddress(f"not an address (contains {what})")
    if addr[:2].lower() == "0x":
        return _hex_account(addr)
    lower = addr.lower()
    segwit = next((c for h, c in _SEGWIT_HRPS.items() if lower.startswith(h + "1")), None)
    if segwit is not None:
        return _segwit(addr, segwit)
    if addr in (lower, addr.upper()) and _BECH32.fullmatch(lower):  # bech32 is single-case
        return _generic_bech32(addr, addr, None)
    if _CASHADDR_LIKE.fullmatch(lower) and addr in (lower, addr.upper()):
        return _cashaddr(addr)
    avax = _AVAX.fullmatch(addr)
    if avax:
        return _generic_bech32(addr, avax.group(1), "AVAX")
    if _XDC.fullmatch(addr):
        return AddressForm(addr, lookup_key(addr), "XDC", FORMAT)
    if len(addr) == 64 and _HEX.fullmatch(addr):  # a transaction hash, or a NEAR/ICP account
        return _unrecognised(addr)
    if _B58.issuperset(addr):
        return _base58(addr)
    if _BASE32_UPPER.fullmatch(addr):  # Stellar, Algorand: base32 public keys
        return AddressForm(addr, lookup_key(addr), None, FORMAT)
    return _unrecognised(addr)


def _cashaddr(addr: str) -> AddressForm:
    """Bitcoin Cash / eCash cashaddr: 42 characters of the bech32 charset and their checksum."""
    cash = _CASHADDR.fullmatch(addr.lower())
    if cash is None:
        body = addr.lower().split(":", 1)[-1]
        raise InvalidAddress(f"not a cashaddr ({len(body)} characters; a cashaddr has 42 of "
                             "qpzry9x8gf2tvdw0s3jn54khce6mua7l)")
    prefix = cash.group(1) or "bitcoincash"
    if not _cashaddr_ok(prefix, cash.group(2)):
        raise InvalidAddress(f"bad cashaddr checksum ({prefix}:)")
    currency = {"bitcoincash": "BCH", "ecash": "XEC"}.get(prefix)
    return AddressForm(addr, lookup_key(addr), currency, CHECKSUM)


def _hex_account(addr: str) -> AddressForm:
    body = addr[2:]
    if not _HEX.fullmatch(body):
        raise InvalidAddress("not a hex address (0x must be followed by hex digits only)")
    if len(body) == 40:
        currency, key, validation = normalise("ETH", addr)  # EIP-55 when in mixed case
        return AddressForm(addr, key, currency, validation)
    if len(body) == 64:  # 32-byte accounts (Aptos, Sui, ...); also the length of a tx hash
        return AddressForm(addr, addr.lower(), None, FORMAT)
    raise InvalidAddress(f"wrong length: 0x followed by {len(body)} hex digits; an EVM address has 40")


def _segwit(addr: str, currency: str) -> AddressForm:
    """bech32(m) of Bitcoin or Litecoin: their currency's rules (witness version, program length)."""
    try:
        _, key, validation = normalise(currency, addr)
    except InvalidAddress as exc:
        raise InvalidAddress(f"invalid {currency} bech32 address: {exc}") from None
    return AddressForm(addr, key, currency, validation)


def _generic_bech32(addr: str, body: str, currency: str | None) -> AddressForm:
    if body != body.lower() and body != body.upper():
        raise InvalidAddress("bech32 in mixed case")
    try:
        bech32_decode(body)
    except UsageError as exc:
        if not exc.message.startswith("too long"):  # Cardano's addr1... exceed BIP173's 90
            raise InvalidAddress(f"invalid bech32: {exc.message}") from None
        if not _bech32_checksum_ok(body.lower()):
            raise InvalidAddress("invalid bech32: bad checksum") from None
    return AddressForm(addr, lookup_key(addr), currency, CHECKSUM)


def _polymod(values: list[int], generators: tuple[int, ...], top_shift: int, mask: int) -> int:
    chk = 1
    for v in values:
        top = chk >> top_shift
        chk = ((chk & mask) << 5) ^ v
        for i, gen in enumerate(generators):
            if top >> i & 1:
                chk ^= gen
    return chk


_BECH32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CASH_GEN = (0x98F2BC8E61, 0x79B76D99E2, 0xF33E5FB3C4, 0xAE2EABE2A8, 0x1E4F43E470)
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_checksum_ok(text: str) -> bool:
    """bech32 or bech32m checksum of text of any length (BIP173's limit of 90 lifted)."""
    pos = text.rfind("1")
    hrp, data = text[:pos], [_CHARSET.index(c) for c in text[pos + 1:]]
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data
    return _polymod(values, _BECH32_GEN, 25, 0x1FFFFFF) in (1, 0x2BC830A3)


def _cashaddr_ok(prefix: str, body: str) -> bool:
    values = [ord(c) & 31 for c in prefix] + [0] + [_CHARSET.index(c) for c in body]
    return _polymod(values, _CASH_GEN, 35, 0x07FFFFFFFF) == 1


def _base58check(text: str) -> bytes | None:
    raw = base58_decode(text)
    if len(raw) > 4 and sha256d(raw[:-4])[:4] == raw[-4:]:
        return raw[:-4]
    return None


def _base58(addr: str) -> AddressForm:
    """Base58: Base58Check must verify for the lengths Bitcoin-family addresses have."""
    if (addr[:1] in "48") and len(addr) in (95, 106):
        return AddressForm(addr, lookup_key(addr), "XMR", FORMAT)
    payload = _base58check(addr)
    if payload is not None:
        currency = _B58_VERSIONS.get(payload[:1] if len(payload) == 21 else payload[:2])
        return AddressForm(addr, lookup_key(addr), currency, CHECKSUM)
    if addr[:1] == "r" and 25 <= len(addr) <= 35:
        ripple = _base58check(addr.translate(_RIPPLE_TO_BTC))
        if ripple is not None and len(ripple) == 21 and ripple[0] == 0:
            return AddressForm(addr, lookup_key(addr), "XRP", CHECKSUM)
    if len(addr) < 25:
        return _unrecognised(addr)
    raw = base58_decode(addr)
    claims = len(addr) <= 34 or (len(raw) == 25 and raw[:1] in _B58_VERSIONS
                                 or len(raw) == 26 and raw[:2] in _B58_VERSIONS)
    if claims:
        if len(raw) not in (25, 26):
            raise InvalidAddress(f"wrong length: {len(addr)} Base58 characters decode to {len(raw)} bytes; "
                                 "a Base58Check address has 25")
        raise InvalidAddress("bad Base58Check checksum (a mistyped, missing or extra character?)")
    return AddressForm(addr, lookup_key(addr), None, FORMAT)  # Base58 keys (Solana, Polkadot, ...): no checksum


def _unrecognised(addr: str) -> AddressForm:
    return AddressForm(addr, lookup_key(addr), None, UNRECOGNISED)


def unrecognised_reason(text: str) -> str:
    """Why text of no known form is refused (when no tag is keyed by it either)."""
    addr = text.strip()
    if _HEX.fullmatch(addr) and len(addr) == 64:
        return "not an address (64 hex digits: a transaction hash?)"
    return "not an address of any recognised form (Base58Check, bech32, cashaddr, 0x hex, ...)"
