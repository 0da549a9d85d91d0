"""Account-chain rules run again when attribution changes (a tag import, an analyst's tag).

The twin of `watch.reattribute` for account chains: a deposit address is rarely tagged when funds
reach it. Each active `reaches-service` item's ledgers (`watch.account_ledgers`: the newest row per
address and asset, tombstones included, within the undo journal) are checked against the tags now;
one whose address is tagged with one of the item's categories raises an alert with `"via": "new
attribution"` naming the change and the traced value that arrived there (`received`), and its
ledger leaves the frontier (taint stops at a service). Only direct tags count, as on every account
path. Alerts, outbox rows, ledger rows and the attribution state are written in one transaction;
a second run adds nothing (the alert key names the ledger, not the change). `risk-above` items
are scored again in the same transaction (`watch.risk_rule`, the account assessor), `"via": "new
attribution"`.
"""

from __future__ import annotations

import json
from typing import Any

from fundtrail.chains.resolve import parse_account_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import UsageError
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.store import Store
from fundtrail.tags.lookup import has_tags
from fundtrail.trace.account_report import format_units, token_units
from fundtrail.trace.attribution import chain_currency
from fundtrail.trace.policies import whole_sat
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch import risk_rule
from fundtrail.watch.account_ledgers import dump, received_of, row_output, split_output
from fundtrail.watch.alerts import Alert
from fundtrail.watch.frontier import exact_amount
from fundtrail.watch.items import active_items, now


def reattribute_account(store: Store, chain: str, attribution: dict[str, Any], which: str) -> list[str]:
    """Check the chain's account ledgers against the tags now; the new alert ids."""
    with store.connect(read_only=True) as con:
        active = active_items(con, chain)
        items = {i.item_id: i for i in active if i.rule == "reaches-service"}
        rows = con.execute("SELECT f.item_id, f.output, f.state FROM watch_frontier f JOIN watch_items w ON "
                           "w.item_id = f.item_id WHERE w.chain = ? AND w.removed_at IS NULL AND "
                           "f.output LIKE 'acct:%'", [chain]).fetchall()
        tags = con.execute("SELECT address, category, label, source FROM tags WHERE currency = ? AND category IS "
                           "NOT NULL ORDER BY address, confidence_level DESC",
                           [chain_currency(chain)]).fetchall() if has_tags(con) else []
        tip = con.execute("SELECT max(height) FROM block_index WHERE chain = ?", [chain]).fetchone()
    by_raw: dict[bytes, list[dict[str, Any]]] = {}
    for address, category, label, source in tags:
        try:
            by_raw.setdefault(parse_account_address(address, chain=chain), []).append(
                {"label": label, "category": category, "address": address, "via": "tag", "tag_source": source})
        except UsageError:
            continue
    newest: dict[tuple[str, str, str], tuple[int, str, str]] = {}  # (item, address, asset) -> (height, state, output)
    first: dict[tuple[str, str, str], int] = {}
    for item_id, output, state in rows:
        parts = split_output(output)
        if parts is None or item_id not in items:
            continue
        key = (item_id, parts[0], parts[1])
        first[key] = min(first.get(key, parts[2]), parts[2])
        if key not in newest or newest[key][0] < parts[2]:
            newest[key] = (parts[2], state, output)
    units = token_units(store, chain)
    known = ACCOUNT_CHAINS.get(chain)
    alerts: list[Alert] = []
    stop: list[tuple[str, str, str, int]] = []
    height = int(tip[0]) if tip and tip[0] is not None else 0
    for (item_id, address, asset), (_, state, _output) in sorted(newest.items()):
        item = items[item_id]
        cats = item.categories or list(DEFAULT_STOP_CATEGORIES)
        tagged = by_raw.get(parse_account_address(address, chain=chain), [])
        svc = next((t for t in tagged if t["category"] in cats), None)
        received = received_of(state)
        if svc is None or not received or whole_sat(received) < item.min_sat:
            continue
        arrived = first[(item_id, address, asset)]
        block = _block_hash(store, chain, arrived)
        decimals: int | None
        if asset == "native":
            symbol, decimals = (known.native_symbol, known.native_decimals) if known else ("ETH", 18)
        else:
            symbol, decimals = _token_unit(store, chain, asset, units)
        amount_text = f"{format_units(received, decimals)} {symbol or asset}"
        title = (f"{amount_text} of traced funds reached {svc['label']} (deposit {address}, from height "
                 f"{arrived}; new attribution: {which})")
        body = {"facts": {"amount": str(whole_sat(received)), "amount_exact": exact_amount(received), "asset": asset,
                          "unit": symbol, "decimals": decimals, "address": address, "first_height": arrived},
                "service": svc, "policy": item.policy, "via": "new attribution", "attribution": attribution}
        alerts.append(Alert(item, arrived, block, None, title, f"attribution:{address}:{asset}", body))
        if json.loads(state).get("ledger") is not None:
            stop.append((item_id, address, asset, max(height, newest[(item_id, address, asset)][0])))
    where = risk_rule.Where(attribution=attribution)
    risk_alerts, risk_rows = risk_rule.evaluate(store, chain, {i.item_id: (i, [i.target], where) for i in active
                                                                if i.rule == "risk-above"})
    out: list[str] = []
    with store.connect() as con:
        con.execute("BEGIN")
        risk_rule.write_rows(con, risk_rows)
        for new in alert_rows.write_many(con, alerts + risk_alerts):
            if new is not None:
                out.append(new)
        for item_id, address, asset, h in stop:  # taint stops at the service: a tombstone from now on
            received = received_of(newest[(item_id, address, asset)][1])
            con.execute("INSERT OR REPLACE INTO watch_frontier (item_id, output, amount, state, height) VALUES "
                        "(?, ?, '0', ?, ?)", [item_id, row_output(address, asset, h), dump(None, received), h])
        con.execute("INSERT OR REPLACE INTO watch_attribution (chain, cluster_run_id, tag_state, evaluated_at) "
                    "VALUES (?, NULL, ?, ?)", [chain, _tag_state(store, chain), now()])
        con.execute("COMMIT")
    return out


def _tag_state(store: Store, chain: str) -> str:
    from fundtrail.trace.tag_resolve import tag_version

    return json.dumps(tag_version(store, chain_currency(chain)), separators=(",", ":"))


def _block_hash(store: Store, chain: str, height: int) -> str | None:
    with store.connect(read_only=True) as con:
        row = con.execute("SELECT hash FROM block_index WHERE chain = ? AND height = ?", [chain, height]).fetchone()
    return ("" if is_tron_chain(chain) else "0x") + bytes(row[0]).hex() if row else None


def _token_unit(store: Store, chain: str, asset: str, units: dict[int, Any]) -> tuple[str, int | None]:
    p = chain.replace("-", "_")
    with store.query() as con:
        row = con.execute(f"SELECT address_id FROM {p}_addresses WHERE address = ?",
                          [parse_account_address(asset, chain=chain)]).fetchone()
    unit = units.get(int(row[0])) if row else None
    return (unit.symbol, unit.decimals) if unit is not None else ("", None)

