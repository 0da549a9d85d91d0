"""Users' text files read as spreadsheets and Windows tools write them (issue 12, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundtrail.errors import DataError, UsageError
from fundtrail.model.textfiles import read_lines, read_table

ROWS = [("address", "customer"), ("1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d", "c-1"), ("bc1qxyz", "c-2")]


def _csv(sep: str, eol: str) -> str:
    return eol.join(sep.join(r) for r in ROWS) + eol


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-8"])
@pytest.mark.parametrize("eol", ["\r\n", "\n"])
@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_every_row_survives_bom_crlf_and_utf16(tmp_path: Path, encoding: str, eol: str, sep: str) -> None:
    p = tmp_path / "in.csv"
    data = _csv(sep, eol).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data  # Python's utf-16-be codec writes no BOM; Windows tools do
    p.write_bytes(data)
    t = read_table(p)
    assert t.columns == ["address", "customer"]
    assert [r[t.column("Address")] for r in t.rows] == [ROWS[1][0], ROWS[2][0]]
    assert t.lines == [2, 3]


def test_line_lists_keep_the_first_address_behind_a_bom(tmp_path: Path) -> None:
    p = tmp_path / "list.txt"
    p.write_bytes("\ufeff1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d\r\n# comment\r\n\r\n bc1qxyz \r\n".encode())
    assert read_lines(p) == [(1, "1NpHuti9NSM9fVTXLkvSDU4AnhqGQ5N53d"), (4, "bc1qxyz")]


def test_undecodable_bytes_name_the_offset(tmp_path: Path) -> None:
    p = tmp_path / "latin1.csv"
    p.write_bytes(b"address\nM\xfcller\n")
    with pytest.raises(DataError, match=r"latin1.csv: .*offset 9"):
        read_lines(p)


def test_missing_column_and_missing_file_are_one_line_usage_errors(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text("addr,id\n1A,2\n")
    with pytest.raises(UsageError, match=r"no column 'address' \(columns: addr, id\)"):
        read_table(p).column("address")
    with pytest.raises(UsageError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(UsageError, match="is a directory"):
        read_lines(tmp_path)


def test_a_row_longer_than_the_header_is_reported_with_its_line(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text("address\n1A\n1B,extra\n")
    with pytest.raises(DataError, match=r"in.csv:3: 2 cells but the header has 1"):
        read_table(p)


def test_non_strict_keeps_an_overlong_row_and_says_what_is_wrong(tmp_path: Path) -> None:
    p = tmp_path / "in.csv"
    p.write_text("address,id\n1A,1\n1B,2,extra\n1C,3\n")
    t = read_table(p, strict=False)
    assert [r["address"] for r in t.rows] == ["1A", "1B", "1C"]
    assert t.problems == {1: "3 cells but the header has 2 columns"}
