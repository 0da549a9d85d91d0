"""Stores and servers of the workbench-graph tests (issue 15).

- `labelled_store`: the API tests' simulated Bitcoin chain (`conftest.build_store`), with the
  simulator's exchanges and the ransom addresses tagged as an investigator's label provider would
  have them (the demo's choice), then clustered, all through the CLI; a user and token per role.
- `wide_store`: a three-block regtest chain written with the block writer: a transaction paying
  5,000 outputs (pairs of them to one address, one OP_RETURN, one bare multisig: a script without
  an address form) and one spending 300 of them, so the paging of a wide transaction is tested on
  a real ingested store.
- `evm_store`: the EVM simulator's chain (recorded on a real anvil node), its exchanges tagged.

Imported as `tests.api.graph_support` (as `support_live` is).
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path


from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace
from tests.api.conftest import ROLES, build_store

CHAIN = "btc-regtest"
WIDE_OUTPUTS = 5_000
GATHERED = 300
#: outputs 0..PAIRED-1 of the wide transaction go two by two to one address
PAIRED = 200


def labelled_store(base: Path) -> tuple[Path, dict[str, str], Path]:
    """The API tests' chain, its services and ransom addresses tagged, clustered (see module doc)."""
    store, tokens, sim = build_store(base)
    case = json.loads((sim / "truth/cases/ransomware-1.json").read_text())
    rows = []
    with open(sim / "truth/addresses.csv") as fh:
        for r in csv.DictReader(fh):
            if r["category"] in ("exchange", "otc_desk") and r["role"] != "change":
                rows.append((r["address"], r["actor"], "exchange", r["actor"], "simulated label provider"))
            elif r["category"] == "mixer" and r["role"] != "change":
                rows.append((r["address"], r["actor"], "mixing_service", r["actor"], "simulated label provider"))
    rows += [(a, "ransomware-group-1", "ransomware", "", "victim reports") for a in sorted(set(case["seed_addresses"]))]
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["address", "label", "category", "actor", "source", "currency"])
        out.writerows((*r, "BTC-REGTEST") for r in rows)
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    return store, tokens, sim


def evm_store(base: Path) -> tuple[Path, dict[str, str], Path]:
    """The EVM simulator's recording (made on a real anvil node) ingested and its exchanges tagged,
    all through the CLI, with a user and token per role (as `support_live.serve_store` makes them)."""
    sim = base / "sim"
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "300", "--out", str(sim)]) == 0
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "ethereum", "--replay", str(sim / "rpc")]) == 0
    with open(sim / "truth/addresses.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] == "exchange"]
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["address", "label", "category", "actor", "currency"])
        out.writerows([r["address"], r["actor"], "exchange", r["actor"], "ANVIL"] for r in rows)
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    tokens = {}
    for role in ROLES:
        ws.users_add(f"{role}1", role=role)
        tokens[role] = ws.tokens_create(f"{role}1").token
    return store, tokens, sim


def _key(i: int) -> bytes:
    return hashlib.sha256(f"fundtrail wide {i}".encode()).digest()[:20]


@dataclass
class Wide:
    """The wide chain's facts, written down while building it (the tests' oracle)."""

    blocks: Path
    wide_txid: str
    gather_txid: str
    outputs: list[tuple[bytes, int]]  # (script, value) of the wide transaction, in order
    gathered: list[tuple[bytes, int]]  # (script, value) of the outputs the gathering transaction spends


def wide_chain(base: Path) -> Wide:
    """Write the wide chain's blocks dir (module docstring)."""
    t0 = 1_700_000_000
    funder = w.p2wpkh(_key(-1))
    cb0 = w.coinbase_tx(0, [w.TxOut(50 * w.COIN, funder)])
    b0 = w.build_block(bytes(32), [cb0], t0)
    outs = [w.TxOut(100_000 + (i * 7919) % 50_000, w.p2wpkh(_key(i // 2 if i < PAIRED else i)))
            for i in range(WIDE_OUTPUTS)]
    outs.insert(1234, w.TxOut(0, w.op_return(b"fundtrail")))
    outs.insert(2345, w.TxOut(77_777, w.multisig(1, [b"\x02" + _key(-5) + bytes(12), b"\x03" + _key(-6) + bytes(12)])))
    change = 50 * w.COIN - sum(o.value for o in outs) - 50_000
    outs.append(w.TxOut(change, funder))
    wide = w.Tx(2, [w.TxIn(cb0.txid(), 0, b"\x51")], outs)
    cb1 = w.coinbase_tx(1, [w.TxOut(50 * w.COIN, w.p2wpkh(_key(-2)))])
    b1 = w.build_block(w.block_hash(b0), [cb1, wide], t0 + 600)
    spent = [i for i in range(GATHERED + 1) if i != 1234][:GATHERED]
    total = sum(outs[i].value for i in spent)
    gather = w.Tx(2, [w.TxIn(wide.txid(), i, b"\x51") for i in spent],
                  [w.TxOut(total // 3, w.p2wpkh(_key(-3))), w.TxOut(total - total // 3 - 10_000, w.p2wpkh(_key(-4)))])
    cb2 = w.coinbase_tx(2, [w.TxOut(50 * w.COIN, w.p2wpkh(_key(-2)))])
    b2 = w.build_block(w.block_hash(b1), [cb2, gather], t0 + 1200)
    blocks = base / "wide-blocks"
    w.write_blocks_dir(blocks, [b0, b1, b2], REGTEST)
    return Wide(blocks, w.display_hex(wide.txid()), w.display_hex(gather.txid()),
                [(o.script, o.value) for o in outs], [(outs[i].script, outs[i].value) for i in spent])


def wide_store(base: Path) -> tuple[Path, Wide]:
    """The wide chain ingested through the CLI."""
    wide = wide_chain(base)
    store = base / "wide-store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(wide.blocks)]) == 0
    return store, wide
