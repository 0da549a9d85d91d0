"""The tags proposed in a case as a GraphSense TagPack (YAML), for a partner or another store.

The header names the case and is `is_public: false` (the pack is the case's, not for publishing:
`fundtrail tags import` keeps its tags private). Every tag carries its own fields (address,
currency, label, category or abuse, concepts, confidence, source, lastmod, actor, context), so
importing the pack with `fundtrail tags import` gives the same tags back.
"""

from __future__ import annotations

from typing import Any

import yaml

from fundtrail.tags.taxonomy import CATEGORIES


def _tag_item(tag: dict[str, Any]) -> dict[str, Any]:
    """One TagPack tag: the primary category goes back to `abuse` or `category` by its kind."""
    item: dict[str, Any] = {"address": tag["address"], "currency": tag["currency"], "label": tag["label"]}
    primary = tag.get("category")
    others = list(tag.get("concepts") or [])
    if primary is not None and primary in CATEGORIES and CATEGORIES[primary].kind == "abuse":
        item["abuse"] = primary
        entity = next((c for c in others if c in CATEGORIES and CATEGORIES[c].kind == "entity"), None)
        if entity is not None:
            item["category"] = entity
            others.remove(entity)
    elif primary is not None:
        item["category"] = primary
    if others:
        item["concepts"] = others
    for key in ("confidence", "source", "lastmod", "actor", "context"):
        if tag.get(key) is not None:
            item[key] = str(tag[key])
    return item


def tagpack_text(case: dict[str, Any], tags: list[dict[str, Any]]) -> str:
    """The TagPack YAML of the case's proposed tags (`case` the case record: id, title)."""
    creators = sorted({str(t["creator"]) for t in tags if t.get("creator")})
    creator = creators[0] if len(creators) == 1 else (", ".join(creators) or str(case.get("created_by") or ""))
    doc = {
        "title": f"Tags proposed in case {case['id']}: {case.get('title') or ''}".strip(),
        "creator": creator or "fundtrail",
        "description": f"{len(tags)} tag(s) proposed in fundtrail case {case['id']}"
                       + (f" ({case['agency']}" + (f", {case['case_number']})" if case.get("case_number") else ")")
                          if case.get("agency") else ""),
        "is_public": False,
        "tags": [_tag_item(t) for t in tags],
    }
    return str(yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=120))
