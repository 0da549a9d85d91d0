"""Ground truth for the Ethereum ingest tests: a scripted scenario played on a real anvil node.

`run_scenario(node)` deploys the test contracts of `tests/contracts/` (committed build in
`tests/contracts/build/`), sends transactions from the node's unlocked accounts with
`eth_sendTransaction`, and returns a `Scenario`: every value movement the chain must show,
computed from what the contracts are written to do, not read back from the node's traces or
logs (the ingest under test decodes those). Only hashes, block numbers, transaction positions
and fees come from the node.

Each movement is a dict with these keys (addresses lowercase 0x hex):

    tx_hash, block_number, tx_index   where it happened
    kind        "native" | "internal" | "erc20" | "erc721" | "erc1155" | "weth_deposit"
                | "weth_withdrawal" | "fee"      ("withdrawal": anvil has no validator withdrawals)
    from, to    for mints and weth_deposit `from` is the zero address, for weth_withdrawal `to` is;
                a fee has `to` None
    asset       "ETH" or the token contract address
    amount      int, base units (wei, token units; one ERC-721 token is amount 1)
    token_id    int for erc721/erc1155, else None
    success     False for value that did not move: the top-level value of a reverted
                transaction and a reverted internal call. A fee always moves: success True.
    log_index   block-wide log index for log-based kinds (a TransferBatch gives one movement per
                id, all with the log's index, in the order of the arrays), else None
    trace_address  list[int] for "internal" (parity style: [0] first call of the transaction,
                [0, 0] the first call it makes), else None
    call_type   "call" | "selfdestruct" for internal movements, else None
    label       what the step of the scenario was

Every transaction has one "native" movement (amount may be 0: contract calls, the 0-value
transfers) and one "fee" movement, which adds gas_used, effective_gas_price, base_fee_per_gas,
burnt (gas_used * base fee) and tip (the rest, paid to the block's miner), all from the node.

`compile_contracts(out_dir)` rebuilds the artefacts with solcjs from npm;
`python tests/support/eth_scenario.py` rewrites the committed ones.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fundtrail.sim.evm.artifacts import solc_artefacts

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "tests" / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"
SOLC_VERSION = "0.8.30+commit.73712a01"
SOLC_SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object",
                    "evm.methodIdentifiers"]}
    },
}
ETH = "ETH"
ZERO = "0x" + "00" * 20
KINDS = ("native", "internal", "erc20", "erc721", "erc1155", "weth_deposit", "weth_withdrawal",
         "fee", "withdrawal")


# -- build -----------------------------------------------------------------------------------


def compile_contracts(out_dir: Path | None = None, solcjs: Path | None = None) -> dict[str, dict]:
    """Compile every `tests/contracts/*.sol` with solcjs (standard JSON on stdin).

    Returns {contract name: artefact} and writes `<name>.json` into `out_dir` when given.
    An artefact holds the abi, the creation and runtime bytecode, the method identifiers and
    the compiler version and settings used.
    """
    solcjs = solcjs or REPO_ROOT / "node_modules" / ".bin" / "solcjs"
    if not solcjs.exists():
        raise FileNotFoundError(f"{solcjs} not found: run `make test` (installs npm packages)")
    artefacts = solc_artefacts(solcjs, CONTRACTS_DIR, SOLC_SETTINGS, SOLC_VERSION, "tests/contracts/")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, artefact in artefacts.items():
            (out_dir / f"{name}.json").write_text(json.dumps(artefact, indent=2) + "\n")
    return artefacts


def load_artefacts(build_dir: Path = BUILD_DIR) -> dict[str, dict]:
    """The committed build: {contract name: artefact}."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(build_dir.glob("*.json"))}


# -- ABI (only what the scenario needs: static words, string/bytes, uint256[]) ----------------


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _is_dynamic(t: str) -> bool:
    return t in ("string", "bytes") or t.endswith("[]")


def abi_encode(types: list[str], values: list[Any]) -> bytes:
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(types)
    for t, v in zip(types, values, strict=True):
        if _is_dynamic(t):
            heads.append(_word(offset))
            if t.endswith("[]"):
                tail = _word(len(v)) + abi_encode([t[:-2]] * len(v), list(v))
            else:
                raw = v.encode() if isinstance(v, str) else bytes(v)
                tail = _word(len(raw)) + raw + b"\0" * (-len(raw) % 32)
            tails.append(tail)
            offset += len(tail)
        elif t == "address":
            heads.append(_word(int(v, 16)))
        else:  # uintN, bool
            heads.append(_word(int(v)))
    return b"".join(heads) + b"".join(tails)


def calldata(artefact: dict, signature: str, *args: Any) -> str:
    """Calldata of `signature` (e.g. "transfer(address,uint256)") with `args`."""
    selector = artefact["method_identifiers"][signature]
    types = [t for t in signature[signature.index("(") + 1 : -1].split(",") if t]
    return "0x" + selector + abi_encode(types, list(args)).hex()


def deploy_data(artefact: dict, *args: Any) -> str:
    ctor = next((e for e in artefact["abi"] if e["type"] == "constructor"), {"inputs": []})
    types = [i["type"] for i in ctor["inputs"]]
    return artefact["bytecode"] + abi_encode(types, list(args)).hex()


def call_uint(node: Node, artefact: dict, to: str, signature: str, *args: Any) -> int:
    """eth_call a view function that returns one static word, as an int."""
    return int(node.rpc("eth_call", {"to": to, "data": calldata(artefact, signature, *args)},
                        "latest"), 16)


def _rlp_bytes(b: bytes) -> bytes:
    if len(b) == 1 and b[0] < 0x80:
        return b
    assert len(b) < 56
    return bytes([0x80 + len(b)]) + b


def create_address(node: Node, sender: str, nonce: int) -> str:
    """Address of a contract created by `sender` at `nonce`: keccak(rlp([sender, nonce]))[12:]."""
    payload = _rlp_bytes(bytes.fromhex(sender[2:])) + _rlp_bytes(
        nonce.to_bytes((nonce.bit_length() + 7) // 8, "big"))
    encoded = bytes([0xC0 + len(payload)]) + payload
    return "0x" + node.rpc("web3_sha3", "0x" + encoded.hex())[-40:]


# -- the scenario ----------------------------------------------------------------------------


class Node(Protocol):
    accounts: list[str]

    def rpc(self, method: str, *params: Any) -> Any: ...


@dataclass
class Scenario:
    """What `run_scenario` did and every value movement it must have caused."""

    movements: list[dict]
    txs: list[dict]  # per transaction: tx_hash, label, block_number, tx_index, from, to,
    # value, status (expected: 1 or 0), created (address or None), logs (expected log count)
    contracts: dict[str, str]  # token, big_token, forwarder, forwarder2, reverter, doomed, nft,
    # weth, multi -> address
    creation_txs: dict[str, str]  # same keys -> hash of the deploying transaction
    accounts: list[str]
    first_block: int  # first block of the scenario (the block before it is the baseline)
    last_block: int
    reverted_tx: str = ""  # top-level revert: status 0, its value does not move
    inner_revert_txs: list[str] = field(default_factory=list)  # succeed; one inner call reverts
    selfdestruct_tx: str = ""
    multi_tx_block: int = 0  # a block holding several transactions (auto-mining switched off)

    @property
    def creation_tx(self) -> str:
        """The TestToken deployment: the contract-creation transaction."""
        return self.creation_txs["token"]

    def of_kind(self, *kinds: str) -> list[dict]:
        return [m for m in self.movements if m["kind"] in kinds]

    def for_tx(self, tx_hash: str) -> list[dict]:
        return [m for m in self.movements if m["tx_hash"] == tx_hash]


def _mv(kind: str, frm: str, to: str | None, amount: int, *, asset: str = ETH,
        token_id: int | None = None, success: bool = True, log: int | None = None,
        trace: list[int] | None = None, call_type: str = "call") -> dict:
    """A movement before the node tells where it landed (`log`: index within the tx's logs)."""
    return {"kind": kind, "from": frm, "to": to, "asset": asset, "amount": amount,
            "token_id": token_id, "success": success, "log": log, "trace_address": trace,
            "call_type": call_type if kind == "internal" else None}


def _placed(where: dict, m: dict, log_offset: int, label: str) -> dict:
    """`m` with its block position: the movement dict of the module docstring, keys in order."""
    log = m["log"]
    return {**where, "kind": m["kind"], "from": m["from"], "to": m["to"], "asset": m["asset"],
            "amount": m["amount"], "token_id": m["token_id"], "success": m["success"],
            "log_index": None if log is None else log_offset + log,
            "trace_address": m["trace_address"], "call_type": m["call_type"], "label": label}


class _Driver:
    def __init__(self, node: Node, artefacts: dict[str, dict]) -> None:
        self.node = node
        self.art = artefacts
        self.pending: list[dict] = []
        self.txs: list[dict] = []
        self.movements: list[dict] = []
        self.automine = True

    def send(self, label: str, sender: str, to: str | None, *, value: int = 0, data: str = "0x",
             gas: int | None = None, status: int = 1, effects: tuple[dict, ...] = (),
             logs: int = 0, created: str | None = None) -> str:
        tx: dict[str, Any] = {"from": sender, "value": hex(value), "data": data}
        if to is not None:
            tx["to"] = to
        if gas is not None:
            tx["gas"] = hex(gas)
        tx_hash = self.node.rpc("eth_sendTransaction", tx)
        self.pending.append({"tx_hash": tx_hash, "label": label, "from": sender, "to": to,
                             "value": value, "status": status, "created": created,
                             "logs": logs, "effects": effects})
        if self.automine:
            self.settle()
        return tx_hash

    def deploy(self, label: str, sender: str, name: str, *args: Any,
               value: int = 0) -> tuple[str, str]:
        nonce = int(self.node.rpc("eth_getTransactionCount", sender, "pending"), 16)
        address = create_address(self.node, sender, nonce)
        data = deploy_data(self.art[name], *args)
        tx_hash = self.send(label, sender, None, value=value, data=data, created=address)
        return address, tx_hash

    def call(self, label: str, sender: str, to: str, name: str, signature: str, *args: Any,
             **kw: Any) -> str:
        return self.send(label, sender, to, data=calldata(self.art[name], signature, *args), **kw)

    def settle(self) -> None:
        """Place the pending transactions: receipts give block, position, fee."""
        receipts = {}
        for p in self.pending:
            for _ in range(200):
                receipt = self.node.rpc("eth_getTransactionReceipt", p["tx_hash"])
                if receipt is not None:
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError(f"{p['label']}: no receipt for {p['tx_hash']}")
            receipts[p["tx_hash"]] = receipt
        blocks: dict[int, list[dict]] = {}
        for p in self.pending:
            r = receipts[p["tx_hash"]]
            p["block_number"] = int(r["blockNumber"], 16)
            p["tx_index"] = int(r["transactionIndex"], 16)
            blocks.setdefault(p["block_number"], []).append(p)
        self.pending = []
        for number, placed in sorted(blocks.items()):
            for _ in range(200):
                block = self.node.rpc("eth_getBlockByNumber", hex(number), False)
                if block is not None:
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError(f"block {number} of a receipt is not served")
            base_fee = int(block.get("baseFeePerGas") or "0x0", 16)
            # block-wide log index: logs of the earlier transactions of the block come first.
            # A block is settled at once (all its transactions were sent before it was mined).
            offset = 0
            for p in sorted(placed, key=lambda p: p["tx_index"]):
                self._record(p, receipts[p["tx_hash"]], base_fee, block["miner"].lower(), offset)
                offset += p["logs"]

    def _record(self, p: dict, receipt: dict, base_fee: int, miner: str, log_offset: int) -> None:
        where = {"tx_hash": p["tx_hash"], "block_number": p["block_number"],
                 "tx_index": p["tx_index"]}
        keys = ("label", "from", "to", "value", "status", "created", "logs")
        self.txs.append({**where, **{k: p[k] for k in keys}})
        top = _mv("native", p["from"], p["to"] or p["created"], p["value"],
                  success=p["status"] == 1)
        for m in (top, *p["effects"]):
            self.movements.append(_placed(where, m, log_offset, p["label"]))
        gas_used = int(receipt["gasUsed"], 16)
        price = int(receipt["effectiveGasPrice"], 16)
        fee = _placed(where, _mv("fee", p["from"], None, gas_used * price), 0, p["label"])
        self.movements.append({**fee, "gas_used": gas_used, "effective_gas_price": price,
                               "base_fee_per_gas": base_fee, "burnt": gas_used * base_fee,
                               "tip": gas_used * (price - base_fee), "miner": miner})


def run_scenario(node: Node, artefacts: dict[str, dict] | None = None) -> Scenario:
    """Play the scenario on a fresh auto-mining anvil `node`; return its ground truth."""
    d = _Driver(node, artefacts or load_artefacts())
    a = node.accounts
    owner, alice, bob, carol, dave, erin, heir = a[0], a[1], a[2], a[3], a[4], a[5], a[6]
    ether = 10**18
    first_block = int(node.rpc("eth_blockNumber"), 16) + 1
    c: dict[str, str] = {}
    created: dict[str, str] = {}

    # 1. plain ETH transfers between accounts, one 0-value, one to self
    d.send("eth alice->bob", alice, bob, value=1 * ether)
    d.send("eth bob->carol", bob, carol, value=ether // 4)
    d.send("eth carol->alice 0 value", carol, alice, value=0)
    d.send("eth dave->dave self", dave, dave, value=7)

    # 2. ERC-20: creation, mint, transfer, approve + transferFrom; uint256 max amounts
    c["token"], created["token"] = d.deploy("deploy TestToken", owner, "TestToken",
                                            "Test Token", "TT")
    tt = c["token"]

    def erc20(frm: str, to: str, amount: int, log: int = 0, asset: str = tt) -> dict:
        return _mv("erc20", frm, to, amount, asset=asset, log=log)

    d.call("TT mint 1000 to alice", owner, tt, "TestToken", "mint(address,uint256)", alice,
           1000 * ether, effects=(erc20(ZERO, alice, 1000 * ether),), logs=1)
    d.call("TT alice->bob 250", alice, tt, "TestToken", "transfer(address,uint256)", bob,
           250 * ether, effects=(erc20(alice, bob, 250 * ether),), logs=1)
    d.call("TT alice approves carol", alice, tt, "TestToken", "approve(address,uint256)", carol,
           100 * ether, logs=1)
    d.call("TT carol moves alice->dave 60", carol, tt, "TestToken",
           "transferFrom(address,address,uint256)", alice, dave, 60 * ether,
           effects=(erc20(alice, dave, 60 * ether),), logs=1)
    c["big_token"], created["big_token"] = d.deploy("deploy BIG", owner, "TestToken", "Big", "BIG")
    big, umax = c["big_token"], 2**256 - 1
    d.call("BIG mint 2**256-1 to alice", owner, big, "TestToken", "mint(address,uint256)", alice,
           umax, effects=(erc20(ZERO, alice, umax, asset=big),), logs=1)
    d.call("BIG alice->bob 2**256-1", alice, big, "TestToken", "transfer(address,uint256)", bob,
           umax, effects=(erc20(alice, bob, umax, asset=big),), logs=1)

    # 3. internal ETH transfers through Forwarder: one, two, nested
    c["forwarder"], created["forwarder"] = d.deploy("deploy Forwarder", owner, "Forwarder")
    c["forwarder2"], created["forwarder2"] = d.deploy("deploy Forwarder 2", owner, "Forwarder")
    f1, f2 = c["forwarder"], c["forwarder2"]
    d.call("forward alice->F1->erin", alice, f1, "Forwarder", "forward(address)", erin,
           value=3 * ether // 2, effects=(_mv("internal", f1, erin, 3 * ether // 2, trace=[0]),))
    d.call("split bob->F1->alice+carol", bob, f1, "Forwarder", "split(address,address,uint256)",
           alice, carol, 3 * ether // 10, value=ether,
           effects=(_mv("internal", f1, alice, 3 * ether // 10, trace=[0]),
                    _mv("internal", f1, carol, 7 * ether // 10, trace=[1])))
    d.call("forwardVia carol->F1->F2->dave", carol, f1, "Forwarder", "forwardVia(address,address)",
           f2, dave, value=ether // 5,
           effects=(_mv("internal", f1, f2, ether // 5, trace=[0]),
                    _mv("internal", f2, dave, ether // 5, trace=[0, 0])))

    # 4. a reverted transaction; inner calls that revert inside successful ones
    c["reverter"], created["reverter"] = d.deploy("deploy Reverter", owner, "Reverter")
    rv = c["reverter"]
    reverted = d.call("fail() reverts", alice, rv, "Reverter", "fail()", value=ether // 2,
                      gas=100_000, status=0)
    inner1 = d.call("tryFail: inner revert caught", alice, rv, "Reverter", "tryFail(uint256)",
                    ether // 10, value=4 * ether // 10,
                    effects=(_mv("internal", rv, rv, ether // 10, success=False, trace=[0]),))
    inner2 = d.call("callAndIgnore: inner revert ignored", bob, rv, "Reverter",
                    "callAndIgnore(address,uint256)", rv, ether // 20, value=ether // 20,
                    effects=(_mv("internal", rv, rv, ether // 20, success=False, trace=[0]),))

    # 5. self-destruct: created with 2 ETH, topped up with 0.5, destroyed to heir
    c["doomed"], created["doomed"] = d.deploy("deploy Doomed with 2 ETH", owner, "Doomed",
                                              value=2 * ether)
    d.send("eth bob->Doomed", bob, c["doomed"], value=ether // 2)
    destroyed = d.call("Doomed selfdestruct to heir", owner, c["doomed"], "Doomed",
                       "destroy(address)", heir,
                       effects=(_mv("internal", c["doomed"], heir, 5 * ether // 2, trace=[0],
                                    call_type="selfdestruct"),))

    # 6. ERC-721: mint, transfer, approve + transferFrom of a token id above 2**255
    c["nft"], created["nft"] = d.deploy("deploy TestNFT", owner, "TestNFT")
    nft, big_id = c["nft"], 2**255 + 7

    def erc721(frm: str, to: str, token_id: int) -> dict:
        return _mv("erc721", frm, to, 1, asset=nft, token_id=token_id, log=0)

    d.call("NFT mint #1 to alice", owner, nft, "TestNFT", "mint(address,uint256)", alice, 1,
           effects=(erc721(ZERO, alice, 1),), logs=1)
    d.call("NFT mint #2**255+7 to alice", owner, nft, "TestNFT", "mint(address,uint256)", alice,
           big_id, effects=(erc721(ZERO, alice, big_id),), logs=1)
    d.call("NFT #1 alice->bob", alice, nft, "TestNFT", "transferFrom(address,address,uint256)",
           alice, bob, 1, effects=(erc721(alice, bob, 1),), logs=1)
    d.call("NFT alice approves carol", alice, nft, "TestNFT", "approve(address,uint256)", carol,
           big_id, logs=1)
    d.call("NFT carol moves alice->dave", carol, nft, "TestNFT",
           "transferFrom(address,address,uint256)", alice, dave, big_id,
           effects=(erc721(alice, dave, big_id),), logs=1)

    # 7. WETH: deposit (function and plain send), transfer, withdraw (internal ETH back)
    c["weth"], created["weth"] = d.deploy("deploy TestWETH", owner, "TestWETH")
    weth = c["weth"]
    d.call("WETH alice deposits 3", alice, weth, "TestWETH", "deposit()", value=3 * ether,
           effects=(_mv("weth_deposit", ZERO, alice, 3 * ether, asset=weth, log=0),), logs=1)
    d.send("WETH carol sends 1 (receive)", carol, weth, value=ether,
           effects=(_mv("weth_deposit", ZERO, carol, ether, asset=weth, log=0),), logs=1)
    d.call("WETH alice->bob 1", alice, weth, "TestWETH", "transfer(address,uint256)", bob, ether,
           effects=(erc20(alice, bob, ether, asset=weth),), logs=1)
    d.call("WETH bob withdraws 0.4", bob, weth, "TestWETH", "withdraw(uint256)", 4 * ether // 10,
           effects=(_mv("internal", weth, bob, 4 * ether // 10, trace=[0]),
                    _mv("weth_withdrawal", bob, ZERO, 4 * ether // 10, asset=weth, log=0)),
           logs=1)

    # 8. ERC-1155: mints, single and batch transfers
    c["multi"], created["multi"] = d.deploy("deploy TestMulti", owner, "TestMulti")
    mt = c["multi"]

    def erc1155(frm: str, to: str, token_id: int, amount: int) -> dict:
        return _mv("erc1155", frm, to, amount, asset=mt, token_id=token_id, log=0)

    d.call("1155 mint id1 x100 to alice", owner, mt, "TestMulti", "mint(address,uint256,uint256)",
           alice, 1, 100, effects=(erc1155(ZERO, alice, 1, 100),), logs=1)
    d.call("1155 mint id2 x5 to alice", owner, mt, "TestMulti", "mint(address,uint256,uint256)",
           alice, 2, 5, effects=(erc1155(ZERO, alice, 2, 5),), logs=1)
    d.call("1155 alice->bob id1 x30", alice, mt, "TestMulti",
           "safeTransferFrom(address,address,uint256,uint256,bytes)", alice, bob, 1, 30, b"",
           effects=(erc1155(alice, bob, 1, 30),), logs=1)
    d.call("1155 batch alice->carol id1 x10 id2 x5", alice, mt, "TestMulti",
           "safeBatchTransferFrom(address,address,uint256[],uint256[],bytes)", alice, carol,
           [1, 2], [10, 5], b"",
           effects=(erc1155(alice, carol, 1, 10), erc1155(alice, carol, 2, 5)), logs=1)

    # 9. several transactions in one block (block-wide log indexes)
    node.rpc("evm_setAutomine", False)
    d.automine = False
    d.send("block: eth alice->bob", alice, bob, value=ether // 100, gas=21_000)
    d.call("block: TT alice->carol 5", alice, tt, "TestToken", "transfer(address,uint256)", carol,
           5 * ether, gas=100_000, effects=(erc20(alice, carol, 5 * ether),), logs=1)
    d.call("block: TT bob->dave 1", bob, tt, "TestToken", "transfer(address,uint256)", dave,
           ether, gas=100_000, effects=(erc20(bob, dave, ether),), logs=1)
    d.call("block: forward carol->F1->erin", carol, f1, "Forwarder", "forward(address)", erin,
           value=ether // 50, gas=100_000,
           effects=(_mv("internal", f1, erin, ether // 50, trace=[0]),))
    d.call("block: WETH dave deposits 0.1", dave, weth, "TestWETH", "deposit()", value=ether // 10,
           gas=100_000, effects=(_mv("weth_deposit", ZERO, dave, ether // 10, asset=weth, log=0),),
           logs=1)
    node.rpc("evm_mine")
    node.rpc("evm_setAutomine", True)
    d.automine = True
    d.settle()
    multi_block = d.txs[-1]["block_number"]

    return Scenario(
        movements=d.movements, txs=d.txs, contracts=c, creation_txs=created, accounts=list(a),
        first_block=first_block, last_block=int(node.rpc("eth_blockNumber"), 16),
        reverted_tx=reverted, inner_revert_txs=[inner1, inner2], selfdestruct_tx=destroyed,
        multi_tx_block=multi_block,
    )


if __name__ == "__main__":  # rewrite the committed build after editing a contract
    built = compile_contracts(BUILD_DIR)
    print(f"wrote {len(built)} artefacts to {BUILD_DIR}: {', '.join(built)}", file=sys.stderr)
