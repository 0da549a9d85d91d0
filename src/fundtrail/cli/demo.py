"""The demo run by the README's main command: a simulated ransomware case, investigated.

It simulates a small economy with one ransomware case (real blk files), ingests it through the same
path as a node's files, and prints what an investigator would read: the ransom payments reported by
victims, what the chain shows about them (facts from the store), and where the analysis goes next.
The simulator's answer key is printed apart, so later stages (clustering, tracing, risk) can be
checked against it as they land. Last, the store is made ready for the web workbench: a local
investigator `demo` with a fresh random password (printed once; a re-run sets a new one, so no
password ever sits in a file), the command that serves it and the address to open. Before that,
the investigation is kept as a case, and its evidence bundle, court reports and freeze-request
letters are written to `<workdir>/case/` and the bundle verified (`demo_case`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from fundtrail.cli import demo_case
from fundtrail.cli.context import quiet, settings, workspace
from fundtrail.cli.progress import job_progress
from fundtrail.errors import UsageError
from fundtrail.sim.scenario import CASE, simulate
from fundtrail.workspace import Workspace
from fundtrail.workspace.jobs import ExportTransactionsRequest, IngestBitcoinRequest

CHAIN = "btc-regtest"
DEMO_USER = "demo"
#: Where `fundtrail serve` listens by default (its --host and --port).
WORKBENCH_URL = "http://127.0.0.1:8800/"

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


def run_demo(ctx: typer.Context, workdir: Path, *, seed: int = 7, txs: int = 4000) -> None:
    """Simulate, ingest and present the ransomware case; print next steps."""
    _clear_workdir(workdir)
    simulate(workdir, seed=seed, txs=txs)
    manifest = json.loads((workdir / "manifest.json").read_text())
    typer.echo(f"1. simulated a regtest economy (seed {seed}): {manifest['blocks']} blocks, "
               f"{manifest['transactions']:,} transactions, {manifest['actors']} actors, "
               f"{manifest['coinjoins']:,} CoinJoins, cases {', '.join(manifest['cases'])} -> {workdir}")
    store = settings(ctx).store
    ws = workspace(ctx, writable=True, create=True)
    with job_progress(quiet(ctx), "ingesting", rate_of="transactions") as progress:
        report = ws.ingest_bitcoin(IngestBitcoinRequest(blocks_dir=workdir / "blocks"), progress)
    typer.echo(f"2. ingested into {store}: {report.blocks} blocks, {report.transactions:,} "
               f"transactions, {report.unresolved_inputs} unresolved inputs, in {report.seconds:.1f}s")
    case = json.loads((workdir / "truth" / "cases" / f"{CASE}.json").read_text())
    _case_facts(ws, case)
    labels = _label_provider(workdir, case)
    _attribute_and_cluster(ws, labels)
    found = _investigate(ws, case)
    _risk(ws, case)
    _answer_key(case, found)
    typer.echo("\n9. the case file: seeds (the victims' reports), the traces saved under haircut and FIFO with the "
               "state they ran on, findings (facts and inferences)")
    case_id = demo_case.open_case(ws, case, CHAIN, _btc)
    folder = demo_case.write_case_files(ws, case_id, workdir, workdir / "blocks")
    exe = "fundtrail" if shutil.which("fundtrail") else os.path.relpath(sys.argv[0])
    seed_out = case["seed_outputs"][0]
    st = f"{exe} --store {store}"
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
    typer.echo(f"  {st} case show {case_id}                          (the case file)")
    typer.echo(f"  {exe} verify {folder / 'bundle.zip'}                (anyone can re-check the evidence)")
    _workbench(ws, st, seed_out["address"], case_id)


def _workbench(ws: Workspace, st: str, ransom: str, case_id: str) -> None:
    """Leave the store ready for the browser: user `demo` (investigator) with a new random password,
    set through the service layer (stored only as a slow salted hash), printed here and nowhere else."""
    password = secrets.token_urlsafe(15)  # 20 characters, 120 bits
    existing = next((u for u in ws.users_list().users if u.name == DEMO_USER), None)
    if existing is None:
        ws.users_add(DEMO_USER, role="investigator", password=password)
    else:
        ws.users_passwd(DEMO_USER, password)  # a re-run: the old password and its sessions end
    typer.echo(f"\nthe workbench, in the browser: user {DEMO_USER} (investigator); its password is shown only now, "
               f"and every demo run sets a new one (`{st} users passwd {DEMO_USER}` sets your own)")
    typer.echo(f"  password: {password}")
    if existing is not None and not existing.active:
        typer.echo(f"  (user {DEMO_USER} is disabled in this store, so the log-in will be refused: someone ran "
                   f"`users disable {DEMO_USER}`; add another user with `{st} users add NAME --role investigator`)")
    typer.echo(f"  serve it: {st} serve")
    ws.case_set_member(case_id, DEMO_USER, role="member")  # the case shows in the workbench too
    typer.echo(f"  then open {WORKBENCH_URL} , log in as {DEMO_USER} and search the ransom address {ransom}, "
               f"or open the case at {WORKBENCH_URL}cases/{case_id}")


def _case_facts(ws: Workspace, case: dict[str, Any]) -> None:
    """What the chain shows about the reported ransom payments: facts, no inference (read from
    the transaction export, as any other tool would)."""
    seeds = case["seed_outputs"]
    total = sum(s["value"] for s in seeds)
    typer.echo(f"\n3. the case ({case['case']}): victims report {len(seeds)} ransom payments, "
               f"{_btc(total)} in all, to {len({s['address'] for s in seeds})} addresses")
    buf = io.StringIO()
    ws.export_transactions(ExportTransactionsRequest(chain=CHAIN), stream=buf)
    wanted = {(s["txid"], s["vout"]) for s in seeds}
    paid: dict[str, dict[str, Any]] = {}
    spent: dict[tuple[str, int], dict[str, Any]] = {}
    for line in buf.getvalue().splitlines():
        tx = json.loads(line)
        if any(t == tx["txid"] for t, _ in wanted):
            paid[tx["txid"]] = tx
        for i in tx["inputs"]:
            if (i["prev_txid"], i["prev_vout"]) in wanted:
                spent[(i["prev_txid"], i["prev_vout"])] = tx
    for s in seeds:
        tx = paid.get(s["txid"])
        when = (f"block {tx['block_height']} ({_utc(tx['time'])} UTC)" if tx else "not in the store")
        typer.echo(f"   {s['address']}  received {_btc(s['value'])} in {when}")
        nxt = spent.get((s["txid"], s["vout"]))
        if nxt:
            value = sum(o["value"] for o in nxt["outputs"])
            typer.echo(f"      moved on in block {nxt['block_height']} by tx {nxt['txid'][:16]}… "
                       f"({len(nxt['outputs'])} outputs, {_btc(value)})")
        else:
            typer.echo("      still unspent: a freeze target")
    typer.echo("   these are on-chain facts; what follows are inferences (clusters, attribution) and "
               "conventions (taint policies), each labelled as such")


def _utc(epoch: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


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


def _attribute_and_cluster(ws: Workspace, labels: Path) -> None:
    from fundtrail.workspace.cluster_models import ClusterRunRequest
    from fundtrail.workspace.tag_models import TagImportRequest

    (rep,) = ws.tags_import(TagImportRequest(paths=[labels], format="csv")).files
    n_rows = len(labels.read_text().splitlines()) - 1
    typer.echo(f"\n4. attribution: {n_rows:,} tags in {labels.name} ({rep.status}): a label provider's service "
               "addresses, half the exchange deposit addresses, and the ransom addresses victims reported")
    summary = ws.cluster_run(ClusterRunRequest(chain=CHAIN))
    typer.echo(f"5. clustering (common-input ownership, CoinJoins skipped): {summary.n_clusters:,} clusters, "
               f"largest {summary.largest:,} addresses; untagged deposit addresses swept with tagged ones "
               "inherit their exchange")
    typer.echo(f"   (timing: clustering run #{summary.run_id}, {summary.mode}, {summary.seconds:.2f} s)")


def _investigate(ws: Workspace, case: dict[str, Any]) -> dict[str, Any]:
    """Trace the ransom payments forward to the services that can freeze them, under each policy."""
    from fundtrail.workspace.trace_models import TraceRequest

    ws.refresh()  # the tags imported and the clustering run above
    seeds: list[str | Any] = [f"{s['txid']}:{s['vout']}" for s in case["seed_outputs"]]
    results = {p: ws.trace(TraceRequest(seeds=seeds, policy=p, chain=CHAIN)) for p in ("haircut", "fifo", "poison")}
    h = results["haircut"]
    summary = h.summary or {}
    typer.echo(f"\n6. tracing the {len(seeds)} ransom payments ({_btc(summary['seed_value_sat'])}) forward to "
               "services that can freeze funds (tagged exchanges, directly or through their cluster):")
    by_service: dict[str, dict[str, int]] = {}
    reached: set[str] = set()
    for policy, r in results.items():
        for e in r.endpoints or []:
            if e["reason"] == "service":
                service = (e["label"] or "?").split(": ", 1)[-1].split(" (cluster of")[0]
                by_service.setdefault(service, {}).setdefault(policy, 0)
                by_service[service][policy] += int(e["amount_sat"])
                reached.add(e["address"] or "")
    typer.echo(f"   {'service':24s} {'haircut':>20s} {'FIFO':>20s} {'poison':>20s}")
    for service, amounts in sorted(by_service.items(), key=lambda kv: -kv[1].get("haircut", 0)):
        typer.echo(f"   {service[:24]:24s} " + " ".join(f"{_btc(amounts.get(p, 0)):>20s}"
                                                       for p in ("haircut", "fifo", "poison")))
    ends = h.endpoints or []
    unspent = sum(int(e["amount_sat"]) for e in ends if e["reason"] == "unspent")
    served = sum(int(e["amount_sat"]) for e in ends if e["reason"] == "service")
    typer.echo(f"   haircut: {_btc(served)} reached services, {_btc(unspent)} still unspent (freeze targets), "
               f"{_btc(summary['fees_sat'])} fees; {summary['txs_visited']:,} transactions traced")
    typer.echo(f"   (timing: haircut trace {h.elapsed_ms or 0:.1f} ms)")
    typer.echo("   poison counts every output a tainted coin touched in full (an upper bound, not conserved);"
               " haircut and FIFO conserve value: they differ because the group mixed in clean coins")
    return {"reached": reached}


def _risk(ws: Workspace, case: dict[str, Any]) -> None:
    from fundtrail.workspace.risk import RisksRequest

    ransom = case["seed_addresses"][0]
    cash = max(case["cashout_points"], key=lambda c: c["received_direct"])["address"]
    reports = ws.risks(RisksRequest(targets=[ransom, cash], chain=CHAIN)).reports
    typer.echo(f"\n7. risk under the {reports[0].profile} profile (score 0-100, with its reasons):")
    for r, what in zip(reports, ("a ransom address", "the busiest cash-out deposit")):
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
