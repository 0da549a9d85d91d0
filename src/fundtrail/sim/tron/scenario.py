"""`simulate_tron`: plan the TRON economy and case, write the java-tron recording and the truth.

No node is involved: the simulator writes what java-tron's HTTP API would answer
(`/wallet/getblockbynum`, `/wallet/gettransactioninfobyblocknum`, `getnowblock`, and USDT's
`name()`/`symbol()`/`decimals()` by `triggerconstantcontract`) in the replay format of
docs/tron.md, so `fundtrail ingest tron --replay OUT/rpc` reads it. Everything is written under
`OUT/.incomplete/` and moved into place at the end, the manifest last: an interrupted run leaves
nothing that looks finished, and a rerun gives the files of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fundtrail.chains.ethereum.recording import file_name
from fundtrail.errors import UsageError
from fundtrail.ingest.tron.replay import tron_key
from fundtrail.sim.tron.case import CASE, TheftCase
from fundtrail.sim.tron.render import render_block, render_genesis
from fundtrail.sim.tron.economy import USDT, Economy
from fundtrail.sim.tron.truth import movements, write_truth

SCENARIOS = ("default",)
MIN_TXS = 300
Progress = Callable[[str, int, int], None]
_ZERO_OWNER = "41" + "00" * 20


def _abi_text(text: str) -> str:
    raw = text.encode()
    return (32).to_bytes(32, "big").hex() + len(raw).to_bytes(32, "big").hex() + raw.ljust(32, b"\0").hex()


def _write(rpc: Path, path: str, body: dict[str, Any], answer: Any) -> None:
    (rpc / file_name(tron_key(path, body))).write_text(json.dumps(answer, separators=(",", ":")), encoding="utf-8")


def simulate_tron(out: Path, *, seed: int, txs: int = 2_000, scenario: str = "default",
                  progress: Progress | None = None) -> dict[str, Any]:
    """Simulate about `txs` TRON transactions with the case; write OUT/rpc, OUT/truth and the manifest."""
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}", field="scenario")
    if txs < MIN_TXS:
        raise UsageError(f"--txs {txs} is too small; the TRON scenario needs at least {MIN_TXS}", field="txs")
    out = Path(out)
    if (out / "manifest.json").exists() or (out / "truth").exists():
        raise UsageError(f"{out} already holds a simulation", hint="choose a new --out directory")
    work = out / ".incomplete"
    shutil.rmtree(work, ignore_errors=True)
    rpc = work / "rpc"
    rpc.mkdir(parents=True)
    eco = Economy(seed, txs)
    eco.setup()
    case = TheftCase(eco)
    chain = eco.chain
    def record(number: int, txs_of_block: list) -> None:
        block, infos = render_block(chain, number, txs_of_block)
        _write(rpc, "/wallet/getblockbynum", {"num": number}, block)
        if txs_of_block:
            _write(rpc, "/wallet/gettransactioninfobyblocknum", {"num": number}, infos)

    for number, block_txs in enumerate(eco.setup_blocks, start=1):
        record(number, block_txs)
    last: list = []
    while len(chain.mined) < txs or not case.done:
        eco.plan_block()
        if case.start >= 0 or len(chain.mined) >= txs // 4:
            case.plan_block()
        last = chain.mine()
        record(chain.block, last)
        if progress is not None:
            progress("transactions", len(chain.mined), txs)
    genesis = render_genesis(chain)
    _write(rpc, "/wallet/getblockbynum", {"num": 0}, genesis)
    # one (empty) result per allocation: `ingest tron` asks one per transaction of every block
    _write(rpc, "/wallet/gettransactioninfobyblocknum", {"num": 0},
           [{"id": t["txID"], "blockNumber": 0, "receipt": {}} for t in genesis["transactions"]])
    head, _ = render_block(chain, chain.block, last)
    _write(rpc, "/wallet/getnowblock", {}, head)
    for selector, value in (("name()", _abi_text("Tether USD")), ("symbol()", _abi_text("USDT")),
                            ("decimals()", (6).to_bytes(32, "big").hex())):
        _write(rpc, "/wallet/triggerconstantcontract",
               {"owner_address": _ZERO_OWNER, "contract_address": "41" + USDT.hex(), "function_selector": selector,
                "parameter": ""}, {"result": {"result": True}, "energy_used": 300, "constant_result": [value]})
    transfers = movements(eco)
    doc = write_truth(work, eco, case, transfers)
    manifest = {
        "chain": "tron", "seed": seed, "scenario": scenario, "blocks": chain.block + 1,
        "transactions": len(chain.mined) + len(chain.genesis), "transfers": len(transfers),
        "addresses": len(eco.reg.addresses), "actors": len(eco.reg.actors), "cases": [CASE],
        "token": chain.token_text, "recording": "rpc", "recorded_files": sum(1 for _ in rpc.iterdir()),
        "case_transactions": len(doc["transactions"]), "files": _digests(work),
    }
    for item in sorted(work.iterdir()):
        shutil.move(str(item), str(out / item.name))
    work.rmdir()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "truth").rglob("*")) if p.is_file()}
