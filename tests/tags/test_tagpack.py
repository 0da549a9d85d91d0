"""TagPack reading: the fast reader of plain block-style packs gives exactly what the YAML parser
gives (on every real pack, and on hand-written corner cases), or declines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fundtrail.tags.tagpack import fast_tagpack, load_yaml


def test_fast_reader_equals_yaml_on_every_real_pack(testdata: Path) -> None:
    files = sorted((testdata / "tagpacks/graphsense").rglob("*.yaml"))
    fast_used = 0
    for path in files:
        text = path.read_text()
        fast = fast_tagpack(text)
        if fast is None:
            continue
        fast_used += 1
        assert fast == load_yaml(text, str(path))[0], path.name
    assert fast_used >= 80 and len(files) == 87  # the few packs with nested lists use YAML


@pytest.mark.parametrize("body", [
    "- address: '1A''s'\n  label: \"plain double\"\n  source: plain  # a comment\n",
    "- address: 1Abc\n  is_cluster_definer: yes\n  label: No\n",
    "- address: 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed\n",  # unquoted hex: YAML reads an int
    "- address: x\n  lastmod: 2021-11-12\n  label:  two spaces\n",
    "  - address: indented list\n    label: ok\n",
    "- address: x\n  label: ~\n",
])
def test_corner_cases_match_yaml(body: str) -> None:
    text = "title: t\ncreator: c\ntags:\n" + body
    fast = fast_tagpack(text)
    assert fast is not None and fast == load_yaml(text, "x")[0]


@pytest.mark.parametrize("body", [
    "- address: x\n  concepts:\n  - scam\n",  # nested block
    "- address: x\n  label: 'open quote\n",  # multi-line quoted scalar
    "- address: x\n  label: a: b\n",  # not valid YAML: left to the parser's error
    "- address: x\nother_header: after the list\n",
    "- address: x\n  label: \"escaped \\\" quote\"\n",
])
def test_anything_else_is_left_to_the_yaml_parser(body: str) -> None:
    assert fast_tagpack("title: t\ncreator: c\ntags:\n" + body) is None


def test_header_fields_are_read_by_yaml_with_lines() -> None:
    text = textwrap.dedent("""\
        title: t
        creator: c
        lastmod: 2024-01-02
        tags:
        - address: a
        """)
    fast = fast_tagpack(text)
    assert fast["__line__"] == 1 and fast["tags"] == [{"__line__": 5, "address": "a"}]
    assert fast["lastmod"].isoformat() == "2024-01-02"
