"""Freeze-and-disclosure requests: one letter per service a case's traces reached (docs/reports.md).

An exchange's compliance desk acts on a letter within hours when it names, exactly, what to
freeze: the deposit addresses, the crediting transactions, the amounts (exact, with the taint
policy that gave them) and arrival times, with the case reference and what is asked. Each letter
is a PDF for people and a JSON document with the same content for the desk's tools; for a token
(account-chain traces of a token such as USDT) an extra letter asks its issuer to blacklist the
holder addresses. The JSON format is documented in docs/reports.md ("Letters").
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from fundtrail.cases.report_i18n import Words, amount_text, utc_text
from fundtrail.cases.report_listing import TABLE_ROWS, listing
from fundtrail.cases.report_services import services, slug, token_holders

FORMAT = "fundtrail-freeze-request"
INDEX_FORMAT = "fundtrail-freeze-requests"
FORMAT_VERSION = 1
SERVICE_REQUESTS = ("freeze", "preserve_kyc", "identity", "login_ips", "linked_accounts", "withdrawal_destinations")
ISSUER_REQUESTS = ("blacklist", "issuer_records")


def _iso(unix: int | None) -> str | None:
    return utc_text(unix).replace(" UTC", "Z").replace(" ", "T") if unix is not None else None


def _amounts(amounts: dict[str, Fraction], traces: list[dict[str, Any]], unit: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for tr in traces:
        if tr["id"] in amounts:
            value = amounts[tr["id"]]
            out.append({"trace_id": tr["id"], "policy": tr.get("policy"),
                        "amount": str(value.numerator // value.denominator),
                        "amount_exact": str(value) if value.denominator != 1 else str(value.numerator),
                        "display": amount_text(value, symbol=unit["symbol"], decimals=unit["decimals"])})
    return out


def _case_ref(case: dict[str, Any]) -> dict[str, Any]:
    return {"id": case["id"], "title": case["title"], "agency": case.get("agency"), "number": case.get("case_number")}


def letters(case: dict[str, Any], traces: list[dict[str, Any]], *, lang: str, author: str, version: str,
            now: str) -> list[dict[str, Any]]:
    """The JSON documents of the letters (services first, largest first; then token issuers)."""
    t = Words(lang)
    head = {"format": FORMAT, "format_version": FORMAT_VERSION, "lang": lang, "created_at": now,
            "created_by": author, "tool": {"name": "fundtrail", "version": version}, "case": _case_ref(case),
            "contact": {"officer": None, "phone": None, "email": None}}
    docs = []
    for svc in services(traces):
        deposits = [{"chain": r["chain"], "address": r["address"], "asset": r["asset"], "symbol": r["symbol"],
                     "decimals": r["decimals"], "first_arrival": _iso(r["first_arrival"]), "txids": r["txids"],
                     "outputs": r["outputs"], "amounts": _amounts(r["amounts"], traces, r)}
                    for r in svc["addresses"]]
        docs.append({**head, "kind": "service", "slug": svc["slug"],
                     "addressee": {"name": svc["name"], "category": svc["category"]},
                     "attribution": [{k: tag.get(k) for k in ("address", "category", "label", "source", "confidence",
                                                              "inherited_from")} for tag in svc["tags"]],
                     "deposits": deposits, "token": None, "request": list(SERVICE_REQUESTS),
                     "request_text": [t(f"req_{r}") for r in SERVICE_REQUESTS],
                     "files": {"pdf": f"{svc['slug']}.pdf", "json": f"{svc['slug']}.json"}})
    taken = {d["slug"] for d in docs}
    for tok in token_holders(traces):
        name = slug(f"issuer-{tok['symbol']}-{tok['contract'][:10]}")
        while name in taken or name == "index":
            name += "-x"
        taken.add(name)
        unit = {"symbol": tok["symbol"], "decimals": tok["decimals"]}
        holders = [{"address": h["address"], "reasons": h["reasons"], "amounts": _amounts(h["amounts"], traces, unit)}
                   for h in tok["holders"]]
        docs.append({**head, "kind": "token_issuer", "slug": name,
                     "addressee": {"name": t("issuer_name", symbol=tok["symbol"]), "category": "token_issuer"},
                     "attribution": [], "deposits": [],
                     "token": {"chain": tok["chain"], "contract": tok["contract"], "symbol": tok["symbol"],
                               "decimals": tok["decimals"], "holders": holders},
                     "request": list(ISSUER_REQUESTS), "request_text": [t(f"req_{r}") for r in ISSUER_REQUESTS],
                     "files": {"pdf": f"{name}.pdf", "json": f"{name}.json"}})
    return docs


def index(case: dict[str, Any], docs: list[dict[str, Any]], sums: dict[str, str], *, lang: str, now: str,
          version: str) -> dict[str, Any]:
    """`index.json`: the case and every letter with its files and their SHA-256."""
    return {"format": INDEX_FORMAT, "format_version": FORMAT_VERSION, "lang": lang, "created_at": now,
            "tool": {"name": "fundtrail", "version": version}, "case": _case_ref(case),
            "letters": [{"slug": d["slug"], "kind": d["kind"], "addressee": d["addressee"]["name"],
                         "deposits": len(d["deposits"]),
                         "holders": len(d["token"]["holders"]) if d["token"] else 0,
                         "pdf": d["files"]["pdf"], "json": d["files"]["json"],
                         "pdf_sha256": sums[d["files"]["pdf"]], "json_sha256": sums[d["files"]["json"]]}
                        for d in docs]}


def context(doc: dict[str, Any], case: dict[str, Any], traces: list[dict[str, Any]]) -> dict[str, Any]:
    """What the letter template shows for one letter document."""
    t = Words(doc["lang"])
    cols = [{"id": tr["id"], "policy": tr.get("policy") or "-"} for tr in traces
            if any(a["trace_id"] == tr["id"] for d in doc["deposits"] for a in d["amounts"])]
    rows = []
    for d in doc["deposits"]:
        by = {a["trace_id"]: a["display"] + (" *" if "/" in a["amount_exact"] else "") for a in d["amounts"]}
        rows.append({**d, "cells": [by.get(c["id"], "—") for c in cols], "arrival": utc_text(d["first_arrival"])})
    return {"lang": doc["lang"], "html_lang": "zh-CN" if doc["lang"] == "zh_CN" else "en", "t": t, "words": t,
            "doc": doc, "case": case, "columns": cols, "rows": rows, "date": utc_text(doc["created_at"])[:10],
            "policy_names": sorted({c["policy"] for c in cols}),
            "listing": listing(rows, cols, below="txids") if len(rows) > TABLE_ROWS else None,
            "columns_legend": ", ".join(f"{c['id']} = {t('policy_' + c['policy'])}" for c in cols),
            "rounded": any("*" in cell for r in rows for cell in r["cells"])}
