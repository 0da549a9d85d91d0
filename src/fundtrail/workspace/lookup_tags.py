"""The store's merged tags in memory, so that no address lookup visits the catalog.

The address summary shows a tagged address's direct tags of its chain's currency with every
source, and risk adds the tags its text carries under other currencies (`risk.tagsonly.text_tags`).
Both used to ask the catalog about each tagged address: attaching it, probing the index and
detaching cost 7 ms alone and 15-40 ms under 32 concurrent requests (they all queue on the
catalog's one in-process lock), so the first lookups of tagged addresses made the API's latency
tail. `TagRows` is loaded instead in one query per tag state (the workspace cache drops it when a
refresh sees a tag import; `warm()` loads it before a server's first request):

- for every merged tag: address, currency, category, label, confidence and first source, which is
  all that risk's evidence and the set of tagged addresses need;
- for the tags of the stored chains' currencies (the only ones a summary shows as direct) also the
  rest of the row, full provenance included.

Memory: one Arrow record batch with its repeated strings (source files, source names, creators,
labels, ...) dictionary-encoded, plus a dict from address key to its tags' currencies and rows,
which replaces the set of tagged keys the workspace held before. Rows become Python dicts only when
asked for, equal to what `tags.lookup` gives (tested). For the benchmark's 642,000 merged tags
(docs/benchmarks.md, issue 14): 2-3 s to load, 72 MB of Arrow columns, about 220 MB more resident
memory per process than the set of tagged keys alone (the engine keeps what the read of the whole
table took). The catalog's order of equal tags (same strength, currency and label) is arbitrary;
here it is the one of `tags_of`, then the tag key.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fundtrail.risk.score import TagEvidence
from fundtrail.tags.currencies import InvalidAddress, lookup_key
from fundtrail.tags.lookup import has_tags, plain
from fundtrail.tags.taxonomy import CATEGORIES

#: The columns of `tags_merged`, in its order (what `tags.lookup.tags_of` returns).
COLUMNS = ("address", "tag_key", "subject", "currency", "category", "entity", "label", "labels", "confidence",
           "confidence_level", "actor", "visibility", "sources")
#: Columns every row holds (the others only for the currencies loaded in full).
_LIGHT = frozenset({"address", "currency", "category", "label", "confidence", "confidence_level"})
#: Columns whose values are (nearly) all distinct: not dictionary-encoded.
_PLAIN = frozenset({"address", "tag_key"})
#: `tags.lookup.tags_of`'s order (address, confidence_level DESC, currency, category NULLS LAST,
#: label), with the tag key last so that equal tags keep one order. Sorted here rather than by
#: the catalog: a sorted result of the whole table leaves the engine holding twice the memory.
_ORDER = (("address", "ascending"), ("confidence_level", "descending"), ("currency", "ascending"),
          ("category", "ascending"), ("label", "ascending"), ("tag_key", "ascending"))
#: Rows per batch read from the catalog (each encoded as it arrives).
_BATCH = 100_000

Currencies = frozenset[str | None]


def _select() -> str:
    full = "list_contains($full::VARCHAR[], currency)"
    cols = [c if c in _LIGHT else f"CASE WHEN {full} THEN {c} END AS {c}" for c in COLUMNS]
    cols.append("coalesce(nullif(sources[1].source, ''), sources[1].origin) AS first_source")
    return f"SELECT {', '.join(cols)} FROM tags_merged"


class TagRows(Mapping[str, Currencies]):
    """Merged tags by address key (module docstring). As a mapping: address key -> the currencies
    of its tags (what `tags.lookup.tagged_addresses` gives), so it answers `is_tagged` and risk's
    `text_tags` too."""

    def __init__(self, batch: pa.RecordBatch | None = None, full: Iterable[str] = ()) -> None:
        self.full = frozenset(full)  # currencies whose rows are held whole
        self._batch = batch
        self._where: dict[str, int] = {}  # address key -> group number
        self._currencies: list[Currencies] = []  # by group
        self._starts = array("q", [0])  # group g: rows starts[g]..starts[g + 1]
        if batch is None or batch.num_rows == 0:
            return
        addresses = batch.column("address")
        n = batch.num_rows
        same = np.asarray(pc.equal(addresses[1:], addresses[:-1]).to_numpy(zero_copy_only=False), bool)
        starts = np.concatenate(([0], np.flatnonzero(~same) + 1, [n])).astype(np.int64)
        self._starts = array("q", starts.tobytes())
        keys = addresses.take(pa.array(starts[:-1])).to_pylist()
        self._where = {k: g for g, k in enumerate(keys)}
        self._currencies = _currencies_by_group(batch.column("currency"), starts)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection, full: Iterable[str]) -> TagRows:
        """Every merged tag of the catalog behind `con`, whole for the currencies `full` (none
        when the catalog has no tag tables)."""
        full = sorted(set(full))
        if not has_tags(con):
            return cls(None, full)
        batches = [pa.RecordBatch.from_arrays([c if n in _PLAIN else _encoded(c) for n, c in zip(b.schema.names,
                                                                                           b.columns)],
                                              names=b.schema.names)
                   for b in con.sql(_select(), params={"full": full}).to_arrow_reader(_BATCH)]
        if not batches:
            return cls(None, full)
        names = batches[0].schema.names
        batch = pa.RecordBatch.from_arrays([pa.concat_arrays([b.column(i) for b in batches])
                                            for i in range(len(names))], names=names)
        del batches
        keys = pa.table({k: _decoded(batch.column(k)) for k, _ in _ORDER})
        order = pc.sort_indices(keys, sort_keys=[(k, o, "at_end") for k, o in _ORDER])
        return cls(batch.take(order), full)

    # -- the mapping: key -> currencies ------------------------------------------------------
    def __getitem__(self, key: str) -> Currencies:
        return self._currencies[self._where[key]]

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    @property
    def nbytes(self) -> int:
        """Bytes of the Arrow columns (the key dict not counted)."""
        return 0 if self._batch is None else int(self._batch.nbytes)

    # -- rows ------------------------------------------------------------------------------------
    def _group(self, address: str) -> pa.RecordBatch | None:
        try:
            g = self._where.get(lookup_key(address))
        except InvalidAddress:
            return None
        if g is None or self._batch is None:
            return None
        start = self._starts[g]
        return self._batch.slice(start, self._starts[g + 1] - start)

    def rows_of(self, address: str, currency: str) -> list[dict[str, Any]] | None:
        """Merged direct tags of an address (any case) in `currency`, strongest first: what
        `tags.lookup.tags_of` returns for that currency, each row a new dict. None when
        `currency` is not held whole (the caller asks the catalog)."""
        if currency not in self.full:
            return None
        group = self._group(address)
        if group is None:
            return []
        out = []
        for row in group.to_pylist():
            if row["currency"] != currency:
                continue
            tag: dict[str, Any] = {k: plain(row[k]) for k in COLUMNS}
            tag["kind"] = "direct"
            tag["category_label"] = CATEGORIES[tag["category"]].label if tag.get("category") else None
            out.append(tag)
        return out

    def evidence_of(self, address: str) -> list[TagEvidence]:
        """The tags of an address (any case, any currency) with a category, as risk counts them,
        in `tags.lookup.lookup_batch`'s order (strongest first, then currency, then label)."""
        group = self._group(address)
        if group is None:
            return []
        cols = {k: group.column(k).to_pylist() for k in ("category", "label", "confidence", "confidence_level",
                                                         "currency", "first_source")}
        order = sorted(range(group.num_rows), key=lambda i: (-cols["confidence_level"][i], cols["currency"][i],
                                                             cols["label"][i]))
        return [TagEvidence(cols["category"][i], cols["label"][i] or "", cols["first_source"][i],
                            cols["confidence"][i], None, cols["currency"][i]) for i in order if cols["category"][i]]


def _currencies_by_group(currency: pa.Array, starts: np.ndarray) -> list[Currencies]:
    """The set of currencies of each group of rows (equal sets are one object)."""
    values = currency.to_pylist()
    sizes = np.diff(starts)
    singles: dict[str | None, Currencies] = {}
    out = []
    for start, size in zip(starts[:-1].tolist(), sizes.tolist()):
        if size == 1:
            c = values[start]
            found = singles.get(c)
            if found is None:
                found = singles[c] = frozenset((c,))
            out.append(found)
        else:
            out.append(frozenset(values[start:start + size]))
    shared: dict[Currencies, Currencies] = {}
    return [shared.setdefault(s, s) for s in out]



def _decoded(arr: pa.Array) -> pa.Array:
    """A dictionary-encoded column as plain values (Arrow sorts tables by plain columns only)."""
    return arr.cast(arr.type.value_type) if pa.types.is_dictionary(arr.type) else arr


def _encoded(arr: pa.Array) -> pa.Array:
    """`arr` with every string inside it (in lists and structs too) dictionary-encoded; the
    values read back unchanged."""
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.dictionary_encode(arr)
    if pa.types.is_list(t):
        assert isinstance(arr, pa.ListArray)
        return pa.ListArray.from_arrays(arr.offsets, _encoded(arr.values), mask=pc.is_null(arr))
    if pa.types.is_struct(t):
        assert isinstance(arr, pa.StructArray)
        children = [_encoded(arr.field(i)) for i in range(t.num_fields)]
        fields = [pa.field(t.field(i).name, c.type) for i, c in enumerate(children)]
        return pa.StructArray.from_arrays(children, fields=fields, mask=pc.is_null(arr))
    return arr
