"""User-written amounts and times to exact integers: `fundtrail.model.amounts` and `.times`."""

from __future__ import annotations

import pytest

from fundtrail.errors import UsageError
from fundtrail.model.amounts import parse_base_units, parse_sat
from fundtrail.model.times import parse_time


@pytest.mark.parametrize("text, sat", [(None, 0), ("0.01", 1_000_000), ("0.01BTC", 1_000_000), ("5000sat", 5000),
                                       (" 21000000 ", 21_000_000 * 10**8), ("0.00000001", 1), ("0", 0)])
def test_sat(text: str | None, sat: int) -> None:
    assert parse_sat(text) == sat


@pytest.mark.parametrize("text, why", [("abc", "is not an amount"), ("inf", "is not an amount"),
                                       ("nan", "is not an amount"), ("-1", "non-negative whole number"),
                                       ("0.000000001", "non-negative whole number"), ("1.5sat", "whole number")])
def test_sat_refused_names_the_field(text: str, why: str) -> None:
    with pytest.raises(UsageError) as got:
        parse_sat(text, "min_value")
    assert got.value.field == "min_value" and got.value.message.startswith(f"min_value {text!r}")
    assert why in got.value.message


def test_base_units() -> None:
    assert parse_base_units("0.5", "ETH", 18, asset_given=True) == 5 * 10**17
    assert parse_base_units("0.5 eth", "ETH", 18, asset_given=True) == 5 * 10**17
    assert parse_base_units("100", "USDT", 6, asset_given=True) == 100_000_000
    big = 2**200
    assert parse_base_units(f"{big}units", "", None, asset_given=False) == big  # exact beyond 128 bits
    assert parse_base_units("7wei", "ETH", 18, asset_given=False) == 7
    assert parse_base_units(None, "ETH", 18, asset_given=False) == 0


@pytest.mark.parametrize("text, kw, why", [
    ("0.5", {"asset_given": False}, "name one with `asset`"),
    ("0.5", {"asset_given": True, "decimals": None}, "decimals of sUSD are unknown"),
    ("0.0000000000000000001", {"asset_given": True}, "more than 18 decimals"),
    ("xunits", {"asset_given": True}, "is not an amount"),
    ("1.5units", {"asset_given": True}, "whole number of base units"),
    ("infinity", {"asset_given": True}, "is not an amount"),
    ("-1", {"asset_given": True}, "must not be negative"),
])
def test_base_units_refused(text: str, kw: dict, why: str) -> None:
    decimals = kw.pop("decimals", 18)
    symbol = "sUSD" if decimals is None else "ETH"
    with pytest.raises(UsageError) as got:
        parse_base_units(text, symbol, decimals, field="min_value", **kw)
    assert got.value.field == "min_value" and why in got.value.message and "--" not in got.value.message


def test_times() -> None:
    assert parse_time(None, "since") is None
    assert parse_time("1700000000", "since") == 1_700_000_000
    assert parse_time("2024-01-01", "since") == 1_704_067_200  # UTC unless it says otherwise
    assert parse_time("2024-01-01T01:00:00+01:00", "until") == 1_704_067_200
    assert parse_time("2024-01-01T00:00:00Z", "until") == 1_704_067_200
    with pytest.raises(UsageError) as got:
        parse_time("yesterday", "until")
    assert got.value.field == "until" and got.value.message.startswith("until 'yesterday' is not a date")
