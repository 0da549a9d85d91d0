"""The checks of what users type into a case (narrow unit tests of `fundtrail.cases.ids`)."""

from __future__ import annotations

import pytest

from fundtrail.cases import ids
from fundtrail.errors import UsageError


def test_case_ids() -> None:
    made = ids.new_id("C")
    assert ids.check_case_id(made) == made and ids.CASE_ID.fullmatch(made)
    for bad in ("C-1234567", "C-1234567g", "c-12345678", "C-12345678 ", "", None, "x" * 500):
        with pytest.raises(UsageError) as err:
            ids.check_case_id(bad)
        assert err.value.field == "case" and len(err.value.one_line()) < 200


def test_texts_and_confidence() -> None:
    assert ids.line("  Title ", "title") == "Title" and ids.line(" ", "agency", required=False) is None
    assert ids.text("line one\r\nline two\tend", "text") == "line one\r\nline two\tend"
    for bad, field in (("", "title"), ("two\nlines", "title"), ("x" * 201, "title")):
        with pytest.raises(UsageError) as err:
            ids.line(bad, field)
        assert err.value.field == field
    with pytest.raises(UsageError):
        ids.text("bell\x07", "text")
    assert ids.confidence(0) == 0.0 and ids.confidence(1) == 1.0
    for bad in (-0.01, 1.01, float("nan"), True, "0.5"):
        with pytest.raises(UsageError) as err:
            ids.confidence(bad)
        assert err.value.field == "confidence"
