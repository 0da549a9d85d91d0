"""The `default` scenario: a whole economy, CoinJoins, background crime, and three cases.

`simulate` is the entry point the CLI and tests call: it builds the actors, runs blocks until the
requested number of transactions is reached and the cases' laundering has finished, and writes the
chain (``blocks/``), the ground truth (``truth/``) and ``manifest.json`` under the output dir.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.errors import UsageError
from fundtrail.sim import cases, joinmarket, oracle
from fundtrail.sim.actors import (
    Actor,
    DarknetMarket,
    Exchange,
    Merchant,
    Miner,
    Mixer,
    OtcDesk,
    Retail,
    criminal,
)
from fundtrail.sim.chainout import BlkSink
from fundtrail.sim.coinjoin import Mixing, Registry
from fundtrail.sim.economy import CaseState, Economy
from fundtrail.sim.events import background_crime, retail_events
from fundtrail.sim.truth import TruthWriter
from fundtrail.sim.wallet import Wallet
from fundtrail.sim.wasabi import WasabiCoordinator
from fundtrail.sim.whirlpool import Whirlpool

SCENARIOS = ("default",)
CASE = cases.RANSOMWARE
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SimResult:
    """Summary of a run (also written as manifest.json)."""

    out: Path
    manifest: dict[str, Any]


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def _build(econ: Economy, target: int) -> dict[str, Any]:
    """Create the default cast; returns the parts the cases need."""
    rng = econ.rng
    exchanges = [Exchange(econ, f"exchange-{c}") for c in "abc"]
    miners = [Miner(econ, f"pool-{i}", h, exchanges[i % 3]) for i, h in enumerate((0.5, 0.3, 0.2))]
    econ.miners = list(miners)
    n_users = _clamp(target // 40, 60, 5000)
    users = [Retail(econ, f"user-{i:05d}", exchanges[rng.randrange(3)]) for i in range(n_users)]
    merchants = [Merchant(econ, f"merchant-{i:04d}", exchanges[i % 3])
                 for i in range(_clamp(n_users // 10, 5, 300))]
    for m in miners:
        m.members = list(users)
    otc = OtcDesk(econ, "otc-desk-1", exchanges[0])
    mixer = Mixer(econ, "mixer-1")
    vendors = [criminal(econ, f"dnm-vendor-{i}", "darknet_vendor", n_wallets=1) for i in range(5)]
    market = DarknetMarket(econ, "darknet-market-1", vendors)
    scammers = [criminal(econ, f"scammer-{i}", "scam", n_wallets=1) for i in range(2)]
    for s in scammers:
        s.wallets[0].reuse = 0.9
    registry = _privacy(econ, users, market)
    wasabi1 = WasabiCoordinator(econ, "wasabi1-coordinator", registry, 1, period=6, phase=1)
    wasabi2 = WasabiCoordinator(econ, "wasabi2-coordinator", registry, 2, period=9, phase=4)
    whirl = Whirlpool(econ, "whirlpool-coordinator", registry)
    crooks = cases.add_case_actors(econ, registry)
    econ.events = retail_events(econ, users, merchants, exchanges, market, scammers, mixer, otc)
    background_crime(econ, vendors, scammers, exchanges)
    joinmarket.background_job(econ, registry)
    return {"exchanges": exchanges, "users": users, "merchants": merchants, "otc": otc,
            "mixer": mixer, "registry": registry, "wasabi1": wasabi1, "wasabi2": wasabi2,
            "whirlpool": whirl, **crooks}


def _privacy(econ: Economy, users: list[Retail], market: DarknetMarket) -> Registry:
    """A privacy-minded share of retail users and every darknet vendor take part in CoinJoins.

    Users buy coins for mixing at their exchange; vendors have the market pay their next payout
    into the CoinJoin wallet; one in eight participants also runs a JoinMarket yield generator.
    """
    rng, reg = econ.rng, Registry()
    n = min(len(users), max(40, len(users) // 5))
    for i, u in enumerate(rng.sample(users, n)):
        def buy(wal: Wallet, amount: int, u: Retail = u) -> None:
            u.exchange.withdraw(wal.receive_address(), amount)

        kind = "p2wpkh" if rng.random() < 0.6 else "p2sh-p2wpkh"
        reg.add(Mixing(u, buy, side=False, jm_kind=kind), maker=i % 8 == 0 or i < 12)
    for v in market.vendors:
        def redirect(wal: Wallet, amount: int, v: Actor = v) -> None:
            market.redirect[v.name] = wal

        reg.add(Mixing(v, redirect, side=True, jm_kind="p2wpkh"))
    return reg


def check_output(out: Path, txs: int, what: str) -> Path:
    """Refuse a size the cast cannot fill, or an output directory that already holds a chain."""
    if txs < 500:
        raise UsageError(f"--txs {txs} is too small; {what} needs at least 500")
    out = Path(out)
    if (out / "blocks").exists() and any((out / "blocks").iterdir()):
        raise UsageError(f"{out}/blocks is not empty", hint="choose a new --out directory")
    return out


def simulate(out: Path, *, seed: int, txs: int = 20_000, scenario: str = "default",
             progress: Progress | None = None, max_file_size: int = 128 << 20) -> SimResult:
    """Generate a chain of about `txs` transactions with ground truth under `out`."""
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    out = check_output(out, txs, "the default scenario")
    truth = TruthWriter(out)
    sink = BlkSink(out / "blocks", REGTEST, max_file_size=max_file_size)
    econ = Economy(seed, REGTEST, truth, sink)
    cast = _build(econ, txs)
    per_block = _clamp(txs // 100, 20, 2500)
    case_height = max(8, (txs // per_block) // 5)
    while True:
        if econ.height == case_height:
            victims = econ.rng.sample(cast["merchants"], 4)
            econ.spawn(cases.ransomware(econ, cast, victims), CASE)
        elif econ.height == case_height + 1:
            econ.spawn(cases.scam(econ, cast), cases.SCAM)
        elif econ.height == case_height + 3:
            econ.spawn(cases.theft(econ, cast), cases.THEFT)
        econ.step_block(per_block)
        if progress:
            progress(econ.n_txs, txs)
        done = econ.n_txs >= txs and econ.height > case_height + 3 and not econ.busy_cases()
        if done or econ.n_txs >= 3 * txs + 20_000:
            break
    sink.close()
    truth.close()
    truth.actors(econ.actors)
    written = [_write_case(truth, st) for st in econ.cases.values()]
    manifest = {
        "generator": "fundtrail.sim", "format_version": 1, "scenario": scenario, "seed": seed,
        "chain": "btc-regtest", "network": REGTEST.name, "requested_txs": txs,
        "blocks": econ.n_blocks, "transactions": econ.n_txs + econ.n_blocks,
        "non_coinbase_transactions": econ.n_txs, "txs_per_block_target": per_block,
        "tip_hash": w.display_hex(econ.prev), "subsidy_created": econ.value_created,
        "actors": len(econ.actors), "addresses": truth.counts["addresses"],
        "typology_transactions": truth.counts["typology_transactions"],
        "coinjoins": truth.counts["coinjoins"], "cases": written,
        "files": {"blocks": [f"blocks/{p.name}" for p in sink.files],
                  "truth": ["truth/actors.csv", "truth/addresses.csv", "truth/transactions.csv",
                            "truth/coinjoins.csv"]
                  + [f"truth/cases/{c}.json" for c in written]
                  + [f"truth/cases/{c}.txgraph.jsonl" for c in written]},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return SimResult(out, manifest)


def _write_case(truth: TruthWriter, st: CaseState) -> str:
    """The case file: seeds, cash-out points, and the oracle's per-policy answers."""
    graph = truth.dir / "cases" / f"{st.name}.txgraph.jsonl"
    if not graph.exists():  # the case never started (too short a run): an empty subgraph
        graph.write_text("", encoding="utf-8")
    txs = [json.loads(line) for line in graph.read_text(encoding="utf-8").splitlines()]
    seeds = [(s["txid"], s["vout"]) for s in st.seed_outputs]
    targets = frozenset(st.cashouts)
    answers = oracle.to_jsonable(oracle.case_answers(txs, seeds, targets)) if seeds else {}
    truth.write_json(f"cases/{st.name}.json", {
        "case": st.name, "kind": st.kind, "actor": st.actor,
        "seed_addresses": [s["address"] for s in st.seed_outputs],
        "seed_txids": sorted({s["txid"] for s in st.seed_outputs}),
        "seed_outputs": st.seed_outputs,
        "cashout_points": list(st.cashouts.values()),
        "typologies": st.typologies, "transactions": st.n_txs, "coinjoins": st.coinjoins,
        "txgraph": f"{st.name}.txgraph.jsonl", "answers": answers,
    })
    return st.name
