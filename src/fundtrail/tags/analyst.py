"""An analyst's own tag: checked completely before anything is stored.

Imported files may carry unknown words (stored as warnings, without the value); a tag an analyst
types is different: anything that cannot be stored exactly as given (an unknown category or
confidence, an unreadable date, a malformed address) is refused with the request field at fault,
and nothing is stored.
"""

from __future__ import annotations

import datetime as _dt

from fundtrail.errors import UsageError
from fundtrail.tags.currencies import check_currency, infer_currency
from fundtrail.tags.records import Problem, RawTag
from fundtrail.tags.taxonomy import CONFIDENCE, CONFIDENCE_ALIASES, resolve_category
from fundtrail.tags.validate import parse_date, validate


def confidence_id(word: str) -> str:
    """The confidence id of a word: an id of the scale or one of its documented aliases; a
    UsageError on field `confidence` with the valid names otherwise."""
    slug = word.strip().lower().replace("-", "_").replace(" ", "_")
    if slug in CONFIDENCE:
        return slug
    if slug in CONFIDENCE_ALIASES:
        return CONFIDENCE_ALIASES[slug]
    aliases = ", ".join(f"{a} -> {c}" for a, c in CONFIDENCE_ALIASES.items())
    raise UsageError(f"unknown confidence {word!r}; nothing stored", field="confidence",
                     hint=f"use one of {', '.join(CONFIDENCE)} (aliases: {aliases})")


def is_alias(word: str) -> bool:
    """Whether a confidence word was an alias (its mapping is worth telling the user)."""
    return word.strip().lower().replace("-", "_").replace(" ", "_") not in CONFIDENCE


def _field_of(problem: Problem) -> str:
    text = problem.message
    if text.startswith("visibility"):
        return "visibility"
    if "no label" in text:
        return "label"
    return "address"


def analyst_row(*, address: str, label: str, category: str, creator: str, currency: str | None = None,
                confidence: str = "forensic", source: str | None = None, actor: str | None = None,
                date: str | None = None, visibility: str = "shared", case: str | None = None) -> dict:
    """The tag row to store for an analyst's claim (`tagstore.add_analyst_tag`); UsageError naming
    the field for anything it cannot store as given (date defaults to today)."""
    if resolve_category(category) is None:
        raise UsageError(f"unknown category {category!r}; nothing stored", field="category",
                         hint="see docs/attribution.md for the taxonomy")
    conf = confidence_id(confidence)
    if date is not None:
        try:
            parse_date(date)
        except ValueError:
            raise UsageError(f"unreadable date {date!r}; nothing stored", field="date",
                             hint="use YYYY-MM-DD") from None
    if currency and currency.strip():
        check_currency(currency)  # a malformed code would be stored as a currency no lookup asks for
    cur = currency or infer_currency(address)
    if cur is None:
        raise UsageError(f"cannot tell the currency of {address!r}; nothing stored", field="currency",
                         hint="give the currency")
    raw = RawTag(line=0, address=address, currency=cur, label=label, category=category, confidence=conf,
                 source=source, creator=creator, lastmod=date or _dt.date.today().isoformat(), actor=actor,
                 visibility=visibility, case_id=case)
    problems: list[Problem] = []
    row = validate(raw, "tags add", problems)
    if row is None or problems:
        raise UsageError(f"{problems[0].message}; nothing stored", field=_field_of(problems[0]))
    return row
