"""Account-chain taint frontiers: per (address, asset) ledgers in `watch_frontier` (docs/watch.md).

On an account chain taint is not held in outputs but in address balances, so an item's frontier is
the set of ledgers (`trace.account_ledger.Ledger`: balance and traced part under the item's policy)
of the addresses its taint reached, plus its *sources* (the watched address itself: every outflow
of it is traced in full). A ledger is created when taint first reaches an address, with the
address's earlier history replayed clean (as the trace engine does), so a haircut share or a FIFO
queue is what `trace` would compute.

Undo journal: a ledger is stored as one row per block in which it changed (`output`
`acct:ADDRESS:ASSET@HEIGHT`, `height` that block), the newest row per key being the current state;
a tombstone (`state` null) marks a ledger that holds no taint any more. A rollback to height H
deletes the rows above H, which leaves the frontier as it was at H; rows older than
`KEEP_SPENT_BLOCKS` below the batch are pruned except the newest of each key.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import duckdb

from fundtrail.store import Store
from fundtrail.trace.account_graph import VALUE_KINDS
from fundtrail.trace.account_ledger import Ledger, amount_of
from fundtrail.watch.account_batch import NATIVE, AccountBatch

PREFIX = "acct:"
KEEP_BLOCKS = 288  # ledger versions kept below a batch: deeper than any reorganisation


def key_text(address: str, asset: str) -> str:
    """The key part of a ledger row's `output` (address and asset as text)."""
    return f"{PREFIX}{address}:{asset}"


def row_output(address: str, asset: str, height: int) -> str:
    return f"{key_text(address, asset)}@{height}"


def split_output(output: str) -> tuple[str, str, int] | None:
    """(address text, asset text, height) of a ledger row, None for another kind of row."""
    if not output.startswith(PREFIX) or "@" not in output:
        return None
    key, _, height = output.rpartition("@")
    address, _, asset = key[len(PREFIX):].rpartition(":")
    return address, asset, int(height)


class WatchLedger(Ledger):
    """A ledger that also counts the traced value that ever arrived (`received`): what a later
    change of attribution reports as having reached the address (watch.account_reattribute)."""

    def __init__(self, policy: str) -> None:
        super().__init__(policy)
        self.received: Any = 0

    def inflow(self, amount: int, state: Any) -> None:
        if state is not None:
            self.received += amount if self.policy == "poison" else amount_of(self.policy, state)
            if isinstance(self.received, Fraction) and self.received.denominator > GRID:
                self.received = _on_grid(self.received)
        super().inflow(amount, state)
        if self.policy == "haircut" and self.tainted.denominator > GRID:
            # a share's denominator grows with every inflow: an address watched for months would carry
            # thousands of digits; past 2^256 it is kept on the 2^-256 grid (rounded down)
            self.tainted = _on_grid(self.tainted)


GRID = 1 << 256


def _on_grid(x: Fraction) -> Fraction:
    return Fraction(x.numerator * GRID // x.denominator, GRID)


def exact(value: Any) -> str:
    return f"{value.numerator}/{value.denominator}" if isinstance(value, Fraction) else str(value)


def parse_exact(text: str) -> Any:
    num, _, den = str(text).partition("/")
    return Fraction(int(num), int(den)) if den else int(num)


def dump(led: WatchLedger | None, received: Any = 0) -> str:
    """A ledger as the `state` column (whole numbers as text: exact in any JSON reader); None: a
    tombstone, which keeps what had arrived."""
    if led is None:
        return json.dumps({"ledger": None, "received": exact(received)}, separators=(",", ":"))
    tainted: Any = led.tainted
    if isinstance(tainted, Fraction):
        tainted = f"{tainted.numerator}/{tainted.denominator}"
    queue = [[str(lot[0]), str(lot[1]), [[int(s), int(e)] for s, e in lot[2]]] for lot in led.queue[led.head:]]
    return json.dumps({"ledger": {"policy": led.policy, "balance": str(led.balance), "tainted": tainted,
                                  "queue": queue}, "received": exact(led.received)}, separators=(",", ":"))


def received_of(text: str) -> Any:
    """The traced value that arrived at a ledger row's address (exact)."""
    return parse_exact(json.loads(text).get("received", "0"))


def load(text: str) -> WatchLedger | None:
    """The ledger of a `state` column (None: a tombstone)."""
    whole = json.loads(text)
    doc = whole.get("ledger")
    if doc is None:
        return None
    led = WatchLedger(doc["policy"])
    led.received = parse_exact(whole.get("received", "0"))
    led.balance = int(doc["balance"])
    tainted = doc["tainted"]
    if led.policy == "haircut":
        num, _, den = str(tainted).partition("/")
        led.tainted = Fraction(int(num), int(den or 1))
    elif led.policy == "poison":
        led.tainted = bool(tainted)
    led.queue = [[int(a), int(c), tuple((int(s), int(e)) for s, e in segs)] for a, c, segs in doc["queue"]]
    return led


def holds_taint(led: Ledger) -> bool:
    """Whether a ledger still matters: traced value held, or (poison) a tainted address."""
    if led.policy == "poison":
        return bool(led.tainted)
    return bool(led.held())


def replay(store: Store, chain: str, address: int, asset: int, batch: AccountBatch, before: int,
           policy: str, zero_id: int | None) -> WatchLedger:
    """A clean ledger of (address, asset) with every event before batch position `before`: the
    committed ones (one query) and the batch's own."""
    history = committed_history(store, chain, address, asset, zero_id)
    history += [(ev.amount, ev.sender, ev.receiver) for ev in batch.events[:before]
                if ev.asset == asset and address in (ev.sender, ev.receiver)]
    return clean_ledger(address, history, policy)


def committed_history(store: Store, chain: str, address: int, asset: int,
                      zero_id: int | None) -> list[tuple[int, int, int]]:
    """(amount, sender, receiver) of the committed value events of (address, asset), in execution
    order (the zero address as -1), as the account graph index keeps them."""
    p = chain.replace("-", "_")
    kinds = ", ".join(str(k) for k in VALUE_KINDS)
    same_asset = "asset_id IS NULL" if asset == NATIVE else "asset_id = ?"
    params: list[Any] = [address, address] + ([] if asset == NATIVE else [asset])
    with store.query() as con:
        rows = con.execute(
            f"SELECT amount_raw, coalesce(from_id, -1), coalesce(to_id, -1) FROM {p}_transfers "
            f"WHERE success AND kind IN ({kinds}) AND (from_id = ? OR to_id = ?) AND {same_asset} "
            "ORDER BY block_number, tx_id NULLS LAST, transfer_id", params).fetchall()
    return [(int.from_bytes(bytes(raw), "big"), _none(f, zero_id), _none(t, zero_id)) for raw, f, t in rows]


def clean_ledger(address: int, history: list[tuple[int, int, int]], policy: str) -> WatchLedger:
    """The ledger of `address` after `history`, every event clean (the trace engine's replay)."""
    led = WatchLedger(policy)
    for amount, sender, receiver in history:
        if sender == receiver or not amount:
            continue
        if receiver == address:
            led.inflow(amount, None)
        else:
            led.outflow(amount)
    return led


def _none(aid: int, zero_id: int | None) -> int:
    return -1 if aid == zero_id else int(aid)


def prune(con: duckdb.DuckDBPyConnection, items: list[str], below: int) -> None:
    """Drop ledger rows older than `below`, keeping the newest one of each key (module docstring)."""
    con.execute(
        "DELETE FROM watch_frontier f WHERE list_contains(?, f.item_id) AND f.output LIKE 'acct:%' "
        "AND f.height < ? AND EXISTS (SELECT 1 FROM watch_frontier g WHERE g.item_id = f.item_id "
        "AND g.output LIKE 'acct:%' AND split_part(g.output, '@', 1) = split_part(f.output, '@', 1) "
        "AND g.height > f.height AND g.height < ?)", [items, below, below])
