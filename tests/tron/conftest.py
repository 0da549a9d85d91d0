"""A TRON store for the end-to-end command tests: mainnet block 50,000,011 and a made-up USDT-TRC20
laundering flow after it, served by a java-tron HTTP API on loopback and ingested by the real CLI.

Block 50,000,011 is GraphSense's (tests/support/tron_graphsense.py says which fields are rebuilt).
In it the real account `src` sends 200,000 USDT to `a` (tx c1e86089…). The blocks after it are
made up in java-tron's shapes (`TriggerSmartContract` calling USDT's `transfer`, the `Transfer` log
in the execution result, `TransferContract` for TRX), each child of the one before:

    50,000,012  a -> b   150,000 USDT; a -> b 10 TRX
    50,000,013  b -> c   100,000 USDT; b -> dep 50,000 USDT
    50,000,014  dep -> hot 49,990 USDT (a deposit address swept to the exchange's hot wallet);
                c -> e   30,000 USDT
    50,000,015  Tether blacklists c (AddedBlackList from the USDT contract)

Every figure the tests assert comes from this script (the `Flow` below), not from the store.
"""

from __future__ import annotations


import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.tron_fake_node import USDT_41, FakeTron, abi_string, abi_uint, account, make_block
from support.tron_graphsense import TRC10_PLACEHOLDER, block_50000011, data_dir

from fundtrail.chains.ethereum.freezes import ADDED_BLACK_LIST
from fundtrail.chains.tron.address import to_base58
from fundtrail.cli.main import main

N = 50_000_011
USDT = 10**6
TRANSFER_TOPIC = "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
USDT_T = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
SEED_TX = "c1e8608963320b3a9bc4b29146032868a0d7457b805430a3eda7f3c4730244d2"  # src -> a, 200,000 USDT


def t_of(hex41: str) -> str:
    """`41…` hex -> `T…`."""
    return to_base58(bytes.fromhex(hex41[2:]))


@dataclass
class Flow:
    """The scenario's accounts (`41…` hex) and transactions (txid hex, no 0x) by name."""

    accounts: dict[str, str]
    txs: dict[str, str] = field(default_factory=dict)
    store: Path = Path()
    base: Path = Path()

    def t(self, name: str) -> str:
        return t_of(self.accounts[name])

    def hex40(self, name: str) -> str:
        return self.accounts[name][2:]


def _word(hex41: str) -> str:
    return "00" * 12 + hex41[2:]


def _txid(name: str) -> str:
    return hashlib.sha256(f"tron-e2e-{name}".encode()).hexdigest()


def _contract_tx(txid: str, owner: str, contract: str, data: str, ts: int, kind: str = "TriggerSmartContract",
                 **value: Any) -> dict[str, Any]:
    if kind == "TriggerSmartContract":
        value = {"owner_address": owner, "contract_address": contract, "data": data, **value}
    return {"ret": [{"contractRet": "SUCCESS"}], "txID": txid,
            "raw_data": {"contract": [{"parameter": {"value": value,
                                                     "type_url": f"type.googleapis.com/protocol.{kind}"},
                                       "type": kind}],
                         "timestamp": ts - 1000, "expiration": ts + 60_000}}


def _usdt(name: str, frm: str, to: str, amount: int, block: int, ts: int) -> tuple[dict, dict]:
    txid = _txid(name)
    tx = _contract_tx(txid, frm, USDT_41, "a9059cbb" + _word(to) + f"{amount:064x}", ts)
    info = {"id": txid, "fee": 345_000, "blockNumber": block, "blockTimeStamp": ts, "contractResult": [""],
            "receipt": {"energy_usage_total": 14_650, "energy_fee": 345_000, "result": "SUCCESS"},
            "log": [{"address": USDT_41[2:], "topics": [TRANSFER_TOPIC, _word(frm), _word(to)],
                     "data": f"{amount:064x}"}]}
    return tx, info


def _trx(name: str, frm: str, to: str, amount: int, block: int, ts: int) -> tuple[dict, dict]:
    txid = _txid(name)
    tx = _contract_tx(txid, frm, "", "", ts, kind="TransferContract", owner_address=frm, to_address=to,
                      amount=amount)
    info = {"id": txid, "fee": 0, "blockNumber": block, "blockTimeStamp": ts, "contractResult": [""],
            "receipt": {"net_usage": 268}}
    return tx, info


def _freeze(name: str, issuer_admin: str, victim: str, block: int, ts: int) -> tuple[dict, dict]:
    txid = _txid(name)
    tx = _contract_tx(txid, issuer_admin, USDT_41, "0ecb93c0" + _word(victim), ts)
    info = {"id": txid, "fee": 1_000_000, "blockNumber": block, "blockTimeStamp": ts, "contractResult": [""],
            "receipt": {"energy_usage_total": 20_000, "energy_fee": 1_000_000, "result": "SUCCESS"},
            "log": [{"address": USDT_41[2:], "topics": [ADDED_BLACK_LIST.hex()], "data": _word(victim)}]}
    return tx, info


def build_node(node: FakeTron, flow: Flow) -> None:
    """Put block 50,000,011 and the made-up blocks after it on `node`, recording txids in `flow`."""
    real, infos, _ = block_50000011()
    node.put(real, infos)
    ac = flow.accounts
    plan: list[list[tuple[str, Any, tuple]]] = [
        [("a_b", _usdt, (ac["a"], ac["b"], 150_000 * USDT)), ("a_b_trx", _trx, (ac["a"], ac["b"], 10 * USDT))],
        [("b_c", _usdt, (ac["b"], ac["c"], 100_000 * USDT)), ("b_dep", _usdt, (ac["b"], ac["dep"], 50_000 * USDT))],
        [("dep_hot", _usdt, (ac["dep"], ac["hot"], 49_990 * USDT)), ("c_e", _usdt, (ac["c"], ac["e"], 30_000 * USDT))],
        [("freeze_c", _freeze, (ac["admin"], ac["c"]))],
    ]
    parent = real["blockID"]
    ts0 = real["block_header"]["raw_data"]["timestamp"]
    for k, moves in enumerate(plan, start=1):
        number, ts = N + k, ts0 + 3000 * k
        block, _ = make_block(number, parent, "e2e", 0)
        block["block_header"]["raw_data"]["timestamp"] = ts
        txs, block_infos = [], []
        for name, make, args in moves:
            tx, info = make(name, *args, number, ts)
            txs.append(tx)
            block_infos.append(info)
            flow.txs[name] = tx["txID"]
        block["transactions"] = txs
        node.put(block, block_infos)
        parent = block["blockID"]
    flow.txs["src_a"] = SEED_TX
    node.contracts.update({(USDT_41, "name()"): abi_string("Tether USD"),
                           (USDT_41, "symbol()"): abi_string("USDT"), (USDT_41, "decimals()"): abi_uint(6)})
    node.assets[TRC10_PLACEHOLDER] = {"id": TRC10_PLACEHOLDER, "name": b"BitTorrent".hex(),
                                      "abbr": b"BTT".hex(), "precision": 6}


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    """The scenario ingested through `fundtrail ingest tron --rpc` into a fresh store."""
    if not (data_dir() / "graphsense-lib" / "block-50000011").is_dir():
        pytest.skip("shared TRON data not found")
    base = tmp_path_factory.mktemp("tron-e2e")
    accounts = {"src": "41ab16aecb520803b1fe8b6fa5129e3c7dd8bd58ab", "a": "418c49caf1aa3c1bb7ceb13382ac5829435a05b8b9",
                "b": account(501), "c": account(502), "dep": account(503), "hot": account(504), "e": account(505),
                "admin": account(506)}
    f = Flow(accounts, store=base / "store", base=base)
    with FakeTron(head=0, txs_per_block=0) as node:
        build_node(node, f)
        assert main(["-q", "--store", str(f.store), "ingest", "tron", "--rpc", node.url,
                     "--from", str(N), "--to", str(N + 4)]) == 0
    yield f


def copy_store(flow: Flow, dest: Path) -> Path:
    """A private copy of the scenario's store (for tests that write: tags, cluster runs)."""
    import shutil

    shutil.copytree(flow.store, dest)
    return dest



