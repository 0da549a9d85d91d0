"""`fundtrail simulate`: write a synthetic chain with laundering typologies and ground truth."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from fundtrail.errors import UsageError
from fundtrail.sim.scenario import simulate


def register(app: typer.Typer) -> None:
    """Add the `simulate` command to the top-level app."""

    @app.command("simulate")
    def simulate_cmd(
        ctx: typer.Context,
        chain: str = typer.Option("btc", "--chain", help="btc (eth comes later)."),
        scenario: str = typer.Option("default", "--scenario", help="Scenario name (default)."),
        seed: int = typer.Option(1, "--seed", help="Random seed; the same seed gives identical files."),
        txs: int = typer.Option(20_000, "--txs", help="About this many transactions."),
        out: Path = typer.Option(..., "--out", help="Output directory (blocks/, truth/, manifest.json)."),
        as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    ) -> None:
        """Simulate an economy with one ransomware case; ingest with `ingest bitcoin --blocks-dir OUT/blocks`."""
        if chain == "eth":
            raise UsageError("not yet: EVM simulation comes with the Ethereum part of the simulator "
                             "issue", hint="use --chain btc")
        if chain != "btc":
            raise UsageError(f"--chain {chain!r} is not known; use btc")
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
                   f"({m['addresses']:,} addresses, {len(m['cases'])} case) in "
                   f"{time.perf_counter() - t0:.1f}s -> {out}; next: fundtrail ingest bitcoin "
                   f"--blocks-dir {out / 'blocks'}")
