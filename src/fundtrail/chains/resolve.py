"""Typed address text to the key fundtrail stores it under: one parser per chain family.

A Bitcoin-family address is parsed for one network (a mainnet address on regtest is a usage error
naming both) and becomes its address key and 128-bit fingerprint (`chains.bitcoin.addresskey`), the
values ingest assigned its id by; an account-chain address is 20 bytes: on EVM chains `0x` + 40 hex digits (mixed case
must carry a valid EIP-55 checksum), on TRON chains `T…` (Base58Check), `41…` or `0x…` hex. Both
also give the canonical text an address is shown as (bech32 in lower case, EIP-55, Base58Check for
TRON), so a lookup answers with the same string whatever form the user typed. Which account form a
chain uses comes from its store name or catalog network (`chains.tron.address.is_tron_chain`). Errors are
`UsageError`s naming the request field (`address` unless told otherwise); `store.addresses` turns
the keys into stored address ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from fundtrail.chains.bitcoin.address import parse_address as parse_btc
from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.chains.ethereum.hexutil import parse_address as parse_eth
from fundtrail.chains.tron.address import is_tron_chain, parse_tron_address, to_base58
from fundtrail.errors import UsageError

#: Longest text taken as an address (the longest Bitcoin address, bech32 P2TR/P2WSH, has 62-90).
MAX_ADDRESS_CHARS = 128


@dataclass(frozen=True, slots=True)
class UtxoAddress:
    """A parsed Bitcoin-family address: its canonical text, script type, key and fingerprint."""

    text: str
    script_type: int
    kind: int
    payload: bytes
    fp1: int
    fp2: int

    @property
    def script_name(self) -> str:
        """The script type's export name (p2pkh, p2wpkh, p2tr, ...)."""
        return ScriptType(self.script_type).export_name


def _checked_text(text: str, field: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{field} is empty: give an address", field=field)
    if len(text) > MAX_ADDRESS_CHARS:
        raise UsageError(f"{field} is {len(text)} characters long; no address is longer than "
                         f"{MAX_ADDRESS_CHARS}", field=field)
    return text.strip()


def parse_utxo_address(text: str, network: str, *, field: str = "address") -> UtxoAddress:
    """The address `text` on Bitcoin network `network` (mainnet, testnet, signet, regtest, ...);
    UsageError naming `field` when it is malformed or of another network."""
    raw = _checked_text(text, field)
    net = btc_network(network)
    try:
        stype, payload = parse_btc(raw, net)
    except UsageError as exc:
        raise UsageError(exc.message, hint=exc.hint, field=field) from None
    kind, key_payload = address_key(int(stype), payload)
    fp1, fp2 = fingerprint(kind, key_payload)
    canonical = render_address(int(stype), payload, net) or raw
    return UtxoAddress(canonical, int(stype), kind, key_payload, fp1, fp2)


def parse_account_address(text: str, *, field: str = "address", chain: str | None = None,
                          network: str | None = None) -> bytes:
    """The 20 bytes of an address of account chain `chain` (store name) or `network` (catalog
    network, `chain-id-N`): "0x" + 40 hex digits on EVM chains (EIP-55 checked when in mixed case);
    `T…`, `41…` or `0x…` on TRON chains. UsageError naming `field` otherwise. Without either the
    EVM form is expected."""
    raw = _checked_text(text, field)
    if is_tron_chain(chain, network):
        return parse_tron_address(raw, field=field)
    try:
        return parse_eth(raw)
    except UsageError as exc:
        raise UsageError(exc.message, hint=exc.hint, field=field) from None


def account_text(raw: bytes, *, chain: str | None = None, network: str | None = None) -> str:
    """The canonical text of a 20-byte account address: EIP-55, or Base58Check on TRON chains."""
    if is_tron_chain(chain, network):
        return to_base58(bytes(raw))
    return eip55(bytes(raw))


def utxo_text(script_type: int, payload: bytes, network: str) -> str:
    """The text of a stored Bitcoin-family address key; scripts without an address form (bare
    multisig, non-standard) show as `script:<type>:<hex>`, as cluster listings show them."""
    try:
        text = render_address(int(script_type), bytes(payload), btc_network(network))
    except ValueError:
        text = None
    return text if text is not None else f"script:{int(script_type)}:{bytes(payload).hex()}"


def accepts(family: str, network: str, text: str, *, chain: str | None = None) -> bool:
    """Whether `text` is a well-formed address of a chain of this family and network (account
    chains: their catalog network `chain-id-N`, or the store name `chain`, tells TRON apart)."""
    try:
        if family == "account":
            parse_account_address(text, chain=chain, network=network)
        else:
            parse_utxo_address(text, network)
    except UsageError:
        return False
    return True
