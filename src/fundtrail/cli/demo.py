"""The demo run by the README's main command: a simulated ransomware case, investigated.

It simulates a small economy with one ransomware case (real blk files), ingests it through the same
path as a node's files, and prints what an investigator would read: the ransom payments reported by
victims, what the chain shows about them (facts from the store), and where the analysis goes next.
The simulator's answer key is printed last, clearly apart, so later stages (clustering, tracing,
risk) can be checked against it as they land.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import typer

from fundtrail.errors import UsageError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.settings import Settings
from fundtrail.sim.scenario import CASE, simulate
from fundtrail.store import Store

CHAIN = "btc-regtest"

_BTC = 100_000_000


def _btc(sat: int) -> str:
    return f"{sat / _BTC:,.8f} BTC"


def _clear_workdir(workdir: Path) -> None:
    """Remove an earlier demo's files; refuse to delete anything that is not one."""
    if not workdir.exists():
        return
    if not workdir.is_dir():
        raise UsageError(f"--workdir {workdir} is a file, not a directory")
    if any(workdir.iterdir()) and not (workdir / "manifest.json").is_file():
        raise UsageError(f"--workdir {workdir} is not empty and holds no earlier demo (no manifest.json); "
                         "the demo replaces its work directory, so give a new or empty one")
    shutil.rmtree(workdir)


def run_demo(settings: Settings, workdir: Path, *, quiet: bool = False, seed: int = 7, txs: int = 4000) -> None:
    """Simulate, ingest and present the ransomware case; print next steps."""
    _clear_workdir(workdir)
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
    labels = _label_provider(workdir, case)
    _attribute_and_cluster(store, labels)
    found = _investigate(store, case)
    _risk(store, case, found)
    _answer_key(case, found)
    exe = "fundtrail" if shutil.which("fundtrail") else os.path.relpath(sys.argv[0])
    seed_out = case["seed_outputs"][0]
    st = f"{exe} --store {settings.store}"
    typer.echo("\nnext:")
    typer.echo(f"  {st} trace {seed_out['txid']}:{seed_out['vout']} --policy fifo      (one payment, FIFO)")
    every = " ".join(f"{s['txid']}:{s['vout']}" for s in case["seed_outputs"])
    typer.echo(f"  {st} trace {every}      (all {len(case['seed_outputs'])} payments as one seed set)")
    typer.echo(f"  {st} trace {seed_out['address']} --json > trace.json                  (the subgraph, for drawing)")
    typer.echo(f"  {st} cluster show {case['cashout_points'][0]['address']}")
    typer.echo(f"  {st} risk {case['cashout_points'][0]['address']}")
    typer.echo(f"  {st} tags search ransomware-group-1                (the labels the demo imported)")
    typer.echo(f"  {st} status                                          (what the store holds, its coverage)")
    typer.echo(f"  {exe} simulate --exercise peel-chain --seed 1 --out exercise1   (train an investigator)")
    typer.echo(f"  ground truth for checking: {workdir / 'truth'} (addresses.csv, transactions.csv, cases/)")


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
    typer.echo("   these are on-chain facts; what follows are inferences (clusters, attribution) and "
               "conventions (taint policies), each labelled as such")


_PROVIDER = {"exchange": ("exchange", None), "otc_desk": ("exchange", "OTC desk"),
             "mixer": ("mixing_service", None), "darknet_market": ("market", None)}


def _label_provider(workdir: Path, case: dict) -> Path:
    """A label file as an investigator would have it: a commercial/public provider's service tags
    (hot and cold wallets, half of the deposit addresses, mixer and market addresses) and the
    ransom addresses the victims reported. Written from the simulator's truth, deliberately partial."""
    rows = []
    with open(workdir / "truth" / "addresses.csv") as fh:
        for i, r in enumerate(csv.DictReader(fh)):
            kind = _PROVIDER.get(r["category"])
            if kind is None or r["role"] in ("change", "wallet"):
                continue
            if r["role"] == "deposit" and i % 2:
                continue  # the provider does not know every deposit address
            label = r["actor"] + (f" ({kind[1]})" if kind[1] else "")
            rows.append((r["address"], label, kind[0], "simulated label provider"))
    for a in sorted(set(case["seed_addresses"])):
        rows.append((a, "ransomware-group-1", "ransomware", "victim reports"))
    path = workdir / "labels.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        w.writerows((*r, "BTC-REGTEST") for r in rows)
    return path


def _attribute_and_cluster(store: Store, labels: Path) -> None:
    from fundtrail.cluster.engine import run_clustering
    from fundtrail.tags.importer import import_paths

    (rep,) = import_paths(store, [labels], "csv")
    n_rows = sum(1 for _ in open(labels)) - 1
    typer.echo(f"\n4. attribution: {n_rows:,} tags in {labels.name} ({rep.status}): a label provider's service "
               "addresses, half the exchange deposit addresses, and the ransom addresses victims reported")
    summary = run_clustering(store, CHAIN)
    typer.echo(f"5. clustering (common-input ownership, CoinJoins skipped): {summary.n_clusters:,} clusters, "
               f"largest {summary.largest:,} addresses; untagged deposit addresses swept with tagged ones "
               "inherit their exchange")
    typer.echo(f"   (timing: clustering run #{summary.run_id}, {summary.mode}, {summary.seconds:.2f} s)")


def _investigate(store: Store, case: dict) -> dict:
    """Trace the ransom payments forward to the services that can freeze them, under each policy."""
    from fundtrail.trace.attribution import TagMap
    from fundtrail.trace.engine import trace
    from fundtrail.trace.graph import GraphIndex
    from fundtrail.trace.policies import whole_sat
    from fundtrail.trace.report import _Names
    from fundtrail.trace.seeds import parse_seed
    from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES

    g = GraphIndex.ensure(store, CHAIN)
    tm = TagMap.load(store, g)
    stop = tm.stop_rule(list(DEFAULT_STOP_CATEGORIES))
    seeds = [parse_seed(g, f"{s['txid']}:{s['vout']}").outputs[0] for s in case["seed_outputs"]]
    names = _Names(g)
    results = {p: trace(g, seeds, policy=p, stop=stop) for p in ("haircut", "fifo", "poison")}
    total = results["haircut"].seed_value
    typer.echo(f"\n6. tracing the {len(seeds)} ransom payments ({_btc(total)}) forward to services that can "
               "freeze funds (tagged exchanges, directly or through their cluster):")
    by_service: dict[str, dict[str, int]] = {}
    reached: set[str] = set()
    for policy, r in results.items():
        for e in r.endpoints:
            if e.reason == "service":
                service = (e.label or "?").split(": ", 1)[-1].split(" (cluster of")[0]
                by_service.setdefault(service, {}).setdefault(policy, 0)
                by_service[service][policy] += whole_sat(e.amount)
                reached.add(names.address(e.address) or "")
    typer.echo(f"   {'service':24s} {'haircut':>20s} {'FIFO':>20s} {'poison':>20s}")
    for service, amounts in sorted(by_service.items(), key=lambda kv: -kv[1].get("haircut", 0)):
        typer.echo(f"   {service[:24]:24s} " + " ".join(f"{_btc(amounts.get(p, 0)):>20s}"
                                                       for p in ("haircut", "fifo", "poison")))
    h = results["haircut"]
    unspent = sum(whole_sat(e.amount) for e in h.endpoints if e.reason == "unspent")
    typer.echo(f"   haircut: {_btc(sum(whole_sat(e.amount) for e in h.endpoints if e.reason == 'service'))} "
               f"reached services, {_btc(unspent)} still unspent (freeze targets), "
               f"{_btc(whole_sat(h.fees))} fees; {h.txs_visited:,} transactions traced")
    typer.echo(f"   (timing: haircut trace {h.elapsed_s * 1000:.1f} ms)")
    typer.echo("   poison counts every output a tainted coin touched in full (an upper bound, not conserved);"
               " haircut and FIFO conserve value: they differ because the group mixed in clean coins")
    return {"reached": reached, "graph": g}


def _risk(store: Store, case: dict, found: dict) -> None:
    from fundtrail.risk.assess import Assessor
    from fundtrail.risk.profile import load_profile

    prof = load_profile()
    assessor = Assessor(store, CHAIN, prof)
    ransom = case["seed_addresses"][0]
    cash = max(case["cashout_points"], key=lambda c: c["received_direct"])["address"]
    results = assessor.addresses([ransom, cash])
    typer.echo(f"\n7. risk under the {prof.label} profile (score 0-100, with its reasons):")
    for r, what in zip(results, ("a ransom address", "the busiest cash-out deposit")):
        top = r.reasons[0] if r.reasons else None
        why = ("no rule matched" if top is None else f"{top['rule']}: " + (
            f"tagged {top['tags'][0]['category']}" if top["kind"] == "tag" else
            f"{top['share']:.1%} of its funds {top['direction']} ({top['hops']}) from {top['category']}"))
        typer.echo(f"   {r.score:5.1f}  {what} {r.address}: {why}")


def _answer_key(case: dict, found: dict) -> None:
    """The simulator's ground truth, printed apart: what a complete trace must find."""
    ans = case["answers"]
    points = case["cashout_points"]
    hit = sum(1 for pt in points if pt["address"] in found["reached"])
    typer.echo(f"\n8. answer key (simulator ground truth, not an analysis result): the money was laundered by "
               f"{', '.join(case['typologies'])} and cashed out at {len(points)} exchange/OTC deposit addresses; "
               f"the trace reached {hit} of them. The key follows only the group's own coins (through the "
               "mixer and CoinJoins it stops at other customers); the trace also follows taint those services "
               "passed on, so its totals are larger:")
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
