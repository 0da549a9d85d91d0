"""A large label file read a block at a time decodes and splits exactly as the whole-file readers
of `model.textfiles` do (the oracle): the same text, CSV records, line numbers, SHA-256 and, for a
file that is not text, the same first bad byte and line, whatever the block boundaries cut."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fundtrail.errors import DataError
from fundtrail.model.textfiles import csv_record_chunks, csv_records, decode_text
from fundtrail.tags import textstream

CSV = ('address,label,category\r\n'
       '1BoatSLRHtKNngkdXEeobR76b53LETtpyT,"two\r\nlines",exchange\r\n'
       '\r\n'
       '3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y,café 中文 \U0001f600,"quoted, comma"\r'
       '1Archive1n2C579dMsAu3iC6tWzuQJz8dN,"a ""quote""",\n'
       'bad,"unterminated\n'
       'last,row,without newline')
TEXTS = {
    "utf-8": CSV.encode(),
    "utf-8 bom, two more U+FEFF": b"\xef\xbb\xbf" + ("\ufeff\ufeff" + CSV).encode(),
    "utf-16-le bom": b"\xff\xfe" + CSV.encode("utf-16-le"),
    "utf-16-be bom": b"\xfe\xff" + CSV.encode("utf-16-be"),
    "utf-32-le bom": b"\xff\xfe\x00\x00" + CSV.encode("utf-32-le"),
    "utf-16-le, no bom": CSV.encode("utf-16-le"),
    "cr only": CSV.replace("\r\n", "\r").encode(),
    "ends with cr": (CSV + "\r").encode(),
}
BLOCKS = (1, 2, 3, 5, 7, 64)


@pytest.fixture(params=BLOCKS)
def small_blocks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(textstream, "BLOCK", request.param)
    monkeypatch.setattr(textstream, "HEAD", 4 + request.param % 4)  # the BOM test needs 4 bytes
    return int(request.param)


@pytest.mark.parametrize("name", list(TEXTS))
def test_text_and_records_equal_the_whole_file_readers(tmp_path: Path, small_blocks: int, name: str) -> None:
    data = TEXTS[name]
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    text = decode_text(data, str(path))
    lines = textstream.TextLines(path)
    assert "".join(lines) == text
    assert lines.sha == hashlib.sha256(data).hexdigest() == textstream.scan(path).sha
    assert textstream.scan(path).bad_offset is None
    chunks = list(csv_record_chunks(textstream.TextLines(path), rows=2))
    assert all(len(c) <= 2 for c in chunks)
    records = [r for c in chunks for r in c]
    assert records == csv_records(text)
    assert records[1].cells[1] == "two\nlines" and records[2].line == 4  # a cell over two lines


def test_a_cell_over_the_bound_is_a_problem_record_as_in_the_whole_file_reader(tmp_path: Path) -> None:
    text = "address,label\n" + "".join(f"a{i},{'x' * (2000 if i % 3 == 0 else 10)}\n" for i in range(10))
    path = tmp_path / "f.csv"
    path.write_text(text)
    got = [r for c in csv_record_chunks(textstream.TextLines(path), max_field_kb=1, rows=3) for r in c]
    assert got == csv_records(text, max_field_kb=1)
    assert sum(1 for r in got if r.problem and "larger than 1 KB" in r.problem) == 4
    import csv
    assert csv.field_size_limit() == 131072  # restored: the bound is only set while a chunk is read


CORRUPT = {
    "bad byte in the middle": CSV.encode()[:60] + b"\xff" + CSV.encode()[60:],
    "bad byte after lines": CSV.encode() + b"\nmore\xc3(",
    "truncated at the end": CSV.encode() + "é".encode()[:1],
    "utf-16 odd length": b"\xff\xfe" + CSV.encode("utf-16-le") + b"\n",
    "utf-16 lone surrogate": b"\xff\xfe" + CSV.encode("utf-16-le")[:40] + b"\x00\xdc" + b"a\x00",
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_the_first_bad_byte_and_its_line_are_the_whole_file_readers(tmp_path: Path, small_blocks: int,
                                                                     name: str) -> None:
    data = CORRUPT[name]
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(DataError) as exc:
        decode_text(data, str(path))
    offset = int(str(exc.value).split("offset ")[1].split(")")[0])
    got = textstream.scan(path)
    assert (got.bad_offset, got.bad_line) == (offset, data[:offset].count(b"\n") + 1)
    assert got.sha == hashlib.sha256(data).hexdigest()
    with pytest.raises(DataError, match="not .* text"):
        list(textstream.TextLines(path))


def test_the_head_decides_like_the_whole_text(tmp_path: Path) -> None:
    for data in TEXTS.values():
        head = textstream.head_text(data[:64])
        assert head is not None and decode_text(data, "x").startswith(head[:20])
    assert textstream.head_text(b"address\xff,label") is None
