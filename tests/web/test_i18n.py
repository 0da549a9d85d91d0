"""The workbench's languages: both catalogues complete, translated and clean; numbers, amounts and
times formatted per locale with known answers; the browser's language negotiated.

The ids come from the sources (`web.i18n_extract`: every `t('...')` of a template, script or page
module, and the ids the pages build from data), not from the catalogues, so a string added to a
page without its translations fails here.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from pathlib import Path

import pytest

from fundtrail.web import i18n
from fundtrail.web.i18n import Formatter, negotiate, zone
from fundtrail.web.pages import NAV
from web.i18n_extract import WEB, data_ids, source_ids

#: Ids whose Chinese text may equal the English: proper names, units, codes that are the same in
#: Chinese writing. Keep it short; each entry says why it is not translated.
SAME_IN_CHINESE = {
    "BTC", "ETH",  # currency codes
    "fundtrail",  # the product's name
    "TXID:VOUT",  # notation
    "CSV", "JSON", "PNG", "SVG",  # file formats (export buttons)
    "FIFO",  # the policy's name, written so in Chinese AML texts too
}
def used_ids() -> dict[str, set[str]]:
    """Every message id the workbench uses -> where (file, or `data` for ids built from data)."""
    used = {msgid: set(files) for msgid, files in source_ids().items()}
    for msgid in data_ids():
        used.setdefault(msgid, set()).add("data")
    for _, label, _ in NAV:  # the navigation bar's labels (translated in pages.base_context)
        used.setdefault(label, set()).add("pages.py NAV")
    return used


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.fixture(scope="module")
def used() -> dict[str, set[str]]:
    ids = used_ids()
    assert len(ids) > 150 and "Log in" in ids and "role.auditor" in ids and "No transactions." in ids
    return ids


def test_every_used_id_is_in_both_catalogues(used: dict[str, set[str]]) -> None:
    """Each id the sources use has a non-empty text in zh_CN and in en."""
    for lang in i18n.LANGUAGES:
        catalogue = i18n.catalogue(lang)
        missing = sorted(f"{msgid!r} ({', '.join(sorted(where))})" for msgid, where in used.items()
                         if not catalogue.get(msgid, "").strip())
        assert not missing, f"{len(missing)} ids have no {lang} text:\n  " + "\n  ".join(missing[:60])


def test_no_catalogue_holds_an_unused_id(used: dict[str, set[str]]) -> None:
    """A catalogue id nothing uses any more is stale: remove it (the catalogues stay clean)."""
    for lang in i18n.LANGUAGES:
        for path in sorted((i18n.LOCALES / lang).glob("*.json")):
            stale = sorted(set(i18n.json.loads(path.read_text(encoding="utf-8"))) - set(used))
            assert not stale, f"{path.relative_to(WEB)} holds ids nothing uses: {stale[:30]}"


def test_chinese_is_a_translation(used: dict[str, set[str]]) -> None:
    """The zh_CN text of an id with letters is not the English one (except the short list of names
    and codes above), and holds Chinese characters unless it is such a name."""
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh_CN")
    same = sorted(k for k in used if re.search("[A-Za-z]", en.get(k, "")) and zh.get(k) == en.get(k)
                  and k not in SAME_IN_CHINESE)
    assert not same, f"zh_CN text equals the English for {len(same)} ids: {same[:40]}"
    no_han = sorted(k for k in used if k not in SAME_IN_CHINESE and re.search("[A-Za-z]{3}", en.get(k, ""))
                    and not re.search(r"[\u4e00-\u9fff]", zh.get(k, "")))
    assert not no_han, f"zh_CN texts without a Chinese character: {no_han[:40]}"


def test_placeholders_match(used: dict[str, set[str]]) -> None:
    """`{name}` placeholders are the same set in both languages (and in the id itself)."""
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh_CN")
    for msgid in used:
        if msgid in en and msgid in zh:
            assert placeholders(en[msgid]) == placeholders(zh[msgid]), (msgid, en[msgid], zh[msgid])
            if not msgid.startswith(tuple(f"{p}." for p in ("risk", "category", "role", "kind"))):
                assert placeholders(msgid) == placeholders(en[msgid]), (msgid, en[msgid])


def test_english_text_is_the_id() -> None:
    """In en an id is its own English text (the convention that makes templates readable), except
    the ids built from data (`category.exchange` -> `Exchange`)."""
    built = re.compile(r"^[a-z_]+\.[A-Za-z0-9_.@-]+$")
    differs = sorted(k for k, v in i18n.catalogue("en").items() if k != v and not built.match(k))
    assert not differs, f"en texts that differ from their id: {differs[:20]}"


def test_catalogue_files_are_well_formed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both languages have the same catalogue files and ids; an id defined twice with different
    texts, or a value that is not a string, is refused when a catalogue is merged."""
    names = {lang: sorted(p.name for p in (i18n.LOCALES / lang).glob("*.json")) for lang in i18n.LANGUAGES}
    assert names["en"] == names["zh_CN"] and "core.json" in names["en"], names
    assert set(i18n.catalogue("en")) == set(i18n.catalogue("zh_CN"))
    merge = i18n.catalogue.__wrapped__  # the uncached merge
    monkeypatch.setattr(i18n, "LOCALES", tmp_path)
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "a.json").write_text('{"Save": "Save", "Open": "Open"}', encoding="utf-8")
    (tmp_path / "xx" / "b.json").write_text('{"Save": "Save"}', encoding="utf-8")
    assert merge("xx") == {"Save": "Save", "Open": "Open"}  # the same text twice is fine
    (tmp_path / "xx" / "b.json").write_text('{"Save": "Store"}', encoding="utf-8")
    with pytest.raises(ValueError, match="defined twice"):
        merge("xx")
    (tmp_path / "xx" / "b.json").write_text('{"Save": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="must map message ids to strings"):
        merge("xx")


# ------------------------------------------------------------------------------------- Formatter

UTC = zone("UTC")


@pytest.mark.parametrize(("lang", "value", "decimals", "symbol", "shown"), [
    ("en", 123456789, 8, "BTC", "1.23456789 BTC"),
    ("zh_CN", 123456789, 8, "BTC", "1.23456789 BTC"),
    ("en", 10**18, 18, "ETH", "1.00 ETH"),
    ("en", 1, 18, "ETH", "0.000000000000000001 ETH"),  # one wei, exactly
    ("en", 0, 8, "BTC", "0.00 BTC"),
    ("en", 2_100_000_000_000_000, 8, "BTC", "21,000,000.00 BTC"),  # grouping, never through a float
    ("zh_CN", 123_456_789_012_345_678, 8, "BTC", "1,234,567,890.12345678 BTC"),
    ("en", "500000", 6, "USDT", "0.50 USDT"),  # base units as text (uint256 from the API)
    ("en", 10**30, 18, "SHIB", "1,000,000,000,000.00 SHIB"),  # a token whale: 31 digits
    ("en", 7, 0, None, "7"),
    ("en", None, 8, "BTC", ""),
])
def test_amounts_are_exact(lang: str, value: int | str | None, decimals: int, symbol: str | None,
                           shown: str) -> None:
    assert Formatter(lang, UTC).amount(value, decimals, symbol) == shown


def test_amount_beyond_a_float() -> None:
    """2^256-1 wei is shown to the last digit (a float would round it)."""
    big = 2**256 - 1
    text = Formatter("en", UTC).amount(big, 18, "ETH").replace(",", "").removesuffix(" ETH")
    assert text.replace(".", "") == str(big)


@pytest.mark.parametrize(("lang", "value", "shown"), [
    ("en", 1234567, "1,234,567"), ("zh_CN", 1234567, "1,234,567"), ("en", 0, "0"), ("en", None, ""),
])
def test_counts_are_grouped(lang: str, value: int | None, shown: str) -> None:
    assert Formatter(lang, UTC).int(value) == shown


def test_times_are_shown_in_the_zone_with_its_name() -> None:
    """A UTC time shown in Asia/Shanghai is 8 hours later, across midnight, and names the zone;
    naive datetimes count as UTC; an unknown zone falls back to UTC."""
    shanghai = Formatter("zh_CN", zone("Asia/Shanghai"))
    assert shanghai.time("2023-11-15T20:33:20Z") == "2023-11-16 04:33:20 Asia/Shanghai"
    assert shanghai.time(dt.datetime(2023, 11, 15, 20, 33, 20)) == "2023-11-16 04:33:20 Asia/Shanghai"
    assert shanghai.time(dt.datetime(2023, 11, 15, 20, 33, 20, tzinfo=dt.UTC)).endswith("Asia/Shanghai")
    assert Formatter("en", UTC).time("2023-11-15T20:33:20+00:00") == "2023-11-15 20:33:20 UTC"
    assert Formatter("en", zone("Europe/Berlin")).time("2023-07-01T12:00:00Z") == "2023-07-01 14:00:00 Europe/Berlin"
    assert Formatter("en", zone("Mars/Olympus")).time("2023-11-15T20:33:20Z") == "2023-11-15 20:33:20 UTC"
    assert zone(None).key == "UTC" and zone("../../etc/passwd").key == "UTC"
    assert Formatter("en", UTC).time(None) == "" and Formatter("en", UTC).time("") == ""


def test_percentages() -> None:
    assert Formatter("en", UTC).percent(0.747) == "74.7 %"
    assert Formatter("zh_CN", UTC).percent(1) == "100 %"
    assert Formatter("en", UTC).percent(None) == ""


# ------------------------------------------------------------------------------------- negotiate

@pytest.mark.parametrize(("cookie", "header", "lang"), [
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
    (None, "zh-TW", "zh_CN"),  # the only Chinese the workbench has
    (None, "zh_CN", "zh_CN"),
    (None, "ZH-hans-CN", "zh_CN"),
    (None, "en-US,en;q=0.9", "en"),
    (None, "en;q=0.5, zh;q=0.8", "zh_CN"),  # quality wins over order
    (None, "zh;q=0.3, en;q=0.7", "en"),
    (None, "fr-FR, de;q=0.9, zh;q=0.1", "zh_CN"),  # the best language the workbench has
    (None, "fr-FR, de", "en"),
    (None, "zh;q=0, en;q=0.1", "en"),  # q=0: not acceptable
    (None, "zh;q=abc, en", "en"),  # a broken quality is skipped
    (None, "!!!, ;;;, q=", "en"),  # junk
    (None, "", "en"),
    (None, None, "en"),
    ("zh_CN", "en-US", "zh_CN"),  # the switch's cookie first
    ("en", "zh-CN", "en"),
    ("klingon", "zh-CN", "zh_CN"),  # an unknown cookie is ignored
])
def test_negotiate(cookie: str | None, header: str | None, lang: str) -> None:
    assert negotiate(cookie, header) == lang
