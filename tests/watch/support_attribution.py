"""Helpers of the re-attribution and risk-above tests: a store of the simulated case's head with no
tags at all (the label provider has not spoken yet), label files for chosen addresses, and the
oracles from the simulator's truth (addresses.csv, coinjoins.csv, the FIFO answer key)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb

from fundtrail.cli.main import main

CURRENCY = "BTC-REGTEST"


def head_store(world: dict[str, Any], dst: Path) -> Path:
    """The head blocks ingested by the CLI into a new store, without any tag."""
    assert main(["-q", "--store", str(dst), "ingest", "bitcoin", "--raw", str(world["base"] / "head.dat")]) == 0
    return dst


def labels(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A label CSV of (address, label, category) rows."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        for address, label, category in rows:
            w.writerow([address, label, category, "test label provider", CURRENCY])
    return path


def truth_addresses(world: dict[str, Any]) -> dict[str, dict[str, str]]:
    """address -> its row of the simulator's addresses.csv (actor, category, role)."""
    with open(world["base"] / "sim/truth/addresses.csv") as fh:
        return {r["address"]: r for r in csv.DictReader(fh)}


def outputs(world: dict[str, Any]) -> dict[tuple[str, int], tuple[int, str | None, int]]:
    """(txid, vout) -> (value, address, height) from the raw blocks."""
    return {(t["txid"], n): (v, a, t["height"]) for t in world["txs"] for n, (v, a) in enumerate(t["outputs"])}


def spent_at(world: dict[str, Any]) -> dict[tuple[str, int], int]:
    """(txid, vout) -> the height of the block spending it."""
    return {tuple(p): t["height"] for t in world["txs"] for p in t["inputs"]}  # type: ignore[misc]


def multi_input_clusters(world: dict[str, Any]) -> dict[str, str]:
    """address -> a representative of its multi-input cluster (union-find over the raw blocks,
    coinjoins of the truth excluded), the tests' own view of what `cluster run` should join."""
    with open(world["base"] / "sim/truth/coinjoins.csv") as fh:
        coinjoins = {r["txid"] for r in csv.DictReader(fh)}
    outs = outputs(world)
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.get(a, a) != a:
            a = parent[a]
        return a

    for t in world["txs"]:
        if t["txid"] in coinjoins:
            continue
        addrs = [outs[tuple(p)][1] for p in t["inputs"] if tuple(p) in outs and outs[tuple(p)][1]]
        for a in addrs[1:]:
            ra, rb = find(str(addrs[0])), find(str(a))
            if ra != rb:
                parent[ra] = rb
    return {a: find(a) for t in world["txs"] for _, a in t["outputs"] if a}


def in_frontier(world: dict[str, Any], output: str) -> bool:
    """Whether a frontier watched from the head tip on holds the output: created in the tail, or
    created in the head and still unspent at its tip."""
    txid, vout = output.split(":")
    key = (txid, int(vout))
    _, _, height = outputs(world)[key]
    return height > world["head_tip"] or spent_at(world).get(key, 10**9) > world["head_tip"]


def fifo_arrivals(world: dict[str, Any]) -> dict[str, int]:
    """The FIFO answer key: output -> satoshi of the case's funds arriving there."""
    return {k: int(v) for k, v in world["truth"]["answers"]["fifo"]["arrived_outputs"].items()}


def catalog(store: Path, sql: str, args: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(store / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql, args or []).fetchall()
    finally:
        con.close()


def json_of(text: str) -> Any:
    return json.loads(text)
