"""Which reader a label file needs: detection by name and content (`--format auto`), and dispatch.

Formats: `tagpack` (GraphSense TagPack or ActorPack YAML), `ofac` (0xB10C per-asset SDN lists),
`csv` (generic CSV with a column mapping), and the specific list formats detected under `auto`:
`etherscan` (explorer label CSV / combined JSON), `mew-darklist`, `cryptoscamdb`, `ransomwhere`,
`receipts`. Files of no known format (README, LICENSE) are skipped under `auto`, not errors.
`read` takes a whole file's text; a large file of a line-oriented format (`csvsources.ROW_FORMATS`)
is read by the same row readers in chunks (`streamimport`).
"""

from __future__ import annotations

from pathlib import Path

from fundtrail.errors import UsageError
from fundtrail.tags import csvsources, lists, tagpack
from fundtrail.tags.csvsources import ColumnMapping
from fundtrail.tags.records import Limits, ParsedFile, Problem

FORMATS = ("auto", "tagpack", "ofac", "csv", "etherscan", "mew-darklist", "cryptoscamdb",
           "ransomwhere", "receipts")
_CSV_HEADERS = {
    "etherscan": ",address,name tag",
    "ransomwhere": '"id","schema","name","aliases"',
    "receipts": "address,type,amountreceivedusd,amountreceivedbtc",
}


def check_format(fmt: str) -> str:
    """The format name, or a UsageError listing the known ones."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; known: {', '.join(FORMATS)}", field="format")
    return fmt


def detect(path: Path, head: str) -> str | None:
    """The format of a file from its name and first characters, or None if it is not a label file."""
    suffix = path.suffix.lower()
    first = head.lstrip("\ufeff").lstrip()
    if lists.ofac_asset(path) is not None:
        return "ofac"
    if suffix in (".yaml", ".yml"):
        if "\n- name:" in "\n" + first.removeprefix("---").lstrip() and "url:" in head:
            return "cryptoscamdb"
        return "tagpack"
    if suffix == ".json":
        if first.startswith("[") and '"address"' in head and '"comment"' in head:
            return "mew-darklist"
        if first.startswith("{") and '"labels"' in head and '"name"' in head:
            return "etherscan"
        return None
    if suffix == ".csv":
        header = first.split("\n", 1)[0].strip().lower()
        for fmt, start in _CSV_HEADERS.items():
            if header.startswith(start):
                return fmt
        columns = {c.strip().strip('"') for c in header.split(",")}
        if columns & {"address", "addr", "wallet", "account"}:
            return "csv"
        return None
    return None


_DEFAULT_LIMITS = Limits()


def read(path: Path, text: str, fmt: str, *, currency: str | None = None,
         mapping: ColumnMapping | None = None, limits: Limits = _DEFAULT_LIMITS) -> ParsedFile:
    """Parse `text` of `path` in format `fmt` (not `auto`) into raw records, within `limits`."""
    where = str(path)
    nodes, depth, field_kb = limits.max_yaml_nodes, limits.max_json_depth, limits.max_csv_field_kb
    if fmt in ("tagpack", "cryptoscamdb"):
        fast = tagpack.fast_tagpack(text, max_nodes=nodes, max_depth=depth) if fmt == "tagpack" else None
        data, problem = ((fast, None) if fast is not None
                         else tagpack.load_yaml(text, where, max_nodes=nodes, max_depth=depth))
        if problem is not None:
            return ParsedFile(fmt, problems=[problem])
        if fmt == "cryptoscamdb":
            return lists.read_cryptoscamdb(path, data)
        if isinstance(data, dict) and "actors" in data and "tags" not in data:
            return tagpack.read_actorpack(data, where)
        return tagpack.read_tagpack(data, where)
    if fmt == "ofac":
        return lists.read_ofac(path, text, currency, depth)
    if fmt == "mew-darklist":
        return lists.read_mew_darklist(path, text, depth)
    if fmt == "etherscan":
        if path.suffix.lower() == ".json":
            return lists.read_explorer_json(path, text, currency, depth)
        return lists.read_explorer_csv(path, text, currency, field_kb)
    if fmt in csvsources.ROW_FORMATS:
        return csvsources.row_reader(fmt, path, currency=currency, mapping=mapping).read(text, field_kb)
    return ParsedFile(fmt, problems=[Problem(where, 0, f"no reader for format {fmt!r}")])
