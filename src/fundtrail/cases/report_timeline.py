"""The report's timeline: what happened, in UTC order, readable by a prosecutor.

A large case pays services in thousands of transactions; one row each is pages of identical
lines. So the transactions paying traced funds to service deposit addresses are grouped by hour
(by day when the case spans more than two days of hours): one row says when, which blocks, how
many transactions paid which services, and lists their txids compactly. The rows a reader needs
one by one stay single: the reported payments (seeds) with the victim's facts, the transactions
that first moved the seed funds, the first arrival at each service, and the investigation's own
record (traces saved, findings, notes). Each row keeps its mark (FACT, INFERENCE, RECORD).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fundtrail.cases.report_i18n import utc_text
from fundtrail.cases.report_services import service_name, stop_tag, txid_of

#: Group paying transactions by hour while the case spans at most this many distinct hours, else by day.
MAX_HOUR_GROUPS = 48
#: A group of more transactions names them by their first 16 hex digits (in full in the appendix).
FULL_TXIDS = 12
SHORT_TXID = 16


def traced_txs(traces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every transaction on a traced path: txid -> height and time (when the trace knows them)."""
    out: dict[str, dict[str, Any]] = {}
    for tr in traces:
        graph = (tr.get("result") or {}).get("graph") or {}
        for n in graph.get("nodes") or []:
            if n.get("txid"):
                out.setdefault(n["txid"], {"height": n.get("height"), "time": n.get("time")})
        for e in graph.get("edges") or []:
            txid = txid_of(str(e.get("output") or ""))
            if txid and "asset" in e:  # account chains: the transfer's transaction
                out.setdefault(txid, {"height": None, "time": e.get("time")})
    return out


def _moves_and_payments(traces: list[dict[str, Any]]) -> tuple[set[str], dict[str, set[str]]]:
    """The transactions that first moved the seeds, and those that paid a service (txid -> the
    services it paid)."""
    first: set[str] = set()
    paid: dict[str, set[str]] = {}
    for tr in traces:
        result = tr.get("result") or {}
        stop_at = list((result.get("limits") or {}).get("stop_at") or [])
        seeds = set((result.get("seed") or {}).get("outputs") or [])
        for e in result.get("endpoints") or []:
            if e.get("reason") != "service":
                continue
            name = service_name(e, stop_tag(e, stop_at))
            for ref in e.get("outputs") or []:
                txid = txid_of(ref)
                if txid:
                    paid.setdefault(txid, set()).add(name)
        for ed in (result.get("graph") or {}).get("edges") or []:
            if ed.get("output") in seeds and ed.get("to"):
                first.add(str(ed["to"]).split(":", 1)[-1])
    return first, paid


def _span(times: list[int]) -> str:
    """`2023-11-15 03:43-04:03 UTC` (one day) or `2023-11-15 23:50 - 2023-11-16 00:10 UTC`, with en dashes."""
    lo, hi = (dt.datetime.fromtimestamp(x, dt.UTC) for x in (min(times), max(times)))
    if lo == hi:
        return utc_text(min(times))
    if lo.date() == hi.date():
        return f"{lo:%Y-%m-%d %H:%M}\u2013{hi:%H:%M} UTC"
    return f"{lo:%Y-%m-%d %H:%M} \u2013 {hi:%Y-%m-%d %H:%M} UTC"


def _blocks(heights: list[int]) -> str:
    return "" if not heights else str(min(heights)) if min(heights) == max(heights) else \
        f"{min(heights)}\u2013{max(heights)}"


def _payment_rows(t: Callable[..., str], paid: dict[str, set[str]],
                  txs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The paying transactions grouped by hour (or day): one INFERENCE row per group (that the
    addresses are the services' is an attribution; the payments are on chain)."""
    timed = {x: txs.get(x, {}) for x in paid}
    hours = {int(i["time"]) // 3600 for i in timed.values() if i.get("time") is not None}
    width = 3600 if len(hours) <= MAX_HOUR_GROUPS else 86400
    groups: dict[int | None, list[str]] = {}
    for txid, info in timed.items():
        key = int(info["time"]) // width if info.get("time") is not None else None
        groups.setdefault(key, []).append(txid)
    rows = []
    for members in groups.values():
        members.sort(key=lambda x: (timed[x].get("height") or 0, timed[x].get("time") or 0, x))
        per: dict[str, int] = {}
        for x in members:
            for name in paid[x]:
                per[name] = per.get(name, 0) + 1
        names = ", ".join(f"{n} ({c})" for n, c in sorted(per.items(), key=lambda kv: (-kv[1], kv[0])))
        times = [int(timed[x]["time"]) for x in members if timed[x].get("time") is not None]
        heights = [int(timed[x]["height"]) for x in members if timed[x].get("height") is not None]
        rows.append({"time": min(times) if times else None, "when": _span(times) if times else "",
                     "height": min(heights) if heights else None, "blocks": _blocks(heights), "mark": "inference",
                     "text": t("tl_paid", count=len(members), services=names), "names": sorted(per),
                     "basis": t("basis_paid"), "txids": members if len(members) <= FULL_TXIDS else [],
                     "short": [x[:SHORT_TXID] for x in members] if len(members) > FULL_TXIDS else []})
    return rows


def timeline(t: Callable[..., str], case: dict[str, Any], traces: list[dict[str, Any]],
             txs: dict[str, dict[str, Any]], svcs: list[dict[str, Any]], seed_rows: list[dict[str, Any]],
             tag_basis: Callable[[dict[str, Any]], str]) -> tuple[list[dict[str, Any]], int]:
    """The timeline rows in time order, and how many traced transactions (`txs`, from
    `traced_txs`) it leaves to the appendix."""
    first, paid = _moves_and_payments(traces)
    rows = list(seed_rows)
    for txid in sorted(first, key=lambda x: (txs.get(x, {}).get("height") or 0, x)):
        info = txs.get(txid, {})
        rows.append({"time": info.get("time"), "height": info.get("height"), "mark": "fact",
                     "text": t("tl_tx_first"), "txids": [txid], "basis": ""})
    rows += _payment_rows(t, paid, txs)
    for svc in svcs:
        first_row = min(svc["addresses"], key=lambda r: (r["first_arrival"] or 0, str(r["address"])))
        own = [tag for tag in svc["tags"] if tag.get("address") == first_row["address"]] or svc["tags"][:1]
        rows.append({"time": first_row["first_arrival"], "height": None, "mark": "inference",
                     "text": t("tl_arrival", service=svc["name"], address=first_row["address"]), "names": [svc["name"]],
                     "basis": "; ".join([t("basis_outputs", outputs=", ".join(first_row["outputs"][:3])),
                                         *(tag_basis(tag) for tag in own[:2])])})
    for f in case.get("findings") or []:
        rows.append({"time": f["created_at"], "height": None, "mark": "record",
                     "text": t("tl_finding", id=f["id"], kind=t(f"mark_{f['kind']}"), by=f["created_by"]),
                     "basis": ""})
    for n in case.get("notes") or []:
        rows.append({"time": n["created_at"], "height": None, "mark": "record",
                     "text": t("tl_note", by=n["author"], text=n["text"]), "basis": ""})
    for tr in traces:
        rows.append({"time": tr["created_at"], "height": None, "mark": "record",
                     "text": t("tl_trace", id=tr["id"], policy=tr.get("policy") or "-", by=tr["created_by"]),
                     "basis": ""})
    for r in rows:
        r.setdefault("txids", [])
        r.setdefault("short", [])
        r.setdefault("names", [])
        r.setdefault("when", utc_text(r["time"]) if r["time"] is not None else "")
        r.setdefault("blocks", "" if r["height"] is None else str(r["height"]))
        r["sort"] = utc_text(r["time"]) if r["time"] is not None else "9999"
    rows.sort(key=lambda r: (r["sort"], r["height"] or 0, r["mark"] != "fact"))
    named = first | set(paid)
    return rows, sum(1 for x in txs if x not in named)
