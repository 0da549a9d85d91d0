"""Tags grouped by an id (address or cluster), held in columns instead of a dict per tag.

A chain's tag map held each tag as a Python dict, twice (its address's and its cluster's copy):
about 1.7 KB per tagged address, 1 GB for the 586,060 service labels of the 10M-transaction
simulation. Here each field of the rows is a column of int32 codes into that field's distinct
values (a text column that is mostly distinct, the addresses, as one UTF-8 buffer with offsets),
and a group is a range of a sorted key array. `TagTable` is a read-only mapping id -> list of tag
dicts, so the code that reads a tag map is unchanged: the dicts are made when a group is read,
with the same keys, key order and values as the dicts the table was built from. A cluster's
inherited rows are references to the address rows (`TagTable.derived`). Large groups read
repeatedly (a service's cluster, read for each of its members) are kept made, up to a bound.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fundtrail.store.mapped import load_mapped

#: The cache file's layout (`TagTable.save`); another one is not read.
_FORMAT = "fundtrail-tagtable/2"
#: A code for a field a row does not have (distinct from a None value).
_ABSENT = -1
#: Groups at least this large are kept made after a read, up to `_CACHED_ROWS` rows in all.
_CACHE_FROM, _CACHED_ROWS = 32, 200_000


def index_of(ids: np.ndarray, key: int | np.integer) -> int:
    """The position of `key` in the sorted array `ids`, or -1."""
    g = int(np.searchsorted(ids, key))
    return g if g < ids.shape[0] and int(ids[g]) == key else -1


class _Column:
    """One field of every row: codes into distinct values, or a text buffer when mostly distinct."""

    def __init__(self, codes: np.ndarray, values: list[Any] | None, blob: bytes | np.ndarray | None = None,
                 offsets: np.ndarray | None = None) -> None:
        self.codes, self.values, self.blob, self.offsets = codes, values, blob, offsets

    @classmethod
    def of(cls, values: list[Any], codes: np.ndarray) -> _Column:
        if len(values) > 1024 and len(values) * 2 > len(codes) and all(type(v) is str for v in values):
            encoded = [v.encode() for v in values]
            offsets = np.zeros(len(encoded) + 1, np.int64)
            np.cumsum([len(b) for b in encoded], out=offsets[1:])
            return cls(codes, None, b"".join(encoded), offsets)
        return cls(codes, values)

    def value(self, code: int) -> Any:
        if code < 0:
            return None
        if self.values is not None:
            return self.values[code]
        assert self.blob is not None and self.offsets is not None
        return bytes(self.blob[int(self.offsets[code]):int(self.offsets[code + 1])]).decode()

    def all_values(self) -> list[Any]:
        if self.values is not None:
            return self.values
        assert self.offsets is not None
        return [self.value(c) for c in range(self.offsets.shape[0] - 1)]


class TagColumns:
    """Rows of tag dicts in columns; `row(i)` gives back row i's dict (same keys, same order):
    `shapes` are the key tuples rows have, `shape_of` each row's, `columns` each field's codes."""

    def __init__(self, n: int, shapes: list[tuple[str, ...]], shape_of: np.ndarray,
                 columns: dict[str, _Column]) -> None:
        self.n, self.shapes, self.shape_of, self.columns = n, shapes, shape_of, columns

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]]) -> TagColumns:
        shapes: dict[tuple[str, ...], int] = {}
        shape_of: list[int] = []
        found: dict[str, tuple[dict[Any, int], list[Any], list[int]]] = {}
        n = 0
        for row in rows:
            keys = tuple(row)
            shape_of.append(shapes.setdefault(keys, len(shapes)))
            for k, v in row.items():
                col = found.get(k)
                if col is None:
                    col = found[k] = ({}, [], [_ABSENT] * n)
                index, values, codes = col
                try:
                    code = index.get((type(v), v))
                    if code is None:
                        code = index[(type(v), v)] = len(values)
                        values.append(v)
                except TypeError:  # unhashable (a list): a value of its own
                    code = len(values)
                    values.append(v)
                codes.append(code)
            n += 1
            if len(keys) != len(found):  # fields other rows have and this one lacks
                for _, _, codes in found.values():
                    if len(codes) < n:
                        codes.append(_ABSENT)
        return cls(n, list(shapes), np.array(shape_of, np.int16 if len(shapes) < 1 << 15 else np.int32),
                   {k: _Column.of(values, np.array(codes, np.int32)) for k, (_, values, codes) in found.items()})

    def row(self, i: int) -> dict[str, Any]:
        cols = self.columns
        return {k: cols[k].value(int(cols[k].codes[i])) for k in self.shapes[int(self.shape_of[i])]}

    def field(self, name: str) -> tuple[np.ndarray, list[Any]] | None:
        """(codes per row, distinct values) of a field; -1 where a row lacks it; None if no row has it."""
        col = self.columns.get(name)
        return None if col is None else (col.codes, col.all_values())


class TagTable(Mapping[int, list[dict[str, Any]]]):
    """id -> its tags (a list of dicts), for ids in `keys` (sorted, one per entry: `entry_ids`);
    `rows[j]` is the row of `cols` the j-th entry shows. A derived table (`derived`) adds
    `address_id` and `inherited_from` to each dict: a cluster's tags inherited from its members."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, cols: TagColumns,
                 members: np.ndarray | None = None) -> None:
        self.entry_ids, self.rows, self.cols, self.members = keys, rows, cols, members
        self.ids, first = np.unique(keys, return_index=True)
        self.starts = np.append(first, keys.shape[0]).astype(np.int64)
        self._made: OrderedDict[int, list[dict[str, Any]]] = OrderedDict()
        self._made_rows = 0

    @classmethod
    def from_dict(cls, tags: Mapping[int, list[dict[str, Any]]]) -> TagTable:
        """The table of a dict id -> tags (ids sorted; each list keeps its order)."""
        ids = sorted(int(k) for k in tags)
        counts = [len(tags[k]) for k in ids]
        cols = TagColumns.from_rows(t for k in ids for t in tags[k])
        keys = np.repeat(np.array(ids, np.int64), counts)
        return cls(keys, np.arange(keys.shape[0], dtype=np.int64), cols)

    def save(self, path: Path, version: str) -> None:
        """Write the table (a direct one: no members) as a directory of `.npy` files and a
        `meta.json` for `load`, private (a store holds case data), swapped in by rename; OSError
        when it cannot be written (nothing is left behind)."""
        cols = self.cols
        token = secrets.token_hex(8)  # the files of this write: a reader never mixes two writes
        arrays: dict[str, np.ndarray] = {"entry_ids": self.entry_ids, "rows": self.rows, "shape_of": cols.shape_of}
        columns: list[dict[str, Any]] = []
        for i, (name, col) in enumerate(cols.columns.items()):
            arrays[f"codes{i}"] = col.codes
            if col.values is None:
                assert col.blob is not None and col.offsets is not None
                arrays[f"blob{i}"] = np.frombuffer(col.blob, np.uint8) if isinstance(col.blob, bytes) else col.blob
                arrays[f"offsets{i}"] = col.offsets
            columns.append({"name": name, "values": col.values})
        meta = {"format": _FORMAT, "version": version, "token": token, "n": cols.n,
                "shapes": [list(x) for x in cols.shapes], "columns": columns}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        old = path.with_name(f".{path.name}.{os.getpid()}.old")
        for leftover in (tmp, old):
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            tmp.mkdir(mode=0o700)
            for name, arr in arrays.items():
                with os.fdopen(os.open(tmp / f"{token}-{name}.npy", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                               "wb") as fh:
                    np.save(fh, np.ascontiguousarray(arr))
            with os.fdopen(os.open(tmp / "meta.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
                json.dump(meta, fh)
            if path.exists():
                path.rename(old)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, path: Path, version: str) -> TagTable | None:
        """The table `save` wrote with `version`, its arrays memory-mapped (only the pages read
        are in memory); None for another version, a missing or damaged cache."""
        try:
            meta = json.loads((path / "meta.json").read_text())
            if meta.get("format") != _FORMAT or meta.get("version") != version:
                return None

            def array(name: str) -> np.ndarray:
                return load_mapped(path / f"{meta['token']}-{name}.npy")

            columns: dict[str, _Column] = {}
            for i, c in enumerate(meta["columns"]):
                if c["values"] is not None:
                    columns[c["name"]] = _Column(array(f"codes{i}"), c["values"])
                else:
                    columns[c["name"]] = _Column(array(f"codes{i}"), None, array(f"blob{i}"), array(f"offsets{i}"))
            cols = TagColumns(int(meta["n"]), [tuple(x) for x in meta["shapes"]], array("shape_of"), columns)
            return cls(array("entry_ids"), array("rows"), cols)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def derived(self, keys: np.ndarray, entries: np.ndarray) -> TagTable:
        """A table of some of this table's entries (`entries`, positions into its rows) under new
        `keys` (sorted), each dict with the id it came from (`address_id`) and that row's
        `address` (`inherited_from`)."""
        return TagTable(keys, self.rows[entries], self.cols, self.entry_ids[entries])

    # -- the mapping --------------------------------------------------------------------------
    def _group(self, key: object) -> int:
        return index_of(self.ids, key) if isinstance(key, (int, np.integer)) else -1

    def has(self, keys: np.ndarray) -> np.ndarray:
        """Per key whether the table has tags for it (a binary search each)."""
        if self.ids.shape[0] == 0:
            return np.zeros(keys.shape, bool)
        pos = np.minimum(np.searchsorted(self.ids, keys), self.ids.shape[0] - 1)
        return self.ids[pos] == keys

    def __getitem__(self, key: int) -> list[dict[str, Any]]:
        g = self._group(key)
        if g < 0:
            raise KeyError(key)
        return self._make(g)

    def __contains__(self, key: object) -> bool:
        return self._group(key) >= 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __bool__(self) -> bool:
        return self.ids.shape[0] > 0

    def items(self) -> Iterator[tuple[int, list[dict[str, Any]]]]:  # type: ignore[override]
        for g, key in enumerate(self.ids.tolist()):
            yield key, self._make(g)

    def values(self) -> Iterator[list[dict[str, Any]]]:  # type: ignore[override]
        for g in range(self.ids.shape[0]):
            yield self._make(g)

    def warm(self) -> list[int]:
        """Make the large groups now, largest first, as far as the cache bound allows (a server
        does this before its first request: a first read of a service's cluster made thousands of
        dicts); returns their ids."""
        sizes = np.diff(self.starts)
        done: list[int] = []
        total = 0
        for g in np.argsort(-sizes, kind="stable").tolist():
            size = int(sizes[g])
            if size < _CACHE_FROM or total + size > _CACHED_ROWS:
                break
            self._make(g)
            total += size
            done.append(int(self.ids[g]))
        return done

    def _make(self, g: int) -> list[dict[str, Any]]:
        """The dicts of group `g` (a new list each time; large groups from a bounded cache)."""
        lo, hi = int(self.starts[g]), int(self.starts[g + 1])
        made = self._made.get(g)
        if made is not None:
            self._made.move_to_end(g)
            return list(made)
        out = [self._entry(j) for j in range(lo, hi)]
        if hi - lo >= _CACHE_FROM:
            self._made[g] = out
            self._made_rows += hi - lo
            while self._made_rows > _CACHED_ROWS and len(self._made) > 1:
                _, old = self._made.popitem(last=False)
                self._made_rows -= len(old)
            return list(out)
        return out

    def _entry(self, j: int) -> dict[str, Any]:
        t = self.cols.row(int(self.rows[j]))
        if self.members is not None:
            t["address_id"] = int(self.members[j])
            t["inherited_from"] = t["address"]
        return t

    # -- columns -------------------------------------------------------------------------------
    def first_rows(self) -> np.ndarray:
        """Per id (in `ids` order) the row of `cols` of its first tag."""
        return self.rows[self.starts[:-1]]

    def group_rows(self, key: int) -> np.ndarray:
        """The rows of `cols` of `key`'s tags (empty when it has none)."""
        g = self._group(key)
        return self.rows[int(self.starts[g]):int(self.starts[g + 1])] if g >= 0 else self.rows[:0]
