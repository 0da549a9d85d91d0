"""Per account chain of a bundle (format 1.1, docs/bundle.md "Account chains"): the headers hash to
their block hashes, each bundled transaction and its receipt are in their block by both trie
proofs, and each edge of a saved account trace is a movement those proven bytes show.

The line checks are `evm_bundle.py`'s (Keccak-256, RLP, Merkle-Patricia proofs, ecrecover below
it); this module reads the files, reports every failure as one line naming the file, the line and
the transaction hash, and keeps going, so the expert sees every problem at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .bitcoin import VerifyError
from .container import Container
from .evm import Header, Inclusion
from .evm_bundle import check_edge, check_header_line, check_headers, check_transaction_line, transfer_facts
from .report import Report, TraceResult

ROLES = {"traced", "seed", "finding"}


@dataclass(frozen=True)
class ProvenAccountTx:
    """A bundled account transaction whose bytes, receipt and block were checked."""

    chain: str
    txid: str  # 0x and 64 lowercase hex digits, as Ethereum quotes it
    height: int
    index: int
    block_hash: str
    inclusion: Inclusion


def _objects(box: Container, path: str, report: Report) -> list[tuple[int, Any]]:
    """(line number, parsed object) of a `.jsonl` member; unparsable lines are failures."""
    data = box.read(path)
    if data is None:
        return []
    text = data.decode("utf-8", errors="replace")
    report.check(text == "" or text.endswith("\n"), f"{path}: the last line is not terminated by a newline")
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            out.append((n, json.loads(line)))
        except ValueError as exc:
            report.fail(f"{path} line {n}: not JSON ({exc})")
    return out


def _headers(name: str, box: Container, report: Report) -> tuple[dict[bytes, Header], int]:
    """(the bundled headers by hash, the number of lines); a bad line is a failure and the good
    ones still serve."""
    path = f"chains/{name}/headers.jsonl"
    lines = _objects(box, path, report)
    try:
        return check_headers([obj for _, obj in lines], path), len(lines)
    except VerifyError as exc:
        report.fail(str(exc))
    good: dict[bytes, Header] = {}
    for n, obj in lines:
        try:
            header = check_header_line(obj, f"{path} line {n}")
        except VerifyError:
            continue  # reported above, or a line that is fine alone but out of order
        good[header.hash] = header
    return good, len(lines)


def check_account_chain(name: str, entry: dict[str, Any], box: Container,
                        report: Report) -> dict[str, ProvenAccountTx]:
    """Check one account chain's headers and transactions; the proven transactions by hash."""
    where = f"manifest.json: chains.{name}"
    chain_id = entry.get("chain_id")
    if not report.check(isinstance(chain_id, int) and not isinstance(chain_id, bool) and chain_id > 0,
                        f"{where}: chain_id {chain_id!r} is not a positive integer"):
        return {}
    headers, n_headers = _headers(name, box, report)
    report.counts["headers"] += len(headers)
    path = f"chains/{name}/transactions.jsonl"
    proven: dict[str, ProvenAccountTx] = {}
    last = (-1, -1)
    lines = _objects(box, path, report)
    for n, rec in lines:
        said = rec.get("hash") if isinstance(rec, dict) else None
        at = f"{path} line {n} (transaction {str(said)[:80]})"
        try:
            inc = check_transaction_line(rec, headers, at)
        except VerifyError as exc:
            report.fail(str(exc))
            continue
        txid = "0x" + inc.transaction.hash.hex()
        key = (inc.header.number, inc.index)
        ok = report.check(key > last, f"{at}: block {key[0]} index {key[1]} is not after the line before "
                                      "(sorted by block_number, index)")
        ok &= report.check(txid not in proven, f"{at}: appears twice")
        tx_chain = inc.transaction.chain_id
        ok &= report.check(tx_chain in (None, chain_id),
                           f"{at}: signed for chain id {tx_chain}, the manifest says {chain_id}")
        roles = rec.get("roles")
        ok &= report.check(isinstance(roles, list) and bool(roles) and set(roles) <= ROLES,
                           f"{at}: roles {roles!r} are not a non-empty subset of {sorted(ROLES)}")
        last = max(last, key)
        if ok:
            proven[txid] = ProvenAccountTx(name, txid, inc.header.number, inc.index,
                                           "0x" + inc.header.hash.hex(), inc)
            report.counts["transactions"] += 1
    report.check(entry.get("transactions") == len(lines),
                 f"{where}: transactions {entry.get('transactions')!r}, {path} holds {len(lines)} lines")
    report.check(entry.get("blocks") == n_headers,
                 f"{where}: blocks {entry.get('blocks')!r}, chains/{name}/headers.jsonl holds {n_headers} lines")
    report.notes.append(f"{name} (chain id {chain_id}): the bundled headers prove their blocks' content, not that "
                        "the blocks are on the canonical chain (no proof of work is checked: Ethash before the "
                        "Merge, none after); compare their hashes with any node or explorer")
    return proven


def check_account_trace(tid: str, res: dict[str, Any], proven: dict[str, ProvenAccountTx],
                        report: Report) -> TraceResult:
    """Each graph edge of a saved account trace against the proven movements of its transaction:
    the transaction's value and its receipt's ERC-20 Transfer logs are proven; internal transfers,
    fees, block rewards and withdrawals are stated (not in the transaction and receipt bytes). The
    amounts under the policy are not recomputed (docs/verify.md says why)."""
    where = f"traces/{tid}.json"
    head = TraceResult(tid, str(res.get("chain")), str(res.get("policy")), str(res.get("direction")), "failed", "")
    graph = res.get("graph")
    edges = graph.get("edges") if isinstance(graph, dict) else None
    if not report.check(isinstance(edges, list), f"{where}: the result has no graph edges"):
        head.detail = "malformed result"
        return head
    assert isinstance(edges, list)
    facts: dict[str, list[dict[str, Any]]] = {}
    good = bad = 0
    stated = dict.fromkeys(("internal transfers", "fees", "rewards and withdrawals", "other transfers"), 0)
    for i, edge in enumerate(edges):
        ref = str(edge.get("output", "")) if isinstance(edge, dict) else ""
        txid, _, kind = ref.partition(":")
        if ref.startswith("block:") or (txid and kind != "native" and not kind.isdigit()):
            # stated, not provable from the transaction and receipt bytes
            what = ("rewards and withdrawals" if ref.startswith("block:") else "internal transfers"
                    if kind.startswith("trace:") else "fees" if kind.startswith("fee:") else "other transfers")
            stated[what] += 1
            continue
        tx = proven.get(txid.lower())
        if tx is None:
            bad += 1
            if bad <= 20:
                report.fail(f"{where}: edge {i} ({ref[:90]}): its transaction is not proven by this bundle")
            continue
        if txid.lower() not in facts:
            facts[txid.lower()] = transfer_facts(tx.inclusion)
        assert isinstance(edge, dict)
        why = check_edge(edge, facts[txid.lower()])
        if why is None:
            good += 1
            continue
        bad += 1
        if bad <= 20:
            report.fail(f"{where}: edge {i}: {why}")
    if bad > 20:
        report.fail(f"{where}: {bad - 20} more edges not proven")
    head.edges = len(edges)
    head.endpoints = len(res.get("endpoints") or [])
    said = ", ".join(f"{n} {what}" for what, n in stated.items() if n) or "nothing"
    text = (f"{good} of {len(edges)} edges proven from transaction and receipt bytes (sender, recipient, asset, "
            f"amount); stated, not provable from those bytes: {said}; the amounts under the policy are not "
            "recomputed (they depend on every transfer of each address, which the bundle does not carry)")
    if bad:
        head.detail = f"{bad} edges not proven; {text}"
        return head
    head.status, head.detail = "edges proven", text
    report.counts["transfers_stated"] += sum(stated.values())
    return head
