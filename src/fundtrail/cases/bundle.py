"""The evidence bundle writer (`fundtrail case bundle`; the format is docs/bundle.md).

The service layer gathers what only it can (the case as its member sees it, the saved traces, each
chain's graph index, `cluster why`); this module collects the transactions and their roles, reads
each needed block once from a block source, builds the proofs, and writes the ZIP. Output is
deterministic but for the manifest's `created_at` and `created_by`: sorted keys, sorted lines,
sorted members, fixed ZIP timestamps and modes. The file appears whole or not at all (written to
`OUT.tmp-<random>`, flushed to disk, renamed), and the bundle is recorded in `case_bundles` only
once it is on disk.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundtrail import __version__
from fundtrail.cases import bundle_terms as terms
from fundtrail.cases.bundle_account import account_chain
from fundtrail.cases.bundle_blocks import BlockRef
from fundtrail.cases.bundle_collect import add_txids, collect
from fundtrail.cases.bundle_proofs import block_proofs, store_headers
from fundtrail.cases.bundle_sources import choose_source
from fundtrail.cases.bundle_tags import WhyFn, attribution
from fundtrail.cases.bundle_zip import check_target, sums_and_hash, write_atomically
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.errors import DataError
from fundtrail.ingest.bitcoin.rpcclient import RpcClient
from fundtrail.store import Store
from fundtrail.trace.graph import GraphIndex

Progress = Callable[[str, int, int], None]
FORMAT, FORMAT_VERSION = "fundtrail-evidence-bundle", 1
#: the version of a bundle holding an account chain with inclusion proofs (docs/bundle.md)
FORMAT_VERSION_ACCOUNT = "1.1"


@dataclass
class BundleInput:
    """What the service layer hands over: the case document (`case/case.json`), the saved traces
    (id, created_at, created_by, seed, policy, request, state, result), chain -> (family, network),
    each UTXO chain's graph index, `cluster why`, and who makes the bundle."""

    case: dict[str, Any]
    traces: list[dict[str, Any]]
    chains: dict[str, tuple[str, str]]
    graph: Callable[[str], GraphIndex]
    why: WhyFn
    created_by: str
    created_at: str


@dataclass
class Bundle:
    """A written bundle: its hash, size, per chain transaction counts and warnings."""

    path: Path
    bundle_hash: str
    bytes: int
    transactions: dict[str, int]
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def _json(doc: Any, *, indent: int | None = 1) -> bytes:
    """Sorted keys; indented for people (manifest, case), compact for traces (the C encoder: a
    10,000-transaction trace document is written ten times faster)."""
    return (json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=indent) + "\n").encode()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join((json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n").encode() for r in rows)


def _tip(store: Store, chain: str) -> tuple[int | None, str | None]:
    with store.connect(read_only=True) as con:
        row = con.execute("SELECT height, hash FROM block_index WHERE chain = ? AND height IS NOT NULL "
                          "ORDER BY height DESC LIMIT 1", [chain]).fetchone()
    return (int(row[0]), bytes(row[1])[::-1].hex()) if row else (None, None)


def _best_chain(store: Store, chain: str, first: int, last: int) -> dict[int, tuple[bytes, bytes]]:
    """height -> (hash, prev hash) of `chain`'s best chain from `first` to `last`."""
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT height, hash, prev_hash FROM block_index WHERE chain = ? AND height BETWEEN ? "
                           "AND ?", [chain, first, last]).fetchall()
    return {int(h): (bytes(a), bytes(b)) for h, a, b in rows}


def _utxo_chain(store: Store, chain: str, network: str, inp: BundleInput, link_txids: set[str],
                source_opts: dict[str, Any], progress: Progress,
                warnings: list[str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest entry and files of one UTXO chain."""
    graph = inp.graph(chain)
    traces = [t for t in inp.traces if t["result"].get("chain") == chain]
    seeds = [s["text"] for s in inp.case.get("seeds") or [] if s.get("chain") == chain]
    refs = [r for f in inp.case.get("findings") or [] for r in f.get("refs") or []]
    need = collect(graph, traces, seeds, refs)
    add_txids(graph, need, link_txids, "finding", "clustering evidence transaction")
    warnings += need.warnings
    heights = sorted({int(graph.tx_height[t]) for t in need.roles})
    tip_height, tip_hash = _tip(store, chain)
    entry: dict[str, Any] = {"family": "utxo", "network": network, "proofs": "merkle", "first_height": None,
                             "last_height": None, "tip_height": tip_height, "tip_hash": tip_hash,
                             "transactions": 0, "source": None}
    if not need.roles:
        return entry, {}
    first, last = heights[0], heights[-1]
    best = _best_chain(store, chain, first, last)
    lost = [h for h in heights if h not in best]
    if lost:
        raise DataError(f"store chain {chain}: block {lost[0]} holding a case transaction is not on the stored "
                        "best chain (see `fundtrail status`)")
    refs_by_height = {h: BlockRef(h, *best[h]) for h in heights}
    wanted: dict[int, dict[bytes, set[str]]] = {}
    for tx, roles in need.roles.items():
        wanted.setdefault(int(graph.tx_height[tx]), {})[bytes(graph.txid[tx])] = roles
    source = choose_source(store, chain, btc_network(network), list(refs_by_height.values()), **source_opts)
    entry["source"] = source.description
    lines: list[dict[str, Any]] = []
    firsts: dict[int, bytes] = {}
    for n, block in enumerate(source.fetch(list(refs_by_height.values())), start=1):
        lines += block_proofs(block, wanted[block.ref.height])
        firsts[block.ref.height] = block.raw[:80]
        progress("blocks", n, len(heights))
        progress("transactions", len(lines), len(need.roles))
    lines.sort(key=lambda r: (r["height"], r["index"]))
    headers = store_headers(store, chain, first, last, {h: v[0] for h, v in best.items()})
    for height, raw80 in firsts.items():
        at = (height - first) * 80
        if headers[at:at + 80] != raw80:
            raise DataError(f"store chain {chain}: the stored header of block {height} differs from the block read "
                            f"from {source.description}")
    entry.update(first_height=first, last_height=last, transactions=len(lines))
    return entry, {f"chains/{chain}/headers.bin": headers, f"chains/{chain}/transactions.jsonl": _jsonl(lines)}


def build(store: Store, inp: BundleInput, *, blocks_dir: Path | None = None, rpc: RpcClient | None = None,
          rpc_url: str | None = None,
          progress: Progress = lambda s, d, t: None) -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    """Every member of the bundle but `SHA256SUMS` (path -> bytes), the manifest and warnings;
    `rpc` is the Bitcoin node of UTXO chains, `rpc_url` the Ethereum node of account chains."""
    warnings: list[str] = []
    att = attribution(store, inp.traces, inp.why)
    warnings += att.warnings
    files: dict[str, bytes] = {}
    chains: dict[str, Any] = {}
    used = sorted({str(t["result"].get("chain")) for t in inp.traces}
                  | {str(s["chain"]) for s in inp.case.get("seeds") or []} | set(att.link_txids))
    for chain in used:
        family, network = inp.chains.get(chain, ("account", "unknown"))
        if family == "utxo":
            chains[chain], more = _utxo_chain(store, chain, network, inp, att.link_txids.get(chain, set()),
                                              {"blocks_dir": blocks_dir, "rpc": rpc}, progress, warnings)
            files.update(more)
        else:
            traces = [t for t in inp.traces if t["result"].get("chain") == chain]
            chains[chain], more = account_chain(store, chain, network, traces, inp.case,
                                                att.link_txids.get(chain, set()), rpc_url, progress, warnings)
            files.update(more)
    for t in inp.traces:
        keep = ("id", "created_at", "created_by", "seed", "policy", "request", "state", "result")
        files[f"traces/{t['id']}.json"] = _json({k: t[k] for k in keep}, indent=None)
    files["case/case.json"] = _json(inp.case)
    files["tags/tags.jsonl"] = _jsonl(att.tags)
    files["clusters/evidence.jsonl"] = _jsonl(att.evidence)
    heuristics = att.heuristics.union(*(terms.trace_heuristics(t["result"]) for t in inp.traces))
    case = inp.case
    manifest = {
        "format": FORMAT,
        "format_version": (FORMAT_VERSION_ACCOUNT if any(c["proofs"] == "mpt" for c in chains.values())
                           else FORMAT_VERSION), "created_at": inp.created_at,
        "created_by": inp.created_by, "tool": {"name": "fundtrail", "version": __version__},
        "case": {k: case.get(src) for k, src in (("id", "id"), ("title", "title"), ("agency", "agency"),
                                                   ("number", "case_number"), ("status", "status"))},
        "chains": chains,
        "traces": [{"id": t["id"], "chain": t["result"].get("chain"), "policy": t["result"].get("policy"),
                    "direction": t["result"].get("direction"), "seed": t["seed"], "state": t["state"]}
                   for t in inp.traces],
        "policies": terms.policy_terms(t["result"].get("policy") for t in inp.traces),
        "heuristics": terms.heuristic_terms(heuristics),
        "counts": {"transactions": sum(int(c["transactions"]) for c in chains.values()), "tags": len(att.tags),
                   "cluster_links": sum(len(e["links"]) for e in att.evidence),
                   "findings": len(case.get("findings") or [])},
    }
    files["manifest.json"] = _json(manifest)
    return files, manifest, warnings


def write(store: Store, inp: BundleInput, out: Path, *, blocks_dir: Path | None = None,
          rpc: RpcClient | None = None, rpc_url: str | None = None, by_hash: bool = False,
          progress: Progress = lambda s, d, t: None) -> Bundle:
    """Build the bundle and write it to `out` atomically (module docstring); with `by_hash`, `out`
    is a directory and the file is named `<bundle hash>.zip` in it (how a server keeps bundles)."""
    check_target(out, directory=by_hash)
    files, manifest, warnings = build(store, inp, blocks_dir=blocks_dir, rpc=rpc, rpc_url=rpc_url,
                                      progress=progress)
    sums, bundle_hash = sums_and_hash(files)
    files["SHA256SUMS"] = sums
    if by_hash:
        out = Path(out) / f"{bundle_hash}.zip"
    size = write_atomically(out, files)
    per_chain = {c: int(e["transactions"]) for c, e in manifest["chains"].items()}
    return Bundle(out, bundle_hash, size, per_chain, dict(manifest["counts"]), warnings)
