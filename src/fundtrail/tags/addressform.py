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
from fundtrail.tags.currencies import (BASE58_VERSIONS, BTC_TEST_NETWORKS, EVM_ORDER, FORM_ORDER, MAX_ADDRESS_CHARS,
                                       InvalidAddress, cashaddr_ok, explain_invalid, lookup_key, normalise, too_long)

CHECKSUM = "checksum"  # the form's own checksum verified
FORMAT = "format"  # a known form without a checksum (or one not checked here)
UNRECOGNISED = "unrecognised"  # no known form: an address only if some tag is keyed by it

#: bech32 human-readable parts whose currency rules `normalise` applies (witness versions, lengths),
#: with every currency the part is used by (tb: testnet, testnet4 and signet).
_SEGWIT_HRPS = {"bc": ("BTC",), "tb": ("BTC-TESTNET", "BTC-TESTNET4", "BTC-SIGNET"), "bcrt": ("BTC-REGTEST",),
                "ltc": ("LTC",)}
#: The parts whose currencies all apply one rule to a segwit address: Bitcoin networks of the same hrp
#: (`normalise` -> `parse_address`: bech32(m) checksum, hrp == the network's, witness rules; nothing
#: else of the network is read). There the first currency's verdict is every currency's: one parse.
_SEGWIT_ONE_RULE = frozenset(
    h for h, curs in _SEGWIT_HRPS.items()
    if len(curs) == 1 or (all(c in BTC_TEST_NETWORKS for c in curs)
                          and {BTC_TEST_NETWORKS[c].hrp for c in curs} == {h}))
_B58 = frozenset(B58_ALPHABET)
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
    currencies: tuple[str, ...] = ()  # every currency the form is valid for, most likely first


def check_address(text: str) -> AddressForm:
    """The form of `text`; InvalidAddress naming the reason when it cannot be an address."""
    addr = text.strip()
    if not addr:
        raise InvalidAddress("empty address")
    if len(addr) > MAX_ADDRESS_CHARS:
        raise InvalidAddress(too_long(addr))
    if not (addr.isascii() and addr.isprintable() and " " not in addr):  # ASCII printable: 32..126
        bad = next(c for c in addr if not 33 <= ord(c) <= 126)
        what = "a space" if bad.isspace() else f"the character {bad!r}"
        raise InvalidAddress(f"not an address (contains {what})")
    if addr[:2].lower() == "0x":
        return _hex_account(addr)
    lower = addr.lower()
    head, one, _ = lower.partition("1")  # no hrp of _SEGWIT_HRPS holds a "1": the prefix up to the first
    segwit = _SEGWIT_HRPS.get(head) if one else None
    if segwit is not None:
        return _segwit(addr, segwit, head)
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
    if len(addr) == 42 and addr[:2] == "41" and _HEX.fullmatch(addr):  # java-tron's hex form of a TRON account
        return AddressForm(addr, normalise("TRX", addr)[1], "TRX", FORMAT, ("TRX",))
    if _B58.issuperset(addr):
        return _base58(addr)
    if _BASE32_UPPER.fullmatch(addr):  # Stellar, Algorand: base32 public keys
        return AddressForm(addr, lookup_key(addr), None, FORMAT)
    return _unrecognised(addr)


def _accepting(addr: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """The candidates whose address rules (`currencies.normalise`, the one place they are written)
    accept `addr`, in the order given."""
    found = []
    for cur in candidates:
        try:
            normalise(cur, addr)
        except InvalidAddress:
            continue
        found.append(cur)
    return tuple(found)


def _cashaddr(addr: str) -> AddressForm:
    """Bitcoin Cash / eCash cashaddr: 42 characters of the bech32 charset and their checksum."""
    cash = _CASHADDR.fullmatch(addr.lower())
    if cash is None:
        body = addr.lower().split(":", 1)[-1]
        raise InvalidAddress(f"not a cashaddr ({len(body)} characters; a cashaddr has 42 of "
                             "qpzry9x8gf2tvdw0s3jn54khce6mua7l)")
    prefix = cash.group(1) or "bitcoincash"
    if not cashaddr_ok(prefix, cash.group(2)):
        raise InvalidAddress(f"bad cashaddr checksum ({prefix}:)")
    currencies = _accepting(addr, ("BCH", "BSV")) if prefix == "bitcoincash" else ()
    currency = {"bitcoincash": "BCH", "ecash": "XEC"}.get(prefix)
    return AddressForm(addr, lookup_key(addr), currency, CHECKSUM, currencies)


def _hex_account(addr: str) -> AddressForm:
    body = addr[2:]
    if not _HEX.fullmatch(body):
        raise InvalidAddress("not a hex address (0x must be followed by hex digits only)")
    if len(body) == 40:
        currency, key, validation = normalise("ETH", addr)  # EIP-55 when in mixed case
        return AddressForm(addr, key, currency, validation, EVM_ORDER)
    if len(body) == 64:  # 32-byte accounts (Aptos, Sui, ...); also the length of a tx hash
        return AddressForm(addr, addr.lower(), None, FORMAT)
    raise InvalidAddress(f"wrong length: 0x followed by {len(body)} hex digits; an EVM address has 40")


def _segwit(addr: str, currencies: tuple[str, ...], hrp: str) -> AddressForm:
    """bech32(m) of Bitcoin or Litecoin: their currency's rules (witness version, program length).
    The address is parsed once: the other currencies of its hrp apply the same rule (`_SEGWIT_ONE_RULE`)."""
    try:
        currency, key, validation = normalise(currencies[0], addr)
    except InvalidAddress as exc:
        raise InvalidAddress(f"invalid {currencies[0]} bech32 address: {exc}") from None
    accepted = currencies if hrp in _SEGWIT_ONE_RULE else (currencies[0], *_accepting(addr, currencies[1:]))
    return AddressForm(addr, key, currency, validation, accepted)


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
    currencies = _accepting(addr, ("ZEC",)) if body.lower().startswith("zs1") else ()
    return AddressForm(addr, lookup_key(addr), currency or (currencies[0] if currencies else None), CHECKSUM,
                       currencies)


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
_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_checksum_ok(text: str) -> bool:
    """bech32 or bech32m checksum of text of any length (BIP173's limit of 90 lifted)."""
    pos = text.rfind("1")
    hrp, data = text[:pos], [_CHARSET.index(c) for c in text[pos + 1:]]
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data
    return _polymod(values, _BECH32_GEN, 25, 0x1FFFFFF) in (1, 0x2BC830A3)


def _base58check(text: str) -> bytes | None:
    raw = base58_decode(text)
    if len(raw) > 4 and sha256d(raw[:-4])[:4] == raw[-4:]:
        return raw[:-4]
    return None


#: Base58Check version bytes -> the currencies using them (`BASE58_VERSIONS`), in `FORM_ORDER`.
_BY_VERSION: dict[bytes, tuple[str, ...]] = {
    v: tuple(c for c in FORM_ORDER if v in BASE58_VERSIONS.get(c, ()))
    for versions in BASE58_VERSIONS.values() for v in versions}


def _base58(addr: str) -> AddressForm:
    """Base58: Base58Check must verify for the lengths Bitcoin-family addresses have; the currencies
    are those whose version bytes the payload carries (`currencies.BASE58_VERSIONS`)."""
    if (addr[:1] in "48") and len(addr) in (95, 106):
        return AddressForm(addr, lookup_key(addr), "XMR", FORMAT, _accepting(addr, ("XMR",)))
    payload = _base58check(addr)
    if payload is not None:
        # The version bytes are the whole of these currencies' Base58 rule (`normalise`): no second decode.
        # A version v fits when the payload is v + 20 bytes, so v is all but the payload's last 20 bytes.
        found = _BY_VERSION.get(payload[:-20], ()) if len(payload) > 20 else ()
        return AddressForm(addr, lookup_key(addr), found[0] if found else None, CHECKSUM, found)
    if addr[:1] == "r" and 25 <= len(addr) <= 35:
        ripple = _accepting(addr, ("XRP",))
        if ripple:
            return AddressForm(addr, lookup_key(addr), "XRP", CHECKSUM, ripple)
    if len(addr) < 25:
        return _unrecognised(addr)
    raw = base58_decode(addr)
    known = {v for versions in BASE58_VERSIONS.values() for v in versions}
    claims = len(addr) <= 34 or ((len(raw) == 25 and raw[:1] in known) or (len(raw) == 26 and raw[:2] in known))
    if claims:
        if len(raw) not in (25, 26):
            raise InvalidAddress(f"wrong length: {len(addr)} Base58 characters decode to {len(raw)} bytes; "
                                 "a Base58Check address has 25")
        raise InvalidAddress("bad Base58Check checksum (a mistyped, missing or extra character?)")
    return AddressForm(addr, lookup_key(addr), None, FORMAT)  # Base58 keys (Solana, Polkadot, ...): no checksum


def _unrecognised(addr: str) -> AddressForm:
    return AddressForm(addr, lookup_key(addr), None, UNRECOGNISED)


def currencies_of(text: str) -> tuple[str, ...]:
    """Every currency whose address form `text` is valid for (`currencies.address_currencies`,
    which is this function): the form check above, then the currency's own rules. InvalidAddress
    with the reason of the form the text most resembles; UnrecognisedAddress when it resembles none."""
    addr = str(text).strip()
    if addr[:2].lower() == "0x":
        explain_invalid(addr)  # not 40 hex digits: the EVM reason (length, EIP-55 checksum)
    try:
        form = check_address(addr)
    except InvalidAddress:
        form = None
    if form is not None and form.currencies:
        return form.currencies
    explain_invalid(addr)
    raise AssertionError("unreachable")


def unrecognised_reason(text: str) -> str:
    """Why text of no known form is refused (when no tag is keyed by it either)."""
    addr = text.strip()
    if _HEX.fullmatch(addr) and len(addr) == 64:
        return "not an address (64 hex digits: a transaction hash?)"
    return "not an address of any recognised form (Base58Check, bech32, cashaddr, 0x hex, ...)"
