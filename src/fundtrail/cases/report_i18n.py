"""Words, amounts and times of court reports and letters, in English and Simplified Chinese.

Every visible string comes from one message catalogue per language (`cases/locales/<lang>.json`,
the same keys in both; a test checks it), so a report never mixes languages by accident. Amounts
are written from exact integers in base units, never through a float (a court compares them to
the satoshi), and times are UTC with the zone named, because a reader in another time zone must
not have to guess.
"""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

from fundtrail.errors import UsageError

LANGS = ("en", "zh_CN")
#: UTXO chains' unit: 8 decimals (satoshi), shown with all eight digits (`0.20000000 BTC`).
BTC_DECIMALS = 8


def check_lang(lang: object) -> str:
    """`lang` when it is a report language, else a UsageError on `lang`."""
    if lang not in LANGS:
        raise UsageError(f"lang {str(lang)[:20]!r} is not a report language (en or zh_CN)", field="lang")
    return str(lang)


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The message catalogue of `lang` (key -> text with `{name}` placeholders)."""
    text = resources.files("fundtrail.cases").joinpath("locales", f"{check_lang(lang)}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


class Words:
    """The catalogue of one language as a callable: `t("key", name=value)`."""

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)
        self.messages = catalogue(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        """The text of `key` with its placeholders filled; a missing key is a programming error."""
        return self.messages[key].format(**values) if values else self.messages[key]

    def mark(self, kind: str) -> str:
        """The FACT / INFERENCE mark: in Chinese with the English mark in brackets, so both readers agree."""
        return self(f"mark_{kind}")


def amount_text(amount: int | Fraction | str, *, symbol: str = "BTC", decimals: int | None = BTC_DECIMALS) -> str:
    """An amount in base units written exactly in the asset's unit, rounded down to a base unit:
    `amount_text(20000000)` is `0.20000000 BTC`. Up to 8 decimals all digits are shown (so columns
    line up); beyond 8 (ether, 18) trailing zeros after the eighth are dropped. Unknown decimals:
    base units."""
    value = Fraction(amount) if isinstance(amount, str) else amount
    base = value.numerator // value.denominator if isinstance(value, Fraction) else int(value)
    sign, base = ("-" if base < 0 else ""), abs(base)
    if decimals is None:
        return f"{sign}{base} {symbol or 'base units'}".rstrip()
    if decimals == 0:
        return f"{sign}{base} {symbol}".rstrip()
    whole, frac = divmod(base, 10 ** decimals)
    digits = str(frac).rjust(decimals, "0")
    if decimals > BTC_DECIMALS:
        digits = digits[:BTC_DECIMALS] + digits[BTC_DECIMALS:].rstrip("0")
    return f"{sign}{whole}.{digits} {symbol}".rstrip()


def is_rounded(amount: int | Fraction | str) -> bool:
    """True when an amount is a fraction of a base unit (haircut): shown rounded down."""
    return Fraction(amount).denominator != 1


def utc_text(value: int | str | dt.datetime | None) -> str:
    """A time as `2023-11-15 05:23:20 UTC` from unix seconds, ISO 8601 or a naive-UTC datetime; '' for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        when = dt.datetime.fromtimestamp(value, dt.UTC)
    elif isinstance(value, dt.datetime):
        when = value
    else:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def date_text(value: str | None) -> str:
    """The date part of an ISO 8601 UTC time (`2026-12-06`)."""
    return (value or "")[:10]
