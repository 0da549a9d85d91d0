"""Address text to stored address id: one resolver per chain family.

`utxo_address_id` and `account_address_id` are the one rule by which a typed address finds the id
ingest gave it (parse for the chain's network with `chains.resolve`, then look the key up). With
no chain named, the store's chains of the family whose network accepts the text are tried in name
order. A loaded index (`trace.graph.GraphIndex`, `trace.account_graph.AccountGraph`, anything with
their `find_address`) answers by binary search in memory; without one, the lake's addresses table
is read. Malformed text is a UsageError, a well-formed address the chain never saw a NotFoundError,
both naming the request field (`address` unless told otherwise).
"""

from __future__ import annotations

from typing import Protocol

from fundtrail.chains.resolve import parse_account_address, parse_utxo_address
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store.lake import Store


class UtxoIndex(Protocol):
    """What a UTXO resolver needs of a loaded index: fingerprint -> address id (-1: none)."""

    def find_address(self, fp1: int, fp2: int) -> int: ...


class AccountIndex(Protocol):
    """What an account resolver needs of a loaded index: 20 address bytes -> address id (-1: none)."""

    def find_address(self, raw: bytes) -> int: ...


def _chains(store: Store, family: str, chain: str | None) -> list[tuple[str, str]]:
    """(chain, network) pairs to try: the named chain, else every stored chain of the family."""
    rows = [(c["chain"], c["network"]) for c in store.chains() if c["family"] == family]
    if chain is None:
        if not rows:
            kind = "Bitcoin-family" if family == "utxo" else "account"
            raise NotFoundError(f"the store holds no {kind} chain", field="chain")
        return rows
    found = [r for r in rows if r[0] == chain]
    if not found:
        raise NotFoundError(f"chain {chain} is not a {family} chain of the store {store.root}", field="chain")
    return found


def _prefix(chain: str) -> str:
    return chain.replace("-", "_")


def utxo_address_id(store: Store, text: str, *, chain: str | None = None, index: UtxoIndex | None = None,
                    field: str = "address") -> tuple[str, int]:
    """(chain, address id) of a Bitcoin-family address. `index` (only with `chain`) is a loaded
    graph index of that chain, to look up in memory."""
    candidates = _chains(store, "utxo", chain)
    errors: list[UsageError] = []
    parsed_on: list[str] = []
    for name, network in candidates:
        try:
            addr = parse_utxo_address(text, network, field=field)
        except UsageError as exc:
            errors.append(exc)
            continue
        parsed_on.append(name)
        if index is not None and chain is not None:
            found = index.find_address(addr.fp1, addr.fp2)
        else:
            with store.query() as con:
                row = con.execute(f"SELECT address_id FROM {_prefix(name)}_addresses WHERE fp1 = ? AND fp2 = ?",
                                  [addr.fp1, addr.fp2]).fetchone()
            found = int(row[0]) if row else -1
        if found >= 0:
            return name, found
    if not parsed_on:
        raise errors[0]
    raise NotFoundError(f"address {text.strip()} has no activity in the store's {' or '.join(parsed_on)} chain",
                        field=field)


def account_address_id(store: Store, text: str, *, chain: str | None = None,
                       index: AccountIndex | None = None, field: str = "address") -> tuple[str, int]:
    """(chain, address id) of an account-chain address. `index` (only with `chain`) is a loaded
    account graph of that chain, to look up in memory."""
    candidates = _chains(store, "account", chain)
    errors: list[UsageError] = []
    parsed_on: list[str] = []
    for name, network in candidates:  # per chain: TRON and EVM chains write addresses differently
        try:
            raw = parse_account_address(text, field=field, chain=name, network=network)
        except UsageError as exc:
            errors.append(exc)
            continue
        parsed_on.append(name)
        if index is not None and chain is not None:
            found = index.find_address(raw)
        else:
            with store.query() as con:
                row = con.execute(f"SELECT address_id FROM {_prefix(name)}_addresses WHERE address = ?",
                                  [raw]).fetchone()
            found = int(row[0]) if row else -1
        if found >= 0:
            return name, found
    if not parsed_on:
        raise errors[0]
    names = " or ".join(parsed_on)
    raise NotFoundError(f"address {text.strip()} has no activity in the store's {names} chain", field=field)
