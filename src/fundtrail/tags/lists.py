"""Readers of address lists: OFAC SDN per-asset lists, the MyEtherWallet darklist, CryptoScamDB,
and Etherscan-family explorer labels (per-label CSVs and combined JSON).

Each reader says what the list claims (category, confidence, source, creator) in one place, so the
choices are visible and documented (docs/attribution.md, "Sources").
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from fundtrail.model.textfiles import csv_records
from fundtrail.tags.currencies import InvalidAddress, address_currencies, currency_code, normalise
from fundtrail.tags.records import ParsedFile, Problem, RawTag
from fundtrail.tags.tagpack import rejected, short
from fundtrail.tags.taxonomy import EXCHANGE_SLUGS, resolve_category

OFAC_SOURCE = "https://www.treasury.gov/ofac/downloads/sanctions/1.0/sdn_advanced.xml"
OFAC_CREATOR = "US Treasury OFAC (SDN list, extracted by 0xB10C/ofac-sanctioned-digital-currency-addresses)"
_OFAC_NAME = re.compile(r"sanctioned_addresses_([A-Za-z0-9]+)\.(txt|json)$")
MEW_SOURCE = "https://github.com/MyEtherWallet/ethereum-lists/blob/master/src/addresses/addresses-darklist.json"
SCAMDB_SOURCE = "https://github.com/CryptoScamDB/blacklist"
#: Explorer folder name -> (currency, host)
EXPLORERS = {"etherscan": ("ETH", "etherscan.io"), "bscscan": ("BSC", "bscscan.com"),
             "polygonscan": ("POLYGON", "polygonscan.com"), "arbiscan": ("ARB", "arbiscan.io"),
             "optimism": ("OP", "optimistic.etherscan.io"), "ftmscan": ("FTM", "ftmscan.com"),
             "avalanche": ("AVAX", "snowtrace.io")}


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_BRACKETS = re.compile(r"[\[\]{}]")
_FAILED = object()


def json_too_deep(text: str, max_depth: int) -> int | None:
    """The line where JSON text nests deeper than `max_depth`, or None. Strings are blanked first
    (a JSON string holds no raw newline, so lines are kept), then brackets are counted."""
    if text.count("[") + text.count("{") <= max_depth:
        return None
    depth = 0
    stripped = _JSON_STRING.sub('""', text)
    for m in _JSON_BRACKETS.finditer(stripped):
        if m.group() in "[{":
            depth += 1
            if depth > max_depth:
                return stripped.count("\n", 0, m.start()) + 1
        else:
            depth -= 1
    return None


def load_json(path: Path, text: str, out: ParsedFile, max_depth: int = 2_500) -> Any:
    """The JSON document of a label file, or `_FAILED` with the problem (syntax error, nesting over
    max_json_depth) added to `out` at its line."""
    line = json_too_deep(text, max_depth)
    if line is not None:
        out.problems.append(Problem(str(path), line, f"JSON nested deeper than {max_depth} levels "
                                    "(max_json_depth); file not read"))
        return _FAILED
    limit = sys.getrecursionlimit()
    try:
        if max_depth + 200 > limit:  # Python's decoder recurses once per level
            sys.setrecursionlimit(max_depth + 200)
        return json.loads(text)
    except json.JSONDecodeError as exc:
        out.problems.append(Problem(str(path), exc.lineno, f"invalid JSON: {exc.msg}"))
        return _FAILED
    finally:
        sys.setrecursionlimit(limit)


def ofac_asset(path: Path) -> str | None:
    """The asset code in a 0xB10C list file name (`sanctioned_addresses_XBT.txt` -> XBT)."""
    m = _OFAC_NAME.search(path.name)
    return m.group(1).upper() if m else None


def _ofac_tag(line: int, address: str, asset: str, listed_as: str | None = None) -> RawTag:
    return RawTag(line=line, address=address, currency=asset, label="OFAC SDN list",
                  abuse="sanction", confidence="authority_data", source=OFAC_SOURCE,
                  creator=OFAC_CREATOR, context=json.dumps({"asset": listed_as or asset}))


def _ofac_listed(path: Path, out: ParsedFile, line: int, address: str, asset: str) -> None:
    """Tag one listed address. OFAC's lists carry a few addresses under the wrong asset (a TRON
    `T…` address in the XBT list): such an address is tagged under the currency its form proves,
    with a warning, instead of being dropped as an invalid Bitcoin address and screening clean."""
    code = currency_code(asset) or asset
    try:
        normalise(code, address)
    except InvalidAddress:
        try:
            forms = address_currencies(address)
        except InvalidAddress:
            forms = ()
        if forms and code not in forms:
            out.problems.append(Problem(str(path), line, f"{address} is listed under {asset} but its form is "
                                        f"a {forms[0]} address; tagged as {forms[0]}", severity="warning"))
            out.tags.append(_ofac_tag(line, address, forms[0], listed_as=asset))
            return
    out.tags.append(_ofac_tag(line, address, asset))


def read_ofac(path: Path, text: str, currency: str | None, max_json_depth: int = 2_500) -> ParsedFile:
    """One address per line (.txt) or a JSON array of strings (.json); the asset is in the name."""
    out = ParsedFile("ofac")
    asset = currency or ofac_asset(path)
    if asset is None:
        out.problems.append(Problem(str(path), 1, "cannot tell the asset of this OFAC list: name it "
                                    "sanctioned_addresses_<ASSET>.txt or pass --currency"))
        return out
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        values = load_json(path, text, out, max_json_depth)
        if values is _FAILED:
            return out
        if not isinstance(values, list):
            out.problems.append(Problem(str(path), 1, "expected a JSON array of addresses"))
            return out
        for line, value in zip(json_value_lines(text, values), values):
            if not isinstance(value, str):
                out.problems.append(Problem(str(path), line, f"not an address string: {short(value)}"))
                continue
            _ofac_listed(path, out, line, value, asset)
        return out
    for n, raw in enumerate(text.splitlines(), 1):
        value = raw.strip()
        if value and not value.startswith("#"):
            _ofac_listed(path, out, n, value, asset)
    return out


def json_value_lines(text: str, values: list[Any]) -> list[int]:
    """Line of each string value of a JSON array, by finding them in order in the text."""
    lines, pos, line = [], 0, 1
    for v in values:
        needle = json.dumps(v) if isinstance(v, str) else None
        at = text.find(needle, pos) if needle else -1
        if at >= 0:
            line += text.count("\n", pos, at)
            pos = at
        lines.append(line)
    return lines


def read_mew_darklist(path: Path, text: str, max_json_depth: int = 2_500) -> ParsedFile:
    """MyEtherWallet's darklist: [{address, comment, date}] of scam and phishing addresses."""
    out = ParsedFile("mew-darklist")
    items = load_json(path, text, out, max_json_depth)
    if items is _FAILED:
        return out
    if not isinstance(items, list):
        out.problems.append(Problem(str(path), 1, "not a darklist: expected a JSON array of entries"))
        return out
    addresses = [i.get("address") if isinstance(i, dict) else None for i in items]
    for line, item, addr in zip(json_value_lines(text, addresses), items, addresses):
        if not isinstance(addr, str):
            out.problems.append(Problem(str(path), line, "entry without an address"))
            continue
        comment = str(item.get("comment") or "").strip()
        out.tags.append(RawTag(
            line=line, address=addr, currency="ETH", label=comment or "MyEtherWallet darklist",
            abuse="phishing" if "phish" in comment.lower() else "scam", confidence="trusted_provider",
            source=MEW_SOURCE, creator="MyEtherWallet (ethereum-lists darklist)",
            lastmod=(str(item.get("date")) if item.get("date") else None)))
    return out


def read_cryptoscamdb(path: Path, data: Any) -> ParsedFile:
    """CryptoScamDB blacklist entries (name, url, category, addresses per currency)."""
    out = ParsedFile("cryptoscamdb")
    if not isinstance(data, list):
        out.problems.append(Problem(str(path), 1, "not a CryptoScamDB list: expected a YAML list"))
        return out
    for entry in data:
        if not isinstance(entry, dict):
            continue
        line = entry.get("__line__", 0)
        bad = rejected(entry)
        if bad is not None:
            out.problems.append(Problem(str(path), bad.line, f"{bad}; entry not stored"))
            continue
        addresses = entry.get("addresses") or {}
        if not isinstance(addresses, dict):
            out.problems.append(Problem(str(path), line, "addresses is not a mapping of currency to list"))
            continue
        category = str(entry.get("category") or "scam")
        abuse = resolve_category(category) or "scam"
        context = json.dumps({k: entry[k] for k in ("url", "subcategory", "description", "reporter")
                              if entry.get(k)}, sort_keys=True, default=str)
        label = str(entry.get("name") or entry.get("url") or "CryptoScamDB entry")
        for cur, values in addresses.items():
            if cur == "__line__":
                continue
            for value in values if isinstance(values, list) else [values]:
                out.tags.append(RawTag(
                    line=line, address=str(value), currency=str(cur), label=label, abuse=abuse,
                    confidence="web_crawl", source=str(entry.get("url") or SCAMDB_SOURCE),
                    creator="CryptoScamDB", context=context))
    return out


def _slugs(value: Any) -> list[str]:
    if not value:
        return []
    return [str(s) for s in value] if isinstance(value, list) else [str(value)]


def explorer_of(path: Path) -> tuple[str, str, str] | None:
    """(explorer, currency, host) from a path inside an etherscan-labels tree."""
    for part in reversed(path.parts[:-1]):
        if part in EXPLORERS:
            return (part, *EXPLORERS[part])
    return None


def _explorer_tag(line: int, address: str, name: str, slugs: list[str], currency: str,
                  source: str, explorer: str) -> RawTag:
    resolved = [c for c in (resolve_category(s) for s in slugs) if c]
    # A slug naming one exchange ("binance", "crypto-com") names the entity even where the label
    # is a token's ("BNB (BNB)"): it becomes the actor (GraphSense spells actor ids the same way).
    exchange = next((s for s in slugs if s.replace("-", "_") in EXCHANGE_SLUGS and s != "otc"), None)
    return RawTag(line=line, address=address, currency=currency,
                  label=name.strip() or (slugs[0] if slugs else "explorer label"),
                  actor=exchange.removesuffix("-deposit").replace("-", "") if exchange else None,
                  category=resolved[0] if resolved else None, concepts=tuple(resolved[1:]),
                  confidence="web_crawl", source=source,
                  creator=f"{explorer} labels (scraped by brianleect/etherscan-labels)",
                  context=json.dumps({"explorer_labels": slugs}))


def read_explorer_csv(path: Path, text: str, currency: str | None, max_field_kb: int = 1024) -> ParsedFile:
    """One explorer label page as CSV: `,Address,Name Tag,Balance,Txn Count`; the slug is the name."""
    out = ParsedFile("etherscan")
    where = explorer_of(path) or ("etherscan", "ETH", "etherscan.io")
    slug = path.stem
    source = f"https://{where[2]}/accounts/label/{slug}"
    for rec in csv_records(text, max_field_kb=max_field_kb)[1:]:
        n, row = rec.line, rec.cells
        if rec.problem is not None:
            out.problems.append(Problem(str(path), n, rec.problem))
            continue
        if len(row) < 3:
            if row:
                out.problems.append(Problem(str(path), n, f"expected at least 3 columns, got {len(row)}"))
            continue
        out.tags.append(_explorer_tag(n, row[1], row[2], [slug], currency or where[1], source, where[0]))
    return out


def read_explorer_json(path: Path, text: str, currency: str | None, max_json_depth: int = 2_500) -> ParsedFile:
    """Combined explorer labels: {address: {"name": ..., "labels": [slug, ...]}}."""
    out = ParsedFile("etherscan")
    where = explorer_of(path) or ("etherscan", "ETH", "etherscan.io")
    data = load_json(path, text, out, max_json_depth)
    if data is _FAILED:
        return out
    if not isinstance(data, dict):
        out.problems.append(Problem(str(path), 1, "not explorer labels: expected a JSON object of addresses"))
        return out
    keys = list(data)
    source = f"https://{where[2]}/labelcloud"
    for i, (line, key) in enumerate(zip(json_value_lines(text, keys), keys), 1):
        entry = data[key]
        if not isinstance(entry, dict):
            out.problems.append(Problem(str(path), line, f"entry {i} ({key!r}) is not an object"))
            continue
        out.tags.append(_explorer_tag(line, key, str(entry.get("name") or ""),
                                      _slugs(entry.get("labels")),
                                      currency or where[1], source, where[0]))
    return out
