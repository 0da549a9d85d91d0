"""TRON addresses: 0x41 + the same 20-byte account hash as an EVM address, shown in Base58Check.

The store keeps the 20 bytes (`addresses.address`), so a TRON account and the EVM-style hex the TVM
uses for it are one key; only the edges differ. A user may type `T…` (Base58Check: version byte
0x41, checksum = first 4 bytes of the double SHA-256), `41…` (21 bytes hex) or `0x…` (20 bytes hex);
a node answers with `41…` hex (or `T…` with `visible=true`), and 20-byte hex inside TVM logs.
User text that does not parse is a `UsageError` naming the field; node data a `DataError`.
"""

from __future__ import annotations

from functools import lru_cache

from fundtrail.chains.bitcoin.address import B58_ALPHABET, base58check_decode, base58check_encode
from fundtrail.errors import DataError, UsageError

PREFIX = 0x41
#: TRON store chains and their chain ids (catalog network `chain-id-N`). `model.chains.TRON_CHAINS`
#: is the full configuration; this copy lets the address resolver (same layer as `model`, so it
#: may not import it) tell TRON chains apart. tests/chains/tron/test_address.py checks they agree.
TRON_NETWORKS: dict[str, int] = {"tron": 728126428, "tron-nile": 3448148188, "tron-shasta": 2494104990}
_TRON_NETWORK_NAMES = frozenset(f"chain-id-{i}" for i in TRON_NETWORKS.values())


def is_tron_chain(chain: str | None = None, network: str | None = None) -> bool:
    """Whether a store chain (by name, else by its catalog network) is a TRON chain."""
    return (chain is not None and chain in TRON_NETWORKS) or (network is not None and network in _TRON_NETWORK_NAMES)
_HEX = frozenset("0123456789abcdefABCDEF")
_B58 = frozenset(B58_ALPHABET)


@lru_cache(maxsize=1 << 16)
def to_base58(addr: bytes) -> str:
    """The `T…` text of a 20-byte account (cached: listings repeat addresses)."""
    if len(addr) != 20:
        raise ValueError(f"a TRON account is 20 bytes after its 0x41 prefix, got {len(addr)}")
    return base58check_encode(bytes((PREFIX,)) + bytes(addr))


def to_hex41(addr: bytes) -> str:
    """The `41…` hex text java-tron uses for a 20-byte account."""
    return "41" + bytes(addr).hex()


def _hex_bytes(text: str) -> bytes | None:
    if len(text) % 2 or not _HEX.issuperset(text):
        return None
    return bytes.fromhex(text)


def _decode(text: str) -> bytes:
    """The 20 bytes of `text` in any accepted form; ValueError saying why not (one phrase)."""
    if text[:2] in ("0x", "0X"):
        raw = _hex_bytes(text[2:])
        if raw is None or len(raw) != 20:
            raise ValueError("0x form must be 40 hex digits")
        return raw
    if text[:2] == "41" and len(text) == 42:
        raw = _hex_bytes(text)
        if raw is None:
            raise ValueError("41 form must be 42 hex digits")
        return raw[1:]
    if text[:1] == "T" or _B58.issuperset(text):
        bad = next((c for c in text if c not in _B58), None)
        if bad is not None:
            raise ValueError(f"invalid Base58 character {bad!r}")
        try:
            payload = base58check_decode(text)
        except UsageError as exc:
            raise ValueError(f"Base58Check {exc.message}") from None
        if len(payload) != 21:
            raise ValueError(f"decodes to {len(payload)} bytes, a TRON address has 21")
        if payload[0] != PREFIX:
            raise ValueError(f"version byte 0x{payload[0]:02x}, TRON's is 0x41")
        return payload[1:]
    raise ValueError("expected T… (Base58Check), 41… (42 hex digits) or 0x… (40 hex digits)")


def parse_tron_address(text: str, *, field: str = "address") -> bytes:
    """The 20 bytes of a user-typed TRON address (`T…`, `41…` or `0x…`); UsageError naming `field`."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise UsageError(f"{field} is empty: give a TRON address (T…)", field=field)
    try:
        return _decode(raw)
    except ValueError as exc:
        shown = raw if len(raw) <= 64 else raw[:61] + "..."
        raise UsageError(f"{field} {shown!r} is not a TRON address: {exc}", field=field) from None


def is_tron_address(text: str) -> bool:
    """Whether `text` parses as a TRON address in any accepted form."""
    if not isinstance(text, str) or not text.strip():
        return False
    try:
        _decode(text.strip())
    except ValueError:
        return False
    return True


def node_address(value: object, where: str) -> bytes:
    """The 20 bytes of an address in java-tron output (`41…` hex, `T…` with visible=true); DataError
    naming `where` (block, transaction, field) when it is anything else."""
    if isinstance(value, str):
        if len(value) == 42 and value[:2] == "41":
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raw = b""
            if len(raw) == 21:  # fromhex skips spaces: a shorter result was not 42 hex digits
                return raw[1:]
        elif value[:1] == "T" and len(value) == 34:
            try:
                return _decode(value)
            except ValueError as exc:
                raise DataError(f"{where}: {value!r} is not a TRON address ({exc})") from None
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise DataError(f"{where}: {shown} is not a TRON address (41 + 40 hex digits)")


def log_address(value: object, where: str) -> bytes:
    """The emitting contract of a TVM log: 20-byte hex (as java-tron gives it), or 41/T forms."""
    if isinstance(value, str) and len(value) == 40:
        raw = _hex_bytes(value)
        if raw is not None:
            return raw
    return node_address(value, where)
