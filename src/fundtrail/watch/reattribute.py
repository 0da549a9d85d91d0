"""Rules run again when attribution changes: a cluster run, a tag import, an analyst's tag.

Deposit addresses are rarely tagged themselves: funds that reached one become a hit when it is
tagged later or joins an exchange's cluster. After such a change commits, each active
`reaches-service` item's frontier rows are checked against the new attribution (the tag map
`trace` uses): the unspent tainted outputs, and the outputs the frontier already passed through
that its undo journal still holds (spent within the last `KEEP_SPENT_BLOCKS` blocks). Each one
now at an address of one of the item's service categories raises an alert with `"via": "new
attribution"` naming the change; an unspent one leaves the frontier (taint stops at a service).
Bounded: only the rows the item holds, never a re-trace from its seeds. `risk-above` items are
scored again too (`watch.risk_rule`). Alerts, outbox rows, frontier changes and the attribution
state (`watch_attribution`) are written in one transaction; a second run adds nothing (the alert
keys name the output, not the change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import duckdb

from fundtrail.errors import FundtrailError
from fundtrail.ingest.crash import crash_point
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store
from fundtrail.trace.attribution import chain_currency
from fundtrail.trace.tag_resolve import tag_version
from fundtrail.trace.policies import whole_sat
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch import risk_rule
from fundtrail.watch.alerts import Alert
from fundtrail.watch.frontier import STOP_PREFIX, decode_state, exact_amount, outpoint_key
from fundtrail.watch.items import Item, active_items, now
from fundtrail.watch.rules import btc
from fundtrail.watch.services import Attribution


@dataclass
class Reattribution:
    """What one re-evaluation of a chain did."""

    chain: str
    attribution: dict[str, Any]
    checked: int = 0  # frontier rows checked
    scored: int = 0  # addresses scored for risk-above
    alerts: list[str] = field(default_factory=list)  # new alert ids
    left_frontier: int = 0  # unspent rows that reached a service


def _has_tables(store: Store) -> bool:
    with store.connect(read_only=True) as con:
        try:
            con.execute("SELECT 1 FROM watch_attribution LIMIT 0")
        except duckdb.CatalogException:
            return False
    return True


def watched_chains(store: Store) -> list[str]:
    """Chains with active items a change of attribution concerns (reaches-service, risk-above)."""
    if not _has_tables(store):
        return []
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT DISTINCT chain, rule FROM watch_items WHERE removed_at IS NULL AND "
                           "rule IN ('reaches-service', 'risk-above') ORDER BY chain").fetchall()
    return sorted({str(chain) for chain, _rule in rows})


def _is_utxo(chain: str) -> bool:
    try:
        bitcoin_network_of(chain)
    except FundtrailError:
        return False
    return True


def reattribute_all(store: Store, attribution: dict[str, Any]) -> list[Reattribution]:
    """`reattribute` on every chain that has items it concerns (after a tag import or tag)."""
    return [reattribute(store, chain, attribution) for chain in watched_chains(store)]


def current_state(store: Store, chain: str) -> tuple[int | None, str]:
    """(id of the current clustering's run or None, the tag set's version key as JSON)."""
    from fundtrail.cluster.query import load_clustering

    try:
        run: int | None = load_clustering(store, chain).run.run_id
    except FundtrailError:
        run = None
    return run, _json(tag_version(store, chain_currency(chain)))


def catch_up(store: Store, chain: str) -> Reattribution | None:
    """Re-evaluate when the attribution differs from the state the rules last ran on (a process
    killed after a tag import or cluster run committed and before it re-evaluated): called when
    an evaluator loads its items. None when nothing changed (or nothing is watched)."""
    if chain not in watched_chains(store):
        return None
    run, tags = current_state(store, chain)
    with store.connect(read_only=True) as con:
        row = con.execute("SELECT cluster_run_id, tag_state FROM watch_attribution WHERE chain = ?",
                          [chain]).fetchone()
    if row is not None and (row[0], row[1]) == (run, tags):
        return None
    if row is not None and row[0] != run and run is not None:
        return reattribute(store, chain, {"kind": "cluster run", "run_id": run})
    last = json.loads(tags)[1] if tags != "null" else None
    return reattribute(store, chain, {"kind": "tag import", "import_ids": [last] if last is not None else []})


def reattribute(store: Store, chain: str, attribution: dict[str, Any]) -> Reattribution:
    """Check the chain's reaches-service frontiers and risk-above items against the attribution
    now (`attribution` names the change, e.g. `{"kind": "tag import", "import_ids": [7]}`)."""
    crash_point("before_reattribution")  # tests: the change is committed, its re-evaluation not
    out = Reattribution(chain, attribution)
    if not _has_tables(store):
        return out
    if not _is_utxo(chain):  # account chains: ledgers against direct tags (watch.account_reattribute)
        from fundtrail.watch.account_reattribute import reattribute_account

        out.alerts = reattribute_account(store, chain, attribution, _which(attribution))
        return out
    with store.connect(read_only=True) as con:
        items = [i for i in active_items(con, chain) if i.rule in ("reaches-service", "risk-above")]
        rows = con.execute("SELECT f.item_id, f.output, f.amount, f.state FROM watch_frontier f JOIN watch_items w "
                           "ON w.item_id = f.item_id WHERE w.chain = ? AND w.removed_at IS NULL AND "
                           "w.rule = 'reaches-service' AND NOT starts_with(f.output, ?) AND "
                           "NOT starts_with(f.output, ?) ORDER BY f.item_id, f.output",
                           [chain, risk_rule.PREFIX, STOP_PREFIX]).fetchall()
    alerts: list[Alert] = []
    leave: list[tuple[str, str]] = []
    attr = Attribution(store, chain)
    tagmap = attr.tagmap
    by_id = {i.item_id: i for i in items}
    blocks = _Blocks(store, chain)
    for item_id, output, amount, state in rows:
        item = by_id.get(item_id)
        if item is None:
            continue
        out.checked += 1
        hit = _service_of(attr, output, item)
        if hit is None:
            continue
        svc, tx = hit
        _, spent = decode_state(state)
        where = blocks.of(attr.graph.txid_hex(tx))
        alerts.append(_alert(item, output, Fraction(amount), svc, where, attribution, spent))
        if spent is None:
            leave.append((item_id, output))
    risk_items = {i.item_id: i for i in items if i.rule == "risk-above"}
    targets = _risk_targets(risk_items, attr, tagmap.labels, attribution)
    out.scored = sum(len(a) for _, a, _ in targets.values())
    risk_alerts, risk_rows = risk_rule.evaluate(store, chain, targets, graph=attr.graph)
    with store.connect() as con:
        con.execute("BEGIN")
        for alert in alerts + risk_alerts:
            new = alert_rows.write(con, alert)
            if new is not None:
                out.alerts.append(new)
        for item_id, output in leave:
            con.execute("DELETE FROM watch_frontier WHERE item_id = ? AND output = ?", [item_id, output])
        risk_rule.write_rows(con, risk_rows)
        run, tags = current_state(store, chain)
        con.execute("INSERT OR REPLACE INTO watch_attribution (chain, cluster_run_id, tag_state, evaluated_at) "
                    "VALUES (?, ?, ?, ?)", [chain, run, tags, now()])
        con.execute("COMMIT")
    out.left_frontier = len(leave)
    return out


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _service_of(attr: Attribution, output: str, item: Item) -> tuple[dict[str, Any], int] | None:
    """The service (and the output's transaction id) a frontier row's address belongs to now."""
    txid, vout = outpoint_key(output)
    g = attr.graph
    tx = g.find_tx(txid)
    if tx < 0:
        return None
    o = int(g.tx_first_out[tx]) + vout
    aid = int(g.out_address[o])
    if aid < 0:
        return None
    svc = attr.service(aid, item.categories or list(DEFAULT_STOP_CATEGORIES))
    return (svc, tx) if svc is not None else None


class _Blocks:
    """Height, display hash and time of the block holding a transaction (for an alert's place)."""

    def __init__(self, store: Store, chain: str) -> None:
        self.store, self.prefix = store, chain.replace("-", "_")

    def of(self, txid_hex: str) -> risk_rule.Where:
        with self.store.query() as con:
            row = con.execute(f"SELECT b.height, b.hash, b.time FROM {self.prefix}_transactions t JOIN "
                              f"{self.prefix}_blocks b ON b.block_id = t.block_id WHERE t.txid = ?",
                              [bytes.fromhex(txid_hex)[::-1]]).fetchone()
        if row is None:
            return risk_rule.Where(txid=txid_hex)
        return risk_rule.Where(height=row[0], block_hash=bytes(row[1])[::-1].hex(), txid=txid_hex, time=int(row[2]))


def _alert(item: Item, output: str, amount: Fraction, svc: dict[str, Any], where: risk_rule.Where,
           attribution: dict[str, Any], spent: int | None) -> Alert:
    sat = whole_sat(amount)
    which = _which(attribution)
    passed = f", passed through at height {spent}" if spent is not None else ""
    title = (f"{btc(sat)} BTC of traced funds reached {svc['label']} (deposit {svc['address'] or 'address'}"
             f"{passed}; new attribution: {which})")
    body = {"facts": {"outputs": [output], "amount": str(sat), "amount_exact": exact_amount(amount),
                      "unit": "BTC", "decimals": 8, "spent_at_height": spent},
            "service": svc, "policy": item.policy, "via": "new attribution", "attribution": attribution}
    return Alert(item, where.height, where.block_hash, where.txid, title, f"attribution:{output}", body,
                 time=where.time)


def _which(attribution: dict[str, Any]) -> str:
    kind = str(attribution.get("kind", "change"))
    if "run_id" in attribution:
        return f"{kind} {attribution['run_id']}"
    if "override_id" in attribution:
        return f"{kind} (override {attribution['override_id']})"
    ids = attribution.get("import_ids") or []
    return f"{kind} {', '.join(str(i) for i in ids)}" if ids else kind


def _risk_targets(items: dict[str, Item], attr: Attribution, labels: Any,
                  attribution: dict[str, Any]) -> dict[str, tuple[Item, list[str], risk_rule.Where]]:
    import numpy as np

    out: dict[str, tuple[Item, list[str], risk_rule.Where]] = {}
    where = risk_rule.Where(attribution=attribution)
    for item_id, item in items.items():
        members = None
        if item.kind == "cluster":
            if labels is None:
                continue
            members = np.flatnonzero(np.asarray(labels) == int(item.target))
        out[item_id] = (item, risk_rule.addresses_of(item, attr.graph, members), where)
    return out
