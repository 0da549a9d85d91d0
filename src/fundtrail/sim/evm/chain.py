"""The simulated chain as the simulator sees it: planned transactions, mined blocks, the ledger.

Actors plan transactions against the ledger (balances as of the last mined block minus what
they have already committed in the current one), `mine` sends the block's transactions to the
node in one batch, mines one block at a fixed timestamp and reads the receipts back. Every value
movement a transaction makes is stated by the planner from what the contracts are written to
do, never read back from the node's logs or traces (the ingest under test decodes those); the
node supplies hashes, positions, gas used and status, and a status other than the planned one
stops the run, so the truth files cannot silently disagree with the chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from fundtrail.errors import SourceError
from fundtrail.sim.evm.node import GENESIS_TIME, EvmNode

ETH = "ETH"
BLOCK_SECONDS = 12
GWEI = 10**9


@dataclass
class Move:
    """One value movement: `kind` native, internal, erc20 or fee; `to` None for a fee."""

    kind: str
    frm: str
    to: str | None
    asset: str
    amount: int


@dataclass
class SimTx:
    """A transaction as planned, and where it landed once mined."""

    sender: str
    to: str | None
    value: int
    data: str
    gas: int
    gas_price: int
    actor: str
    pattern: str
    typology: str = ""
    case: str = ""
    moves: list[Move] = field(default_factory=list)  # besides the top-level value
    expect_status: int = 1
    hash: str = ""
    block: int = -1
    index: int = -1
    status: int = -1
    gas_used: int = 0
    created: str | None = None

    @property
    def fee(self) -> int:
        return self.gas_used * self.gas_price

    def all_moves(self) -> Iterator[Move]:
        """Fee first (gas is bought before execution), then the value, then the effects.

        A reverted transaction moves only its fee.
        """
        yield Move("fee", self.sender, None, ETH, self.fee)
        if self.status != 1:
            return
        if self.value:  # a zero value moves nothing (the ingest keeps no such transfer either)
            yield Move("native", self.sender, self.to or self.created or "", ETH, self.value)
        yield from self.moves


class Chain:
    """Pending transactions, mined history and balances of one simulated EVM chain."""

    def __init__(self, node: EvmNode) -> None:
        self.node = node
        self.block = 0
        self.time = GENESIS_TIME
        self.balances: dict[tuple[str, str], int] = defaultdict(int)
        self.reserved: dict[tuple[str, str], int] = defaultdict(int)
        self.pending: list[SimTx] = []
        self.mined: list[SimTx] = []
        self.genesis: dict[str, int] = {}
        self.nonces: dict[str, int] = {}

    def setup(self) -> None:
        """Put the node in manual, impersonating mode and check it is fresh."""
        chain_id = int(self.node.call("eth_chainId"), 16)
        head = int(self.node.call("eth_blockNumber"), 16)
        if head != 0:
            raise SourceError(f"{self.node.url}: the node is at block {head}; the simulator needs a "
                              "fresh chain at block 0", hint="restart anvil or omit --rpc-url")
        self.chain_id = chain_id
        self.node.batch([("evm_setAutomine", [False]), ("anvil_autoImpersonateAccount", [True])])

    def allocate(self, address: str, amount: int) -> None:
        """Genesis allocation (anvil_setBalance before block 1): the economy's only minted ETH."""
        self.node.call("anvil_setBalance", address, hex(amount))
        self.genesis[address] = self.genesis.get(address, 0) + amount
        self.balances[(address, ETH)] += amount

    # -- planning ------------------------------------------------------------------------------

    def balance(self, address: str, asset: str = ETH) -> int:
        """Confirmed balance after the last mined block."""
        return self.balances[(address, asset)]

    def available(self, address: str, asset: str = ETH) -> int:
        """What `address` can still commit in the current block."""
        return self.balances[(address, asset)] - self.reserved[(address, asset)]

    def send(self, tx: SimTx) -> SimTx:
        """Queue `tx` for the current block, reserving its value, maximum fee and token debits."""
        need = tx.value + tx.gas * tx.gas_price
        if self.available(tx.sender) < need:
            raise SourceError(f"simulator bug: {tx.actor} {tx.pattern} needs {need} wei at "
                              f"{tx.sender}, has {self.available(tx.sender)}")
        self.reserved[(tx.sender, ETH)] += need
        for m in tx.moves:
            if m.asset != ETH and tx.expect_status == 1:
                self.reserved[(m.frm, m.asset)] += m.amount
        self.pending.append(tx)
        return tx

    # -- mining --------------------------------------------------------------------------------

    def mine(self) -> list[SimTx]:
        """Send the pending transactions, mine them (in as many blocks as the node needs)."""
        txs, self.pending = self.pending, []
        self.reserved.clear()
        # one request per transaction: anvil works through a batch concurrently, which would
        # leave the order of arrival (the block order, with --order fifo) to chance
        for tx in txs:
            nonce = self.nonces.get(tx.sender, 0)
            self.nonces[tx.sender] = nonce + 1
            tx.hash = self.node.call("eth_sendTransaction", _request(tx, nonce)).lower()
        waiting = {tx.hash: tx for tx in txs}
        done: list[SimTx] = []
        while True:
            self.block += 1
            self.time += BLOCK_SECONDS
            self.node.batch([("evm_setNextBlockTimestamp", [self.time]), ("evm_mine", [])])
            receipts = self.node.call("eth_getBlockReceipts", hex(self.block)) or []
            for r in receipts:
                found = waiting.pop(r["transactionHash"].lower(), None)
                if found is None:
                    raise SourceError(f"block {self.block} holds a transaction the simulator did "
                                      f"not send: {r['transactionHash']}")
                self._place(found, r)
                done.append(found)
            if not waiting:
                return done
            if not receipts:
                raise SourceError(f"the node did not mine {len(waiting)} sent transactions")

    def _place(self, tx: SimTx, receipt: dict) -> None:
        tx.block = int(receipt["blockNumber"], 16)
        tx.index = int(receipt["transactionIndex"], 16)
        tx.status = int(receipt["status"], 16)
        tx.gas_used = int(receipt["gasUsed"], 16)
        if int(receipt["effectiveGasPrice"], 16) != tx.gas_price:
            raise SourceError(f"{tx.hash}: effective gas price differs from the planned one")
        if receipt.get("contractAddress"):
            tx.created = receipt["contractAddress"].lower()
        if tx.status != tx.expect_status:
            raise SourceError(f"simulator bug: {tx.actor} {tx.pattern} {tx.hash} has status "
                              f"{tx.status}, planned {tx.expect_status}")
        for m in tx.all_moves():
            self.balances[(m.frm, m.asset)] -= m.amount
            if m.to is not None:
                self.balances[(m.to, m.asset)] += m.amount
        self.mined.append(tx)


def _request(tx: SimTx, nonce: int) -> dict:
    req = {"from": tx.sender, "value": hex(tx.value), "data": tx.data, "gas": hex(tx.gas),
           "gasPrice": hex(tx.gas_price), "nonce": hex(nonce)}
    if tx.to is not None:
        req["to"] = tx.to
    return req
