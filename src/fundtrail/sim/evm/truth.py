"""Ground-truth files of an EVM simulation: who is who, what every transaction and movement was,
and the case file with its per-policy answers (`truth/` layout in docs/simulator-evm.md)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from fundtrail.sim.evm.case import CASE, THIEF, TheftCase
from fundtrail.sim.evm.chain import SimTx
from fundtrail.sim.evm.economy import Economy
from fundtrail.sim.evm.oracle import POLICIES, Transfer, fraction_text, trace_policy


def movements(txs: list[SimTx]) -> list[Transfer]:
    """Every movement of the mined transactions in chain order (fee first within a transaction)."""
    out: list[Transfer] = []
    for tx in sorted(txs, key=lambda t: (t.block, t.index)):
        for m in tx.all_moves():
            out.append(Transfer(len(out), tx.hash, m.kind, m.frm, m.to, m.asset, m.amount))
    return out


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_truth(out: Path, eco: Economy, case: TheftCase, transfers: list[Transfer]) -> dict:
    """Write truth/*.csv and truth/cases/<case>.json; return the case file."""
    truth = out / "truth"
    reg = eco.registry
    _csv(truth / "actors.csv", ["actor", "category", "case"],
         [[name, cat, c] for name, (cat, c) in reg.actors.items()])
    _csv(truth / "addresses.csv", ["address", "actor", "category", "role"],
         [[a, actor, cat, role] for a, (actor, cat, role) in reg.addresses.items()])
    txs = sorted(eco.chain.mined, key=lambda t: (t.block, t.index))
    _csv(truth / "transactions.csv",
         ["tx_hash", "block", "tx_index", "from", "to", "status", "actor", "pattern", "typology",
          "case"],
         [[t.hash, t.block, t.index, t.sender, t.to or t.created, t.status, t.actor, t.pattern,
           t.typology, t.case] for t in txs])
    _csv(truth / "transfers.csv", ["seq", "tx_hash", "kind", "from", "to", "asset", "amount"],
         [[t.seq, t.tx, t.kind, t.frm, t.to or "", t.asset, t.amount] for t in transfers])
    exits = [{"tx_hash": e["tx"].hash, "sender": e["sender"], "asset": e["asset"],
              "amount": str(e["amount"]), "dest_chain_id": e["dest_chain_id"],
              "dest_address": e["dest_address"], "case": e["tx"].case}
             for e in eco.world.bridge_exits]
    (truth / "bridge_exits.json").write_text(json.dumps(exits, indent=1) + "\n", encoding="utf-8")
    doc = case_file(eco, case, transfers, exits)
    path = truth / "cases" / f"{CASE}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return doc


def case_inputs(eco: Economy, case: TheftCase, transfers: list[Transfer]) -> dict:
    """Seeds, followed addresses and converters of the case, as the oracle takes them."""
    seed_txs = {t.hash for t in case.seed_txs}
    seeds = {t.seq for t in transfers
             if t.tx in seed_txs and t.kind != "fee" and t.to == case.thief}
    followed = sorted({a for a, (actor, _, _) in eco.registry.addresses.items() if actor == THIEF}
                      | set(eco.world.c.pools.values()))
    return {"seeds": seeds, "followed": followed, "converters": [eco.world.c.pair]}


def case_file(eco: Economy, case: TheftCase, transfers: list[Transfer], exits: list[dict]) -> dict:
    reg, stable = eco.registry, eco.world.c.stable
    inputs = case_inputs(eco, case, transfers)
    case_txs = [t for t in eco.chain.mined if t.case == CASE]
    case_txs.sort(key=lambda t: (t.block, t.index))
    followed = set(inputs["followed"])
    direct: dict[tuple[str, str], dict] = {}
    for t in transfers:
        if t.frm in followed and t.to is not None and reg.addresses.get(t.to, ("", "", ""))[2] == "deposit":
            d = direct.setdefault((t.to, t.asset), {"address": t.to, "asset": t.asset,
                                                    "actor": reg.actor_of(t.to), "category": "exchange",
                                                    "received_direct": 0, "first_tx": t.tx})
            d["received_direct"] += t.amount
    answers = {}
    for policy in POLICIES:
        result = trace_policy(policy, transfers, inputs["seeds"], inputs["followed"],
                              inputs["converters"])
        by_leaf: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
        per_tx: dict[str, Fraction] = defaultdict(Fraction)
        for t, dirty in result.hits:
            by_leaf[(t.to or "fee", t.asset)] += dirty
            per_tx[t.tx] += dirty if t.to == eco.world.c.bridge else 0
        leaves = [{"address": a, "asset": asset, "actor": reg.actor_of(a) if a != "fee" else "",
                   "role": reg.addresses.get(a, ("", "", "fee"))[2],
                   "amount": fraction_text(v)} for (a, asset), v in sorted(by_leaf.items())]
        answers[policy] = {
            "injected": {a: fraction_text(v) for a, v in sorted(result.injected.items())},
            "cashout": [x for x in leaves if x["role"] == "deposit"],
            "bridge": [{**e, "dirty": fraction_text(per_tx[e["tx_hash"]])} for e in exits
                       if per_tx.get(e["tx_hash"])],
            "other_leaves": [x for x in leaves if x["role"] not in ("deposit", "bridge")],
            "held": [{"address": a, "asset": asset, "amount": fraction_text(v),
                      "frozen": a in case.frozen and asset == stable}
                     for (a, asset), v in sorted(result.held.items())],
        }
    return {
        "case": CASE, "actor": THIEF, "typology_order": [
            "theft", "fan_out", "peel_chain", "mixing", "swap", "bridge", "freeze", "fan_in",
            "cash_out"],
        "victim": {"address": case.victim.hot, "actor": case.victim.name},
        "seed_addresses": [case.thief],
        "seed_txs": [t.hash for t in case.seed_txs],
        "seed_transfers": [{"tx_hash": t.tx, "kind": t.kind, "from": t.frm, "to": t.to,
                            "asset": t.asset, "amount": str(t.amount)}
                           for t in transfers if t.seq in inputs["seeds"]],
        "stablecoin": stable, "dex_pair": eco.world.c.pair,
        "pools": {str(d): a for d, a in eco.world.c.pools.items()}, "bridge": eco.world.c.bridge,
        "followed": inputs["followed"],
        "frozen": [{"address": a, "asset": stable, "amount": str(eco.chain.balance(a, stable))}
                   for a in case.frozen],
        "cashout_points": [{**d, "received_direct": str(d["received_direct"])}
                           for _, d in sorted(direct.items())],
        "bridge_exits": [e for e in exits if e["case"] == CASE],
        "transactions": [{"tx_hash": t.hash, "block": t.block, "pattern": t.pattern,
                          "typology": t.typology, "status": t.status} for t in case_txs],
        "answers": answers,
    }
