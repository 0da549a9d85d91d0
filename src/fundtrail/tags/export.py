"""Exporting tags as a GraphSense TagPack, so analysts can share their own tags.

By default the analyst's shared tags are exported (those added with `fundtrail tags add`); private
tags only on request. The primary category goes back to TagPack's `abuse` or `category` field by
its kind, other concepts to `category`/`concepts`, so re-importing the pack gives the same tags.
"""

from __future__ import annotations

import duckdb

from fundtrail.tags.tagpack import write_tagpack
from fundtrail.tags.tagstore import ANALYST
from fundtrail.tags.taxonomy import CATEGORIES

_COLUMNS = ("currency", "address", "label", "category", "concepts", "confidence", "source", "creator",
            "lastmod", "actor", "is_cluster_definer", "context", "visibility")


def export_rows(con: duckdb.DuckDBPyConnection, *, everything: bool = False,
                include_private: bool = False, creator: str | None = None) -> list[dict]:
    """Tag rows to export, in a stable order (currency, address, label)."""
    where = ["subject = 'address'"]
    params: list[object] = []
    if not everything:
        where.append("origin = ?")
        params.append(ANALYST)
    if not include_private:
        where.append("visibility = 'shared'")
    if creator:
        where.append("creator = ?")
        params.append(creator)
    cur = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM tags WHERE {' AND '.join(where)} "
                      "ORDER BY currency, address, label, origin, line", params)
    return [dict(zip(_COLUMNS, r)) for r in cur.fetchall()]


def _as_tagpack_fields(row: dict) -> dict:
    """Split the primary category and concepts back into TagPack's category / abuse / concepts."""
    out = dict(row)
    primary = row["category"]
    others = list(row["concepts"] or [])
    out["category"] = out["abuse"] = None
    if primary is not None and CATEGORIES[primary].kind == "abuse":
        out["abuse"] = primary
        entity = next((c for c in others if CATEGORIES[c].kind == "entity"), None)
        if entity is not None:
            out["category"] = entity
            others.remove(entity)
    else:
        out["category"] = primary
    out["concepts"] = others
    return out


def export_tagpack(con: duckdb.DuckDBPyConnection, *, everything: bool = False,
                   include_private: bool = False, creator: str | None = None,
                   title: str | None = None) -> tuple[str, int]:
    """(TagPack YAML text, number of tags) of the selected tags."""
    rows = export_rows(con, everything=everything, include_private=include_private, creator=creator)
    creators = {r["creator"] for r in rows if r["creator"]}
    header_creator = creator or (creators.pop() if len(creators) == 1 else "fundtrail export")
    text = write_tagpack((_as_tagpack_fields(r) for r in rows),
                         title=title or "fundtrail tag export", creator=header_creator,
                         description=f"{len(rows)} tags exported from a fundtrail store")
    return text, len(rows)
