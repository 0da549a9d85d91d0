"""`currencies.address_currencies` is built on `addressform.check_address` (issue 13, cleanup of
item 5): what it returns, and the error it raises, equal the per-currency definition (every currency
of `FORM_ORDER` whose `normalise` accepts the text), on real addresses of every label source and on
mutations of them."""

from __future__ import annotations

import random
import re
from pathlib import Path

from fundtrail.tags.addressform import check_address
from fundtrail.tags.currencies import (EVM_ORDER, FORM_ORDER, InvalidAddress, UnrecognisedAddress,
                                       address_currencies, explain_invalid, normalise)

_ADDRESS = re.compile(r"(?:address: |^|,)['\"]?([0-9A-Za-z:]{20,110})['\"]?(?=[,\s]|$)", re.M)


def _oracle(text: str) -> tuple[str, ...] | tuple[str, str]:
    """The definition: every currency whose rules accept the text (errors as (kind, message))."""
    addr = text.strip()
    if not addr:
        return ("InvalidAddress", "empty address")
    try:
        if addr[:2].lower() == "0x":
            explain_invalid(addr)
            return EVM_ORDER
        found = []
        for cur in FORM_ORDER:
            try:
                normalise(cur, addr)
            except InvalidAddress:
                continue
            found.append(cur)
        if found:
            return tuple(found)
        explain_invalid(addr)
    except InvalidAddress as exc:
        return (type(exc).__name__, str(exc))
    raise AssertionError("explain_invalid returned")


def _built(text: str) -> tuple[str, ...] | tuple[str, str]:
    try:
        return address_currencies(text)
    except InvalidAddress as exc:
        return (type(exc).__name__, str(exc))


def _samples(testdata: Path) -> list[str]:
    found: list[str] = []
    for folder, cap in (("sanctions", 5000), ("ransomware", 1500), ("tagpacks", 3000), ("labels", 3000)):
        for f in sorted((testdata / folder).rglob("*")):
            if f.suffix.lower() not in (".txt", ".csv", ".yaml", ".yml", ".json") or f.stat().st_size > 40_000_000:
                continue
            text = f.read_text(errors="replace")[:400_000]
            found += [m.group(1) for m in _ADDRESS.finditer(text)][: max(20, cap // 50)]
    rng = random.Random(13)
    base = sorted(set(found))
    mutated = []
    for a in base:
        i = rng.randrange(len(a))
        mutated.append(a[:i] + rng.choice("123abcXYZqp09") + a[i + 1:])  # one character changed
        mutated.append(a.swapcase() if rng.random() < 0.5 else a[:-1])
    extra = ["bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a",
             "ecash:qpm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq",
             "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
             "zs1z7rejlpsa98s2rrrfkwmaxu53e4ue0ulcrw0h4x5g8jl04tak0d3mm47vdtahatqrlkngh9sly",
             "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", "4" + "A" * 94, "0x" + "ab" * 32, "", "  ", "hello"]
    return base + mutated + extra


def test_address_currencies_equals_its_definition_on_real_and_mutated_addresses(testdata: Path) -> None:
    samples = _samples(testdata)
    assert len(samples) > 2000
    differ = [(s, _built(s), _oracle(s)) for s in samples if _built(s) != _oracle(s)]
    assert not differ, differ[:5]
    # and check_address names the first of them as the form's currency where it names one
    for s in samples:
        got = _built(s)
        if got and got[0] not in ("InvalidAddress", "UnrecognisedAddress"):
            form = check_address(s)
            assert form.currencies == got and (form.currency in (None, got[0]) or got == EVM_ORDER), s


def test_unrecognised_forms_stay_unrecognised() -> None:
    for text in ("hello", "EOS6MRyAjQq8ud7hVNYcfnVPJqcVpscN5So8BhtHuGYqET5GDW5CV",
                 "ecash:qpm2qsznhks23z7629mms6s4cwef74vcwvn0h829pq"):
        try:
            address_currencies(text)
        except UnrecognisedAddress:
            continue
        raise AssertionError(text)
