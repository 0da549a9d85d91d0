"""`risk-above`: alert when a watched address's risk score crosses the item's threshold upward.

The score is the one `fundtrail risk` gives (`fundtrail.risk.assess.Assessor` under the shipped
profile: tags, cluster inheritance and exposure), so it needs the committed chain and tag map: a
batch's scores are computed just after the batch's commit, in their own transaction, and again
after every attribution change (`watch.reattribute`). Once per crossing: each (item, address)
keeps its last score in a `watch_frontier` row whose output is `risk:ADDRESS` (amount: the score;
state: JSON `{"taint": {"int": "0"}, "spent": null, "spent_tx": null, "risk": {"score", "above",
"height"}}`, height NULL so a rollback leaves it alone). An address with no row yet counts as
below: one already above the threshold alerts at its first evaluation.

Account chains (EVM, TRON) score with `risk.account_assess.AccountAssessor` (direct tags and
per-asset exposure, as `fundtrail risk` on such an address); their evaluator
(`watch.account.AccountWatchEvaluator`) collects the touched items with `touched_account`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np

from fundtrail.chains.resolve import utxo_text
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.errors import FundtrailError
from fundtrail.risk.account_assess import AccountAssessor
from fundtrail.risk.assess import Assessor
from fundtrail.risk.profile import load_profile
from fundtrail.store import Store
from fundtrail.trace.graph import GraphIndex
from fundtrail.watch.alerts import Alert
from fundtrail.watch.alerts import write as write_alert
from fundtrail.watch.account_batch import AccountBatch
from fundtrail.watch.batch import BatchView
from fundtrail.watch.items import Item

PREFIX = "risk:"


@dataclass(frozen=True)
class Where:
    """What caused an evaluation: a block and transaction (a batch), or an attribution change."""

    height: int | None = None
    block_hash: str | None = None
    txid: str | None = None
    time: int | None = None
    attribution: dict[str, Any] | None = None


def addresses_of(item: Item, graph: GraphIndex, members: Any = None) -> list[str]:
    """The addresses an item scores: its address, or its cluster's members (`members`: ids)."""
    if item.kind == "address":
        return [item.target]
    net = bitcoin_network_of(item.chain)
    return [utxo_text(*graph.address_key(int(a)), net) for a in (members if members is not None else [])]


def _state(score: float, above: bool, height: int | None) -> str:
    return json.dumps({"taint": {"int": "0"}, "spent": None, "spent_tx": None,
                       "risk": {"score": score, "above": above, "height": height}}, separators=(",", ":"))


def last_scores(con: duckdb.DuckDBPyConnection, item_ids: list[str]) -> dict[tuple[str, str], bool]:
    """(item, address) -> whether its last score was at or above the threshold."""
    if not item_ids:
        return {}
    rows = con.execute("SELECT item_id, output, state FROM watch_frontier WHERE list_contains(?, item_id) "
                       "AND starts_with(output, ?)", [item_ids, PREFIX]).fetchall()
    return {(i, o[len(PREFIX):]): bool(json.loads(s)["risk"]["above"]) for i, o, s in rows}


def evaluate(store: Store, chain: str, targets: dict[str, tuple[Item, list[str], Where]],
             *, graph: GraphIndex | None = None) -> tuple[list[Alert], list[tuple[str, str, str, str]]]:
    """Score the targets (item id -> (item, addresses, what caused it)); the alerts of upward
    crossings and the state rows (item, output, score, state) to write. Reads the catalog only."""
    texts = sorted({a for _, addrs, _ in targets.values() for a in addrs})
    if not texts:
        return [], []
    assessor = _assessor(store, chain, graph)
    scored = {r.address: r for r in assessor.addresses(texts)}
    with store.connect(read_only=True) as con:
        before = last_scores(con, list(targets))
    alerts: list[Alert] = []
    rows: list[tuple[str, str, str, str]] = []
    for item_id, (item, addrs, where) in targets.items():
        limit = float(item.threshold if item.threshold is not None else 100.0)
        for a in addrs:
            res = scored[a]
            above = res.score >= limit
            was = before.get((item_id, a))
            if was == above:
                continue  # no crossing either way: nothing to remember anew
            rows.append((item_id, PREFIX + a, f"{res.score:g}", _state(res.score, above, where.height)))
            if above:
                alerts.append(_alert(item, a, res, limit, where))
    return alerts, rows


def _assessor(store: Store, chain: str, graph: GraphIndex | None) -> Assessor | AccountAssessor:
    """The assessor `fundtrail risk` uses on `chain` (UTXO or account family), shipped profile."""
    try:
        bitcoin_network_of(chain)
    except FundtrailError:
        return AccountAssessor(store, chain, load_profile(None))
    return Assessor(store, chain, load_profile(None), graph=graph)


def _alert(item: Item, address: str, res: Any, limit: float, where: Where) -> Alert:
    cause = "new attribution" if where.attribution is not None else "new activity"
    title = (f"risk score of {address} rose to {res.score:g} (threshold {limit:g}, {res.severity or 'no severity'}) "
             f"on {cause}")
    body: dict[str, Any] = {"facts": {"address": address, "score": res.score, "threshold": limit,
                                      "severity_of_score": res.severity, "profile": res.profile,
                                      "reasons": res.reasons[:5]},
                            "via": cause}
    if where.attribution is not None:
        body["attribution"] = where.attribution
    detail = f"{PREFIX}{address}"
    if where.attribution is not None:
        detail += ":" + json.dumps(where.attribution, sort_keys=True, separators=(",", ":"))
    return Alert(item, where.height, where.block_hash, where.txid, title, detail, body, time=where.time)


def write_rows(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str]]) -> None:
    """Remember the scores (inside the caller's transaction, with the alerts)."""
    for item_id, output, score, state in rows:
        con.execute("INSERT OR REPLACE INTO watch_frontier (item_id, output, amount, state, height) "
                    "VALUES (?, ?, ?, ?, NULL)", [item_id, output, score, state])


def score_committed(store: Store, chain: str, targets: dict[str, tuple[Item, list[str], Where]],
                    *, graph: GraphIndex | None = None) -> None:
    """Score the targets a committed batch touched; their alerts and states in a transaction of
    their own (scores need the committed chain: graph and exposure indexes)."""
    alerts, rows = evaluate(store, chain, targets, graph=graph)
    if not alerts and not rows:
        return
    with store.connect() as con:
        con.execute("BEGIN")
        for alert in alerts:
            write_alert(con, alert)
        write_rows(con, rows)
        con.execute("COMMIT")


def touched(batch: BatchView, by_address: dict[int, list[Item]]) -> dict[str, tuple[Item, list[int], Where]]:
    """risk-above items whose addresses the batch pays or spends from: (item, address ids, the
    last transaction touching them)."""
    risky = {a: [i for i in its if i.rule == "risk-above"] for a, its in by_address.items()}
    risky = {a: its for a, its in risky.items() if its}
    if not risky:
        return {}
    watched = np.fromiter(risky, np.int64, len(risky))
    last: dict[int, int] = {}
    for addr, txs in ((batch.in_address, batch.in_tx), (batch.out_address, batch.out_tx)):
        for k in np.flatnonzero(np.isin(addr, watched)).tolist():
            a, tx = int(addr[k]), int(txs[k])
            last[a] = max(last.get(a, tx), tx)
    aids: dict[str, list[int]] = {}
    at: dict[str, int] = {}
    items: dict[str, Item] = {}
    for a, tx in last.items():
        for item in risky[a]:
            items[item.item_id] = item
            aids.setdefault(item.item_id, []).append(a)
            at[item.item_id] = max(at.get(item.item_id, tx), tx)
    out: dict[str, tuple[Item, list[int], Where]] = {}
    for item_id, item in items.items():
        height, block_hash, when = batch.block_of(at[item_id])
        out[item_id] = (item, aids[item_id], Where(height, block_hash, batch.txid_hex(at[item_id]), when))
    return out


def touched_account(batch: AccountBatch,
                    by_address: dict[int, list[Item]]) -> dict[str, tuple[Item, list[str], Where]]:
    """Account chains: risk-above items whose address sends or receives value in the batch, with
    the last transaction touching it (fees count: paying one is activity too)."""
    last: dict[str, tuple[Item, Any]] = {}
    for ev in batch.events:
        for aid in (ev.sender, ev.receiver):
            for item in by_address.get(aid, ()) if aid >= 0 else ():
                if item.rule == "risk-above":
                    last[item.item_id] = (item, ev)
    out: dict[str, tuple[Item, list[str], Where]] = {}
    for item_id, (item, ev) in last.items():
        height, block_hash, txid, when = batch.where(ev)
        out[item_id] = (item, [item.target], Where(height, block_hash, txid, when))
    return out
