"""An analyst's currency code: any well-formed code is taken (known or not, as imports take them),
text that is no code at all is refused on field `currency` before anything is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import UsageError
from fundtrail.tags.analyst import analyst_row
from fundtrail.tags.currencies import check_currency
from fundtrail.workspace import Workspace

HYDRA = "1BCWMwpR4M1nYUuuYe2bmzrNuwGoF9ZAbA"
BAD = ["NOT A CURRENCY!", "BTC ", "B TC", "BTC!", "BTC--REGTEST", "-BTC", "BTC-", "ETH/USDT", "é", "X" * 33]


@pytest.mark.parametrize("text,code", [("BTC", "BTC"), ("btc", "BTC"), (" eth ", "ETH"), ("Bitcoin", "BTC"),
                                       ("BTC-REGTEST", "BTC-REGTEST"), ("L-BTC", "L-BTC"), ("1INCH", "1INCH"),
                                       ("NEO", "NEO"), ("V-SYSTEMS", "V-SYSTEMS"), ("X" * 32, "X" * 32)])
def test_well_formed_codes_known_or_not_are_taken(text: str, code: str) -> None:
    assert check_currency(text) == code


@pytest.mark.parametrize("text", [t for t in BAD if t != "BTC "])  # surrounding blanks are trimmed
def test_malformed_codes_are_refused_on_the_field(text: str) -> None:
    with pytest.raises(UsageError, match="is not a currency code") as exc:
        check_currency(text)
    assert exc.value.field == "currency" and "\n" not in exc.value.one_line()


def test_a_long_code_is_shown_shortened() -> None:
    with pytest.raises(UsageError) as exc:
        check_currency("Z" * 5000, field="cur")
    assert exc.value.field == "cur" and len(exc.value.one_line()) < 200


def test_analyst_row_refuses_a_malformed_currency_and_keeps_the_others() -> None:
    with pytest.raises(UsageError) as exc:
        analyst_row(address=HYDRA, label="x", category="scam", creator="me", currency="NOT A CURRENCY!")
    assert exc.value.field == "currency"
    assert analyst_row(address=HYDRA, label="x", category="scam", creator="me", currency="btc")["currency"] == "BTC"
    assert analyst_row(address=HYDRA, label="x", category="scam", creator="me")["currency"] == "BTC"  # inferred
    assert analyst_row(address=HYDRA, label="x", category="scam", creator="me", currency="")["currency"] == "BTC"
    neo = analyst_row(address="AK2nJJpJr6o664CWJKi1QRXjqeic2zRp8y", label="x", category="scam", creator="me",
                      currency="NEO")  # no rule for NEO: its address is checked by format only
    assert (neo["currency"], neo["validation"]) == ("NEO", "format")


def test_cli_tags_add_refuses_it_with_exit_2_and_stores_nothing(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    Workspace.open(store=store, create=True)
    code = main(["--store", str(store), "tags", "add", HYDRA, "--label", "x", "--category", "scam",
                 "--currency", "NOT A CURRENCY!"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "--currency 'NOT A CURRENCY!' is not a currency code" in err
    assert main(["--store", str(store), "tags", "show", HYDRA, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == []
