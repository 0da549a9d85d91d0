"""Helpers of the monitoring route tests (no tests here): a server of its own on a simulated chain
whose ransomware actor's addresses are tagged `ransomware` and whose cash-out points are tagged
`exchange` (from the simulator's ground truth), a second investigator, and the chain's
transactions parsed from the raw blocks by the tests' own parser (embit for addresses): the
oracle of what a registered transfer pays, spends and who paid it."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from embit.networks import NETWORKS
from embit.script import Script

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace
from support.blkfiles import blk_records
from support.reliability import parse_block
from tests.api.conftest import Server, build_store, start

CHAIN = "btc-regtest"


def _address(script: bytes) -> str | None:
    try:
        return str(Script(script).address(NETWORKS["regtest"]))
    except Exception:  # noqa: BLE001 - embit raises several kinds for scripts without an address form
        return None


@dataclass
class Chain:
    """The raw chain as the oracle reads it: txid -> inputs (prevouts) and outputs (value, address)."""

    txs: dict[str, dict[str, Any]]

    def output(self, txid: str, n: int) -> tuple[int, str | None]:
        return self.txs[txid]["outputs"][n]

    def funders(self, txid: str) -> list[tuple[str, int, str | None]]:
        """(prevout, value, address) of each input whose spent output is on the chain."""
        out = []
        for prev_txid, vout in self.txs[txid]["inputs"]:
            if prev_txid in self.txs:
                value, address = self.output(prev_txid, vout)
                out.append((f"{prev_txid}:{vout}", value, address))
        return out


def parse_chain(sim: Path) -> Chain:
    txs: dict[str, dict[str, Any]] = {}
    for h, rec in enumerate(blk_records(sim / "blocks/blk00000.dat")):
        for tx in parse_block(rec[8:]):
            txs[tx.txid[::-1].hex()] = {"height": h, "inputs": [(p[0][::-1].hex(), p[1]) for p in tx.inputs],
                                        "outputs": [(v, _address(s)) for v, s in tx.outputs]}
    return Chain(txs)


@dataclass
class World:
    """A monitoring server and its oracle."""

    server: Server
    chain: Chain
    truth: dict[str, Any]
    actor: str  # the ransomware actor, tagged `ransomware`
    actor_addresses: set[str]
    tokens: dict[str, str]  # extra users: investigator2

    def client(self, who: str) -> httpx.Client:
        if who in self.tokens:
            return httpx.Client(base_url=self.server.url, headers={"Authorization": f"Bearer {self.tokens[who]}"},
                                timeout=120)
        return self.server.client(who)


def build_world(base: Path, **settings: object) -> World:
    """The server (settings as given) on a clustered store with ground-truth tags."""
    store, tokens, sim = build_store(base, cluster=True)
    truth = json.loads((sim / "truth/cases/ransomware-1.json").read_text())
    with open(sim / "truth/addresses.csv") as fh:
        mine = {r["address"] for r in csv.DictReader(fh) if r["actor"] == truth["actor"]}
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        for a in sorted(mine):
            w.writerow([a, truth["actor"], "ransomware", "test ground truth", "BTC-REGTEST"])
        for p in truth["cashout_points"]:
            w.writerow([p["address"], p["actor"], "exchange", "test ground truth", "BTC-REGTEST"])
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    ws.users_add("investigator2", role="investigator")
    extra = {"investigator2": ws.tokens_create("investigator2").token}
    server = start(store, tokens, sim, **settings)
    return World(server, parse_chain(sim), truth, truth["actor"], mine, extra)


def catalog_rows(store: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a catalog query, read-only (what the store holds, not what a route says)."""
    from fundtrail.store import Store

    with Store(store).connect(read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
