"""`simulate_evm`: play the EVM scenario on anvil and write truth, recording and manifest.

Everything is written under `OUT/.incomplete/` and moved into place at the end, the manifest last,
so an interrupted run leaves no half-written output; a rerun clears the leftovers and, being
deterministic, writes what the uninterrupted run would have.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from fundtrail.errors import SourceError, UsageError
from fundtrail.sim.evm.case import CASE, TheftCase
from fundtrail.sim.evm.chain import Chain
from fundtrail.sim.evm.economy import Economy
from fundtrail.sim.evm.node import AnvilProcess, EvmNode
from fundtrail.sim.evm.record import record_chain
from fundtrail.sim.evm.truth import movements, write_truth

SCENARIOS = ("default",)
Progress = Callable[[str, int, int], None]
MIN_TXS = 300


def simulate_evm(out: Path, *, seed: int, txs: int = 2_000, scenario: str = "default",
                 rpc_url: str | None = None, record: bool = True,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Simulate about `txs` transactions on an EVM chain; return the manifest."""
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if txs < MIN_TXS:
        raise UsageError(f"--txs {txs} is too small; the EVM scenario needs at least {MIN_TXS}")
    if not record and rpc_url is None:
        raise UsageError("--no-record needs --rpc-url: the anvil started here stops at the end, so "
                         "no chain would be left to ingest")
    out = Path(out)
    if (out / "manifest.json").exists() or (out / "truth").exists():
        raise UsageError(f"{out} already holds a simulation", hint="choose a new --out directory")
    work = out / ".incomplete"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with ExitStack() as stack:
        url = rpc_url or stack.enter_context(AnvilProcess()).url
        node = EvmNode(url)
        chain = Chain(node)
        chain.setup()
        eco = Economy(chain, seed, txs)
        eco.setup()
        case = TheftCase(eco)
        while len(chain.mined) < txs or not case.done:
            eco.plan_block()
            if case.start >= 0 or len(chain.mined) >= txs // 4:
                case.plan_block()
            chain.mine()
            if chain.block > 10 * txs:
                raise SourceError(f"simulator bug: the case did not finish by block {chain.block}")
            if progress is not None:
                progress("blocks", len(chain.mined), txs)
        transfers = movements(chain.mined)
        doc = write_truth(work, eco, case, transfers)
        files = 0
        if record:
            files = record_chain(node, work / "rpc", chain.block, [eco.world.c.stable],
                                 None if progress is None else
                                 lambda n, tip: progress("recording", n, tip))
    manifest = {
        "chain": "anvil", "chain_id": chain.chain_id, "seed": seed, "scenario": scenario,
        "blocks": chain.block + 1, "transactions": len(chain.mined), "transfers": len(transfers),
        "addresses": len(eco.registry.addresses), "actors": len(eco.registry.actors),
        "cases": [CASE], "contracts": {
            "stablecoin": eco.world.c.stable, "pair": eco.world.c.pair,
            "bridge": eco.world.c.bridge, "batcher": eco.world.c.batcher,
            "pools": {str(d): a for d, a in eco.world.c.pools.items()}},
        "genesis_allocations": {a: str(v) for a, v in chain.genesis.items()},
        "recording": "rpc" if record else None, "recorded_files": files,
        "case_transactions": len(doc["transactions"]),
        "files": _digests(work),
    }
    for item in sorted(work.iterdir()):
        shutil.move(str(item), str(out / item.name))
    work.rmdir()
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


def _digests(root: Path) -> dict[str, str]:
    """SHA-256 of the truth files (the recording is large; its file count is in the manifest)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "truth").rglob("*")) if p.is_file()}
