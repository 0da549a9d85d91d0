"""What tracing and risk need from attribution: tagged address ids of a chain, stop labels, descriptions.

The one place where trace meets `tags` and `cluster` (both a layer below). Tags are keyed by currency and
address string; tracing works on address ids of one chain's graph. `TagMap.load` matches the chain
currency's tags to ids in bulk (the smaller side converted: the chain's addresses rendered, or the tag
strings parsed, then one join; docs/tracing.md, "Attribution") and caches the result beside the graph
index, keyed by an aggregate version of the tag set and the graph state, so a trace or risk query reads
no tag row when nothing changed. Without imported tags the map is empty: traces stop only at their
limits and unspent outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from fundtrail.chains.bitcoin.address import parse_address as parse_btc
from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.resolve import parse_account_address
from fundtrail.chains.tron.address import is_tron_chain, to_base58
from fundtrail.errors import FundtrailError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store.lake import Store
from fundtrail.trace.graph import GraphIndex

#: Most severe first: an address with several categories is counted under the first one it has.
SEVERITY_ORDER = ("sanction", "terrorism", "child_sexual_abuse", "ransomware", "service_hack",
                  "extortion", "sextortion", "malware", "scam", "phishing", "ponzi_scheme",
                  "investment_fraud", "money_laundering", "market", "mixing_service", "gambling",
                  "exchange", "wallet_service", "payment_processor", "atm", "defi_bridge", "miner")
_RANK = {c: i for i, c in enumerate(SEVERITY_ORDER)}
#: Address keys no tag resolves to: no string form (P2PK outputs are keyed by their P2PKH address).
_NO_ADDRESS = [int(t) for t in (ScriptType.NONSTANDARD, ScriptType.P2PK, ScriptType.MULTISIG,
                                 ScriptType.OP_RETURN)]


def chain_currency(chain: str) -> str:
    """Tag currency code of a store chain: `btc` -> BTC, `btc-regtest` -> BTC-REGTEST, `eth` -> ETH,
    `arbitrum` -> ARB; any other chain name in upper case."""
    from fundtrail.tags.currencies import STORE_CHAINS

    by_chain = {v: k for k, v in STORE_CHAINS.items()}
    return by_chain.get(chain, chain.upper())


#: Address ids per range when per-address arrays are filled or scanned (bounds the temporaries).
_RANGE = 1 << 20


class CategoryCodes(dict):  # type: ignore[type-arg]
    """Per address id a category code (`codes`, int16, -1: none) into `table`.

    It is also a read-only mapping address id -> category, iterated a range of ids at a time: a
    `dict` subclass (empty underneath) so that `risk.exposure.exposure_key`, which takes a dict of
    tagged addresses, reads it without an object per address of the chain."""

    def __init__(self, codes: np.ndarray, table: tuple[str, ...]) -> None:
        super().__init__()
        self.codes, self.table = codes, table

    def items(self) -> Iterator[tuple[int, str]]:  # type: ignore[override]
        for lo in range(0, self.codes.shape[0], _RANGE):
            part = self.codes[lo:lo + _RANGE]
            for a in np.flatnonzero(part >= 0).tolist():
                yield lo + a, self.table[int(part[a])]

    def __iter__(self) -> Iterator[int]:
        return (a for a, _ in self.items())

    def __len__(self) -> int:
        return int(np.count_nonzero(self.codes >= 0))

    def __getitem__(self, address: int) -> str:
        c = int(self.codes[address]) if 0 <= address < self.codes.shape[0] else -1
        if c < 0:
            raise KeyError(address)
        return self.table[c]

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and 0 <= address < self.codes.shape[0] and self.codes[address] >= 0

    def get(self, address: int, default: Any = None) -> Any:  # type: ignore[override]
        c = int(self.codes[address]) if 0 <= address < self.codes.shape[0] else -1
        return self.table[c] if c >= 0 else default

    def objects(self) -> np.ndarray:
        """The categories as an object array (category or None per address)."""
        lut = np.array([*self.table, None], object)
        return lut[np.where(self.codes >= 0, self.codes, len(self.table))]


@dataclass
class TagMap:
    """Tags of one chain's currency by address id of its graph, direct and inherited.

    `direct`: address id -> its tags (most severe category first). With a clustering of the chain,
    `labels` holds each address's cluster id and `by_cluster` the tags a cluster inherits from its
    tagged members (each tag names the member it came from, `inherited_from`), so an untagged
    deposit address clustered with a tagged one counts as that service.
    """

    chain: str
    direct: dict[int, list[dict[str, Any]]]
    labels: np.ndarray | None = None
    by_cluster: dict[int, list[dict[str, Any]]] | None = None
    cluster_run: int | None = None
    #: how the direct tags were found: strategy (cache, render, parse), conversions, tag rows read
    resolution: dict[str, Any] | None = None
    _cluster_keys: dict[int, frozenset[tuple[Any, Any]]] = field(default_factory=dict, repr=False, compare=False)

    def cluster_of(self, address: int) -> int | None:
        if self.labels is None or not 0 <= address < self.labels.shape[0]:
            return None
        return int(self.labels[address])

    def tags_of(self, address: int) -> list[dict[str, Any]]:
        """Direct tags, then the tags inherited through the address's cluster (not repeated)."""
        own = self.direct.get(address, [])
        cid = self.cluster_of(address)
        if cid is None or not self.by_cluster:
            return own
        seen = {(t["category"], t["label"]) for t in own}
        if own and self._cluster_keys.get(cid, {None}) <= seen:  # a tagged wallet of a big tagged cluster:
            return list(own)  # nothing to add (scanning its tags was most of a large trace's descriptions)
        return own + [t for t in self.by_cluster.get(cid, []) if (t["category"], t["label"]) not in seen
                      and t.get("address_id") != address]

    @classmethod
    def load(cls, store: Store, graph: Any, *, clusters: bool = True,
             progress: Callable[[str], None] | None = None) -> TagMap:
        """Resolve (or read from cache) the chain's tags to address ids; add cluster inheritance
        from the chain's current clustering when there is one. `progress` gets a line before and
        after a resolution long enough to notice (tens of thousands of conversions)."""
        stats: dict[str, Any] = {}
        direct = _direct_tags(store, graph, progress, stats)
        tm = cls(graph.chain, direct, resolution=stats)
        if clusters:
            tm._inherit(store)
        return tm

    def _inherit(self, store: Store) -> None:
        from fundtrail.cluster.query import load_clustering

        try:
            cl = load_clustering(store, self.chain)
        except FundtrailError:
            return  # not clustered yet: direct tags only
        self.labels, self.cluster_run = cl.labels, cl.run.run_id
        self.by_cluster = {}
        for a, tags in self.direct.items():
            cid = self.cluster_of(a)
            if cid is None:
                continue
            for t in tags:
                self.by_cluster.setdefault(cid, []).append({**t, "address_id": a,
                                                            "inherited_from": t["address"]})
        for tags in self.by_cluster.values():
            tags.sort(key=lambda t: (*tag_order(t), t["address_id"]))
        self._cluster_keys = {c: frozenset((t["category"], t["label"]) for t in v) for c, v in self.by_cluster.items()}

    def category_codes(self, n_addresses: int) -> CategoryCodes:
        """Per address id its most severe category (direct, else inherited), as int16 codes into a
        small table: 2 bytes per address, filled a range of ids at a time (no temporary the size
        of the chain), so a whole chain's categories fit where an object array would not."""
        table: list[str] = []
        code_of: dict[str, int] = {}

        def code(category: str) -> int:
            if category not in code_of:
                code_of[category] = len(table)
                table.append(category)
            return code_of[category]

        codes = np.full(n_addresses, -1, np.int16)
        if self.labels is not None and self.by_cluster:
            cids = np.array(sorted(self.by_cluster), np.int64)
            best = np.array([code(self.by_cluster[c][0]["category"]) for c in cids.tolist()], np.int16)
            n = min(n_addresses, int(self.labels.shape[0]))
            for lo in range(0, n, _RANGE):
                lab = np.asarray(self.labels[lo:min(n, lo + _RANGE)])
                pos = np.minimum(np.searchsorted(cids, lab), cids.size - 1)
                hit = cids[pos] == lab
                codes[lo:lo + lab.shape[0]][hit] = best[pos[hit]]
        for a, tags in self.direct.items():
            if 0 <= a < n_addresses and tags and tags[0]["category"]:
                codes[a] = code(tags[0]["category"])
        return CategoryCodes(codes, tuple(table))

    def category_array(self, n_addresses: int) -> np.ndarray:
        """`category_codes` as an object array of category ids or None (8 bytes per address and an
        object per tagged one: for small chains and callers that want the strings)."""
        return self.category_codes(n_addresses).objects()

    def stop_rule(self, categories: list[str]) -> Callable[[int], str | None] | None:
        """A stop rule for `categories`: direct tags, then cluster-inherited ones (None: no tags)."""
        wanted = set(categories)
        direct = {}
        for a, tags in self.direct.items():
            hit = next((t for t in tags if t["category"] in wanted), None)
            if hit is not None:
                direct[a] = f"{hit['category']}: {hit['label']}"
        inherited = {}
        for cid, tags in (self.by_cluster or {}).items():
            hit = next((t for t in tags if t["category"] in wanted), None)
            if hit is not None:
                inherited[cid] = f"{hit['category']}: {hit['label']} (cluster of {hit['inherited_from']})"
        if not direct and not inherited:
            return None
        labels = self.labels

        def rule(address: int) -> str | None:
            got = direct.get(address)
            if got is not None or not inherited or labels is None or address >= labels.shape[0]:
                return got
            return inherited.get(int(labels[address]))

        return rule


#: Bumped when the cached map's content or order changes, so an old cache is never read as new.
_CACHE_FORMAT = "fundtrail-tagmap/2"
RENDER, PARSE, AUTO = "render", "parse", "auto"
#: Conversions (a few µs each) from which a resolution is announced before it starts.
_ANNOUNCE = 50_000
_COLUMNS = ("address", "category", "label", "source", "confidence", "confidence_level", "actor", "origin")
_ROWS_SQL = (f"SELECT c.address_id, {', '.join('t.' + c for c in _COLUMNS)} FROM tags t JOIN _chain_addresses c "
             "ON t.address = c.address WHERE t.currency = ? AND t.category IS NOT NULL")


def tag_order(tag: dict[str, Any]) -> tuple:
    """The order of an address's tags: most severe category, strongest confidence, then by text
    (category, label, source, origin, actor) so that equal-ranked tags always list alike."""
    return (_RANK.get(tag["category"] or "", len(_RANK)), -tag["confidence_level"], tag["category"] or "",
            tag["label"] or "", tag["source"] or "", tag["origin"] or "", tag["actor"] or "")


def _direct_tags(store: Store, graph: Any, progress: Callable[[str], None] | None,
                 stats: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    """Direct tags by address id, cached beside the graph index by tag-set version and graph state.

    The version is an aggregate over the currency's tag rows (count, newest import, a hash of their
    contents), read before any row: a cache hit reads no tag. `graph` is a UTXO `GraphIndex` or an
    account chain's `AccountGraph`."""
    version = tag_version(store, chain_currency(graph.chain))
    key = hashlib.sha256(json.dumps([_CACHE_FORMAT, graph.meta.get("state"), version]).encode()).hexdigest()
    cache = None if graph.meta.get("in_memory") else graph.path.parent / "tagmap.json"
    if cache is not None and cache.exists():
        try:
            doc = json.loads(cache.read_text())
            if doc.get("version") == key:
                stats.update(strategy="cache", converted=0, rows=0)
                return {int(k): v for k, v in doc["tags"].items()}
        except (ValueError, KeyError, OSError):
            pass
    by_id = resolve_tags(store, graph, progress=progress, stats=stats) if version and version[0] else {}
    if cache is not None:
        tmp = cache.with_name(f"tagmap.{os.getpid()}.tmp")
        try:
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
                fh.write(json.dumps({"version": key, "tags": by_id}))  # 0600: a store holds case data
            tmp.replace(cache)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only index directory: answer without caching
    return by_id


def tag_version(store: Store, currency: str) -> list | None:
    """A version key of the currency's tag set (None without tag tables): one aggregate query."""
    from fundtrail.tags.lookup import has_tags

    with store.connect(read_only=True) as con:
        if not has_tags(con):
            return None
        n, last, digest = con.execute("SELECT count(*), max(import_id), coalesce(sum(hash(origin, content_hash)), "
                                      "0) FROM tags WHERE currency = ?", [currency]).fetchall()[0]
    return [int(n), last, str(digest)]


def resolve_tags(store: Store, graph: Any, *, strategy: str = AUTO, progress: Callable[[str], None] | None = None,
                 stats: dict[str, Any] | None = None) -> dict[int, list[dict[str, Any]]]:
    """The chain currency's tags (those with a category) by address id of `graph`, matched in bulk.

    The smaller side is converted: with no more chain addresses than tags the chain's addresses
    are rendered to the tags' stored form (`render`), otherwise the distinct tag strings are parsed
    for the chain's network and looked up in the graph's sorted keys at once (`parse`). Either way
    the tag rows are then fetched by one join on the address text, so only tags of addresses
    present in the chain are read. `stats` receives the strategy and the number of conversions."""
    from fundtrail.tags.lookup import has_tags

    if strategy not in (RENDER, PARSE, AUTO):
        raise ValueError(f"unknown strategy {strategy!r}")
    stats = {} if stats is None else stats
    currency, t0 = chain_currency(graph.chain), time.perf_counter()
    with store.connect(read_only=True) as con:
        n_tags = int(con.execute("SELECT count(*) FROM tags WHERE currency = ?", [currency]).fetchall()[0][0]
                     if has_tags(con) else 0)
        if n_tags == 0 or graph.n_addresses == 0:
            return {}
        render = strategy == RENDER or (strategy == AUTO and graph.n_addresses <= n_tags)
        loud = progress is not None and (graph.n_addresses if render else n_tags) >= _ANNOUNCE
        if loud and progress is not None:
            progress(f"matching {n_tags:,} {currency} tags to {graph.n_addresses:,} {graph.chain} addresses")
        if render:
            texts, ids = _render_all(graph)
            stats.update(strategy=RENDER, converted=len(texts))
        else:
            strings = [r[0] for r in con.execute("SELECT DISTINCT address FROM tags WHERE currency = ? "
                                                 "AND category IS NOT NULL", [currency]).fetchall()]
            texts, ids = _parse_all(graph, strings)
            stats.update(strategy=PARSE, converted=len(strings))
        con.register("_chain_addresses", pa.table({"address": pa.array(texts, pa.string()),
                                                   "address_id": pa.array(ids, pa.int64())}))
        try:
            rows = con.execute(_ROWS_SQL, [currency]).fetchall()
        finally:
            con.unregister("_chain_addresses")
    by_id: dict[int, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r[0]):
        by_id.setdefault(int(row[0]), []).append(dict(zip(_COLUMNS, row[1:])))
    for tags in by_id.values():
        tags.sort(key=tag_order)
    stats["rows"] = len(rows)
    if loud and progress is not None:
        how = "rendered" if render else "parsed"
        progress(f"{len(by_id):,} {graph.chain} addresses tagged ({how} {stats['converted']:,} addresses, "
                 f"{time.perf_counter() - t0:.1f} s)")
    return by_id


def _render_all(graph: Any) -> tuple[list[str], list[int]]:
    """Every chain address in the tags' stored form (Base58 as is, bech32 and hex in lower case)."""
    if not isinstance(graph, GraphIndex):
        if is_tron_chain(graph.chain):  # TRX tags are keyed by the `T…` text
            return [to_base58(bytes(b)) for b in graph.addr_bytes], list(range(graph.n_addresses))
        raw = np.ascontiguousarray(graph.addr_bytes).tobytes().hex()
        return [f"0x{raw[i:i + 40]}" for i in range(0, len(raw), 40)], list(range(graph.n_addresses))
    net = btc_network(bitcoin_network_of(graph.chain))
    kinds, ptr, payloads = graph.addr_script, graph.addr_payload_ptr, graph.addr_payload
    texts, ids = [], []
    for a in np.flatnonzero(~np.isin(kinds, _NO_ADDRESS)).tolist():
        try:
            text = render_address(int(kinds[a]), bytes(payloads[ptr[a]:ptr[a + 1]]), net)
        except ValueError:
            continue
        if text is not None:
            texts.append(text)
            ids.append(a)
    return texts, ids


def _parse_all(graph: Any, strings: list[str]) -> tuple[list[str], list[int]]:
    """The tag strings that are addresses of the chain, with their ids (parsed once each; those of
    another network or without activity on the chain are left out)."""
    utxo = isinstance(graph, GraphIndex)
    net = btc_network(bitcoin_network_of(graph.chain)) if utxo else None
    chain = None if utxo else graph.chain
    keep: list[str] = []
    k1: list[int] = []  # UTXO: first fingerprint halves; account: each address's first 8 bytes
    fp2s: list[int] = []  # UTXO: second fingerprint halves
    raws: list[bytes] = []  # account: the 20-byte addresses
    for text in strings:
        try:
            if net is None:
                raw = parse_account_address(text, chain=chain)
                k1.append(int.from_bytes(raw[:8], "big"))
                raws.append(raw)
            else:
                fp1, fp2 = fingerprint(*address_key(*parse_btc(text, net)))
                k1.append(fp1)
                fp2s.append(fp2)
        except FundtrailError:
            continue
        keep.append(text)
    ids = _find_utxo(graph, k1, fp2s) if utxo else _find_account(graph, k1, raws)
    found = np.flatnonzero(ids >= 0).tolist()
    return [keep[i] for i in found], ids[found].tolist()


def _first_match(keys: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position of the first of the sorted, non-empty `keys` equal to each wanted key, whether any is)."""
    pos = np.minimum(np.searchsorted(keys, want), keys.shape[0] - 1)
    return pos, keys[pos] == want


def _find_utxo(graph: GraphIndex, fp1: list[int], fp2: list[int]) -> np.ndarray:
    """Address ids of fingerprints (-1: none), by one binary search over the graph's sorted keys;
    the rare first-half collisions go through `GraphIndex.find_address`."""
    a1, a2 = np.array(fp1, np.uint64), np.array(fp2, np.uint64)
    pos, same = _first_match(graph.addr_fp1, a1)
    hit = same & (graph.addr_fp2[pos] == a2)
    out = np.where(hit, graph.addr_fp_ids[pos], -1).astype(np.int64)
    for i in np.flatnonzero(same & ~hit).tolist():
        out[i] = graph.find_address(fp1[i], fp2[i])
    return out


def _find_account(graph: Any, keys: list[int], raws: list[bytes]) -> np.ndarray:
    """Address ids of 20-byte account addresses (-1: none), as `AccountGraph.find_address` at once."""
    want = np.array(keys, np.uint64)
    pos, same = _first_match(graph.addr_key, want)
    out = np.full(want.shape, -1, np.int64)
    for i in np.flatnonzero(same).tolist():
        cand = int(graph.addr_key_ids[pos[i]])
        out[i] = cand if bytes(graph.addr_bytes[cand]) == raws[i] else graph.find_address(raws[i])
    return out


def tag_rows(store: Store, currency: str) -> dict[str, Any]:
    """Every tag of one currency with a category (all rows, as dicts), and a version key of that
    tag set: a reference for tests and small tools; `TagMap.load` never reads all rows."""
    from fundtrail.tags.lookup import has_tags

    with store.connect(read_only=True) as con:
        if not has_tags(con):
            return {"version": None, "rows": []}
        cur = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM tags WHERE currency = ? AND category IS NOT NULL "
                          "ORDER BY address, confidence_level DESC", [currency])
        rows = [dict(zip(_COLUMNS, r)) for r in cur.fetchall()]
    return {"version": tag_version(store, currency), "rows": rows}


def stop_rule(store: Store, graph: GraphIndex, categories: list[str]) -> Callable[[int], str | None] | None:
    """The stop rule for tagged (directly or through their cluster) addresses of `categories`."""
    return TagMap.load(store, graph).stop_rule(categories)


def describer(store: Store, graph: Any) -> Callable[[int], dict[str, Any]] | None:
    """address id -> {"cluster", "tags"}; None when nothing is attributed or clustered. `graph` is
    a UTXO `GraphIndex` or an `AccountGraph`."""
    return describe_with(TagMap.load(store, graph))


def describe_with(tagmap: TagMap) -> Callable[[int], dict[str, Any]] | None:
    """The describer of a loaded tag map: direct tags, then cluster-inherited ones (`inherited_from`)."""
    if not tagmap.direct and tagmap.labels is None:
        return None

    def describe(address: int) -> dict[str, Any]:
        return {"cluster": tagmap.cluster_of(address),
                "tags": [{"category": t["category"], "label": t["label"], "source": t["source"],
                          "confidence": t["confidence"], "inherited_from": t.get("inherited_from")}
                         for t in tagmap.tags_of(address)]}

    return describe


def account_attribution(store: Store, graph: Any, categories: list[str]) -> tuple[
        Callable[[int], str | None] | None, Callable[[int], dict[str, Any]] | None]:
    """(stop rule, describer) of an account chain, from one load of its tags and clustering.

    Stops use direct tags only: Ethereum clustering (deposit-address reuse) joins a customer's own
    addresses with their exchange deposit address, so an "exchange" tag inherited through it would
    stop a trace at the customer's wallet, before the exchange. Descriptions show both, inherited
    tags marked with the member they come from (`inherited_from`)."""
    tagmap = TagMap.load(store, graph)
    return TagMap(tagmap.chain, tagmap.direct).stop_rule(categories), describe_with(tagmap)
