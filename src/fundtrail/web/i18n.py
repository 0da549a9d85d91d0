"""Languages of the workbench: message catalogues (zh_CN, en) and locale-aware numbers and times.

Every user-facing string of the web UI is a message id (the English text) looked up in the
catalogue of the language: every `locales/<lang>/*.json` file merged (one file per part of the
workbench; an id defined twice with different texts is an error). Both catalogues must hold every
id the templates, scripts and page code use (a test extracts them). A missing id is shown as the
id itself and logged once, except under `FUNDTRAIL_I18N_STRICT=1` (the tests), where it fails the
page. The language is the `ft_lang` cookie (the switch), else the browser's `Accept-Language`, else
English. Amounts are formatted from exact base units (never through a float) and times carry their
time zone.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal

log = logging.getLogger("fundtrail.web")

LOCALES = Path(__file__).resolve().parent / "locales"
LANGUAGES: dict[str, str] = {"en": "English", "zh_CN": "简体中文"}
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "ft_lang"
TZ_COOKIE = "ft_tz"


class MissingMessage(KeyError):
    """A message id absent from a catalogue (raised only in strict mode)."""


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of `lang` (message id -> text), merged over `locales/<lang>/*.json`."""
    merged: dict[str, str] = {}
    for path in sorted((LOCALES / lang).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError(f"{path} must map message ids to strings")
        for key, text in data.items():
            if merged.get(key, text) != text:
                raise ValueError(f"{path}: message {key!r} is defined twice with different texts")
            merged[key] = text
    return merged


def strict() -> bool:
    """Whether a missing message fails (tests) rather than falls back to its id."""
    return os.environ.get("FUNDTRAIL_I18N_STRICT", "") == "1"


@functools.cache
def _warn_missing(lang: str, msgid: str) -> None:
    log.warning("message %r has no %s translation", msgid, lang)


def translate(lang: str, msgid: str, **values: Any) -> str:
    """`msgid` in `lang`, with `{name}` placeholders filled from `values`."""
    text = catalogue(lang).get(msgid)
    if text is None:
        if strict():
            raise MissingMessage(f"message {msgid!r} is missing from locales/{lang}/")
        _warn_missing(lang, msgid)
        text = msgid
    return text.format(**values) if values else text


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the switch's cookie, else the best of `Accept-Language`."""
    if cookie in LANGUAGES:
        return cookie
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower().replace("_", "-")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        lang = "zh_CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and quality > 0 and (best is None or quality > best[0]):
            best = (quality, lang)
    return best[1] if best else DEFAULT_LANGUAGE


def zone(name: str | None) -> ZoneInfo:
    """The time zone `name` (an IANA name such as `Asia/Shanghai`), UTC when absent or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _group(whole: str, separator: str) -> str:
    """`1234567` -> `1,234,567` (groups of three from the right)."""
    head = len(whole) % 3 or 3
    return separator.join([whole[:head], *(whole[i:i + 3] for i in range(head, len(whole), 3))])


class Formatter:
    """Numbers, amounts and times of one language and time zone, for templates (`fmt`)."""

    def __init__(self, lang: str, tz: ZoneInfo) -> None:
        self.lang = lang
        self.locale = Locale.parse(lang)
        self.tz = tz

    def int(self, value: builtins.int | None) -> str:
        """A count with the locale's grouping ('1,234')."""
        return "" if value is None else format_decimal(value, locale=self.locale)

    def amount(self, value: builtins.int | str | None, decimals: builtins.int | None = 8,
               symbol: str | None = None, places: builtins.int | None = None) -> str:
        """Base units shown in whole units, exactly (`123456789` sat -> `1.23456789 BTC`), grouped
        by the locale; any size (uint256 token amounts too: digits are placed, never divided).
        Trailing zeros are dropped down to two decimals, or to `places` when given (a column of
        amounts then lines up)."""
        if value is None or value == "":
            return ""
        digits = str(builtins.int(value))
        negative = digits.startswith("-")
        digits = digits.lstrip("-")
        scale = decimals or 0
        digits = digits.rjust(scale + 1, "0")
        whole, fraction = digits[: len(digits) - scale], digits[len(digits) - scale:]
        keep = min(scale, 2 if places is None else places)
        fraction = fraction.rstrip("0").ljust(keep, "0")
        symbols = self.locale.number_symbols.get("latn", self.locale.number_symbols)
        group, point = symbols.get("group", ","), symbols.get("decimal", ".")
        text = ("-" if negative else "") + _group(whole, group) + (point + fraction if fraction else "")
        return f"{text} {symbol}" if symbol else text

    def time(self, value: str | dt.datetime | None) -> str:
        """A UTC time (ISO text or datetime) in this time zone, with the zone's name shown."""
        if value is None or value == "":
            return ""
        moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        local = moment.astimezone(self.tz)
        text = format_datetime(local, "yyyy-MM-dd HH:mm:ss", locale=self.locale)
        return f"{text} {self.tz.key}"

    def percent(self, value: float | None) -> str:
        """A share 0..1 as a percentage."""
        return "" if value is None else format_decimal(value * 100, format="#,##0.##", locale=self.locale) + " %"
