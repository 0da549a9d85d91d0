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
from fundtrail.cases.report_listing import TABLE_ROWS, chunks, listing
from fundtrail.cases.report_timeline import timeline, traced_txs


def _money(amount: Fraction | int, unit: dict[str, Any]) -> str:
    return amount_text(amount, symbol=unit["symbol"], decimals=unit["decimals"]) + (" *" if is_rounded(amount) else "")


def _tag_basis(t: Callable[..., str], tag: dict[str, Any]) -> str:
    via = t("basis_via_cluster", address=tag["inherited_from"]) if tag.get("inherited_from") else t("basis_direct")
    return t("basis_tag", address=tag.get("address") or "-", category=tag.get("category") or "-",
             label=tag.get("label") or "-", source=tag.get("source") or "-",
             confidence=tag.get("confidence") if tag.get("confidence") is not None else "-", via=via)


def _grouped_basis(t: Callable[..., str], tags: list[dict[str, Any]], listed: int) -> list[str]:
    """One line per kind of attribution (tag, source, confidence, direct or through which
    cluster), naming the deposit addresses it covers (or saying it covers all `listed` of them,
    which the section lists anyway)."""
    groups: dict[tuple[Any, ...], list[str]] = {}
    for tag in tags:
        key = tuple(tag.get(k) for k in ("category", "label", "source", "confidence", "inherited_from"))
        groups.setdefault(key, []).append(str(tag.get("address")))
    out = []
    for (category, label, source, confidence, via), addresses in groups.items():
        how = t("basis_via_cluster", address=via) if via else t("basis_direct")
        named = t("basis_all_listed", count=listed) if len(set(addresses)) == listed > 3 else ", ".join(addresses)
        out.append(t("basis_tag_group", count=len(addresses), category=category or "-", label=label or "-",
                     source=source or "-", confidence=confidence if confidence is not None else "-", via=how,
                     addresses=named))
    return out


def _service_view(t: Callable[..., str], svc: dict[str, Any], cols: list[dict[str, Any]]) -> None:
    """Add what the template shows of a service: cells, totals, and for a long list of deposit
    addresses a monospace listing (`report_listing`) instead of a table."""
    rows = svc["addresses"]
    svc["basis"] = _grouped_basis(t, svc["tags"], len(rows))
    for row in rows:
        row["cells"] = [_money(row["amounts"][c["id"]], row) if c["id"] in row["amounts"] else "—" for c in cols]
        row["arrival"] = utc_text(row["first_arrival"])
    one_unit = len({(r["symbol"], r["decimals"]) for r in rows}) == 1
    svc["totals"] = [_money(sum((r["amounts"].get(c["id"], Fraction(0)) for r in rows), Fraction(0)), rows[0])
                     if one_unit and any(c["id"] in r["amounts"] for r in rows) else "—" for c in cols]
    svc["listing"] = listing(rows, cols, below="outputs", total=(svc["totals"], t("svc_total", count=len(rows)))) \
        if len(rows) > TABLE_ROWS else None


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


def _txid_lines(txs: dict[str, dict[str, Any]]) -> list[str]:
    """The appendix: every txid by block height, two of one block to a line (half the lines,
    half the pages and layout time of one per line)."""
    by_height: dict[Any, list[str]] = {}
    for x, info in txs.items():
        by_height.setdefault(info.get("height"), []).append(x)
    lines = []
    for height in sorted(by_height, key=lambda h: (h is None, h or 0)):
        members = sorted(by_height[height])
        for i in range(0, len(members), 2):
            lines.append(f"{height if height is not None else '-':>8}  " + "  ".join(members[i:i + 2]))
    return lines


def build(case: dict[str, Any], traces: list[dict[str, Any]], *, lang: str, author: str, version: str,
          now: str, bundle_hash: str | None) -> dict[str, Any]:
    """Everything the report template shows (see the module docstring)."""
    words = Words(lang)
    t = words
    svcs = services(traces)
    cols = [{"id": tr["id"], "policy": tr.get("policy") or "-"} for tr in traces]
    for svc in svcs:
        _service_view(t, svc, cols)
    txs = traced_txs(traces)
    rows, more = timeline(t, case, traces, txs, svcs, _seed_rows(t, case, txs), lambda tag: _tag_basis(t, tag))
    figures = []
    for tr in traces:
        fig = draw(tr.get("result") or {}, t)
        figures.append({"id": tr["id"], "policy": tr.get("policy") or "-", "svg": fig.svg,
                        "drawn": fig.drawn_endpoints, "omitted": fig.omitted_endpoints,
                        "omitted_amount": _money(fig.omitted_amount, fig.unit)})
    txs = dict(txs)
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
        "txids": sorted(txs), "txid_chunks": chunks(_txid_lines(txs)),
        "names": [s["name"] for s in svcs],
        "columns_legend": ", ".join(f"{c['id']} = {t('policy_' + c['policy'])}" for c in cols),
        "rounded": any("*" in c for s in svcs for r in s["addresses"] for c in r["cells"]),
    }
