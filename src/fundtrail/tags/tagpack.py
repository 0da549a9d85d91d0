"""GraphSense TagPack and ActorPack YAML: reading (header fields inherited by tags) and writing.

A TagPack is a header of defaults plus a `tags` list; a tag inherits every header field it does not
set itself (GraphSense's rule). ActorPacks list actors (id, label, uri, categories, jurisdictions).
Every mapping is read with the line it starts on, so problems name file and line.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from fundtrail.tags.records import Actor, ParsedFile, Problem, RawTag

_LINE = "__line__"
#: Fields a tag may set or inherit from the header.
TAG_FIELDS = ("label", "address", "currency", "network", "category", "abuse", "concepts", "confidence",
              "source", "lastmod", "actor", "is_cluster_definer", "context", "tag_type", "tx_hash")
HEADER_ONLY = ("title", "creator", "description", "owner", "is_public", "tags")


class _LineLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
    """The libyaml safe loader, recording in every mapping the line it starts on, and reading
    what a safe load would refuse with a traceback as values a reader reports (`Rejected`)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A value the loader would not construct: a non-standard YAML tag (`!!python/object`)."""

    tag: str
    line: int

    def __str__(self) -> str:
        return f"YAML tag {self.tag!r} is not allowed in a label file"


def _mapping_with_line(loader: yaml.Loader, node: yaml.MappingNode) -> dict:
    data = loader.construct_mapping(node)
    data[_LINE] = node.start_mark.line + 1
    return data


def _undefined(loader: yaml.Loader, node: yaml.Node) -> Rejected:
    return Rejected(node.tag, node.start_mark.line + 1)


def _scalar_or_text(name: str) -> Any:
    """The safe constructor `name`, keeping the text when it refuses the value (a date 2024-13-45,
    an integer of more digits than Python converts): the date check then reports it."""
    construct = getattr(yaml.constructor.SafeConstructor, name)

    def build(loader: yaml.Loader, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError):
            return str(node.value)
    return build


_LineLoader.add_constructor("tag:yaml.org,2002:map", _mapping_with_line)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _scalar_or_text("construct_yaml_timestamp"))
_LineLoader.add_constructor("tag:yaml.org,2002:int", _scalar_or_text("construct_yaml_int"))
_LineLoader.add_constructor(None, _undefined)


class TooLarge(Exception):
    """A YAML document over a bound (node count, nesting): (line, message)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def check_size(text: str, max_nodes: int, max_depth: int) -> None:
    """Raise TooLarge if composing `text` would make more than `max_nodes` nodes (each use of an
    alias counting its whole anchored subtree again: the billion-laughs bomb) or nest deeper than
    `max_depth`. Runs over libyaml's event stream, which never expands an alias, so it costs time
    in proportion to the text, not to the expansion. Syntax errors are left to the loader."""
    if "*" not in text and "&" not in text and 2 * len(text) + 2 <= max_nodes:
        # Without aliases every node takes at least half a character: the bound cannot be reached,
        # and libyaml limits nesting itself.
        return
    sizes: dict[str, int] = {}
    open_: list[tuple[str | None, int]] = []  # (anchor, node count when the collection began)
    nodes = 0
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            kind = type(event)
            if kind is yaml.AliasEvent:
                nodes += sizes.get(event.anchor, 1)
            elif kind is yaml.ScalarEvent:
                nodes += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif kind in (yaml.MappingStartEvent, yaml.SequenceStartEvent):
                nodes += 1
                open_.append((event.anchor, nodes - 1))
                if len(open_) > max_depth:
                    raise TooLarge(event.start_mark.line + 1,
                                   f"YAML nested deeper than {max_depth} levels (max_json_depth)")
            elif kind in (yaml.MappingEndEvent, yaml.SequenceEndEvent):
                anchor, start = open_.pop()
                if anchor:
                    sizes[anchor] = nodes - start
            else:
                continue
            if nodes > max_nodes:
                raise TooLarge(event.start_mark.line + 1,
                               f"YAML expands to more than {max_nodes:,} nodes (aliases counted each time "
                               "they are used); refused (max_yaml_nodes)")
    except yaml.YAMLError:
        return


def load_yaml(text: str, path: str, *, max_nodes: int = 1_000_000,
              max_depth: int = 2_500) -> tuple[Any, Problem | None]:
    """Parse YAML text with line numbers; a syntax error, or a document over the bounds
    (`check_size`), becomes a Problem at its line."""
    try:
        check_size(text, max_nodes, max_depth)
        return yaml.load(text, Loader=_LineLoader), None
    except TooLarge as exc:
        return None, Problem(path, exc.line, exc.message)
    except RecursionError:
        return None, Problem(path, 1, "YAML nested too deeply to read")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        return None, Problem(path, line, f"YAML syntax error: {exc.problem or exc}")
    except yaml.YAMLError as exc:
        return None, Problem(path, 0, f"YAML error: {exc}")


_ITEM = re.compile(r"( *)- ([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$")
_FIELD = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$")
_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_BOOLS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_UNSUPPORTED = object()


def _scalar(raw: str | None) -> Any:
    """One single-line YAML scalar as PyYAML's safe loader reads it, or _UNSUPPORTED."""
    if raw is None:
        return _UNSUPPORTED  # empty value: null or a nested block
    text = raw.strip()
    first = text[:1]
    if first in ("'", '"'):
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != first or "\\" in inner:
            return _UNSUPPORTED
        if first == "'":
            if "'" in inner.replace("''", ""):
                return _UNSUPPORTED
            return inner.replace("''", "'")
        return _UNSUPPORTED if '"' in inner else inner
    cut = text.find(" #")
    if cut >= 0:
        text = text[:cut].rstrip()
    if not text or first in "[]{}|>&*!%@`#,?-:" or ": " in text or text.endswith(":"):
        return _UNSUPPORTED
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    if tag == "tag:yaml.org,2002:bool":
        return _BOOLS[text.lower()]
    return yaml.load(text, Loader=_LineLoader)  # int, float, timestamp, null: rare


def fast_tagpack(text: str, *, max_nodes: int = 1_000_000, max_depth: int = 2_500) -> Any:
    """A TagPack whose tag list is plain block style (one `key: scalar` per line), parsed without
    building YAML nodes; None when the text uses anything else (then the YAML parser reads it).

    Gives exactly what `load_yaml` gives on such files (tests compare both on every real pack);
    it exists because the YAML constructor is most of the import time of large packs.
    """
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.rstrip() == "tags:"), None)
    if start is None:
        return None
    head = "\n".join(lines[:start])
    try:
        check_size(head, max_nodes, max_depth)
        header = yaml.load(head, Loader=_LineLoader) if head.strip() else {_LINE: 1}
    except (yaml.YAMLError, TooLarge, RecursionError):
        return None  # the YAML parser reads the whole file again and reports what and where
    if not isinstance(header, dict) or "tags" in header:
        return None
    tags: list[dict] = []
    item: dict | None = None
    indent = -1
    for n in range(start + 1, len(lines)):
        line = lines[n]
        body = line.strip()
        if not body or body.startswith("#"):
            continue
        m = _ITEM.match(line)
        if m is not None:
            if indent < 0:
                indent = len(m.group(1))
            elif len(m.group(1)) != indent:
                return None
            item = {_LINE: n + 1}
            tags.append(item)
        else:
            m = _FIELD.match(line)
            if m is None or item is None or len(m.group(1)) != indent + 2:
                return None
        key = m.group(2)
        value = _scalar(m.group(3))
        if value is _UNSUPPORTED or key in item or "\t" in line:
            return None
        item[key] = value
    header["tags"] = tags
    return header


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, dict):
        return json.dumps({k: v for k, v in value.items() if k != _LINE}, sort_keys=True, default=str)
    text = str(value).strip()
    return text or None


def _concepts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):  # a number, a date, a mapping: one concept
        text = _text(value)
        return (text,) if text else ()
    return tuple(str(v) for v in value if v is not None)


def rejected(value: Any) -> Rejected | None:
    """The first value the loader refused inside `value` (searched through lists and mappings)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, Rejected):
            return v
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def _refused(data: dict, path: str, out: ParsedFile) -> bool:
    """Whether the header (everything but its tags) holds a refused value; reported if so."""
    bad = rejected([v for k, v in data.items() if k not in ("tags", "actors")])
    if bad is not None:
        out.problems.append(Problem(path, bad.line, f"{bad}; the header cannot be read"))
    return bad is not None


def read_tagpack(data: Any, path: str) -> ParsedFile:
    """Records of a parsed TagPack document; structural problems reported with their lines."""
    out = ParsedFile("tagpack")
    if not isinstance(data, dict) or not isinstance(data.get("tags"), list):
        out.problems.append(Problem(path, _line_of(data), "not a TagPack: no 'tags' list in the header"))
        return out
    if _refused(data, path, out):
        return out
    header = {k: v for k, v in data.items() if k in TAG_FIELDS}
    unknown = sorted(k for k in data if k not in TAG_FIELDS and k not in HEADER_ONLY and k != _LINE)
    for key in unknown:
        out.problems.append(Problem(path, data[_LINE], f"unknown header field {key!r} ignored", "warning"))
    creator = _text(data.get("creator"))
    if creator is None:
        out.problems.append(Problem(path, data[_LINE], "header has no creator", "warning"))
    private = data.get("is_public") is False
    warned: set[str] = set()
    for item in data["tags"]:
        if not isinstance(item, dict):
            out.problems.append(Problem(path, data[_LINE], f"tag entry is not a mapping: {short(item)}"))
            continue
        line = item.get(_LINE, 0)
        bad = rejected(item)
        if bad is not None:
            out.problems.append(Problem(path, bad.line, f"{bad}; tag not stored"))
            continue
        for key in item:
            if key not in TAG_FIELDS and key != _LINE and key not in warned:
                warned.add(key)
                out.problems.append(Problem(path, line, f"unknown tag field {key!r} ignored", "warning"))
        merged = {**header, **item}
        address = merged.get("address")
        if address is None:
            what = "a transaction tag (tx_hash) is not supported" if "tx_hash" in merged else "tag has no address"
            out.problems.append(Problem(path, line, what))
            continue
        out.tags.append(RawTag(
            line=line, address=str(address), currency=_text(merged.get("currency") or merged.get("network")),
            label=_text(merged.get("label")), category=_text(merged.get("category")),
            abuse=_text(merged.get("abuse")), concepts=_concepts(merged.get("concepts")),
            confidence=_text(merged.get("confidence")), source=_text(merged.get("source")),
            creator=creator, lastmod=_text(merged.get("lastmod")), actor=_text(merged.get("actor")),
            is_cluster_definer=merged.get("is_cluster_definer"), context=_text(merged.get("context")),
            visibility="private" if private else "shared",
        ))
    return out


def read_actorpack(data: Any, path: str) -> ParsedFile:
    """Actors of a parsed ActorPack document."""
    out = ParsedFile("actorpack")
    if not isinstance(data, dict) or not isinstance(data.get("actors"), list):
        out.problems.append(Problem(path, _line_of(data), "not an ActorPack: no 'actors' list"))
        return out
    if _refused(data, path, out):
        return out
    for item in data["actors"]:
        line = item.get(_LINE, 0) if isinstance(item, dict) else data[_LINE]
        bad = rejected(item)
        if bad is not None:
            out.problems.append(Problem(path, bad.line, f"{bad}; actor not stored"))
            continue
        if not isinstance(item, dict) or not item.get("id") or not item.get("label"):
            out.problems.append(Problem(path, line, "actor needs an id and a label"))
            continue
        out.actors.append(Actor(
            id=str(item["id"]), label=str(item["label"]), uri=_text(item.get("uri")),
            categories=_concepts(item.get("categories")), jurisdictions=_concepts(item.get("jurisdictions")),
            aliases=_concepts(item.get("aliases")), context=_text(item.get("context")), line=line))
    return out


def short(value: Any, width: int = 80) -> str:
    """repr of a value for a one-line message, cut to `width` characters."""
    text = repr(value)
    return text if len(text) <= width else f"{text[:width]}... ({len(text):,} characters)"


def _line_of(data: Any) -> int:
    return data.get(_LINE, 1) if isinstance(data, dict) else 1


def write_tagpack(tags: Iterable[dict], *, title: str, creator: str, description: str) -> str:
    """A TagPack document of exported tag rows; every field is written on the tag itself."""
    items = []
    for t in tags:
        item: dict[str, Any] = {"address": t["address"], "currency": t["currency"], "label": t["label"]}
        for key in ("category", "abuse"):
            if t.get(key):
                item[key] = t[key]
        if t.get("concepts"):
            item["concepts"] = list(t["concepts"])
        for key in ("confidence", "source", "lastmod", "actor", "is_cluster_definer", "context"):
            value = t.get(key)
            if value is not None:
                item[key] = value.isoformat() if isinstance(value, _dt.date) else value
        items.append(item)
    # No header lastmod: tags inherit header fields, so it would date every undated tag on re-import.
    doc = {"title": title, "creator": creator, "description": description, "tags": items}
    return yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True, width=120)
