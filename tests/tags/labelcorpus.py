"""The malformed label files of the reliability audit (issue 13, items 7-9), as data.

Each case is one file and what importing it next to a good file must give: the file `failed`
(nothing of it stored, the store as before) or `partial` (imported, the bad records reported and
left out) or `imported` (stored, warnings at most), and the problem that names it (`line`,
`says`). Used by tests/tags/test_malformed_*.py and benchmarks/reliability_labels.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

GOOD_BTC = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
GOOD_BTC2 = "3M6UcBNGZAW1HRjiFDMRcY5aXFrQ4F9E1y"
GOOD_ETH = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
HEAD = "title: t\ncreator: corpus\ncurrency: BTC\ncategory: exchange\n"
TAG = f"- address: {GOOD_BTC}\n  label: Good\n"


@dataclass(frozen=True)
class Case:
    """One malformed file: name, file name, bytes, expected outcome and problem."""

    name: str
    kind: str  # tagpack, ofac, csv, json
    filename: str
    data: bytes
    outcome: str  # failed, partial, imported
    line: int | None  # line the problem names (None: any)
    says: str  # text the problem contains
    severity: str = "invalid"


def _pack(body: str, head: str = HEAD) -> bytes:
    return (head + "tags:\n" + body).encode()


def _laughs(levels: int = 9, width: int = 10, where: str = "tags") -> str:
    lines = ["a0: &a0 [lol]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    bomb = "\n".join(lines) + "\n"
    if where == "tags":
        return (f"title: t\ncreator: c\ncurrency: BTC\n{bomb}tags:\n- address: {GOOD_BTC}\n  label: x\n"
                f"  context: *a{levels}\n")
    return f"title: t\ncreator: c\ncurrency: BTC\n{bomb}context: *a{levels}\ntags:\n{TAG}"


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def cases() -> list[Case]:
    """Every case of the corpus, in a fixed order."""
    t = "tagpack"
    out = [
        # --- TagPacks: YAML syntax and the loader ------------------------------------------
        Case("header YAML syntax error", t, "hdr.yaml", _pack(TAG, "title: [unclosed\ncreator: c\n"),
             "failed", 2, "YAML syntax error"),
        Case("python object tag in the header", t, "pyhdr.yaml",
             _pack(TAG, "title: !!python/object:os.system x\ncreator: c\ncurrency: BTC\n"), "failed", 1,
             "python/object:os.system' is not allowed"),
        Case("python object/apply tag on one tag", t, "pytag.yaml",
             _pack(TAG + f"- address: {GOOD_BTC2}\n  label: !!python/object/apply:os.system [echo]\n"),
             "partial", 9, "is not allowed"),
        Case("python name tag on one tag", t, "pyname.yaml",
             _pack(TAG + f"- address: {GOOD_BTC2}\n  label: x\n  actor: !!python/name:os.system\n"),
             "partial", 10, "python/name:os.system"),
        Case("unknown local tag", t, "localtag.yaml", _pack(TAG + f"- address: !evil {GOOD_BTC2}\n  label: x\n"),
             "partial", 8, "'!evil' is not allowed"),
        Case("invalid date in the header", t, "date1.yaml", _pack(TAG, HEAD + "lastmod: 2024-13-45\n"),
             "imported", 7, "unreadable date '2024-13-45'", "warning"),
        Case("invalid date on a tag", t, "date2.yaml", _pack(TAG + "  lastmod: 2024-02-30\n"),
             "imported", 6, "unreadable date '2024-02-30'", "warning"),
        Case("explicit timestamp tag with a bad date", t, "date3.yaml",
             _pack(TAG + "  lastmod: !!timestamp 2023-00-10\n"), "imported", 6, "unreadable date", "warning"),
        Case("a word for a date", t, "date4.yaml", _pack(TAG + "  lastmod: yesterday\n"),
             "imported", 6, "unreadable date 'yesterday'", "warning"),
        Case("infinite float for a date", t, "date5.yaml", _pack(TAG + "  lastmod: .inf\n"),
             "imported", 6, "unreadable date", "warning"),
        Case("5 MB all-digit address", t, "digits.yaml",
             _pack(TAG + "- address: " + "1" * 5_000_000 + "\n  label: x\n"), "partial", 8,
             "too long to be an address (5,000,000 characters"),
        Case("5 MB Base58 address (quadratic decode)", t, "b58.yaml",
             _pack(TAG + "- address: " + "2" * 5_000_000 + "\n  label: x\n"), "partial", 8, "too long"),
        Case("integer of 10,000 digits as a label", t, "bigint.yaml",
             _pack(f"- address: {GOOD_BTC}\n  label: {'9' * 10_000}\n"), "imported", None, ""),
        Case("billion laughs in a tag", t, "laughs.yaml", _laughs().encode(), "failed", None,
             "max_yaml_nodes"),
        Case("billion laughs in the header", t, "laughs2.yaml", _laughs(where="header").encode(), "failed",
             None, "max_yaml_nodes"),
        Case("merge-key bomb", t, "merge.yaml",
             ("a0: &a0 {k: v}\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]\n" for i in range(1, 8))
              + "tags:\n- <<: *a0\n  address: " + GOOD_BTC
              + "\n  label: x\n  currency: BTC\n  context: *a7\n").encode(),
             "failed", None, "max_yaml_nodes"),
        Case("flow nesting 5,000 deep", t, "deep.yaml", _pack(TAG + "  context: " + "[" * 5000 + "]" * 5000 + "\n"),
             "failed", None, "nesting depth"),
        Case("block nesting 3,000 deep", t, "deep2.yaml",
             _pack(TAG + "".join("  " * i + "- x:\n" for i in range(3000))), "failed", None, "nesting depth"),
        Case("tags is a number", t, "tags5.yaml", (HEAD + "tags: 5\n").encode(), "failed", 1, "no 'tags' list"),
        Case("a tag entry that is a string", t, "str.yaml", _pack("- just a string\n"), "failed", 1,
             "tag entry is not a mapping"),
        Case("wrong types in fields", t, "types.yaml",
             _pack(f"- address: {GOOD_BTC}\n  label: [a, b]\n  concepts: 5\n  confidence: {{a: 1}}\n"
                   "  is_cluster_definer: [1]\n"), "imported", 6, "unknown confidence", "warning"),
        Case("tag without an address", t, "noaddr.yaml", _pack(TAG + "- label: nobody\n"), "partial", 8,
             "tag has no address"),
        Case("tag without label or category", t, "nolabel.yaml",
             _pack(TAG + f"- address: {GOOD_BTC2}\n  category: ''\n", HEAD.replace("category: exchange\n", "")),
             "partial", 7, "has no label and no category"),
        Case("address of the wrong currency", t, "wrongcur.yaml", _pack(TAG + f"- address: {GOOD_ETH}\n  label: x\n"),
             "partial", 8, "invalid BTC address"),
        Case("empty file", t, "empty.yaml", b"", "failed", 1, "not a TagPack"),
        Case("binary junk", t, "junk.yaml", bytes(range(256)) * 4, "failed", None, "not UTF-8"),
        Case("NUL byte inside", t, "nul.yaml", _pack(TAG + "- address: a\x00b\n  label: x\n"), "partial", 8,
             "invalid BTC address 'a\\x00b'"),
        Case("NUL byte in YAML flow style", t, "nul2.yaml", _pack("- {address: 'a\x00b', label: x}\n"), "failed",
             None, "control characters are not allowed"),
        Case("bad indentation mid-list", t, "indent.yaml", _pack(TAG + "   - address: x\n  label: y\n"),
             "failed", None, "YAML syntax error"),
        Case("unhashable key", t, "unhash.yaml", _pack(TAG + "- ? [a, b]\n  : v\n  address: x\n"), "failed",
             None, "unhashable"),
        Case("bad !!binary", t, "binary.yaml", _pack(TAG + "  context: !!binary '%%%'\n"), "imported", None, ""),
        Case("2 MB label", t, "hugelabel.yaml", _pack(f"- address: {GOOD_BTC}\n  label: {'x' * 2_000_000}\n"),
             "imported", None, ""),
        Case("ActorPack with a python tag", t, "actors.yaml",
             b"actors:\n- id: a\n  label: A\n- id: b\n  label: !!python/object:x.y {}\n", "partial", 5,
             "not allowed"),
        Case("ActorPack with the same id twice", t, "actors2.yaml",
             b"actors:\n- id: a\n  label: A\n- id: a\n  label: B\n", "imported", None, ""),
        Case("ActorPack of strings", t, "actors3.yaml", b"actors:\n- a\n- b\n", "failed", 1,
             "actor needs an id and a label"),
        # --- OFAC lists ----------------------------------------------------------------------
        Case("OFAC list with junk lines", "ofac", "sanctioned_addresses_XBT.txt",
             f"{GOOD_BTC}\nnot an address\n\x7f\x01junk\n{'z' * 600}\n{GOOD_BTC2}\n".encode(), "partial", 2,
             "invalid BTC address 'not an address'"),
        Case("OFAC list with one 5 MB line", "ofac", "sanctioned_addresses_ETH.txt",
             f"{GOOD_ETH}\n{'f' * 5_000_000}\n".encode(), "partial", 2, "too long"),
        Case("OFAC JSON that is an object", "ofac", "sanctioned_addresses_XBT.json", b'{"a": 1}', "failed", 1,
             "expected a JSON array"),
        Case("OFAC JSON nested 100,000 deep", "ofac", "sanctioned_addresses_LTC.json",
             _deep_json(100_000).encode(), "failed", 1, "max_json_depth"),
        Case("OFAC JSON with numbers and objects", "ofac", "sanctioned_addresses_TRX.json",
             json.dumps(["TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", 5, {"a": 1}, None]).encode(), "partial", 1,
             "not an address string"),
        Case("OFAC JSON syntax error", "ofac", "sanctioned_addresses_XMR.json", b'[\n"a",\n"b"\n', "failed", 4,
             "invalid JSON"),
        Case("OFAC list in UTF-16", "ofac", "sanctioned_addresses_DOGE.txt",
             "DBs4WcRE7eysKwRxHNX88XZVCQ9M6QSUSz\n".encode("utf-16"), "imported", None, ""),
        # --- CSV -------------------------------------------------------------------------------
        Case("CSV cell of 140 KB (over Python's 128 KB default)", "csv", "cell140.csv",
             f'address,label\n{GOOD_BTC},"{"x" * 140_000}"\n'.encode(), "imported", None, ""),
        Case("CSV cell of 2 MB", "csv", "cell2m.csv",
             f'address,label\n{GOOD_BTC},"{"x" * 2_000_000}"\n{GOOD_BTC2},fine\n'.encode(), "partial", 2,
             "larger than 1,024 KB (max_csv_field_kb)"),
        Case("CSV whose addresses are all empty", "csv", "noaddr.csv", b"address,label\n,x\n ,y\n", "failed", 2,
             "empty address"),
        Case("CSV rows of the wrong width", "csv", "width.csv",
             f"address,label,category\n{GOOD_BTC}\n{GOOD_BTC2},a,exchange,extra,more\n,,\n".encode(), "partial",
             2, "has no label and no category"),
        Case("CSV with an unterminated quote", "csv", "quote.csv",
             f'address,label\n{GOOD_BTC},ok\n{GOOD_BTC2},"never closed\n'.encode(), "imported", None, ""),
        Case("CSV with a NUL byte", "csv", "nulcsv.csv", f"address,label\n{GOOD_BTC},a\x00b\n".encode(),
             "imported", None, ""),
        Case("CSV in UTF-16", "csv", "utf16.csv", f"address,label\n{GOOD_BTC},x\n".encode("utf-16"),
             "imported", None, ""),
        Case("CSV in Latin-1", "csv", "latin1.csv", f"address,label\n{GOOD_BTC},caf\xe9\n".encode("latin-1"),
             "failed", 2, "not UTF-8"),
        Case("explorer CSV with a 2 MB cell", "csv", "etherscan/huge.csv",
             f',Address,Name Tag\n1,{GOOD_ETH},"{"x" * 2_000_000}"\n2,{GOOD_ETH},ok\n'.encode(), "partial", 2,
             "max_csv_field_kb"),
        Case("Ransomwhere CSV with a 600 KB address", "csv", "ransomwhere.csv",
             f'"id","schema","name","aliases"\n1,x,{GOOD_BTC},Locky\n2,x,{"3" * 600_000},Locky\n'.encode(),
             "partial", 3, "too long"),
        # --- JSON label files ----------------------------------------------------------------
        Case("darklist nested 5,000 deep", "json", "darklist.json",
             ('[{"address": "' + GOOD_ETH + '", "comment": "x", "x": ' + _deep_json(5000) + "}]").encode(),
             "failed", 1, "max_json_depth"),
        Case("darklist with wrong types", "json", "darklist2.json",
             json.dumps([{"address": GOOD_ETH, "comment": 5, "date": 7}, {"address": 5, "comment": "x"}],
                        indent=1).encode(), "partial", None, "entry without an address"),
        Case("explorer JSON nested 5,000 deep", "json", "labels.json",
             ('{"' + GOOD_ETH + '": {"name": "x", "labels": ' + _deep_json(5000) + "}}").encode(), "failed", 1,
             "max_json_depth"),
        Case("explorer JSON with wrong types", "json", "labels2.json",
             json.dumps({GOOD_ETH: {"name": 5, "labels": "exchange"}, "x": "y", "z": None},
                        indent=1).encode(), "partial", None, "is not an object"),
    ]
    return out
