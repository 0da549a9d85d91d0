"""The demo run by the README's main command.

Until the simulator lands it writes fundtrail's own sample chain in Bitcoin Core's on-disk format
(shuffled blk files, XOR-obfuscated like Core 28+, with a stale fork), ingests it through the same
path as a real node's files, and shows what the store now answers.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import typer

from fundtrail.chains.bitcoin.samplechain import sample_chain_blocks_dir
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions, status


def run_demo(settings: Settings, workdir: Path, *, quiet: bool = False) -> None:
    """Write, ingest and summarise the sample chain; print next steps."""
    blocks = workdir / "blocks"
    if blocks.exists():
        shutil.rmtree(blocks)
    chain = sample_chain_blocks_dir(blocks, seed=7, xor_key=bytes.fromhex("a1b2c3d4e5f60718"))
    n_files = len(list(blocks.glob("blk*.dat")))
    typer.echo(f"1. wrote a sample regtest chain: {len(chain.blocks)} blocks + {len(chain.stale)} stale, "
               f"shuffled over {n_files} blk files, XOR-obfuscated, in {blocks}")
    store = Store.open(settings.store)
    report = ingest_blocks_dir(store, blocks)
    typer.echo(f"2. ingested into {settings.store}: {report.blocks} new blocks "
               f"({report.skipped_known} already stored), {report.transactions} transactions, "
               f"{report.stale} stale block(s) left out, in {report.seconds:.2f}s")
    st = status(store)
    for c in st["chains"]:
        typer.echo(f"3. store now holds {c['chain']}: heights {c['min_height']}..{c['max_height']}, "
                   f"{c['transactions']:,} transactions, {c['outputs']:,} outputs, "
                   f"{c['addresses']:,} distinct addresses; tip {c['tip_hash']}")
    p = "btc_regtest"
    with store.query() as con:
        types = con.execute(
            f"SELECT script_type, count(*), sum(value) FROM {p}_outputs GROUP BY 1 ORDER BY 2 DESC").fetchall()
        reuse = con.execute(
            f"SELECT address_id, count(*) AS n FROM {p}_outputs WHERE address_id IS NOT NULL "
            "AND script_type <> 9 GROUP BY 1 HAVING n > 1 ORDER BY n DESC LIMIT 1").fetchone()
        biggest = con.execute(
            f"SELECT block_height FROM {p}_transactions WHERE NOT is_coinbase "
            "ORDER BY output_value DESC LIMIT 1").fetchone()
    from fundtrail.chains.bitcoin.script import ScriptType

    typer.echo("4. outputs by script type:")
    for st_code, n, total in types:
        typer.echo(f"     {ScriptType(st_code).export_name:16s} {n:6,d} outputs {total / 1e8:14,.8f} BTC")
    if reuse:
        typer.echo(f"5. the most reused address received {reuse[1]} outputs: reuse ties payments to one owner")
    if biggest:
        tx = max((t for t in iter_transactions(store, "btc-regtest", from_height=biggest[0], to_height=biggest[0])
                  if not t["coinbase"]), key=lambda t: sum(o["value"] for o in t["outputs"]))
        typer.echo("6. the largest payment, as the export contract writes it:")
        typer.echo("     " + json.dumps(tx)[:400] + ("…" if len(json.dumps(tx)) > 400 else ""))
    exe = "fundtrail" if shutil.which("fundtrail") else os.path.relpath(sys.argv[0])
    typer.echo(f"\nnext: {exe} --store {settings.store} status")
    typer.echo(f"      {exe} --store {settings.store} export transactions --chain btc-regtest "
               "--format jsonl --from-height 10 --to-height 12")
    typer.echo(f"      {exe} ingest bitcoin --blocks-dir ~/.bitcoin/blocks   (your own node's files, node stopped)")
