"""The case's findings and the attribution evidence (docs/bundle.md, check 5).

A *fact* must cite what proves it (`refs`: `tx:<txid>`, `output:<txid>:<vout>`, `trace:<id>`); it is
a verified fact when every reference is proven above (a transaction or output in a proven
transaction, a trace recomputed to the satoshi), else an unverified fact, which is a failure. An
*inference* (an attribution, a heuristic) cannot be proven from the chain: it is listed with its
basis, confidence and source for the reader to weigh; so is the cluster evidence behind an
attribution inherited through a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .account import ProvenAccountTx
from .proofs import ProvenTx
from .report import Report, TraceResult


Proven = ProvenTx | ProvenAccountTx


def check_findings(findings: list[Any], txs: Mapping[str, Mapping[str, Proven]], traces: dict[str, TraceResult],
                   report: Report) -> None:
    """Facts: verified when every reference is proven (an account transaction `tx:0x…` by its trie
    proofs). Inferences: listed with basis, confidence, source."""
    proven = {t: p for chain in txs.values() for t, p in chain.items()}
    for n, f in enumerate(findings, start=1):
        fid = f.get("id", f"#{n}") if isinstance(f, dict) else f"#{n}"
        where = f"case/case.json: finding {fid}"
        if not report.check(isinstance(f, dict) and f.get("kind") in ("fact", "inference"),
                            f"{where}: kind must be fact or inference"):
            continue
        refs = f.get("refs") or []
        if not report.check(isinstance(refs, list) and all(isinstance(r, str) for r in refs),
                            f"{where}: refs must be a list of strings"):
            continue
        if f["kind"] == "inference":
            report.counts["inferences"] += 1
            report.inferences.append(f"{fid}: {f.get('text')} (basis: {f.get('basis')}; confidence "
                                     f"{f.get('confidence')}; source: {f.get('source')}; "
                                     f"refs: {', '.join(refs) or 'none'})")
            continue
        bad = [(r, why) for r in refs if (why := _unproven(r, proven, traces))]
        if not refs:
            bad = [("(none)", "a fact must cite what proves it")]
        for ref, why in bad:
            report.fail(f"{where}: unverified fact: {ref}: {why}")
        if not bad:
            report.counts["facts_verified"] += 1
            why = "; ".join(_explain(r, proven) for r in refs)
            report.facts.append(f"verified fact {fid}: {f.get('text')} ({why})")


def _unproven(ref: str, proven: dict[str, Proven], traces: dict[str, TraceResult]) -> str | None:
    """Why a finding's reference is not proven by the bundle (None: it is)."""
    kind, _, rest = ref.partition(":")
    rest = rest.lower() if kind in ("tx", "output") else rest
    if kind == "tx":
        return None if rest in proven else "no proven transaction of the bundle has this txid"
    if kind == "output":
        txid, _, vout = rest.partition(":")
        tx = proven.get(txid)
        ok = isinstance(tx, ProvenTx) and vout.isdigit() and int(vout) < len(tx.tx.outputs)
        return None if ok else "no proven transaction of the bundle has this output"
    if kind == "trace":
        t = traces.get(rest)
        return None if t is not None and t.proven else f"trace {'not in the bundle' if t is None else t.status}"
    return "unknown reference kind (tx:, output: or trace:)"


def _explain(ref: str, proven: dict[str, Proven]) -> str:
    kind, _, rest = ref.partition(":")
    rest = rest.lower() if kind in ("tx", "output") else rest
    txid = rest.split(":")[0]
    if kind in ("tx", "output") and txid in proven:
        p = proven[txid]
        where = f"in block {p.height} ({p.block_hash}) of {p.chain}"
        if isinstance(p, ProvenAccountTx):
            return f"transaction {txid} at index {p.index} {where}, by its transaction and receipt trie proofs"
        if kind == "output":
            return f"output {rest} holds {p.tx.outputs[int(rest.split(':')[1])].value} sat, {where}"
        return f"transaction {txid} {where}"
    return f"{ref} recomputed"


def list_cluster_evidence(lines: list[str], txs: Mapping[str, Mapping[str, Proven]], report: Report) -> None:
    """Cluster evidence: the joining is an inference; its transactions are facts when bundled."""
    proven = {t for chain in txs.values() for t in chain}
    for n, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
            links = rec["links"]
            ids = [link["txid"] for link in links]
            heuristics = sorted({str(link["heuristic"]) for link in links})
        except (ValueError, KeyError, TypeError) as exc:
            report.fail(f"clusters/evidence.jsonl line {n}: not a cluster evidence record ({exc})")
            continue
        bundled = sum(t in proven for t in ids)
        report.counts["inferences"] += 1
        report.inferences.append(
            f"{rec.get('address')} shares the attribution of {rec.get('tagged_address')} through cluster "
            f"{rec.get('cluster')} (run {rec.get('run_id')}): {len(links)} link(s) by {', '.join(heuristics)}; "
            f"{bundled} of their transactions proven by this bundle")
