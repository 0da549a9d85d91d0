"""Amounts as users write them, to exact integers in base units (never floats).

A Bitcoin-family amount is a decimal in the coin (`0.01`, `0.01btc`) or satoshi (`5000sat`). An
account-chain amount is base units as written (`5000units`, `5000wei`) or a decimal in the unit
of the one traced asset (`0.5` ETH, `100` USDT): a decimal needs a known asset and its decimals.
Errors name the request field (`min_value '0.x' is not an amount ...`, `field="min_value"`); a
message that refers to another field writes it in backquotes (`asset`), which interfaces render
as their own name for it (the CLI: `--asset`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fundtrail.errors import UsageError

SAT_PER_BTC = 100_000_000


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_sat(text: str | None, field: str = "min_value") -> int:
    """Satoshi from `0.01` (BTC) or `100000sat`; 0 for None."""
    if text is None:
        return 0
    t = text.strip().lower()
    base = _decimal(t[:-3]) if t.endswith("sat") else _decimal(t.removesuffix("btc"))
    if base is None:
        raise UsageError(f"{field} {text!r} is not an amount (e.g. 0.01 for BTC or 100000sat)", field=field)
    sat = base if t.endswith("sat") else base * SAT_PER_BTC
    if sat < 0 or sat != sat.to_integral_value():
        raise UsageError(f"{field} {text!r} must be a non-negative whole number of satoshi", field=field)
    return int(sat)


def parse_base_units(text: str | None, symbol: str, decimals: int | None, *, asset_given: bool,
                     field: str = "min_value") -> int:
    """Base units of an account-chain amount (module docstring); 0 for None. `symbol`/`decimals`:
    the traced asset's unit; `asset_given`: whether one asset is traced (a decimal needs one)."""
    if text is None:
        return 0
    t = text.strip().lower()
    for suffix in ("units", "wei"):
        if t.endswith(suffix):
            base = _decimal(t[:-len(suffix)])
            if base is None:
                raise UsageError(f"{field} {text!r} is not an amount", field=field)
            if base < 0 or base != base.to_integral_value():
                raise UsageError(f"{field} {text!r} must be a non-negative whole number of base units",
                                 field=field)
            return int(base)
    if not asset_given:
        raise UsageError(f"{field} {text!r}: several assets are traced, each in its own unit; name one with "
                         "`asset`, or give base units (e.g. 1000000units)", field=field)
    if decimals is None:
        raise UsageError(f"{field} {text!r}: the decimals of {symbol or 'this token'} are unknown; "
                         "give base units (e.g. 1000000units)", field=field)
    amount = _decimal(t.removesuffix(symbol.lower()).strip()) if symbol else _decimal(t)
    if amount is None:
        raise UsageError(f"{field} {text!r} is not an amount (e.g. 0.5 {symbol} or 1000000units)", field=field)
    if amount < 0:
        raise UsageError(f"{field} {text!r} must not be negative", field=field)
    amount *= 10 ** decimals
    if amount != amount.to_integral_value():
        raise UsageError(f"{field} {text!r} has more than {decimals} decimals of {symbol}", field=field)
    return int(amount)
