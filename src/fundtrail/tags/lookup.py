"""Reading tags: one address, a batch of addresses, text search, cluster inheritance, conflicts.

Tags from several sources that make the same claim (same subject, currency, address, category and
entity) are merged into one tag listing every source; its label and confidence are those of its
strongest source. The merge is kept in `tags_merged` (refreshed by every import for the addresses it
touched), so a lookup is an index probe or one join, never an aggregation over all tags. Tags found
on an address are `direct`; tags a cluster takes from its members are `inherited`, each naming the
member it came from.

Addresses typed or listed by users go through `show_checked` / `lookup_list`, which check each
address's form first (`tags.addressform`): a malformed one is an error, never "no tags".
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Container, Iterable
from typing import Any

import duckdb
import pyarrow as pa

from fundtrail.errors import UsageError
from fundtrail.tags.addressform import UNRECOGNISED, check_address, unrecognised_reason
from fundtrail.tags.addresslist import AddressList, BadRow
from fundtrail.tags.conflicts import find_conflict
from fundtrail.tags.currencies import InvalidAddress, lookup_key
from fundtrail.tags.taxonomy import CATEGORIES

_MERGED = "SELECT * FROM tags_merged WHERE @WHERE@"
_ORDER = " ORDER BY address, confidence_level DESC, currency, category NULLS LAST, label"


def plain(value: object) -> object:
    """A catalog value as tags are given out: dates in ISO form, inside lists and structs too."""
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        tag: dict[str, Any] = {n: plain(v) for n, v in zip(names, r)}
        tag["kind"] = "direct"
        tag["category_label"] = CATEGORIES[tag["category"]].label if tag.get("category") else None
        out.append(tag)
    return out


def has_tags(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the catalog has the tag tables (a store last opened before migration 3 has not)."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables "
                            "WHERE table_name = 'tags' AND table_catalog = current_database()").fetchall()[0][0])


def tagged_addresses(con: duckdb.DuckDBPyConnection) -> dict[str, frozenset[str | None]]:
    """Every address key with a merged tag, and the currencies of its tags: held by a long-lived
    reader (a workspace), so that an untagged address is answered without a catalog visit
    (`is_tagged`), and so is an address whose tags are all of a chain's own currency when the
    caller has those from the chain's tag map (risk's `text_tags`). Equal sets are one object."""
    if not has_tags(con):
        return {}
    found: dict[str, set[str | None]] = {}
    for address, currency in con.execute("SELECT DISTINCT address, currency FROM tags_merged").fetchall():
        found.setdefault(address, set()).add(currency)
    shared: dict[frozenset[str | None], frozenset[str | None]] = {}
    return {a: shared.setdefault(frozenset(c), frozenset(c)) for a, c in found.items()}


def is_tagged(tagged: Container[str], address: str) -> bool:
    """Whether `address` (any case, as `lookup_key` reads it) is a key of `tagged_addresses`."""
    try:
        return lookup_key(address) in tagged
    except InvalidAddress:
        return False


def tags_of(con: duckdb.DuckDBPyConnection, address: str) -> list[dict]:
    """Merged direct tags of one address (any currency), strongest first."""
    cur = con.execute(_MERGED.replace("@WHERE@", "address = ?") + _ORDER, [lookup_key(address)])
    return _rows(cur)


def actors_of(con: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> dict[str, dict]:
    """Actor records (label, website, jurisdictions, categories) by id."""
    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    cur = con.execute("SELECT actor_id AS id, label, uri, jurisdictions, categories, aliases, origin, line "
                      "FROM actors WHERE actor_id IN (SELECT unnest(?))", [ids])
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}


def with_actors(con: duckdb.DuckDBPyConnection, tags: list[dict]) -> list[dict]:
    """Add each tag's actor record (`actor_info`) and the names it goes by (`actor_names`)."""
    actors = actors_of(con, (t["actor"] for t in tags))
    for t in tags:
        info = actors.get(t["actor"])
        t["actor_info"] = info
        t["actor_names"] = [info["label"], *(info["aliases"] or [])] if info else []
    return tags


def show(con: duckdb.DuckDBPyConnection, address: str, currency: str | None = None) -> dict:
    """Everything known about one address (of `currency` only, when given): merged tags with
    sources, their actors, any conflict."""
    tags = with_actors(con, tags_of(con, address))
    if currency is not None:
        tags = [t for t in tags if (t["currency"] or "").upper() == currency.strip().upper()]
    conflict = find_conflict(tags)
    return {"address": address, "key": lookup_key(address), "tags": tags,
            "conflict": _conflict_summary(conflict)}


def show_checked(con: duckdb.DuckDBPyConnection, address: str, currency: str | None = None) -> dict:
    """`show` of an address a user typed: UsageError when it cannot be an address (bad checksum,
    wrong length, no known form and no tag keyed by it), so a typo never reads as "no tags"."""
    try:
        form = check_address(address)
    except InvalidAddress as exc:
        raise UsageError(f"invalid address {address.strip()!r}: {exc}", field="address") from None
    result = show(con, address, currency)
    if form.validation == UNRECOGNISED and not result["tags"]:
        raise UsageError(f"{address.strip()!r} is {unrecognised_reason(address)}", field="address")
    result["validation"] = form.validation
    return result


def lookup_list(con: duckdb.DuckDBPyConnection, addresses: AddressList) -> list[dict]:
    """Merged tags of every distinct address of a checked list (one join), each with `line` and
    `address` as written. Rows of no known form that no tag is keyed by move to `addresses.bad`."""
    rows = addresses.rows
    found = lookup_batch(con, [r.form.key for r in rows]).to_pylist()
    tagged = {t["query"] for t in found}
    unknown = {i for i, r in enumerate(rows) if r.form.validation == UNRECOGNISED and i not in tagged}
    addresses.bad.extend(BadRow(addresses.path, rows[i].line, rows[i].text, unrecognised_reason(rows[i].text))
                         for i in unknown)
    addresses.bad.sort(key=lambda b: b.line)
    addresses.rows = [r for i, r in enumerate(rows) if i not in unknown]
    out = []
    for tag in found:
        row = rows[tag.pop("query")]
        tag = {k: plain(v) for k, v in tag.items()}
        out.append({"record": "tag", "line": row.line, "address": row.text,
                    "normalised_address": tag.pop("address"), "kind": "direct", **tag})
    return out


def _conflict_summary(conflict: dict | None) -> dict | None:
    return None if conflict is None else _summary(conflict)


def _summary(conflict: dict) -> dict:
    return {"reason": conflict["reason"],
            "entities": [{k: e[k] for k in ("entity", "category", "label", "actor")}
                         for e in conflict["entities"]]}


def lookup_batch(con: duckdb.DuckDBPyConnection, addresses: list[str]) -> pa.Table:
    """Merged tags of many addresses in one join; column `query` is the index into `addresses`."""
    keys = pa.table({"query": pa.array(range(len(addresses)), pa.int64()),
                     "key": pa.array([lookup_key(a) for a in addresses], pa.string())})
    con.register("_lookup_keys", keys)
    try:
        return con.sql(
            "SELECT k.query, m.* FROM _lookup_keys k JOIN tags_merged m ON m.address = k.key "
            "ORDER BY k.query, m.confidence_level DESC, m.currency, m.label").to_arrow_table()
    finally:
        con.unregister("_lookup_keys")


def search(con: duckdb.DuckDBPyConnection, text: str, limit: int = 50) -> list[dict]:
    """Merged tags whose label, actor, category, source or creator contains `text` (any case)."""
    pattern = f"%{text}%"
    where = ("tag_key IN (SELECT DISTINCT tag_key FROM tags WHERE label ILIKE $p OR actor ILIKE $p "
             "OR category ILIKE $p OR source ILIKE $p OR creator ILIKE $p OR address = $k "
             "ORDER BY tag_key LIMIT $n)")
    cur = con.execute(_MERGED.replace("@WHERE@", where) + _ORDER,
                      {"p": pattern, "k": lookup_key(text), "n": limit})
    return _rows(cur)


def cluster_tags(con: duckdb.DuckDBPyConnection, members: Iterable[str]) -> dict:
    """Tags a cluster inherits from its member addresses (given by the caller), each marked
    `inherited` with the member it came from, and the cluster's conflict check: members holding
    two different services make the cluster a possible false merge."""
    addresses = list(dict.fromkeys(members))
    table = lookup_batch(con, addresses).to_pylist()
    tags = []
    for row in table:
        tag: dict[str, Any] = {k: plain(v) for k, v in row.items() if k != "query"}
        tag["kind"] = "inherited"
        tag["member"] = addresses[row["query"]]
        tag["category_label"] = CATEGORIES[tag["category"]].label if tag.get("category") else None
        tags.append(tag)
    conflict = find_conflict(with_actors(con, tags))
    return {"members": len(addresses), "tagged_members": len({t["member"] for t in tags}),
            "tags": tags, "conflict": _conflict_summary(conflict),
            "possible_false_merge": conflict is not None}


def conflicts(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[dict]:
    """Addresses whose tags claim two different services, with the disagreeing entities."""
    services = [c.id for c in CATEGORIES.values() if c.service]
    candidates = con.execute(
        "SELECT address FROM tags WHERE subject = 'address' AND category IN (SELECT unnest(?)) "
        "GROUP BY address HAVING count(DISTINCT entity) > 1 ORDER BY address", [services]).fetchall()
    out = []
    for (address,) in candidates:
        by_currency: dict[str, list[dict]] = {}
        for t in with_actors(con, tags_of(con, address)):
            by_currency.setdefault(t["currency"], []).append(t)
        for currency, tags in sorted(by_currency.items()):
            conflict = find_conflict(tags)
            if conflict is not None:
                out.append({"currency": currency, "address": address, **_summary(conflict)})
        if limit is not None and len(out) >= limit:
            break
    return out


#: Member addresses named per tag in `carried_by` of a cluster's tags (the count is always complete).
CARRIERS_LISTED = 10

_GROUP_DROP = ("member", "tag_key", "address")


def distinct_tags(carried: list[dict], address: str) -> list[dict]:
    """A cluster's tags as one entry per (currency, category, label), from its strongest instance,
    with `members` (how many members carry it), `carried_by` (the first few others), `kind` direct
    when `address` carries it and `member` (`address` if direct, else the first carrier); direct
    tags first, then the most widely carried. `carried` holds each member's tags with `member`."""
    groups: dict[tuple, dict] = {}
    for t in carried:
        key = (t.get("currency"), t.get("category"), t["label"])
        g = groups.get(key)
        if g is None:
            g = groups[key] = {k: v for k, v in t.items() if k not in _GROUP_DROP}
            g.update(kind="inherited", _members=[])
        elif t["confidence_level"] > g["confidence_level"]:
            g.update({k: v for k, v in t.items() if k not in (*_GROUP_DROP, "kind")})
        if t["member"] not in g["_members"]:
            g["_members"].append(t["member"])
        if t["member"] == address:
            g["kind"] = "direct"
    out = []
    for g in groups.values():
        carriers = g.pop("_members")
        others = [m for m in carriers if m != address]
        member = address if g["kind"] == "direct" else others[0]
        out.append({**g, "member": member, "members": len(carriers), "carried_by": others[:CARRIERS_LISTED]})
    out.sort(key=lambda t: (t["kind"] != "direct", -t["members"], -t["confidence_level"], t["label"]))
    return out


def actors(con: duckdb.DuckDBPyConnection, text: str | None = None, limit: int = 100) -> list[dict]:
    """Known actors whose id or name contains `text` (all without), most tagged first: id, label,
    uri, jurisdictions, categories and the number of tags naming them."""
    cur = con.execute(
        "SELECT a.actor_id AS id, a.label, a.uri, a.jurisdictions, a.categories, "
        "(SELECT count(*) FROM tags t WHERE t.actor = a.actor_id) AS tags "
        "FROM actors a WHERE ? IS NULL OR a.actor_id ILIKE ? OR a.label ILIKE ? "
        "ORDER BY tags DESC, a.actor_id LIMIT ?", [text, f"%{text}%", f"%{text}%", limit])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
