"""The initial ledgers of a saved account-chain trace watched as a frontier (`watch add T-…`).

A forward account trace ends with the traced value each address still holds (`unspent`
endpoints, as of the store's tip). Monitoring goes on from there: each such (address, asset)
becomes a ledger row of the item (`watch.account_ledgers`), its balance the address's whole
history replayed as the trace engine replays it, its traced part the endpoint's amount — under
haircut the share `amount / balance` (exactly the engine's share, since the engine's ledger held
`share x balance`), under poison the whole balance (a poisoned address is tainted in full).
FIFO needs the positions of the taint inside each address's lots, which a saved result does not
keep: refused. The rows carry the tip height they were computed at, so the evaluator moves them
forward with every later block exactly as it moves a seed's ledgers.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pyarrow as pa

from fundtrail.chains.resolve import parse_account_address
from fundtrail.errors import DataError, UsageError
from fundtrail.store import Store
from fundtrail.watch.account_batch import NATIVE
from fundtrail.watch.account_ledgers import clean_ledger, committed_history, dump, parse_exact, row_output
from fundtrail.watch.frontier import exact_amount

ZERO = bytes(20)
POLICIES = ("haircut", "poison")

Row = tuple[str, str, str, int]  # (output, amount, state, height)


def frontier_ledgers(store: Store, chain: str, endpoints: list[dict[str, Any]], policy: str, native: str,
                     height: int) -> list[Row]:
    """The ledger rows of a trace result's `unspent` endpoints (`address`, `asset`: `native` the
    native symbol or the token contract, `amount_exact`), as of block `height` (the tip they are
    held at)."""
    if policy not in POLICIES:
        raise UsageError(f"was traced under policy {policy}: a FIFO frontier needs the taint's place inside each "
                         "address's lots, which a saved result does not keep (watch a haircut or poison trace, or "
                         "the seed address with reaches-service --policy fifo)", field="targets")
    held: dict[tuple[str, str], Fraction] = {}
    for e in endpoints:
        if e.get("reason") != "unspent" or not e.get("address"):
            continue
        asset = "native" if e.get("asset") == native else str(e.get("asset"))
        key = (str(e["address"]), asset)
        held[key] = held.get(key, Fraction(0)) + Fraction(parse_exact(str(e.get("amount_exact", "0"))))
    raws = {parse_account_address(a, chain=chain) for a, _ in held} | {
        parse_account_address(x, chain=chain) for _, x in held if x != "native"}
    ids = _ids(store, chain, raws | {ZERO})
    zero_id = ids.get(ZERO)
    rows: list[Row] = []
    for (address, asset), amount in sorted(held.items()):
        if not amount:
            continue
        aid = ids.get(parse_account_address(address, chain=chain))
        xid = NATIVE if asset == "native" else ids.get(parse_account_address(asset, chain=chain))
        if aid is None or xid is None:
            raise DataError(f"endpoint {address} ({asset}) of the saved trace is not in the store's {chain} chain")
        led = clean_ledger(aid, committed_history(store, chain, aid, xid, zero_id), policy)
        if led.balance <= 0 or amount > led.balance:
            raise DataError(f"endpoint {address} ({asset}) holds {led.balance} now, less than the {amount} the "
                            "trace left there: the store changed since; re-run the trace")
        if policy == "haircut":
            led.tainted = amount / led.balance
        else:
            led.tainted = True
        led.received = amount if amount.denominator > 1 else int(amount)
        rows.append((row_output(address, asset, height), exact_amount(led.held()), dump(led), height))
    return rows


def _ids(store: Store, chain: str, raws: set[bytes]) -> dict[bytes, int]:
    keys = pa.table({"address": pa.array(sorted(raws), pa.binary())})
    with store.query() as con:
        con.register("_frontier_raw", keys)
        try:
            found = con.execute(f"SELECT a.address, a.address_id FROM {chain.replace('-', '_')}_addresses a "
                                "JOIN _frontier_raw k ON a.address = k.address").fetchall()
        finally:
            con.unregister("_frontier_raw")
    return {bytes(a): int(i) for a, i in found}
