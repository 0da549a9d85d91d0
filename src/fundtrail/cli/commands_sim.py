"""`fundtrail simulate`: write a synthetic chain with laundering typologies and ground truth."""

from __future__ import annotations

from collections.abc import Callable

import json
import sys
import time
from pathlib import Path

import typer

from fundtrail.errors import UsageError
from fundtrail.sim import exercise_check
from fundtrail.sim.exercises import EXERCISES, make_exercise
from fundtrail.sim.scenario import simulate

exercise_app = typer.Typer(help="Score trainees' answers to simulated exercises.",
                           no_args_is_help=True)


@exercise_app.command("check")
def exercise_check_cmd(
    answers: Path = typer.Argument(..., help="The trainee's ANSWERS.json (format in brief.md)."),
    key: Path = typer.Option(..., "--key", help="instructor/answer-key.json of the exercise."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured result as JSON."),
) -> None:
    """Score ANSWERS.json 0-100 against the answer key, with feedback per address and outpoint."""
    k = exercise_check.load_key(key)
    result = exercise_check.score(exercise_check.load_answers(answers), k)
    typer.echo(json.dumps(result, indent=2, sort_keys=True) if as_json
               else exercise_check.render(result))


def check_out_dir(out: Path, option: str) -> None:
    """An output directory must be a directory or not exist yet (its parent is then created)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option} {out} is a file, not a directory; give a directory to write into")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {out}: {parent} is a file, not a directory")
            break


def register(app: typer.Typer) -> None:
    """Add the `simulate` command and the `exercise` group to the top-level app."""
    app.add_typer(exercise_app, name="exercise")

    @app.command("simulate")
    def simulate_cmd(
        ctx: typer.Context,
        chain: str = typer.Option("btc", "--chain", help="btc, eth (an EVM chain on anvil), or tron "
                                  "(java-tron answers, no node)."),
        scenario: str = typer.Option("default", "--scenario", help="Scenario name (default)."),
        seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives identical files."),
        txs: int | None = typer.Option(None, "--txs", help="About this many transactions "
                                          "[default 20,000; 3,000 for --exercise]."),
        exercise: str | None = typer.Option(None, "--exercise", help="Write a training exercise: "
                                               + ", ".join(EXERCISES) + "."),
        out: Path = typer.Option(..., "--out", help="Output directory (blocks/, truth/, manifest.json)."),
        rpc_url: str | None = typer.Option(None, "--rpc-url", help="eth: drive this fresh anvil node "
                                              "instead of starting one."),
        record: bool = typer.Option(True, "--record/--no-record", help="eth: write the recorded "
                                    "JSON-RPC responses to OUT/rpc (for ingest --replay)."),
        as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    ) -> None:
        """Simulate an economy with laundering cases and ground truth (btc: blk files; eth: an anvil node;
        tron: java-tron answers)."""
        check_out_dir(out, "--out")
        if chain == "eth":
            if exercise is not None:
                raise UsageError("--exercise is for --chain btc only")
            _simulate_eth(ctx, scenario=scenario, seed=seed, txs=txs, out=out, rpc_url=rpc_url,
                          record=record, as_json=as_json)
            return
        if chain == "tron":
            if exercise is not None or rpc_url is not None or not record:
                raise UsageError("--exercise, --rpc-url and --no-record are not for --chain tron",
                                 field="chain")
            _simulate_tron(ctx, scenario=scenario, seed=seed, txs=txs, out=out, as_json=as_json)
            return
        if chain != "btc":
            raise UsageError(f"--chain {chain!r} is not known; use btc, eth or tron")
        if rpc_url is not None:
            raise UsageError("--rpc-url is for --chain eth only")
        if exercise is not None:
            if scenario != "default":
                raise UsageError("--exercise and --scenario cannot be combined")
            key = make_exercise(out, exercise, seed=seed, txs=3_000 if txs is None else txs)
            if as_json:
                typer.echo(json.dumps({"exercise": exercise, "seed": seed, "out": str(out),
                                       "brief": str(out / "brief.md"),
                                       "key": str(out / "instructor" / "answer-key.json"),
                                       "difficulty": key["difficulty"]}, indent=2, sort_keys=True))
                return
            typer.echo(f"exercise {exercise} (seed {seed}) -> {out}: give trainees brief.md and "
                       f"blocks/; keep {out / 'instructor'} (answer key, ground truth) apart; score "
                       f"with: fundtrail exercise check ANSWERS.json --key "
                       f"{out / 'instructor' / 'answer-key.json'}")
            return
        txs = 20_000 if txs is None else txs
        quiet = bool((ctx.obj or {}).get("quiet"))
        show = not quiet and (txs >= 100_000 or sys.stderr.isatty())
        t0 = time.perf_counter()
        last = [0.0]

        def progress(done: int, target: int) -> None:
            now = time.perf_counter()
            if now - last[0] >= 1.0:
                last[0] = now
                rate = done / max(now - t0, 1e-9)
                typer.echo(f"simulating: {done:,}/{target:,} transactions ({rate:,.0f} tx/s)",
                           err=True)

        result = simulate(out, seed=seed, txs=txs, scenario=scenario,
                          progress=progress if show else None)
        m = result.manifest
        if as_json:
            typer.echo(json.dumps(m, indent=2, sort_keys=True))
            return
        typer.echo(f"simulated {m['transactions']:,} transactions in {m['blocks']:,} blocks "
                   f"({m['addresses']:,} addresses, {len(m['cases'])} case{'s' if len(m['cases']) != 1 else ''}) in "
                   f"{time.perf_counter() - t0:.1f}s -> {out}; next: fundtrail ingest bitcoin "
                   f"--blocks-dir {out / 'blocks'}")


def _throttled(chain: str, unit: Callable[[str], str]) -> Callable[[str, int, int], None]:
    """A progress callback printing at most once a second to stderr."""
    last = [0.0]

    def progress(stage: str, done: int, target: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1.0:
            last[0] = now
            typer.echo(f"simulating {chain}: {done:,}/{target:,} {unit(stage)}", err=True)

    return progress


def _simulate_eth(ctx: typer.Context, *, scenario: str, seed: int, txs: int | None, out: Path,
                  rpc_url: str | None, record: bool, as_json: bool) -> None:
    """`simulate --chain eth`: the EVM scenario on anvil (docs/simulator-evm.md)."""
    from fundtrail.sim.evm.scenario import simulate_evm

    txs = 2_000 if txs is None else txs
    quiet = bool((ctx.obj or {}).get("quiet"))
    t0 = time.perf_counter()
    progress = _throttled("eth", lambda stage: "transactions" if stage == "blocks" else "blocks recorded")
    m = simulate_evm(out, seed=seed, txs=txs, scenario=scenario, rpc_url=rpc_url, record=record,
                     progress=None if quiet else progress)
    if as_json:
        typer.echo(json.dumps(m, indent=2, sort_keys=True))
        return
    nxt = (f"; next: fundtrail ingest ethereum --replay {out / 'rpc'}" if record else "")
    typer.echo(f"simulated {m['transactions']:,} transactions in {m['blocks']:,} blocks "
               f"({m['transfers']:,} transfers, {m['addresses']:,} addresses, case "
               f"{', '.join(m['cases'])}) in {time.perf_counter() - t0:.1f}s -> {out}{nxt}")


def _simulate_tron(ctx: typer.Context, *, scenario: str, seed: int, txs: int | None, out: Path,
                   as_json: bool) -> None:
    """`simulate --chain tron`: the TRON scenario as java-tron answers (docs/simulator-tron.md)."""
    from fundtrail.sim.tron.scenario import simulate_tron

    txs = 2_000 if txs is None else txs
    quiet = bool((ctx.obj or {}).get("quiet"))
    t0 = time.perf_counter()
    progress = _throttled("tron", lambda stage: stage)
    m = simulate_tron(out, seed=seed, txs=txs, scenario=scenario, progress=None if quiet else progress)
    if as_json:
        typer.echo(json.dumps(m, indent=2, sort_keys=True))
        return
    typer.echo(f"simulated {m['transactions']:,} transactions in {m['blocks']:,} blocks "
               f"({m['transfers']:,} transfers, {m['addresses']:,} addresses, case "
               f"{', '.join(m['cases'])}) in {time.perf_counter() - t0:.1f}s -> {out}; next: "
               f"fundtrail ingest tron --replay {out / 'rpc'}")
