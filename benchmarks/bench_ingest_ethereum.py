"""Benchmark: Ethereum/EVM ingest from a local anvil node, and from recorded responses.

    .venv/bin/python benchmarks/bench_ingest_ethereum.py [--txs 20000] [--per-block 200]

1. Starts anvil (npm package, installed by `make test`), deploys an ERC-20 token and sends --txs
   token transfers (token-heavy, like a stablecoin rail), --per-block per block.
2. Network ingest: `fundtrail`'s Ethereum pipeline against the node, recording every JSON-RPC
   answer; prints blocks/s and transfers/s, split into time waiting for the node and processing.
3. Processing only: the recorded answers replayed from memory through the same pipeline into a
   fresh store, pinned to one core: transfers/s with no network at all. Prints peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the anvil harness and contract artefacts of the tests


class Recorder:
    """Wraps a transport and remembers every answer, keyed by (method, params)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.answers: dict[str, object] = {}

    def request(self, payload):
        reply = self.inner.request(payload)
        for req, rep in zip(payload if isinstance(payload, list) else [payload],
                            reply if isinstance(reply, list) else [reply]):
            self.answers[json.dumps([req["method"], req.get("params", [])])] = rep.get("result")
        return reply

    def __str__(self) -> str:
        return str(self.inner)


class MemoryReplay:
    """Answers requests from a Recorder's memory (no network, no files)."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def request(self, payload):
        def one(req):
            key = json.dumps([req["method"], req.get("params", [])])
            if key not in self.answers:
                return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32601, "message": "not recorded"}}
            return {"jsonrpc": "2.0", "id": req["id"], "result": self.answers[key]}

        return [one(r) for r in payload] if isinstance(payload, list) else one(payload)

    def __str__(self) -> str:
        return "memory replay"


def build_chain(node, n_txs: int, per_block: int) -> int:
    from support.eth_scenario import calldata, deploy_data, load_artefacts

    art = load_artefacts()["TestToken"]
    accounts = node.accounts
    owner = accounts[0]
    deploy = node.rpc("eth_sendTransaction", {"from": owner, "data": deploy_data(art, "Bench", "BNC")})
    token = node.wait_receipt(deploy)["contractAddress"]
    node.automine(False)
    for acct in accounts[1:]:
        node.rpc("eth_sendTransaction", {"from": owner, "to": token,
                                         "data": calldata(art, "mint(address,uint256)", acct, 10**24)})
    node.mine(1)
    nonce = {a: int(node.rpc("eth_getTransactionCount", a, "pending"), 16) for a in accounts}
    sent = 0
    while sent < n_txs:
        batch = []
        for i in range(min(per_block, n_txs - sent)):
            frm = accounts[(sent + i) % len(accounts)]
            to = accounts[(sent + i * 7 + 3) % len(accounts)]
            batch.append({"jsonrpc": "2.0", "id": i, "method": "eth_sendTransaction",
                          "params": [{"from": frm, "to": token, "gas": "0x20000", "nonce": hex(nonce[frm]),
                                      "data": calldata(art, "transfer(address,uint256)", to, 1000 + i)}]})
            nonce[frm] += 1
        answers = _post(node.url, batch)
        bad = [a for a in answers if "error" in a]
        if bad:
            raise SystemExit(f"anvil refused transactions: {bad[0]['error']}")
        sent += len(batch)
        node.mine(1)
    for _ in range(1000):  # mine until the pool is empty
        pending = int(node.rpc("txpool_status")["pending"], 16)
        if not pending:
            break
        node.mine(1)
    return node.block_number()


def _post(url: str, payload) -> object:
    import urllib.request

    req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=20_000)
    ap.add_argument("--per-block", type=int, default=200)
    ap.add_argument("--limit-mb", type=int, default=0,
                    help="also replay under this memory budget (the address book spills beyond its share)")
    ap.add_argument("--hot", type=int, default=0,
                    help="with --limit-mb: force the book's hot table down to this many addresses")
    args = ap.parse_args()
    from support.anvil import Anvil

    from fundtrail.ingest.ethereum.jobs import ingest_ethereum
    from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
    from fundtrail.store import Store

    work = Path(tempfile.mkdtemp(prefix="fundtrail-eth-bench-"))
    try:
        with Anvil(extra_args=("--accounts", "50", "--gas-limit", "100000000")) as node:
            t = time.perf_counter()
            head = build_chain(node, args.txs, args.per_block)
            build_s = time.perf_counter() - t
            recorder = Recorder(HttpTransport(node.url))
            t = time.perf_counter()
            net = ingest_ethereum(Store.open(work / "net"), EthRpc(recorder), chain="anvil", first=0, last=head)
            net_s = time.perf_counter() - t
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        rep = ingest_ethereum(Store.open(work / "replay"), EthRpc(MemoryReplay(recorder.answers), concurrency=1),
                              chain="anvil", first=0, last=head)
        rep_s = time.perf_counter() - t
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bounded = ""
        if args.limit_mb:
            from fundtrail.ingest.bitcoin.spill_budget import memory_budget

            if args.hot:
                os.environ["FUNDTRAIL_TEST_HOT_ENTRIES"] = str(args.hot)
            t = time.perf_counter()
            with memory_budget(args.limit_mb << 20):
                b = ingest_ethereum(Store.open(work / "bounded"), EthRpc(MemoryReplay(recorder.answers),
                                    concurrency=1), chain="anvil", first=0, last=head)
            b_s = time.perf_counter() - t
            bounded = (f"the same under a {args.limit_mb} MB budget"
                       f"{f' (book hot table forced to {args.hot} addresses)' if args.hot else ''}: "
                       f"{b_s:.2f}s = {b.transfers / b_s:,.0f} transfers/s")
        print(f"chain: {head + 1} blocks, {net.transactions:,} transactions ({args.txs:,} ERC-20 transfers "
              f"sent, {args.per_block}/block), built in {build_s:.1f}s by anvil")
        print(f"network ingest (anvil on 127.0.0.1): {net_s:.2f}s = {net.blocks / net_s:,.0f} blocks/s, "
              f"{net.transfers / net_s:,.0f} transfers/s ({net.transfers:,} transfers); waiting for the node "
              f"{net.fetch_seconds:.2f}s ({100 * net.fetch_seconds / net_s:.0f}%), processing "
              f"{net.process_seconds:.2f}s ({100 * net.process_seconds / net_s:.0f}%)")
        print(f"recorded responses, processing only, 1 core: {rep_s:.2f}s = {rep.blocks / rep_s:,.0f} blocks/s, "
              f"{rep.transfers / rep_s:,.0f} transfers/s (decode {rep.fetch_seconds:.2f}s, build+write "
              f"{rep.process_seconds:.2f}s)")
        print(f"peak RSS: {rss1 / 1024:.0f} MB (before replay {rss0 / 1024:.0f} MB)")
        if bounded:
            print(bounded)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
