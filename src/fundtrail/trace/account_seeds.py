"""Where an account-chain trace starts: an address (what it received) or a transaction hash.

Addresses are parsed as the user typed them for the graph's chain (mixed case must carry a valid
EIP-55 checksum; on TRON `T…` with its Base58Check checksum, `41…` or `0x…`), so a typo is a
one-line usage error; a TRON transaction is its txid with or without `0x`; a well-formed seed the
store does not hold is a not-found error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fundtrail.chains.resolve import parse_account_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.trace.account_graph import KIND_FEE, AccountGraph

_TX_HASH = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class AccountSeed:
    """A parsed seed: what the user typed, its kind, and the transfers (event positions) it stands for.

    Several seeds traced as one taint set are one `AccountSeed` of kind "set": `events` is the union
    of theirs and `parts` the seeds one by one (docs/taint-policies.md, "Seeds")."""

    text: str
    kind: str  # "address", "transaction" or "set"
    events: list[int]
    address: int = -1
    tx: int = -1
    parts: tuple[AccountSeed, ...] = ()


def address_id(graph: AccountGraph, text: str) -> int:
    """Address id of an address string on the graph's chain; UsageError / NotFoundError.

    The one account-chain rule (`chains.resolve`), looked up in the loaded graph as
    `store.addresses.account_address_id` does; the errors name no request field, so a caller can
    name its own (a seed, an asset, a stop list)."""
    try:
        raw = parse_account_address(text, chain=graph.chain)
    except UsageError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    found = graph.find_address(raw)
    if found < 0:
        raise NotFoundError(f"address {text.strip()} has no activity in the store's {graph.chain} chain")
    return found


def asset_id(graph: AccountGraph, text: str | None, native_symbol: str = "ETH") -> int | None:
    """None (every asset), -1 (the native asset, by its symbol) or a token contract's address id."""
    if text is None or text.strip() == "":
        return None
    if text.strip().upper() in (native_symbol.upper(), "NATIVE"):
        return -1
    try:
        return address_id(graph, text)
    except UsageError:
        raise UsageError(f"asset {text!r} is neither {native_symbol} nor a token contract address",
                         field="asset") from None


def parse_account_seed(graph: AccountGraph, text: str, *, since: int | None = None,
                       until: int | None = None) -> AccountSeed:
    """The transfers a seed stands for: everything an address received (within since/until), or a
    transaction's value transfers (its fees excluded: they are not traced value)."""
    raw = text.strip()
    tron = is_tron_chain(graph.chain)
    if (raw[:2] in ("0x", "0X") and len(raw) == 66) or (tron and len(raw) == 64):
        if not _TX_HASH.match(raw):
            form = "64 hex digits, with or without 0x" if tron else "0x followed by 64 hex digits"
            raise UsageError(f"seed {text!r} is not a transaction hash ({form})")
        tx = graph.find_tx(bytes.fromhex(raw[-64:]))
        if tx < 0:
            raise NotFoundError(f"transaction {raw} is not in the store's {graph.chain} chain")
        events = [e for e in graph.events_of_tx(tx) if int(graph.ev_kind[e]) != KIND_FEE]
        return AccountSeed(text, "transaction", events, tx=tx)
    try:
        addr = address_id(graph, raw)
    except UsageError as exc:
        raise UsageError(f"seed {text!r} is not a transaction hash or {graph.chain} address: "
                         f"{exc.message}") from None
    events = []
    for e in graph.events_of(addr):
        e = int(e)
        if graph.ev_to[e] != addr or graph.ev_from[e] == addr:
            continue
        t = int(graph.ev_time[e])
        if (since is None or t >= since) and (until is None or t <= until):
            events.append(e)
    return AccountSeed(text, "address", events, address=addr)


def parse_account_seeds(graph: AccountGraph, texts: list[str] | str, *, since: int | None = None,
                        until: int | None = None) -> AccountSeed:
    """Several seeds (addresses and/or transaction hashes) as one taint set; one seed as itself.

    Every seed is checked before anything is traced, so a typo in the third seed is a one-line
    error naming it; a seed given twice is traced once."""
    items = [texts] if isinstance(texts, str) else list(texts)
    unique = list(dict.fromkeys(t.strip() for t in items if t.strip()))
    if not unique:
        raise UsageError("no seed given: pass an address or transaction hash (several to trace together)",
                         field="seeds")
    try:
        parts = [parse_account_seed(graph, t, since=since, until=until) for t in unique]
    except (UsageError, NotFoundError) as exc:
        exc.field = exc.field or "seeds"  # the trace's request field, so an interface can point at it
        raise
    if len(parts) == 1:
        return parts[0]
    events = sorted({e for p in parts for e in p.events})
    return AccountSeed(", ".join(p.text.strip() for p in parts), "set", events, parts=tuple(parts))
