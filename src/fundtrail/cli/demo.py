"""The demo run by the README's main command: a simulated ransomware case, investigated.

It simulates a small economy with one ransomware case (real blk files), ingests it through the same
path as a node's files, and prints what an investigator would read: the ransom payments reported by
victims, what the chain shows about them (facts from the store), and where the analysis goes next.
The simulator's answer key is printed last, clearly apart, so later stages (clustering, tracing,
risk) can be checked against it as they land.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import typer

from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.settings import Settings
from fundtrail.sim.scenario import CASE, simulate
from fundtrail.store import Store

_BTC = 100_000_000


def _btc(sat: int) -> str:
    return f"{sat / _BTC:,.8f} BTC"


def run_demo(settings: Settings, workdir: Path, *, quiet: bool = False, seed: int = 7, txs: int = 4000) -> None:
    """Simulate, ingest and present the ransomware case; print next steps."""
    if workdir.exists():
        shutil.rmtree(workdir)
    simulate(workdir, seed=seed, txs=txs)
    manifest = json.loads((workdir / "manifest.json").read_text())
    typer.echo(f"1. simulated a regtest economy (seed {seed}): {manifest['blocks']} blocks, "
               f"{manifest['transactions']:,} transactions, {manifest['actors']} actors, "
               f"{manifest['coinjoins']:,} CoinJoins, cases {', '.join(manifest['cases'])} -> {workdir}")
    store = Store.open(settings.store)
    report = ingest_blocks_dir(store, workdir / "blocks")
    typer.echo(f"2. ingested into {settings.store}: {report.blocks} blocks, {report.transactions:,} "
               f"transactions, {report.unresolved_inputs} unresolved inputs, in {report.seconds:.1f}s")
    case = json.loads((workdir / "truth" / "cases" / f"{CASE}.json").read_text())
    _case_facts(store, case)
    _answer_key(case)
    exe = "fundtrail" if shutil.which("fundtrail") else os.path.relpath(sys.argv[0])
    typer.echo(f"\nnext: {exe} --store {settings.store} status")
    typer.echo(f"      {exe} --store {settings.store} export transactions --chain btc-regtest --format jsonl "
               "--from-height 20 --to-height 21")
    typer.echo(f"      {exe} simulate --chain btc --seed 8 --txs 100000 --out sim-large   (a bigger economy)")
    typer.echo(f"      ground truth for checking: {workdir / 'truth'} (addresses.csv, transactions.csv, cases/)")


def _case_facts(store: Store, case: dict) -> None:
    """What the chain shows about the reported ransom payments: facts, no inference."""
    seeds = case["seed_outputs"]
    total = sum(s["value"] for s in seeds)
    typer.echo(f"\n3. the case ({case['case']}): victims report {len(seeds)} ransom payments, "
               f"{_btc(total)} in all, to {len(set(s['address'] for s in seeds))} addresses")
    p = "btc_regtest"
    with store.query() as con:
        for s in seeds:
            paid = con.execute(
                f"SELECT b.height, to_timestamp(b.time) FROM {p}_transactions t JOIN {p}_blocks b USING (block_id) "
                "WHERE t.txid = ?", [bytes.fromhex(s["txid"])[::-1]]).fetchone()
            spent = con.execute(
                f"SELECT t.txid, t.output_count, t.output_value, b.height "
                f"FROM {p}_inputs i JOIN {p}_transactions t USING (tx_id) JOIN {p}_blocks b USING (block_id) "
                "WHERE i.prev_txid = ? AND i.prev_vout = ?", [bytes.fromhex(s["txid"])[::-1], s["vout"]]).fetchone()
            when = f"block {paid[0]} ({paid[1]:%Y-%m-%d %H:%M} UTC)" if paid else "not in the store"
            typer.echo(f"   {s['address']}  received {_btc(s['value'])} in {when}")
            if spent:
                typer.echo(f"      moved on in block {spent[3]} by tx {bytes(spent[0])[::-1].hex()[:16]}… "
                           f"({spent[1]} outputs, {_btc(spent[2])})")
            else:
                typer.echo("      still unspent: a freeze target")
    typer.echo("   these are on-chain facts; following the money further (clustering, tracing under a "
               "taint policy, risk) comes with the next analysis stages")


def _answer_key(case: dict) -> None:
    """The simulator's ground truth, printed apart: what a complete trace must find."""
    ans = case["answers"]
    points = case["cashout_points"]
    typer.echo(f"\n4. answer key (simulator ground truth, not an analysis result): the money was laundered by "
               f"{', '.join(case['typologies'])} and cashed out at {len(points)} exchange/OTC deposit addresses:")
    for policy in ("haircut", "fifo", "poison"):
        a = ans[policy]
        typer.echo(f"   {policy:8s} {_btc(int(a['total_arrived_sat']))} reached cash-out points, "
                   f"{_btc(sum(int(v) for v in a['unspent_sat'].values()))} still unspent, "
                   f"{_btc(int(a['fees_sat']))} paid as fees")
    by_actor: dict[str, int] = {}
    for pt in points:
        amount = int(ans["haircut"]["by_target_sat"].get(pt["address"], 0))
        by_actor[pt["actor"]] = by_actor.get(pt["actor"], 0) + amount
    for actor, amount in sorted(by_actor.items(), key=lambda kv: -kv[1]):
        typer.echo(f"   {actor:14s} {_btc(amount)} (haircut): the service to ask to freeze and identify")
