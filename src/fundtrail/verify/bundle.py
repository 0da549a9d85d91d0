"""Verify an evidence bundle (docs/bundle.md): the entry point that runs every check in order.

1. the container (`container.py`): paths, SHA256SUMS, hashes, size limits; the bundle hash;
2. the manifest, then per chain the headers and transactions (`proofs.py`; account chains
   `account.py` over `evm_bundle.py`);
3. each saved trace recomputed (`recompute.py`, with the policies of `taint.py`); an account trace's
   edges each matched to a proven movement (`account.py`);
4. the case's findings: facts whose references are all proven, inferences listed with their basis;
   the tag records and cluster evidence behind the attributions, listed as stated.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .account import ProvenAccountTx, check_account_chain, check_account_trace
from .container import Container, Unreadable, open_container
from .findings import check_findings, list_cluster_evidence
from .proofs import ProvenTx, check_utxo_chain
from .recompute import recompute
from .report import Report, TraceResult
from .taint import DEFINITIONS

FORMAT = "fundtrail-evidence-bundle"
VERSIONS = (1, "1.1")  # 1.1: format 1 plus account-chain inclusion proofs


def verify_bundle(path: str, expect: str | None = None, exact: bool = False) -> Report:
    """Every check of the bundle at `path`; with `expect`, its hash must also equal it. `exact`:
    haircut traces recomputed in exact fractions (slow on big traces) instead of on a 2^-256-sat
    grid, which gives the same satoshi except within the bound docs/verify.md states."""
    with _no_cycle_collection():
        return _verify(path, expect, exact)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while a bundle is checked: it would re-scan the millions of
    small objects a big bundle makes (parsed transactions, JSON records), none of them in a reference
    cycle, a third of the time on a case of 10,000 transactions. Memory is unaffected (objects are
    still freed when no longer referenced); collection resumes afterwards, as it was."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _verify(path: str, expect: str | None, exact: bool) -> Report:
    report = Report(path=str(path), expected_hash=expect.lower() if expect else None)
    try:
        box = open_container(str(path), report)
    except Unreadable as exc:
        report.readable = False
        report.failures.append(str(exc))
        return report
    if expect:
        report.check(report.bundle_hash == expect.lower(), f"bundle hash {report.bundle_hash} is not the expected "
                                                          f"{expect} (SHA256SUMS was rewritten or is another bundle's)")
    manifest = _json(box, "manifest.json", report)
    if not report.check(isinstance(manifest, dict) and manifest.get("format") == FORMAT
                        and manifest.get("format_version") in VERSIONS,
                        f"manifest.json: not a readable manifest of format {FORMAT} version 1 or 1.1"):
        return report
    assert isinstance(manifest, dict)
    txs: dict[str, dict[str, ProvenTx]] = {}
    acct: dict[str, dict[str, ProvenAccountTx]] = {}
    chains: dict[str, Any] = manifest["chains"] if isinstance(manifest.get("chains"), dict) else {}
    mpt = sorted(n for n, e in chains.items() if isinstance(e, dict) and e.get("proofs") == "mpt")
    report.check(not mpt or manifest.get("format_version") == "1.1",
                 f"manifest.json: chains {', '.join(mpt)} carry account proofs (mpt): format_version must be "
                 f"\"1.1\", not {manifest.get('format_version')!r}")
    for name, entry in sorted(chains.items()):
        if name in mpt:
            acct[name] = _account_chain(name, entry, box, report)
        else:
            txs[name] = _chain(name, entry, box, report)
    for path_ in sorted(box.sums):
        if path_.startswith("chains/"):
            report.check(path_.split("/")[1] in chains, f"{path_}: chain not described in manifest.json")
    loaded = _json(box, "case/case.json", report)
    case: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    record: dict[str, Any] = case["case"] if isinstance(case.get("case"), dict) else case
    want = (manifest.get("case") or {}).get("id")
    report.check(record.get("id") == want,
                 f"case/case.json: case id {record.get('id')!r} is not the manifest's {want!r}")
    tags = _tags(box, report)
    traces = _traces(manifest, box, txs, acct, chains, tags, report, exact)
    findings: list[Any] = case["findings"] if isinstance(case.get("findings"), list) else []
    proven: dict[str, Mapping[str, ProvenTx | ProvenAccountTx]] = {**txs, **acct}
    check_findings(findings, proven, traces, report)
    list_cluster_evidence(_lines(box, "clusters/evidence.jsonl"), proven, report)
    counts = manifest.get("counts") or {}
    lines = sum(box.count_lines(f"chains/{n}/transactions.jsonl") for n in chains)
    held: list[tuple[str, int]] = [("transactions", lines), ("tags", sum(len(v) for v in tags.values())),
                                   ("findings", len(findings))]
    for key, have in held:
        report.check(counts.get(key) == have,
                     f"manifest.json: counts.{key} {counts.get(key)!r}, the bundle holds {have}")
    return report


def _json(box: Container, path: str, report: Report) -> Any:
    data = box.read(path)
    if data is None:
        report.check(path in box.sums, f"missing file {path} (not listed in SHA256SUMS)")
        return None
    try:
        return json.loads(data)
    except ValueError as exc:
        report.fail(f"{path}: not JSON ({exc})")
        return None


def _lines(box: Container, path: str) -> list[str]:
    data = box.read(path)
    return data.decode("utf-8", errors="replace").splitlines() if data else []


def _chain(name: str, entry: Any, box: Container, report: Report) -> dict[str, ProvenTx]:
    where = f"manifest.json: chains.{name}"
    if not report.check(isinstance(entry, dict), f"{where}: not an object"):
        return {}
    if entry.get("proofs") == "none":
        n = box.count_lines(f"chains/{name}/transactions.jsonl")
        report.counts["transactions_not_proven"] += n
        why = entry.get("proofs_note") or "its chain entry carries no inclusion proofs"
        report.notes.append(f"{name}: its transactions are not proven by this bundle ({str(why)[:400]})")
        return {}
    if not report.check(entry.get("family") == "utxo" and entry.get("proofs") == "merkle",
                        f"{where}: family {entry.get('family')!r} with proofs {entry.get('proofs')!r} is not "
                        "utxo with merkle or proofs none"):
        return {}
    for what in ("headers.bin", "transactions.jsonl"):
        report.check(f"chains/{name}/{what}" in box.sums, f"missing file chains/{name}/{what}")
    return check_utxo_chain(name, entry, box, report)


def _account_chain(name: str, entry: dict[str, Any], box: Container, report: Report) -> dict[str, ProvenAccountTx]:
    where = f"manifest.json: chains.{name}"
    if not report.check(entry.get("family") == "account",
                        f"{where}: proofs 'mpt' on family {entry.get('family')!r}; only account chains have them"):
        return {}
    if entry.get("transactions"):
        for what in ("headers.jsonl", "transactions.jsonl"):
            report.check(f"chains/{name}/{what}" in box.sums, f"missing file chains/{name}/{what}")
    return check_account_chain(name, entry, box, report)


def _tags(box: Container, report: Report) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Tag records by address, with their line in tags/tags.jsonl."""
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for n, line in enumerate(_lines(box, "tags/tags.jsonl"), start=1):
        try:
            rec = json.loads(line)
        except ValueError as exc:
            report.fail(f"tags/tags.jsonl line {n}: not JSON ({exc})")
            continue
        if report.check(isinstance(rec, dict) and isinstance(rec.get("address"), str),
                        f"tags/tags.jsonl line {n}: a tag record needs an address"):
            out.setdefault(rec["address"], []).append((n, rec))
    return out


def _traces(manifest: dict[str, Any], box: Container, txs: dict[str, dict[str, ProvenTx]],
            acct: dict[str, dict[str, ProvenAccountTx]], chains: dict[str, Any],
            tags: dict[str, list[tuple[int, dict[str, Any]]]], report: Report, exact: bool) -> dict[str, TraceResult]:
    listed = [t for t in manifest.get("traces") or [] if isinstance(t, dict)]
    ids = {str(t.get("id")) for t in listed}
    for path in sorted(box.sums):
        if path.startswith("traces/"):
            report.check(path[7:-5] in ids, f"{path}: trace not listed in manifest.json")
    results: dict[str, TraceResult] = {}
    for entry in listed:
        tid = str(entry.get("id"))
        doc = _json(box, f"traces/{tid}.json", report)
        if not isinstance(doc, dict) or not isinstance(doc.get("result"), dict):
            results[tid] = TraceResult(tid, str(entry.get("chain")), str(entry.get("policy")),
                                       str(entry.get("direction")), "failed", "the trace file is missing or unreadable")
        else:
            results[tid] = _trace(tid, entry, doc, txs, acct, chains, report, exact)
            results[tid].stops = _stops(doc["result"], tags)
        report.traces.append(results[tid])
        if results[tid].proven:
            report.counts["traces_recomputed"] += 1
        elif results[tid].status == "edges proven":
            report.counts["traces_edges_proven"] += 1
        elif results[tid].status == "not recomputable":
            report.counts["traces_not_recomputable"] += 1
    return results


def _trace(tid: str, entry: dict[str, Any], doc: dict[str, Any], txs: dict[str, dict[str, ProvenTx]],
           acct: dict[str, dict[str, ProvenAccountTx]], chains: dict[str, Any], report: Report,
           exact: bool) -> TraceResult:
    where = f"traces/{tid}.json"
    res, req = doc["result"], doc.get("request") or {}
    chain, policy, direction = res.get("chain"), res.get("policy"), res.get("direction")
    report.check(doc.get("id") == tid, f"{where}: id {doc.get('id')!r} is not the file's trace id")

    def not_recomputable(why: str) -> TraceResult:
        return TraceResult(tid, str(chain), str(policy), str(direction), "not recomputable", why)

    if res.get("mode") == "follow_change" or req.get("follow_change"):
        policy, direction = "follow_change", "forward"
        return not_recomputable("peel-chain walk: its change outputs are an inference, listed, not recomputed")
    for key, value in (("chain", chain), ("policy", policy), ("direction", direction)):
        report.check(entry.get(key) in (None, value),
                     f"{where}: {key} {value!r}, manifest.json says {entry.get(key)!r}")
        report.check(req.get(key) in (None, value),
                     f"{where}: result {key} {value!r}, its request says {req.get(key)!r}")
    if chain in acct:
        return check_account_trace(tid, res, acct[str(chain)], report)
    if (chains.get(chain) or {}).get("proofs") == "none" or "unit" in res:
        edges = (res.get("graph") or {}).get("edges") or []
        txs_named = {str(e.get("output", "")).split(":")[0] for e in edges if isinstance(e, dict)}
        report.counts["transactions_not_proven"] += len(txs_named)
        return not_recomputable(f"not proven by this bundle (its chain carries no inclusion proofs; "
                                f"{len(txs_named)} transactions)")
    if not report.check(chain in txs, f"{where}: chain {chain!r} is not a chain of the bundle"):
        return TraceResult(tid, str(chain), str(policy), str(direction), "failed", "chain not in the bundle")
    if not report.check(policy in DEFINITIONS and direction in ("forward", "backward"),
                        f"{where}: policy {policy!r} or direction {direction!r} is not one the verifier knows"):
        return TraceResult(tid, str(chain), str(policy), str(direction), "failed", "unknown policy or direction")
    graph = res.get("graph")
    if not report.check(isinstance(graph, dict) and isinstance(graph.get("edges"), list)
                        and isinstance(graph.get("nodes"), list) and isinstance(res.get("endpoints"), list)
                        and isinstance(res.get("seed"), dict), f"{where}: the result has no graph, endpoints or seed"):
        return TraceResult(tid, str(chain), str(policy), str(direction), "failed", "malformed result")
    assert isinstance(graph, dict)
    if graph.get("edges_truncated"):
        return not_recomputable(f"the saved graph holds {len(graph['edges'])} of {graph.get('edges_total')} edges")
    out = recompute(tid, res, txs[str(chain)], report, exact)
    rule = DEFINITIONS[str(policy)]
    out.detail = f"{rule.replace('2^-256-sat grid', 'exact fractions') if exact else rule}: {out.detail}"
    return out


def _stops(result: dict[str, Any], tags: dict[str, list[tuple[int, dict[str, Any]]]]) -> list[str]:
    """Where a trace stopped and why, as stated (not proven): per service label the endpoints, the
    amount and the tag records behind it (their lines in tags/tags.jsonl); other reasons summed."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for ep in result.get("endpoints") or []:
        if not isinstance(ep, dict):
            continue
        key = ("service", str(ep.get("label"))) if ep.get("reason") == "service" else (str(ep.get("reason")), "")
        g = groups.setdefault(key, [0, 0, set()])
        g[0] += 1
        g[1] += ep.get("amount_sat") if isinstance(ep.get("amount_sat"), int) else 0
        g[2].update(n for n, _ in tags.get(str(ep.get("address")), []))
    summary = result.get("summary") or {}
    tip = summary.get("unspent_as_of_height", summary.get("unspent_as_of_block"))
    lines = []
    order = sorted(groups.items(), key=lambda kv: (kv[0][0] != "service", -kv[1][1]))
    for (reason, label), (n, total, lines_) in order:
        what = f"service {label}" if reason == "service" else reason
        if reason == "unspent":
            what += (f" as of {'block' if 'unspent_as_of_block' in summary else 'height'} {tip} (stated: the "
                     "bundle proves no spend or its absence)")
        text = f"{what}: {n} endpoint(s), {total} {'base units' if 'unit' in result else 'sat'}"
        if reason == "service":
            text += (f"; tag records: tags/tags.jsonl line {', '.join(map(str, sorted(lines_)))}" if lines_
                     else "; no tag record bundled")
        lines.append(text)
    return lines
