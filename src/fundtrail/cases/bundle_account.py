"""An account chain's part of the evidence bundle (format 1.1, docs/bundle.md "Account chains").

Which transactions: every transaction a saved trace's graph edge moved value in (`0xTX:native`,
`0xTX:<log>`, `0xTX:trace:…`, `0xTX:fee:…`: the hash before the first `:`; block rewards and
withdrawals, `block:…`, have none), the traces' seed transfers, the case's transaction seeds, the
findings' `tx:0x…` references and the clustering evidence's transactions, with roles as on UTXO
chains (no `funding`: an account transaction has no inputs to prove). The store gives each hash's
block; a node (`--rpc URL`, else the one the chain was ingested from, or the recording it was
replayed from) gives the bytes, which
`bundle_evm.fetch_proofs` checks against the header before taking any proof. Only chains whose
blocks fundtrail verifies fully (`EvmChain.verify == "full"`) get proofs: on the others a proof
built from the node's JSON could not be checked to encode the block exactly, so the chain entry
says `"proofs": "none"` and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fundtrail.cases.bundle_evm import fetch_proofs, header_lines, transaction_line
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.ethereum.replay import ReplayTransport
from fundtrail.ingest.ethereum.rpc import EthRpc
from fundtrail.ingest.ethereum.transport import redact_url
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.store.txhash import tx_hash_text
from fundtrail.store import Store

Progress = Callable[[str, int, int], None]
_HASH = re.compile(r"0x[0-9a-f]{64}")
_BARE = re.compile(r"[0-9a-f]{64}")
_NETWORK = re.compile(r"chain-id-(\d+)")
_REPLAY = "replay:"


def tx_hash_of(text: object) -> str | None:
    """The `0x…` lowercase transaction hash of a transfer reference (`0xTX:native`, `0xTX:12`,
    `0xTX:trace:0.1`, `0xTX:fee:tip`; TRON's without the 0x), a `tx:0xTX` finding reference or a
    bare hash; else None."""
    body = str(text).strip().lower()
    body = body[3:] if body.startswith("tx:") else body
    head = body.split(":", 1)[0]
    if _BARE.fullmatch(head):  # TRON writes its txids without 0x
        head = "0x" + head
    return head if _HASH.fullmatch(head) else None


def chain_id_of(network: str) -> int | None:
    """The EIP-155 chain id of a stored account chain's network name (`chain-id-N`)."""
    m = _NETWORK.fullmatch(network)
    return int(m.group(1)) if m else None


def verify_level(chain: str, chain_id: int | None) -> str:
    """How far fundtrail checks this chain's blocks: the registry's level for a known chain with
    its own chain id, else "none" (a chain configured by `--chain NAME --chain-id N`)."""
    known = ACCOUNT_CHAINS.get(chain)
    return known.verify if known is not None and known.chain_id == chain_id else "none"


@dataclass
class Wanted:
    """The transaction hashes wanted from one account chain, with their roles."""

    roles: dict[str, set[str]] = field(default_factory=dict)
    warned: list[tuple[str, str]] = field(default_factory=list)  # (hash, what named it): told if not stored

    def add(self, text: object, role: str, what: str | None = None) -> None:
        h = tx_hash_of(text)
        if h is not None:
            self.roles.setdefault(h, set()).add(role)
            if what is not None:
                self.warned.append((h, what))


def wanted(chain: str, traces: list[dict[str, Any]], case: dict[str, Any], link_txids: Iterable[str]) -> Wanted:
    """The transactions of `chain` the bundle carries (module docstring)."""
    want = Wanted()
    for t in traces:
        res = t["result"]
        for e in (res.get("graph") or {}).get("edges") or []:
            if isinstance(e, dict):
                want.add(e.get("output"), "traced", f"trace {t['id']}: transaction")
        seed = res.get("seed") if isinstance(res.get("seed"), dict) else {}
        outs = list(seed.get("outputs") or []) + [o for s in res.get("seeds") or [] if isinstance(s, dict)
                                                  for o in s.get("outputs") or []]
        for o in outs:
            want.add(o, "seed", f"trace {t['id']}: seed transaction")
    for s in case.get("seeds") or []:
        if s.get("chain") == chain:
            want.add(s.get("text"), "seed", "case seed transaction")
    for f in case.get("findings") or []:
        for ref in f.get("refs") or []:
            if str(ref).startswith("tx:"):
                want.add(ref, "finding")  # a reference may be another chain's: not stored here, not told
    for h in link_txids:
        want.add(h, "finding", "clustering evidence transaction")
    return want


def _stored(store: Store, chain: str, hashes: list[str]) -> tuple[dict[str, int], dict[int, bytes], tuple[Any, Any]]:
    """(hash -> block number, block number -> stored block hash, (tip number, tip hash))."""
    p = chain.replace("-", "_")
    with store.query() as con:
        rows = con.execute(f"SELECT hash, block_number FROM {p}_transactions WHERE hash IN "
                           "(SELECT unnest(?::BLOB[]))", [[bytes.fromhex(h[2:]) for h in hashes]]).fetchall()
        where = {"0x" + bytes(h).hex(): int(n) for h, n in rows}
        numbers = sorted(set(where.values()))
        blocks = {int(n): bytes(h) for n, h in con.execute(
            f"SELECT number, hash FROM {p}_blocks WHERE number IN (SELECT unnest(?::BIGINT[]))", [numbers]).fetchall()}
        tip = con.execute(f"SELECT number, hash FROM {p}_blocks ORDER BY number DESC LIMIT 1").fetchone()
    return where, blocks, ((int(tip[0]), tx_hash_text(bytes(tip[1]), chain=chain)) if tip else (None, None))


def recorded_source(store: Store, chain: str) -> str | None:
    """What the chain's latest ingest run read from (`ingest_runs.source`: `rpc URL` for a node,
    `rpc replay:DIR` for a recording), or None."""
    with store.connect(read_only=True) as con:
        row = con.execute("SELECT source FROM ingest_runs WHERE chain = ? AND source IS NOT NULL "
                          "ORDER BY run_id DESC LIMIT 1", [chain]).fetchone()
    return str(row[0]) if row else None


def node_source(store: Store, chain: str, rpc: str | None) -> tuple[str | EthRpc, str]:
    """(the node to read `chain`'s blocks from, its description for the manifest): `rpc`, else the
    recorded one: a node URL that works as written (credentials are never recorded), or a recording
    directory that still exists (`replay:DIR`, relative to the current directory or the store's
    parent); else a UsageError on `rpc`."""
    if rpc:
        return rpc, f"rpc {redact_url(rpc)}"
    said = recorded_source(store, chain)
    url = said[4:] if said and said.startswith("rpc ") else ""
    if url.startswith(("http://", "https://")) and "***" not in url:
        return url, f"rpc {redact_url(url)}"
    if url.startswith(_REPLAY):
        raw = Path(url[len(_REPLAY):])
        tries = [raw] if raw.is_absolute() else [Path.cwd() / raw, store.root.parent / raw]
        hit = next((p.resolve() for p in tries if p.is_dir()), None)
        if hit is not None:
            return EthRpc(ReplayTransport(hit, unrecorded_as_rpc_error=True)), f"recorded responses {hit}"
    why = (f"its recorded ingest source ({said}) is neither a node URL usable as recorded (credentials are "
           "never recorded) nor a recording directory that exists here" if said else "no ingest source is recorded")
    raise UsageError(f"no node for chain {chain}: the store keeps no raw transactions and {why}; give --rpc URL "
                     "(the JSON-RPC of an Ethereum node holding those blocks)", field="rpc")


def account_chain(store: Store, chain: str, network: str, traces: list[dict[str, Any]], case: dict[str, Any],
                  link_txids: Iterable[str], rpc: str | None, progress: Progress,
                  warnings: list[str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest entry and files of one account chain; `rpc` the node URL given (`--rpc`)."""
    chain_id = chain_id_of(network)
    want = wanted(chain, traces, case, link_txids)
    where, blocks, (tip_height, tip_hash) = _stored(store, chain, sorted(want.roles))
    entry: dict[str, Any] = {"family": "account", "network": network, "chain_id": chain_id, "proofs": "none",
                             "tip_height": tip_height, "tip_hash": tip_hash, "blocks": 0, "transactions": 0,
                             "source": None}
    level = verify_level(chain, chain_id)
    if level != "full":
        why = (f"fundtrail verifies the blocks of chain {chain} (chain id {chain_id}) to level {level!r}, not "
               "'full' (Ethereum's header, transaction and receipt formats): its transactions cannot be proven "
               "in the bundle")
        entry["proofs_note"] = why
        warnings.append(f"chain {chain}: no inclusion proofs: {why}")
        return entry, {}
    entry["proofs"] = "mpt"
    told = set()
    for h, what in want.warned:
        if h not in where and h not in told:
            told.add(h)
            warnings.append(f"{what} {h} is not in the store's chain {chain}; it is not in the bundle")
    pairs = sorted((where[h], h) for h in want.roles if h in where)
    if not pairs:
        return entry, {}
    node, entry["source"] = node_source(store, chain, rpc)
    progress("transactions", 0, len(pairs))
    proofs = fetch_proofs(node, pairs)
    for p in proofs:
        stored = blocks.get(p.block_number)
        if stored != p.block_hash:
            raise DataError(f"chain {chain}: block {p.block_number} from {entry['source']} is 0x{p.block_hash.hex()}, "
                            f"the store holds 0x{(stored or b'').hex() or 'none'} (a reorganisation, or another chain)")
    progress("transactions", len(proofs), len(pairs))
    heads = header_lines(proofs)
    lines = [transaction_line(p, want.roles["0x" + p.hash.hex()]) for p in proofs]
    entry.update(blocks=len(heads), transactions=len(lines))
    return entry, {f"chains/{chain}/headers.jsonl": jsonl(heads), f"chains/{chain}/transactions.jsonl": jsonl(lines)}


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """One sorted-key JSON object per line, as every `.jsonl` of the bundle."""
    return b"".join((json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n").encode() for r in rows)
