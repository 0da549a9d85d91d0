"""The simulated TRON chain: transactions rendered as java-tron answers, blocks, fees, the ledger.

Each planned transaction becomes what `/wallet/getblockbynum` and
`/wallet/gettransactioninfobyblocknum` answer for it (`visible=false`: accounts `41…` hex, TVM
log addresses 20-byte hex, zero fields left out as protobuf JSON does), together with the value
movements the simulator states from what the contracts are written to do (never read back from
the JSON: the ingest under test decodes that). Fees follow java-tron's resource model in a
simplified form (docs/simulator-tron.md): bandwidth is free up to 600 bytes per account per day,
beyond it burnt at 1,000 sun a byte; a TRC-20 call burns its energy at 420 sun unless the account
has energy delegated to it; activating a new account costs 1.1 TRX. An account with energy and
bandwidth delegated to it therefore pays nothing: that is why launderers delegate to mules.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.chains.tron.address import to_base58

TRX = "TRX"
SUN = 10**6
#: TRON mainnet's genesis block id: its last 4 bytes are the chain id the ingest checks
GENESIS_ID = "00000000000000001ebf88508a03865c71d452e25f4d51194196a1d22b6653dc"
GENESIS_MS = 1_700_000_000_000
BLOCK_MS = 3_000
BLOCKS_PER_DAY = 28_800
FREE_BANDWIDTH = 600
SUN_PER_BYTE = 1_000
SUN_PER_ENERGY = 420
CREATE_ACCOUNT_FEE = 1_100_000  # 1 TRX creation fee + 0.1 TRX for the bandwidth of a new account
TRX_TX_BYTES = 268
TRC20_TX_BYTES = 345
ENERGY_TRANSFER = 14_650  # USDT transfer() to a holder
ENERGY_TRANSFER_NEW = 29_650  # to an address without USDT yet (a new storage slot)
ENERGY_ADMIN = 16_000  # addBlackList / destroyBlackFunds / issue
SYSTEM_TX_BYTES = 280

TRANSFER = keccak256(b"Transfer(address,address,uint256)").hex()
ISSUE = keccak256(b"Issue(uint256)").hex()
ADDED_BLACK_LIST = keccak256(b"AddedBlackList(address)").hex()
DESTROYED_BLACK_FUNDS = keccak256(b"DestroyedBlackFunds(address,uint256)").hex()
SEL_TRANSFER = keccak256(b"transfer(address,uint256)")[:4].hex()
SEL_ISSUE = keccak256(b"issue(uint256)")[:4].hex()
SEL_ADD_BLACK_LIST = keccak256(b"addBlackList(address)")[:4].hex()
SEL_DESTROY = keccak256(b"destroyBlackFunds(address)")[:4].hex()
REVERT_MESSAGE = b"REVERT opcode executed".hex()


def account(seed: int, label: str) -> bytes:
    """The 20-byte account of `label` in simulation `seed` (no keys: signatures are placeholders)."""
    return hashlib.sha256(f"fundtrail-sim-tron:{seed}:{label}".encode()).digest()[:20]


def _word(value: int | bytes) -> str:
    return (value.rjust(32, b"\0") if isinstance(value, bytes) else value.to_bytes(32, "big")).hex()


@dataclass
class Move:
    """One value movement: kind `fee` (to None), `native` or `erc20`; amounts in base units."""

    kind: str
    frm: bytes
    to: bytes | None
    asset: str
    amount: int


@dataclass
class SimTx:
    """A planned transaction; `block`, `index`, `txid` once placed."""

    contract: str
    owner: bytes
    value: dict[str, Any]
    actor: str
    pattern: str
    typology: str = ""
    case: str = ""
    fee: int = 0
    ok: bool = True
    moves: list[Move] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    counterparty: bytes | None = None
    txid: str = ""
    block: int = -1
    index: int = -1

    def all_moves(self, native: str = TRX) -> Iterator[Move]:
        """Fee first (resources are paid before execution), then what a successful tx moves."""
        if self.fee:
            yield Move("fee", self.owner, None, native, self.fee)
        if self.ok:
            yield from self.moves


class Chain:
    """Blocks of planned transactions, the ledger they are planned against, and their JSON."""

    def __init__(self, seed: int, token: bytes) -> None:
        self.seed, self.token = seed, token
        self.token_text = to_base58(token)
        self.block = 0
        self.pending: list[SimTx] = []
        self.mined: list[SimTx] = []
        self.balance: dict[tuple[bytes, str], int] = defaultdict(int)
        self.activated: set[bytes] = set()
        self.delegated: set[bytes] = set()  # accounts with energy and bandwidth delegated to them
        self.blacklisted: set[bytes] = set()
        self._bandwidth: dict[bytes, tuple[int, int]] = {}  # account -> (day, bytes used)
        self.witnesses: list[bytes] = []
        self.genesis: dict[bytes, int] = {}

    # -- the ledger ------------------------------------------------------------------------
    def trx(self, a: bytes) -> int:
        return self.balance[(a, TRX)]

    def usdt(self, a: bytes) -> int:
        return self.balance[(a, self.token_text)]

    def _net_fee(self, a: bytes, size: int) -> int:
        if a in self.delegated:
            return 0
        day = self.block // BLOCKS_PER_DAY
        d, used = self._bandwidth.get(a, (day, 0))
        used = used if d == day else 0
        if used + size <= FREE_BANDWIDTH:
            self._bandwidth[a] = (day, used + size)
            return 0
        return size * SUN_PER_BYTE

    def _move(self, m: Move) -> None:
        self.balance[(m.frm, m.asset)] -= m.amount
        if self.balance[(m.frm, m.asset)] < 0:
            raise AssertionError(f"simulator bug: {to_base58(m.frm)} overdraws {m.asset}")
        if m.to is not None:
            self.balance[(m.to, m.asset)] += m.amount

    def _add(self, tx: SimTx) -> SimTx:
        for m in tx.all_moves():
            self._move(m)
        self.pending.append(tx)
        return tx

    # -- transactions ----------------------------------------------------------------------
    def fee_trx(self, sender: bytes, to: bytes) -> int:
        """What a TRX transfer from `sender` to `to` would burn (without using bandwidth)."""
        create = 0 if to in self.activated else CREATE_ACCOUNT_FEE
        return create + (0 if sender in self.delegated else TRX_TX_BYTES * SUN_PER_BYTE)

    def fee_usdt(self, sender: bytes, to: bytes) -> int:
        """An upper bound of what a USDT transfer burns (plan TRX top-ups with it)."""
        if sender in self.delegated:
            return 0
        return TRC20_TX_BYTES * SUN_PER_BYTE + ENERGY_TRANSFER_NEW * SUN_PER_ENERGY

    def send_trx(self, sender: bytes, to: bytes, amount: int, meta: dict) -> SimTx:
        """A TransferContract of `amount` sun."""
        create = 0 if to in self.activated else CREATE_ACCOUNT_FEE
        net = 0 if create else self._net_fee(sender, TRX_TX_BYTES)
        receipt = {"net_fee": net} if net else ({"net_fee": 100_000} if create else
                                                {"net_usage": TRX_TX_BYTES})
        tx = SimTx("TransferContract", sender, {"amount": amount, "owner_address": _h41(sender),
                                                "to_address": _h41(to)}, counterparty=to,
                   fee=net + create, moves=[Move("native", sender, to, TRX, amount)], **meta)
        tx.info = {"receipt": receipt}
        self.activated.add(to)
        return self._add(tx)

    def _trigger(self, sender: bytes, data: str, energy: int, meta: dict) -> SimTx:
        net = self._net_fee(sender, TRC20_TX_BYTES)
        delegated = sender in self.delegated
        receipt: dict[str, Any] = {"energy_usage_total": energy}
        receipt.update({"energy_usage": energy} if delegated else {"energy_fee": energy * SUN_PER_ENERGY})
        receipt.update({"net_fee": net} if net else {"net_usage": TRC20_TX_BYTES})
        tx = SimTx("TriggerSmartContract", sender, {"data": data, "owner_address": _h41(sender),
                                                    "contract_address": _h41(self.token)},
                   counterparty=self.token, fee=net + (0 if delegated else energy * SUN_PER_ENERGY), **meta)
        tx.info = {"contract_address": _h41(self.token), "receipt": receipt, "contractResult": [_word(1)]}
        return tx

    def send_usdt(self, sender: bytes, to: bytes, amount: int, meta: dict) -> SimTx:
        """USDT `transfer(to, amount)`; reverts (fee paid, nothing moves) when `sender` is blacklisted."""
        energy = ENERGY_TRANSFER if self.usdt(to) else ENERGY_TRANSFER_NEW
        tx = self._trigger(sender, SEL_TRANSFER + _word(to) + _word(amount), energy, meta)
        if sender in self.blacklisted:
            tx.ok = False
            tx.info.update({"result": "FAILED", "resMessage": REVERT_MESSAGE, "contractResult": [""]})
            tx.info["receipt"]["result"] = "REVERT"
            return self._add(tx)
        tx.info["receipt"]["result"] = "SUCCESS"
        tx.info["log"] = [self._log([TRANSFER, _word(sender), _word(to)], _word(amount))]
        tx.moves = [Move("erc20", sender, to, self.token_text, amount)]
        return self._add(tx)

    def issue(self, owner: bytes, amount: int, meta: dict) -> SimTx:
        """Tether's `issue(amount)`: new USDT to the contract owner (Issue and a Transfer from 0)."""
        tx = self._trigger(owner, SEL_ISSUE + _word(amount), ENERGY_ADMIN, meta)
        tx.info["receipt"]["result"] = "SUCCESS"
        tx.info["log"] = [self._log([ISSUE], _word(amount)),
                          self._log([TRANSFER, _word(0), _word(owner)], _word(amount))]
        tx.moves = [Move("erc20", bytes(20), owner, self.token_text, amount)]
        self.balance[(bytes(20), self.token_text)] += amount
        return self._add(tx)

    def blacklist(self, owner: bytes, target: bytes, meta: dict) -> SimTx:
        """Tether's `addBlackList(target)`: AddedBlackList(address) with the address in the data."""
        tx = self._trigger(owner, SEL_ADD_BLACK_LIST + _word(target), ENERGY_ADMIN, meta)
        tx.info["receipt"]["result"] = "SUCCESS"
        tx.info["log"] = [self._log([ADDED_BLACK_LIST], _word(target))]
        self.blacklisted.add(target)
        return self._add(tx)

    def destroy(self, owner: bytes, target: bytes, meta: dict) -> SimTx:
        """`destroyBlackFunds(target)`: the balance is zeroed with no Transfer log (Tether's code)."""
        amount = self.usdt(target)
        tx = self._trigger(owner, SEL_DESTROY + _word(target), ENERGY_ADMIN, meta)
        tx.info["receipt"]["result"] = "SUCCESS"
        tx.info["log"] = [self._log([DESTROYED_BLACK_FUNDS], _word(target) + _word(amount))]
        return self._add(tx)

    def stake(self, owner: bytes, amount: int, resource: str, meta: dict) -> SimTx:
        """FreezeBalanceV2 (stake 2.0): TRX locked for a resource; no value moves (an event)."""
        value = {"owner_address": _h41(owner), "frozen_balance": amount}
        if resource != "BANDWIDTH":
            value["resource"] = resource
        return self._system("FreezeBalanceV2Contract", owner, value, None, meta)

    def delegate(self, owner: bytes, receiver: bytes, amount: int, resource: str, meta: dict) -> SimTx:
        """DelegateResource: `owner`'s staked TRX pays `receiver`'s energy or bandwidth."""
        value: dict[str, Any] = {"owner_address": _h41(owner), "receiver_address": _h41(receiver),
                                 "balance": amount}
        if resource != "BANDWIDTH":
            value["resource"] = resource
        tx = self._system("DelegateResourceContract", owner, value, receiver, meta)
        self.delegated.add(receiver)
        return tx

    def _system(self, contract: str, owner: bytes, value: dict, to: bytes | None, meta: dict) -> SimTx:
        net = self._net_fee(owner, SYSTEM_TX_BYTES)
        tx = SimTx(contract, owner, value, counterparty=to, fee=net, **meta)
        tx.info = {"receipt": {"net_fee": net} if net else {"net_usage": SYSTEM_TX_BYTES}}
        return self._add(tx)

    def _log(self, topics: list[str], data: str) -> dict:
        return {"address": self.token.hex(), "topics": topics, "data": data}

    def allocate(self, to: bytes, amount: int) -> None:
        """A genesis allocation (block 0)."""
        self.genesis[to] = self.genesis.get(to, 0) + amount
        self.balance[(to, TRX)] += amount
        self.activated.add(to)

    # -- blocks ----------------------------------------------------------------------------
    def mine(self) -> list[SimTx]:
        """Close the current block: number its transactions; the next block opens."""
        self.block += 1
        txs, self.pending = self.pending, []
        for i, tx in enumerate(txs):
            tx.block, tx.index = self.block, i
            tx.txid = hashlib.sha256(f"tx:{self.seed}:{self.block}:{i}:{tx.pattern}".encode()).hexdigest()
        self.mined.extend(txs)
        return txs


def _h41(a: bytes) -> str:
    return "41" + a.hex()
