"""The nodes corpus as figures: fake Bitcoin and Ethereum nodes on 127.0.0.1, one misbehaviour each.

Runs every case of `tests/ingest/test_fake_nodes.py` through the real CLI and prints: inputs
tried, clean errors (one line, exit code 2-6), recovered (exit 0, same store as a clean run),
tracebacks, hangs (over the case's time bound) and data wrong or lost (store changed). Then the
cost of Ethereum block verification on an ingest of recorded mainnet blocks (replayed, so the
node's speed is out of the figure). Needs ../shared/data (or FUNDTRAIL_TESTDATA).

    .venv/bin/python benchmarks/reliability_nodes.py
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _corpus():
    spec = importlib.util.spec_from_file_location("fake_nodes", ROOT / "tests" / "ingest" / "test_fake_nodes.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fake_nodes"] = mod
    spec.loader.exec_module(mod)
    return mod


def _capture(fn):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = fn()
    return code, err.getvalue()


def run_corpus() -> dict[str, int]:
    m = _corpus()
    counts = dict.fromkeys(("inputs", "clean errors", "recovered", "tracebacks", "hangs",
                            "data wrong or lost"), 0)
    bound = m.RPC_DEADLINE * 4 + 5
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        for case in m.all_cases():
            out = m.run_case(case, Path(tmp), _capture)
            counts["inputs"] += 1
            lines = m.error_lines(out.stderr)
            if out.traceback:
                counts["tracebacks"] += 1
                print(f"  TRACEBACK {case.name}: {out.stderr.strip()[-200:]}")
            elif out.seconds > bound:
                counts["hangs"] += 1
            if out.changed:
                counts["data wrong or lost"] += 1
                print(f"  STORE CHANGED {case.name}")
            if case.recovers and out.code == 0 and not out.changed:
                counts["recovered"] += 1
            elif not case.recovers and out.code in (2, 3, 4, 5, 6) and len(lines) == 1:
                counts["clean errors"] += 1
            elif not out.traceback:
                print(f"  UNEXPECTED {case.name}: exit {out.code}: {out.stderr.strip()[:200]}")
    logging.disable(logging.NOTSET)
    return counts


def verification_cost(repeat: int = 5) -> dict[str, float]:
    """Seconds to replay-ingest the recorded mainnet blocks with and without verification, and the
    verification of one 116-transaction block's worth of hashing (per block, median)."""
    from fundtrail.ingest.ethereum import fetch
    from fundtrail.ingest.ethereum.jobs import ingest_ethereum
    from fundtrail.ingest.ethereum.replay import ReplayTransport
    from fundtrail.ingest.ethereum.rpc import EthRpc
    from fundtrail.store import Store

    data = ROOT.parent / "shared" / "data" / "eth" / "ethereum-etl-fixtures" / "test_stream" / "blocks_1755634_1755635"
    real_verify = fetch.verify_block
    out = {}
    for label, verify in (("verified", real_verify), ("not verified", lambda *a: False)):
        times = []
        for _ in range(repeat):
            fetch.verify_block = verify
            with tempfile.TemporaryDirectory() as tmp:
                rpc = EthRpc(ReplayTransport(data, unrecorded_as_rpc_error=True), trace_mode="none")
                t = time.perf_counter()
                ingest_ethereum(Store.open(Path(tmp) / "s"), rpc, chain="eth", first=1755634, last=1755635,
                                recorded=[1755634, 1755635])
                times.append(time.perf_counter() - t)
        out[label] = statistics.median(times)
    fetch.verify_block = real_verify
    # the hashing alone, per block, on the recorded block with receipts
    import json
    from fundtrail.ingest.ethereum.verify import verify_block
    from fundtrail.model.chains import EVM_CHAINS

    def load(p: Path):
        d = json.loads(p.read_text())
        return d.get("result", d)
    block = load(data / "web3_response.eth_getBlockByNumber_0x1ac9f3_true.json")
    receipts = [load(data / f"web3_response.eth_getTransactionReceipt_{t['hash']}.json")
                for t in block["transactions"]]
    t = time.perf_counter()
    for _ in range(200):
        verify_block(EVM_CHAINS["eth"], block, receipts, "bench")
    out["verify one block (2 txs + receipts), ms"] = (time.perf_counter() - t) / 200 * 1000
    return out


def main() -> None:
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    t = time.perf_counter()
    counts = run_corpus()
    print(f"nodes corpus ({time.perf_counter() - t:.0f} s):")
    for k, v in counts.items():
        print(f"  {k}: {v}")
    for k, v in verification_cost().items():
        print(f"  ingest {k}: {v:.4f}" if "ms" not in k else f"  {k}: {v:.3f}")


if __name__ == "__main__":
    main()
