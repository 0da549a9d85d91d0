"""What a court report says, assembled from the case and its saved traces (no rendering here).

Every statement the report makes is a row `{mark, text, basis}` with `mark` one of `fact` (on the
chain: anyone can check it from the txids and outputs named in its basis), `inference` (an
attribution or heuristic: its basis names the tag source, confidence and cluster evidence) or
`record` (the investigation's own record: a note, a saved trace, when a finding was added —
not a claim about the chain). The template only prints what is assembled here.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from fundtrail.cases import report_method
from fundtrail.cases.figure import draw
from fundtrail.cases.report_i18n import Words, amount_text, is_rounded, utc_text
from fundtrail.cases.report_services import exact, services, token_holders, txid_of, unit_of

#: Transactions listed in the timeline at most (every traced one is in the appendix).
TIMELINE_TXS = 80


def _money(amount: Fraction | int, unit: dict[str, Any]) -> str:
    return amount_text(amount, symbol=unit["symbol"], decimals=unit["decimals"]) + (" *" if is_rounded(amount) else "")


def _tag_basis(t: Callable[..., str], tag: dict[str, Any]) -> str:
    via = t("basis_via_cluster", address=tag["inherited_from"]) if tag.get("inherited_from") else t("basis_direct")
    return t("basis_tag", address=tag.get("address") or "-", category=tag.get("category") or "-",
             label=tag.get("label") or "-", source=tag.get("source") or "-",
             confidence=tag.get("confidence") if tag.get("confidence") is not None else "-", via=via)


def _grouped_basis(t: Callable[..., str], tags: list[dict[str, Any]]) -> list[str]:
    """One line per kind of attribution (tag, source, confidence, direct or through which
    cluster), naming the deposit addresses it covers."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for tag in tags:
        key = tuple(tag.get(k) for k in ("category", "label", "source", "confidence", "inherited_from"))
        groups.setdefault(key, []).append(str(tag.get("address")))
    out = []
    for (category, label, source, confidence, via), addresses in groups.items():
        how = t("basis_via_cluster", address=via) if via else t("basis_direct")
        out.append(t("basis_tag_group", count=len(addresses), category=category or "-", label=label or "-",
                     source=source or "-", confidence=confidence if confidence is not None else "-", via=how,
                     addresses=", ".join(addresses)))
    return out


def _txs(traces: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
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


def _key_txs(traces: list[dict[str, Any]]) -> dict[str, str]:
    """The transactions a timeline names (txid -> what it did): those that first moved the seeds
    and those that paid a service; every other traced transaction is in the appendix."""
    out: dict[str, str] = {}
    for tr in traces:
        result = tr.get("result") or {}
        seeds = set((result.get("seed") or {}).get("outputs") or [])
        for e in result.get("endpoints") or []:
            if e.get("reason") == "service":
                for ref in e.get("outputs") or []:
                    if txid_of(ref):
                        out[str(txid_of(ref))] = "tl_tx_deposit"
        for ed in (result.get("graph") or {}).get("edges") or []:
            if ed.get("output") in seeds and ed.get("to"):
                out.setdefault(str(ed["to"]).split(":", 1)[-1], "tl_tx_first")
    return out


def _seed_rows(t: Callable[..., str], case: dict[str, Any], txs: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for s in case.get("seeds") or []:
        txid = txid_of(s["text"]) if ":" in s["text"] or len(s["text"]) == 64 else None
        where = txs.get(txid or "", {})
        reported = "; ".join(f"{k}: {v}" for k, v in sorted((s.get("facts") or {}).items()))
        text = t("tl_seed", seed=s["text"], note=s.get("note") or "-")
        if reported:
            text += " " + t("tl_reported", facts=reported)
        rows.append({"time": where.get("time"), "height": where.get("height"), "mark": "fact", "text": text, "txid": "",
                     "basis": t("basis_seed", seed=s["text"], chain=s["chain"])})
    return rows


def timeline(t: Callable[..., str], case: dict[str, Any], traces: list[dict[str, Any]],
             svcs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """The timeline rows, in time order, and how many traced transactions it leaves to the appendix."""
    txs = _txs(traces)
    rows = _seed_rows(t, case, txs)
    key = _key_txs(traces)
    ordered = sorted(((x, i) for x, i in txs.items() if x in key),
                     key=lambda kv: (kv[1].get("height") or 0, kv[1].get("time") or 0, kv[0]))
    for txid, info in ordered[:TIMELINE_TXS]:
        rows.append({"time": info.get("time"), "height": info.get("height"), "mark": "fact",
                     "text": t(key[txid]), "txid": txid, "basis": ""})
    for svc in svcs:
        first = min(svc["addresses"], key=lambda r: (r["first_arrival"] or 0, str(r["address"])))
        rows.append({"time": first["first_arrival"], "height": None, "mark": "inference",
                     "text": t("tl_arrival", service=svc["name"], address=first["address"]),
                     "basis": t("basis_outputs", outputs=", ".join(first["outputs"][:3]))
                     + "; " + "; ".join(_tag_basis(t, tag) for tag in svc["tags"][:2])})
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
        r.setdefault("txid", "")
        r["when"] = utc_text(r["time"]) if r["time"] is not None else ""
        r["sort"] = r["when"] or "9999"
    rows.sort(key=lambda r: (r["sort"], r["height"] or 0))
    return rows, max(0, len(txs) - min(len(ordered), TIMELINE_TXS))


def _trace_summary(t: Callable[..., str], tr: dict[str, Any]) -> dict[str, Any]:
    result = tr.get("result") or {}
    unit = unit_of(result, (result.get("endpoints") or [{}])[0]) if result.get("endpoints") else unit_of(result, {})
    acc = result.get("accounting") or {}
    seed_value = Fraction(str(acc.get("seed_exact") or (result.get("seed") or {}).get("value_sat") or 0))
    reasons: dict[str, Fraction] = {}
    for e in result.get("endpoints") or []:
        reasons[e["reason"]] = reasons.get(e["reason"], Fraction(0)) + exact(e)
    state = tr.get("state") or {}
    return {"id": tr["id"], "policy": tr.get("policy") or "-", "direction": result.get("direction") or "-",
            "seed": tr.get("seed"), "chain": result.get("chain") or state.get("chain"), "created_at": tr["created_at"],
            "seed_value": _money(seed_value, unit),
            "reasons": [(t(f"reason_{k}"), _money(v, unit)) for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])],
            "fees": _money(Fraction(str(acc.get("fees_exact") or 0)), unit) if acc else "-",
            "endpoints": len(result.get("endpoints") or []), "truncated": bool(result.get("truncated")),
            "tip": state.get("tip_height"), "tip_hash": state.get("tip_hash"),
            "cluster_run": state.get("cluster_run_id"), "tag_state": state.get("tag_state_hash"),
            "version": state.get("fundtrail_version"), "limits": result.get("limits") or {},
            "coverage": result.get("coverage") or {}, "warnings": result.get("warnings") or []}


def _finding(t: Callable[..., str], f: dict[str, Any]) -> dict[str, Any]:
    basis = f.get("basis") or ""
    if f["kind"] == "inference":
        basis += "; " + t("basis_confidence", confidence=f"{f['confidence']:g}" if f.get("confidence") is not None
                          else "-")
        if f.get("source"):
            basis += "; " + t("basis_source", source=f["source"])
    refs = f.get("refs") or []
    if refs:
        basis += "; " + t("basis_refs", refs=", ".join(refs))
    return {"id": f["id"], "mark": f["kind"], "text": f["text"], "basis": basis, "by": f["created_by"],
            "at": utc_text(f["created_at"])}


def build(case: dict[str, Any], traces: list[dict[str, Any]], *, lang: str, author: str, version: str,
          now: str, bundle_hash: str | None) -> dict[str, Any]:
    """Everything the report template shows (see the module docstring)."""
    words = Words(lang)
    t = words
    svcs = services(traces)
    cols = [{"id": tr["id"], "policy": tr.get("policy") or "-"} for tr in traces]
    for svc in svcs:
        svc["basis"] = _grouped_basis(t, svc["tags"])
        for row in svc["addresses"]:
            row["cells"] = [_money(row["amounts"][c["id"]], row) if c["id"] in row["amounts"] else "—" for c in cols]
            row["arrival"] = utc_text(row["first_arrival"])
    rows, more = timeline(t, case, traces, svcs)
    figures = []
    for tr in traces:
        fig = draw(tr.get("result") or {}, t)
        figures.append({"id": tr["id"], "policy": tr.get("policy") or "-", "svg": fig.svg,
                        "drawn": fig.drawn_endpoints, "omitted": fig.omitted_endpoints,
                        "omitted_amount": _money(fig.omitted_amount, fig.unit)})
    txs = _txs(traces)
    for s in case.get("seeds") or []:
        if txid_of(s["text"]) and len(txid_of(s["text"]) or "") in (64, 66):
            txs.setdefault(txid_of(s["text"]) or "", {"height": None, "time": None})
    for f in case.get("findings") or []:
        for ref in f.get("refs") or []:
            if ref.startswith(("tx:", "output:")):
                txs.setdefault(ref.split(":")[1], {"height": None, "time": None})
    return {
        "lang": lang, "html_lang": "zh-CN" if lang == "zh_CN" else "en", "t": t, "words": words,
        "case": case, "author": author, "version": version, "now": utc_text(now), "bundle_hash": bundle_hash,
        "findings": [_finding(t, f) for f in case.get("findings") or []],
        "traces": [_trace_summary(t, tr) for tr in traces], "columns": cols, "services": svcs,
        "tokens": token_holders(traces), "timeline": rows, "timeline_more": more, "figures": figures,
        "method": report_method.used(traces), "policies": sorted({tr.get("policy") or "-" for tr in traces}),
        "txids": [(x, txs[x].get("height")) for x in sorted(txs, key=lambda x: (txs[x].get("height") or 0, x))],
        "rounded": any("*" in c for s in svcs for r in s["addresses"] for c in r["cells"]),
    }
