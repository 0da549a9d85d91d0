"""Per UTXO chain of a bundle: the headers link up and meet their proof of work, and each bundled
transaction is the one its raw bytes say and is in the block its merkle branch reaches
(docs/bundle.md, checks 2 and 3; the primitives are in `bitcoin.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .bitcoin import (MAINNET_POW_LIMIT, Header, Tx, VerifyError, bits_to_target, check_chain, display,
                      merkle_root_from_branch, parse_header, parse_tx)
from .container import Container
from .report import Report

#: The easiest target each network allows (Bitcoin Core chainparams, consensus.powLimit).
POW_LIMITS = {
    "mainnet": MAINNET_POW_LIMIT,
    "testnet": MAINNET_POW_LIMIT,
    "testnet4": MAINNET_POW_LIMIT,
    "signet": int("00000377ae" + "0" * 54, 16),
    "regtest": int("7fffff" + "0" * 58, 16),
}
TRIVIAL_POW = {"signet", "regtest"}  # anyone can mine headers at these limits in moments
ROLES = {"traced", "funding", "seed", "finding"}
FIELDS = ("txid", "height", "block_hash", "index", "tx_count", "raw", "branch", "roles")
LINE_CHECKS = ("fields", "integers", "roles", "parses", "txid", "height", "header", "block hash", "merkle branch")


@dataclass(frozen=True)
class ProvenTx:
    """A bundled transaction whose txid, block and merkle branch were checked."""

    chain: str
    txid: str
    height: int
    index: int
    block_hash: str
    tx: Tx


def check_utxo_chain(name: str, entry: dict[str, Any], box: Container, report: Report) -> dict[str, ProvenTx]:
    """Check one chain's headers and transactions; the proven transactions by txid."""
    where = f"manifest.json: chains.{name}"
    network = str(entry.get("network"))
    first, last = entry.get("first_height"), entry.get("last_height")
    if not report.check(network in POW_LIMITS, f"{where}: network {network!r} is not one of {sorted(POW_LIMITS)}"):
        return {}
    if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last):
        report.fail(f"{where}: first_height {first!r} and last_height {last!r} are not a range of heights")
        return {}
    headers = _check_headers(name, network, first, last, box, report)
    if network in TRIVIAL_POW:
        report.notes.append(f"{name} is a {network} chain: its proof of work is trivial (anyone can make such "
                            "headers), so its headers prove only that they link up")
    path = f"chains/{name}/transactions.jsonl"
    data = box.read(path)
    if data is None:
        return {}
    proven: dict[str, ProvenTx] = {}
    memo: dict[int, dict[bytes, bytes]] = {}  # the block being read: merkle pairs already hashed
    last_key, top = (-1, -1), -1
    lines = data.decode("utf-8", errors="replace").split("\n")
    report.check(lines[-1] == "", f"{path}: the last line is not terminated by a newline")
    lines = lines[:-1] if lines[-1] == "" else lines
    for n, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError as exc:
            report.fail(f"{path} line {n}: not JSON ({exc})")
            continue
        got = _check_tx(name, rec, headers, first, last, f"{path} line {n}", report, memo)
        if got is None:
            continue
        key = (got.height, got.index)
        if not key > last_key:
            report.fail(f"{path} line {n}: txid {got.txid} at height {got.height} index {got.index} is not "
                        "after the line before (sorted by height, index)")
        if got.txid in proven:
            report.fail(f"{path} line {n}: txid {got.txid} appears twice")
        last_key, top = max(last_key, key), max(top, got.height)
        proven[got.txid] = got
    report.check(top in (-1, last), f"{where}: last_height {last} is not the highest block holding a bundled "
                                    f"transaction ({top})")
    report.check(entry.get("transactions") == len(lines),
                 f"{where}: transactions {entry.get('transactions')!r}, but {path} holds {len(lines)} lines")
    report.counts["transactions"] += len(proven)
    return proven


def _check_headers(name: str, network: str, first: int, last: int, box: Container,
                   report: Report) -> dict[int, Header]:
    """Heights to headers of headers.bin, those that link up and meet the network's proof of work."""
    path = f"chains/{name}/headers.bin"
    data = box.read(path)
    if data is None:
        return {}
    want = last - first + 1
    if not report.check(len(data) == 80 * want, f"{path}: {len(data)} bytes, expected {want} headers of 80 "
                                                f"bytes (heights {first}-{last})"):
        return {}
    raws = [data[i:i + 80] for i in range(0, len(data), 80)]
    broken = check_chain(raws)
    for problem in broken:
        n = int(problem.split()[1].rstrip(":"))
        report.fail(f"{path}: height {first + n}: {problem.split(': ', 1)[1]}")
    headers: dict[int, Header] = {}
    limit = POW_LIMITS[network]
    for i, raw in enumerate(raws):
        h = parse_header(raw)
        try:
            target = bits_to_target(h.bits)
        except VerifyError as exc:
            report.fail(f"{path}: height {first + i}: {exc}")
            continue
        ok = 0 < target <= limit and int.from_bytes(h.hash, "little") <= target
        if report.check(ok, f"{path}: height {first + i}: block {display(h.hash)} does not meet its proof of "
                            f"work (bits {h.bits:#010x}, {network} limit)"):
            headers[first + i] = h
    if broken:  # a header that does not link up proves nothing about the blocks after it
        headers = {}
    report.counts["headers"] += len(headers)
    if headers:
        report.facts.append(f"{name} ({network}): headers {first}-{last} link up and meet their proof of work; "
                            f"block {first} is {display(headers[first].hash)}, block {last} is "
                            f"{display(headers[last].hash)} (compare with any node or explorer)")
    return headers


def _check_tx(chain: str, rec: Any, headers: dict[int, Header], first: int, last: int, at: str,
              report: Report, memo: dict[int, dict[bytes, bytes]]) -> ProvenTx | None:
    """One line of transactions.jsonl: fields, txid from the raw bytes, block, merkle branch."""
    if not (isinstance(rec, dict) and all(k in rec for k in FIELDS)):
        report.fail(f"{at}: a transaction record needs the fields {', '.join(FIELDS)}")
        return None
    txid, height, index, n_tx = rec["txid"], rec["height"], rec["index"], rec["tx_count"]
    if not (all(type(x) is int for x in (height, index, n_tx)) and isinstance(txid, str)):
        report.fail(f"{at}: height, index and tx_count must be integers")
        return None
    roles = rec["roles"]
    if not (isinstance(roles, list) and roles == sorted(set(roles)) and set(roles) <= ROLES):
        report.fail(f"{at}: txid {txid}: roles {roles!r} are not a sorted subset of {sorted(ROLES)}")
    try:
        tx = parse_tx(bytes.fromhex(rec["raw"]), f"{at}: raw")
        branch = _hashes(rec["branch"])
    except (VerifyError, ValueError, TypeError) as exc:
        report.fail(f"{at}: txid {txid}: {exc}")
        return None
    if display(tx.txid) != txid:
        report.fail(f"{at}: txid {txid} does not match its raw bytes (recomputed {display(tx.txid)})")
        return None
    if not first <= height <= last:
        report.fail(f"{at}: txid {txid}: height {height} is outside the bundled headers {first}-{last}")
        return None
    header = headers.get(height)
    if header is None:
        report.fail(f"{at}: txid {txid}: no proven header at height {height}")
        return None
    if rec["block_hash"] != display(header.hash):
        report.fail(f"{at}: txid {txid}: block_hash {rec['block_hash']} is not the header at height {height} "
                    f"({display(header.hash)})")
        return None
    if height not in memo:  # lines are sorted by height: keep one block's pairs at a time
        memo.clear()
        memo[height] = {}
    try:
        root = merkle_root_from_branch(tx.txid, index, branch, n_tx, memo[height])
    except VerifyError as exc:
        report.fail(f"{at}: txid {txid}: {exc}")
        return None
    if root != header.merkle_root:
        report.fail(f"{at}: txid {txid}: its merkle branch at index {index} does not reach the merkle root of "
                    f"block {height} (got {display(root)})")
        return None
    report.counts["checks"] += len(LINE_CHECKS)
    return ProvenTx(chain, txid, height, index, rec["block_hash"], tx)


def _hashes(hexes: Any) -> list[bytes]:
    """A merkle branch: a list of 64-digit hex hashes to 32-byte hashes (decoded in one go)."""
    if not (isinstance(hexes, list) and set(map(len, hexes)) <= {64}):
        raise ValueError("branch: not a list of 64-digit hex hashes")
    raw = bytes.fromhex("".join(hexes))  # TypeError if one is not a string
    if len(raw) != 32 * len(hexes):  # bytes.fromhex skips spaces: a hash with one is not 32 bytes
        raise ValueError("branch: not a list of 64-digit hex hashes")
    return [raw[i:i + 32] for i in range(0, len(raw), 32)]
