"""Validation shared by every importer: taxonomy, confidence, dates, and per-currency addresses.

A raw record becomes a stored row or a Problem naming file and line. Invalid addresses and records
without a label are reported and not stored; unknown category words, confidence words and dates
are reported as warnings and stored without the unknown value, so no claim is silently changed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from functools import lru_cache

from fundtrail.tags.conflicts import entity_key
from fundtrail.tags.currencies import InvalidAddress, currency_code, normalise
from fundtrail.tags.records import Problem, RawTag
from fundtrail.tags.tagpack import short
from fundtrail.tags.taxonomy import CATEGORIES, CONFIDENCE, resolve_category, resolve_confidence

#: Columns of a stored tag row, in table order (see the migration of the `tags` table).
ROW_FIELDS = ("subject", "currency", "address", "validation", "label", "category", "concepts",
              "confidence", "confidence_level", "source", "creator", "lastmod", "actor",
              "is_cluster_definer", "context", "visibility", "case_id", "entity", "tag_key",
              "content_hash", "line")
_HASHED = ("label", "concepts", "confidence", "source", "creator", "lastmod", "actor",
           "is_cluster_definer", "context", "visibility", "case_id")


@lru_cache(maxsize=1 << 14)
def parse_date(text: str | None) -> _dt.date | None:
    """Date of a tag: ISO (a timestamp's date part), Y/m/d, d.m.Y, m/d/Y; ValueError if unreadable."""
    if not text:
        return None
    head = text.strip()[:10]
    try:
        return _dt.date.fromisoformat(head)
    except ValueError:
        pass
    for fmt in ("%Y/%m/%d", "%d.%m.%Y", "%m/%d/%Y", "%m/%d/%y"):
        try:
            return _dt.datetime.strptime(head, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def _categories(raw: RawTag, warn: list[str]) -> tuple[str | None, list[str]]:
    """(primary category, other concepts): an abuse concept, when there is one, is primary."""
    found: list[str] = []
    for word in (raw.abuse, raw.category, *raw.concepts):
        if word is None or str(word).strip() == "":
            continue
        cat = resolve_category(word)
        if cat is None:
            warn.append(f"unknown category {word!r} (not in the taxonomy); stored without it")
        elif cat not in found:
            found.append(cat)
    if not found:
        return None, []
    primary = next((c for c in found if CATEGORIES[c].kind == "abuse"), found[0])
    return primary, [c for c in found if c != primary]


def validate(raw: RawTag, path: str, problems: list[Problem]) -> dict | None:
    """The stored row of one raw tag, or None (with the reason appended to `problems`)."""
    try:
        currency, address, validation = normalise(raw.currency or "", raw.address)
    except InvalidAddress as exc:
        cur = currency_code(raw.currency) or "unknown currency"
        problems.append(Problem(path, raw.line, f"invalid {cur} address {short(raw.address)}: {exc}"))
        return None
    warn: list[str] = []
    category, concepts = _categories(raw, warn)
    label = (raw.label or "").strip() or (CATEGORIES[category].label if category else "")
    if not label:
        problems.append(Problem(path, raw.line, f"tag of {address} has no label and no category"))
        return None
    confidence = resolve_confidence(raw.confidence)
    if confidence is None:
        warn.append(f"unknown confidence {raw.confidence!r}; stored as unknown")
        confidence = "unknown"
    try:
        lastmod = parse_date(None if raw.lastmod is None else str(raw.lastmod))
    except ValueError:
        warn.append(f"unreadable date {short(raw.lastmod)}; stored without a date")
        lastmod = None
    if raw.visibility not in ("shared", "private"):
        problems.append(Problem(path, raw.line, f"visibility {raw.visibility!r} must be shared or private"))
        return None
    problems.extend(Problem(path, raw.line, w, "warning") for w in warn)
    entity = entity_key(raw.actor, label)
    row = {
        "subject": raw.subject, "currency": currency, "address": address, "validation": validation,
        "label": label, "category": category, "concepts": concepts, "confidence": confidence,
        "confidence_level": CONFIDENCE[confidence].level, "source": raw.source, "creator": raw.creator,
        "lastmod": lastmod, "actor": raw.actor,
        "is_cluster_definer": None if raw.is_cluster_definer is None else bool(raw.is_cluster_definer),
        "context": raw.context, "visibility": raw.visibility, "case_id": raw.case_id,
        "entity": entity, "line": raw.line,
    }
    row["tag_key"] = "|".join((raw.subject, currency, address, category or "", entity))
    content = repr(tuple(row[name] for name in _HASHED)).encode()
    row["content_hash"] = hashlib.blake2b(content, digest_size=12).hexdigest()
    return row
