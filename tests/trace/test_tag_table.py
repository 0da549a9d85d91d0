"""The tag map's columns (`trace.tag_table`): the dicts read back are the dicts put in, the cache
file round-trips, the vectorised tag order is `tag_order`, and a tag map built on them answers as
the dict-per-tag map it replaced (its algorithm, written out here as the reference)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fundtrail.trace.attribution import TagMap, inherited
from fundtrail.trace.tag_resolve import SEVERITY_ORDER, order_ranks, tag_order
from fundtrail.trace.tag_table import TagColumns, TagTable

CATS = [*SEVERITY_ORDER[:4], "exchange", "mixer", None, ""]


def _tag(rng: random.Random, address: str) -> dict[str, Any]:
    return {"address": address, "category": rng.choice(CATS), "label": rng.choice(["a", "b", "", None, "Ω label"]),
            "source": rng.choice(["s1", "s2", None]), "confidence": rng.choice(["high", "unknown"]),
            "confidence_level": rng.choice([1, 5, 9]), "actor": rng.choice([None, "act"]),
            "origin": rng.choice(["f1.csv", "f2.csv"])}


def _direct(seed: int, n: int = 400) -> dict[int, list[dict[str, Any]]]:
    rng = random.Random(seed)
    out: dict[int, list[dict[str, Any]]] = {}
    for a in rng.sample(range(5000), n):
        out[a] = sorted((_tag(rng, f"addr{a}") for _ in range(rng.randint(1, 3))), key=tag_order)
    return out


def test_rows_read_back_as_given_and_the_cache_round_trips(tmp_path: Path) -> None:
    odd = {7: [{"label": "x", "category": "scam"}, {"category": None, "extra": [1, 2], "label": "y"}],
           3: [{"address": "q", "category": "mixer", "label": None, "confidence_level": 2}]}
    many = {a: [{"address": f"bc1q{a:060d}", "category": "exchange", "label": "L"}] for a in range(2000)}
    for tags in (odd, many, _direct(1), {}):
        table = TagTable.from_dict(tags)
        assert dict(table.items()) == tags and len(table) == len(tags) and bool(table) == bool(tags)
        for k, v in tags.items():
            assert [list(t) for t in table[k]] == [list(t) for t in v]  # the same keys in the same order
        assert 10**9 not in table and table.get(10**9) is None and "7" not in table
        table.save(tmp_path / "t", "v1")
        table.save(tmp_path / "t", "v1")  # replaced in place: one directory, no leftovers
        assert [p.name for p in tmp_path.iterdir()] == ["t"]
        again = TagTable.load(tmp_path / "t", "v1")
        assert again is not None and dict(again.items()) == tags
        assert not again.entry_ids.flags.writeable  # mapped from the files, not read into memory
        assert TagTable.load(tmp_path / "t", "v2") is None
    assert TagTable.from_dict(many).cols.columns["address"].values is None  # the addresses as one buffer
    (tmp_path / "t" / "meta.json").write_text("{not json")
    assert TagTable.load(tmp_path / "t", "v1") is None
    TagTable.from_dict(odd).save(tmp_path / "t", "v1")
    next((tmp_path / "t").glob("*-rows.npy")).unlink()  # a file gone: a miss, not an error
    assert TagTable.load(tmp_path / "t", "v1") is None
    assert TagTable.load(tmp_path / "none", "v1") is None


def test_order_ranks_sort_as_tag_order() -> None:
    rng = random.Random(5)
    rows = [_tag(rng, f"a{i}") for i in range(3000)]
    ranks = order_ranks(TagColumns.from_rows(rows))
    by_rank = [rows[i] for i in np.argsort(ranks, kind="stable")]
    assert [tag_order(t) for t in by_rank] == sorted(tag_order(t) for t in rows)
    for i, j in zip(range(0, 3000, 7), range(1, 3000, 11)):  # equal orders, equal ranks
        assert (ranks[i] == ranks[j]) == (tag_order(rows[i]) == tag_order(rows[j]))


def _reference(direct: dict[int, list[dict[str, Any]]], labels: np.ndarray) -> dict[int, list[dict[str, Any]]]:
    """The dict-per-tag inheritance the columns replaced."""
    by_cluster: dict[int, list[dict[str, Any]]] = {}
    for a, tags in direct.items():
        if 0 <= a < labels.shape[0]:
            for t in tags:
                by_cluster.setdefault(int(labels[a]), []).append({**t, "address_id": a, "inherited_from": t["address"]})
    for tags in by_cluster.values():
        tags.sort(key=lambda t: (*tag_order(t), t["address_id"]))
    return by_cluster


@pytest.mark.parametrize("seed", [2, 3])
def test_a_tag_map_on_columns_answers_as_the_dict_per_tag_map(seed: int) -> None:
    direct = _direct(seed)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 60, 4800)  # some tagged ids (up to 5000) lie beyond the clustering
    tm = TagMap("btc", direct)
    tm.labels = labels
    tm.by_cluster = inherited(tm.table, labels, order_ranks(tm.table.cols))
    ref = _reference(direct, labels)
    assert dict(tm.by_cluster.items()) == ref
    for a in range(5000):
        own = direct.get(a, [])
        cid = int(labels[a]) if a < labels.shape[0] else None
        seen = {(t["category"], t["label"]) for t in own}
        want = own if cid is None else own + [t for t in ref.get(cid, []) if (t["category"], t["label"]) not in seen
                                             and t["address_id"] != a]
        assert tm.tags_of(a) == want
    cats = ["mixer", "exchange"]
    rule = tm.stop_rule(cats)
    assert rule is not None
    for a in range(5000):
        hit = next((t for t in direct.get(a, []) if t["category"] in cats), None)
        want = f"{hit['category']}: {hit['label']}" if hit else None
        if want is None and a < labels.shape[0]:
            inh = next((t for t in ref.get(int(labels[a]), []) if t["category"] in cats), None)
            want = f"{inh['category']}: {inh['label']} (cluster of {inh['inherited_from']})" if inh else None
        assert rule(a) == want
    codes = tm.category_codes(5000)
    for a in range(5000):
        best = None
        if a < labels.shape[0] and int(labels[a]) in ref:
            best = ref[int(labels[a])][0]["category"]
        if direct.get(a) and direct[a][0]["category"]:
            best = direct[a][0]["category"]
        assert codes.get(a) == best
