"""The services a case's saved traces reached, grouped by service, for reports and letters.

A service is where a trace stopped with reason `service`: an address attributed (by a tag) to an
exchange, OTC desk, payment processor ... where funds can be frozen. The grouping key is the stop
tag's label (the tag a stop rule takes: the first direct tag of a stop category, else the first
inherited one), so the deposit addresses of one exchange from every saved trace land in one
letter. The address receiving value is a fact; that it belongs to the service is an inference
(the tag's source and confidence, and the cluster it was inherited through, are its basis).
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction
from typing import Any

from fundtrail.cases.report_i18n import BTC_DECIMALS


def unit_of(result: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """Symbol, decimals and asset of an endpoint or edge: BTC (8) on UTXO chains; on account
    chains the endpoint's own (`asset` the native symbol or a token contract)."""
    if "asset" not in item:
        return {"symbol": "BTC", "decimals": BTC_DECIMALS, "asset": "BTC", "token": False}
    asset = str(item["asset"])
    meta = (result.get("assets") or {}).get(asset) or {}
    symbol = item.get("symbol", meta.get("symbol")) or ""
    decimals = item.get("decimals", meta.get("decimals"))
    return {"symbol": symbol or asset, "decimals": decimals, "asset": asset, "token": asset.startswith("0x")}


def exact(item: dict[str, Any]) -> Fraction:
    """An endpoint's or edge's traced amount, exact (haircut fractions kept). Parsed by hand:
    `Fraction(str)` is a regex per call, and a large case has hundreds of thousands of them."""
    value = item.get("amount_exact", item.get("amount_sat", 0))
    if isinstance(value, int):
        return Fraction(value)
    num, _, den = str(value).partition("/")
    return Fraction(int(num), int(den)) if den else Fraction(int(num))


def service_name(endpoint: dict[str, Any], tag: dict[str, Any] | None) -> str:
    """The name a service endpoint is grouped under: its stop tag's label, else its own label or address."""
    return str(tag["label"]) if tag and tag.get("label") else str(endpoint.get("label") or endpoint.get("address"))


def stop_tag(endpoint: dict[str, Any], stop_at: list[str]) -> dict[str, Any] | None:
    """The tag the trace stopped on: first direct tag of a stop category, else first inherited."""
    tags = endpoint.get("tags") or []
    for want_direct in (True, False):
        for tag in tags:
            if tag.get("category") in stop_at and (tag.get("inherited_from") is None) == want_direct:
                return dict(tag)
    return dict(tags[0]) if tags else None


def slug(name: str) -> str:
    """A file name for a service (`exchange-a`, `otc-desk-1-otc-desk`); never empty, ASCII only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60]
    return text or "service"


def txid_of(ref: str) -> str | None:
    """The transaction of an output or transfer reference (`TXID:VOUT`, `0xTX:native`); None for a
    block withdrawal or reward."""
    head = ref.split(":", 1)[0]
    return None if head == "block" else head


def services(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every service reached by the saved traces (reason `service`), largest first: name,
    category, slug, the tags behind the attribution, and its deposit addresses, each with its
    unit, per-trace exact amount, first arrival (unix) and outputs."""
    found: dict[str, dict[str, Any]] = {}
    for t in traces:
        result = t.get("result") or {}
        stop_at = list((result.get("limits") or {}).get("stop_at") or [])
        for e in result.get("endpoints") or []:
            if e.get("reason") != "service":
                continue
            tag = stop_tag(e, stop_at)
            name = service_name(e, tag)
            svc = found.setdefault(name, {"name": name, "category": (tag or {}).get("category") or "",
                                          "tags": [], "addresses": {}, "chains": set()})
            svc["chains"].add(result.get("chain"))
            unit = unit_of(result, e)
            key = f"{e.get('address')}|{unit['asset']}"
            row = svc["addresses"].setdefault(key, {"address": e.get("address"), **unit, "chain": result.get("chain"),
                                                   "amounts": {}, "first_arrival": None, "outputs": set()})
            row["amounts"][t["id"]] = row["amounts"].get(t["id"], Fraction(0)) + exact(e)
            arrival = e.get("first_arrival_unix")
            if arrival is not None and (row["first_arrival"] is None or arrival < row["first_arrival"]):
                row["first_arrival"] = int(arrival)
            row["outputs"].update(e.get("outputs") or [])
            if tag:
                basis = {**tag, "address": e.get("address")}
                if basis not in svc["tags"]:
                    svc["tags"].append(basis)
    out = []
    used: set[str] = set()
    for svc in found.values():
        rows = sorted(svc["addresses"].values(), key=lambda r: (r["first_arrival"] or 0, str(r["address"])))
        for r in rows:
            r["outputs"] = sorted(r["outputs"])
            r["txids"] = sorted({x for x in map(txid_of, r["outputs"]) if x})
        svc["addresses"] = rows
        svc["chains"] = sorted(c for c in svc["chains"] if c)
        arrivals = [r["first_arrival"] for r in rows if r["first_arrival"] is not None]
        svc["first_arrival"] = min(arrivals) if arrivals else None
        svc["peak"] = max((max(r["amounts"].values()) for r in rows), default=Fraction(0))
        base = slug(svc["name"])
        name_slug, n = base, 2
        while name_slug in used or name_slug == "index":
            name_slug, n = f"{base}-{n}", n + 1
        used.add(name_slug)
        svc["slug"] = name_slug
        out.append(svc)
    return sorted(out, key=lambda s: (-s["peak"], s["name"]))


def token_holders(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per token (account-chain traces whose asset is a token contract): the contract, its
    symbol, and the addresses still holding traced tokens or holding them at a service (the
    addresses an issuer would blacklist), with their exact traced amounts per trace."""
    tokens: dict[str, dict[str, Any]] = {}
    for t in traces:
        result = t.get("result") or {}
        for e in result.get("endpoints") or []:
            unit = unit_of(result, e)
            if not unit["token"] or e.get("reason") not in ("unspent", "service") or not e.get("address"):
                continue
            tok = tokens.setdefault(unit["asset"], {"contract": unit["asset"], "symbol": unit["symbol"],
                                                    "decimals": unit["decimals"], "chain": result.get("chain"),
                                                    "holders": {}})
            row = tok["holders"].setdefault(e["address"], {"address": e["address"], "reasons": set(), "amounts": {}})
            row["reasons"].add(e["reason"])
            row["amounts"][t["id"]] = row["amounts"].get(t["id"], Fraction(0)) + exact(e)
    out = []
    for tok in sorted(tokens.values(), key=lambda x: x["contract"]):
        tok["holders"] = [{**h, "reasons": sorted(h["reasons"])} for _, h in sorted(tok["holders"].items())]
        out.append(tok)
    return out
