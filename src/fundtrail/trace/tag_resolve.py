"""Tags of a chain's currency matched to the address ids of its graph, in bulk, with a cache.

The resolution behind `attribution.TagMap`: the smaller side is converted (the chain's addresses
rendered, or the tag strings parsed), then one join on the address text; the result is cached beside
the graph index, keyed by an aggregate version of the tag set and the graph state, so a trace or risk
query reads no tag row when nothing changed (docs/tracing.md, "Attribution").
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from fundtrail.chains.bitcoin.address import parse_address as parse_btc
from fundtrail.chains.bitcoin.address import render_address
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.chains.resolve import parse_account_address
from fundtrail.chains.tron.address import is_tron_chain, to_base58
from fundtrail.errors import FundtrailError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store.lake import Store
from fundtrail.trace.tag_table import TagColumns, TagTable
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


def order_ranks(cols: TagColumns) -> np.ndarray:
    """Per row of `cols`, its rank by `tag_order` (equal orders, equal ranks), computed on the
    columns' codes: the order of every tag of a chain without a dict per tag."""
    n = cols.n

    def text_rank(name: str) -> np.ndarray:
        got = cols.field(name)
        if got is None:
            return np.zeros(n, np.int64)
        codes, values = got
        keyed = sorted({v or "" for v in values})
        dense = {v: i for i, v in enumerate(keyed)}
        lut = np.array([dense[v or ""] for v in values] + [dense.get("", -1)], np.int64)
        return lut[codes]  # -1 (a row without the field) takes the last entry: as ""

    got = cols.field("category")
    if got is None:
        severity = np.full(n, len(_RANK), np.int64)
    else:
        codes, values = got
        severity = np.array([_RANK.get(v or "", len(_RANK)) for v in values] + [len(_RANK)], np.int64)[codes]
    got = cols.field("confidence_level")
    if got is None:
        strength = np.zeros(n, np.int64)
    else:
        codes, values = got
        strength = -np.array([int(v or 0) for v in values] + [0], np.int64)[codes]
    keys = [text_rank(f) for f in ("actor", "origin", "source", "label", "category")] + [strength, severity]
    order = np.lexsort(keys)
    stacked = np.stack([k[order] for k in keys[::-1]], axis=1)
    changed = np.ones(n, np.int64)
    if n > 1:
        changed[1:] = np.any(stacked[1:] != stacked[:-1], axis=1)
    ranks = np.empty(n, np.int64)
    ranks[order] = np.cumsum(changed) - 1
    return ranks


def direct_tags(store: Store, graph: Any, progress: Callable[[str], None] | None,
                stats: dict[str, Any]) -> TagTable:
    """Direct tags by address id, cached beside the graph index by tag-set version and graph state.

    The version is an aggregate over the currency's tag rows (count, newest import, a hash of their
    contents), read before any row: a cache hit reads no tag, and makes no dict per tag (the cache
    holds the table's columns, memory-mapped when read: `TagTable.save`). `graph` is a UTXO `GraphIndex` or an account
    chain's `AccountGraph`."""
    version = tag_version(store, chain_currency(graph.chain))
    key = hashlib.sha256(json.dumps([_CACHE_FORMAT, graph.meta.get("state"), version]).encode()).hexdigest()
    cache = None if graph.meta.get("in_memory") else graph.path.parent / "tagmap"
    if cache is not None and cache.is_dir():
        table = TagTable.load(cache, key)
        if table is not None:
            stats.update(strategy="cache", converted=0, rows=0)
            return table
    by_id = resolve_tags(store, graph, progress=progress, stats=stats) if version and version[0] else {}
    table = TagTable.from_dict(by_id)
    del by_id
    if cache is not None:
        try:
            table.save(cache, key)
            for earlier in ("tagmap.json", "tagmap.npz"):  # the caches of earlier versions
                cache.with_name(earlier).unlink(missing_ok=True)
        except OSError:
            pass  # a read-only index directory: answer without caching
    return table


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
