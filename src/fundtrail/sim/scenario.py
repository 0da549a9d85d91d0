"""The `default` scenario: a whole economy, background crime, and one ransomware case.

`simulate` is the entry point the CLI and tests call: it builds the actors, runs blocks until the
requested number of transactions is reached and the case's laundering has finished, and writes the
chain (``blocks/``), the ground truth (``truth/``) and ``manifest.json`` under the output dir.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.errors import UsageError
from fundtrail.sim import oracle
from fundtrail.sim import typologies as ty
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
from fundtrail.sim.economy import CaseState, Economy
from fundtrail.sim.events import background_crime, retail_events
from fundtrail.sim.truth import TruthWriter

SCENARIOS = ("default",)
CASE = "ransomware-1"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SimResult:
    """Summary of a run (also written as manifest.json)."""

    out: Path
    manifest: dict[str, Any]


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def _ransomware(econ: Economy, group: Actor, victims: list[Actor], exchanges: list[Exchange],
                otc: OtcDesk, mixer: Mixer) -> Generator[int, None, None]:
    """Victims pay fresh ransom addresses; the group launders through every typology."""
    rng = econ.rng
    ransom, mules, cashw = group.wallets
    for victim in victims:
        amount = rng.randint(50, 400) * 10**6
        addr = ransom.new_address(role="ransom")
        for _ in range(40):
            wal = victim.funded(amount)
            ex = rng.choice(exchanges)
            payer, pw = (victim, wal) if wal else (ex, ex.hot)  # victims often buy via a broker
            if econ.transfer(payer, pw, [(addr, amount)], pattern="ransom_payment",
                             seed_case=CASE):
                break
            yield 1
        yield rng.randint(1, 3)
    yield 2
    merged = yield from ty.fan_in(econ, group, ransom, list(ransom.utxos.values()))
    big = merged[0]
    a, b = int(big.value * 0.35), int(big.value * 0.3)
    res = econ.transfer(group, ransom, [(mules.new_address(), a), (cashw.new_address(), b)],
                        inputs=[big], pattern="payment", typology="layering")
    if res is None:
        return
    streams = {u.addr.wallet: u for u in res.outputs}
    peel_id = f"{group.name}-peel"
    econ.spawn(_seq(ty.peel_chain(econ, group, mules, streams[mules], 8,
                                  lambda: rng.choice(exchanges).deposit_for(
                                      f"{peel_id}-{rng.randrange(3)}")),
                    lambda rest: ty.cash_out(econ, group, mules, rest, exchanges, peel_id)),
               CASE)
    econ.spawn(_seq(ty.mixing(econ, group, cashw, streams[cashw], mixer, 4),
                    lambda outs: ty.structuring(econ, group, cashw, outs, lambda: rng.choice(
                        exchanges).deposit_for(f"{group.name}-struct-{rng.randrange(5)}"))),
               CASE, delay=1)
    rest = streams[ransom]
    layered = yield from ty.layering(econ, group, ransom, rest, 6)
    for coin in layered:
        smurfs = yield from ty.fan_out(econ, group, ransom, coin, rng.randint(6, 10))
        for i, s in enumerate(smurfs):
            dest = (otc.deposit_for(f"{group.name}-otc") if i % 3 == 0 else
                    rng.choice(exchanges).deposit_for(f"{group.name}-smurf-{i % 4}"))
            yield from ty.pass_through(econ, group, ransom, s, dest)
            yield rng.randint(0, 2)


def _seq(first: Generator[int, None, Any],
         then: Callable[[Any], Generator[int, None, Any]]) -> Generator[int, None, None]:
    out = yield from first
    yield from then(out)


def _build(econ: Economy, target: int) -> dict[str, Any]:
    """Create the default cast; returns the parts the case needs."""
    exchanges = [Exchange(econ, f"exchange-{c}") for c in "abc"]
    miners = [Miner(econ, f"pool-{i}", h, exchanges[i % 3]) for i, h in enumerate((0.5, 0.3, 0.2))]
    econ.miners = list(miners)
    n_users = _clamp(target // 40, 60, 5000)
    users = [Retail(econ, f"user-{i:05d}", exchanges[econ.rng.randrange(3)]) for i in range(n_users)]
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
    group = criminal(econ, "ransomware-group-1", "ransomware", case=CASE)
    econ.events = retail_events(econ, users, merchants, exchanges, market, scammers, mixer, otc)
    background_crime(econ, vendors, scammers, exchanges)
    return {"exchanges": exchanges, "users": users, "merchants": merchants, "otc": otc,
            "mixer": mixer, "group": group}


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
    econ.cases[CASE] = CaseState(CASE, "ransomware", cast["group"].name)
    while True:
        if econ.height == case_height:
            victims = econ.rng.sample(cast["merchants"], 4)
            econ.spawn(_ransomware(econ, cast["group"], victims, cast["exchanges"], cast["otc"],
                                   cast["mixer"]), CASE)
        econ.step_block(per_block)
        if progress:
            progress(econ.n_txs, txs)
        done = econ.n_txs >= txs and econ.height > case_height and not econ.busy_cases()
        if done or econ.n_txs >= 3 * txs + 20_000:
            break
    sink.close()
    truth.close()
    truth.actors(econ.actors)
    cases = [_write_case(truth, st) for st in econ.cases.values()]
    manifest = {
        "generator": "fundtrail.sim", "format_version": 1, "scenario": scenario, "seed": seed,
        "chain": "btc-regtest", "network": REGTEST.name, "requested_txs": txs,
        "blocks": econ.n_blocks, "transactions": econ.n_txs + econ.n_blocks,
        "non_coinbase_transactions": econ.n_txs, "txs_per_block_target": per_block,
        "tip_hash": w.display_hex(econ.prev), "subsidy_created": econ.value_created,
        "actors": len(econ.actors), "addresses": truth.counts["addresses"],
        "typology_transactions": truth.counts["typology_transactions"], "cases": cases,
        "files": {"blocks": [f"blocks/{p.name}" for p in sink.files],
                  "truth": ["truth/actors.csv", "truth/addresses.csv", "truth/transactions.csv"]
                  + [f"truth/cases/{c}.json" for c in cases]
                  + [f"truth/cases/{c}.txgraph.jsonl" for c in cases]},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return SimResult(out, manifest)


def _write_case(truth: TruthWriter, st: CaseState) -> str:
    """The case file: seeds, cash-out points, and the oracle's per-policy answers."""
    graph = truth.dir / "cases" / f"{st.name}.txgraph.jsonl"
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
        "typologies": st.typologies, "transactions": st.n_txs,
        "txgraph": f"{st.name}.txgraph.jsonl", "answers": answers,
    })
    return st.name
