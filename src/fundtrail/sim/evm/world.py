"""The simulated chain's contracts and the transactions that use them, with their value movements.

Each helper plans one transaction and states every movement it makes, computed from what the
contract is written to do (SimPair's constant-product quote is recomputed here from reserves the
simulator tracks), so the ground truth never depends on decoding the node's own output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fundtrail.sim.evm.abi import calldata, commitment, deploy_data
from fundtrail.sim.evm.chain import ETH, Chain, Move, SimTx

GAS_TRANSFER = 21_000
GAS_TOKEN = 80_000
GAS_APPROVE = 60_000
GAS_CALL = 150_000
GAS_DEPLOY = 3_000_000
MAX_UINT = 2**256 - 1


@dataclass
class Registry:
    """Who is who: addresses (first registration wins) and actors, in the order they appear."""

    addresses: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # actor, category, role
    actors: dict[str, tuple[str, str]] = field(default_factory=dict)  # category, case

    def actor(self, name: str, category: str, case: str = "") -> None:
        self.actors.setdefault(name, (category, case))

    def add(self, address: str, actor: str, role: str) -> str:
        if address not in self.addresses:
            self.addresses[address] = (actor, self.actors[actor][0], role)
        return address

    def actor_of(self, address: str) -> str:
        return self.addresses.get(address, ("", "", ""))[0]


@dataclass
class Contracts:
    stable: str = ""
    pools: dict[int, str] = field(default_factory=dict)  # denomination (wei) -> pool address
    pair: str = ""
    bridge: str = ""
    batcher: str = ""


class World:
    """The chain plus its contracts; plans the economy's transactions."""

    def __init__(self, chain: Chain, registry: Registry) -> None:
        self.chain = chain
        self.registry = registry
        self.c = Contracts()
        self.reserve_token = 0  # SimPair reserve0 (sUSD)
        self.reserve_eth = 0  # SimPair reserve1 (ETH)
        self.bridge_exits: list[dict] = []  # what SimBridge's Locked events name, in order

    def tx(self, sender: str, to: str | None, value: int, data: str, gas: int, gas_price: int,
           meta: dict, moves: list[Move] | None = None, expect_status: int = 1) -> SimTx:
        return self.chain.send(SimTx(sender, to, value, data, gas, gas_price,
                                     moves=moves or [], expect_status=expect_status, **meta))

    def pay(self, sender: str, to: str, amount: int, gp: int, meta: dict) -> SimTx:
        return self.tx(sender, to, amount, "0x", GAS_TRANSFER, gp, meta)

    def sweep_all(self, sender: str, to: str, gp: int, meta: dict) -> SimTx | None:
        """Send everything `sender` can, after the 21,000 gas of the transfer itself."""
        amount = self.chain.available(sender) - GAS_TRANSFER * gp
        return self.pay(sender, to, amount, gp, meta) if amount > 0 else None

    def deploy(self, sender: str, contract: str, gp: int, meta: dict, *args: object) -> SimTx:
        return self.tx(sender, None, 0, deploy_data(contract, *args), GAS_DEPLOY, gp, meta)

    # -- stablecoin ----------------------------------------------------------------------------

    def token_pay(self, sender: str, to: str, amount: int, gp: int, meta: dict,
                  expect_status: int = 1) -> SimTx:
        moves = [Move("erc20", sender, to, self.c.stable, amount)] if expect_status == 1 else []
        return self.tx(sender, self.c.stable, 0,
                       calldata("SimStable", "transfer(address,uint256)", to, amount),
                       GAS_TOKEN, gp, meta, moves, expect_status)

    def mint(self, issuer: str, to: str, amount: int, gp: int, meta: dict) -> SimTx:
        moves = [Move("erc20", "0x" + "00" * 20, to, self.c.stable, amount)]
        return self.tx(issuer, self.c.stable, 0,
                       calldata("SimStable", "mint(address,uint256)", to, amount), GAS_TOKEN, gp,
                       meta, moves)

    def approve(self, owner: str, spender: str, gp: int, meta: dict) -> SimTx:
        return self.tx(owner, self.c.stable, 0,
                       calldata("SimStable", "approve(address,uint256)", spender, MAX_UINT),
                       GAS_APPROVE, gp, meta)

    def freeze(self, issuer: str, target: str, gp: int, meta: dict) -> SimTx:
        return self.tx(issuer, self.c.stable, 0, calldata("SimStable", "freeze(address)", target),
                       GAS_APPROVE, gp, meta)

    # -- pool ----------------------------------------------------------------------------------

    def pool_deposit(self, sender: str, denomination: int, note: tuple[str, str], gp: int,
                     meta: dict) -> SimTx:
        data = calldata("SimPool", "deposit(bytes32)", commitment(*note))
        return self.tx(sender, self.c.pools[denomination], denomination, data, GAS_CALL, gp, meta)

    def pool_withdraw(self, relayer: str, denomination: int, note: tuple[str, str], recipient: str,
                      fee: int, gp: int, meta: dict) -> SimTx:
        pool = self.c.pools[denomination]
        data = calldata("SimPool", "withdraw(bytes32,bytes32,address,address,uint256)", note[0],
                        note[1], recipient, relayer, fee)
        moves = [Move("internal", pool, recipient, ETH, denomination - fee)]
        if fee:
            moves.append(Move("internal", pool, relayer, ETH, fee))
        return self.tx(relayer, pool, 0, data, GAS_CALL, gp, meta, moves)

    # -- DEX -----------------------------------------------------------------------------------

    @staticmethod
    def quote(amount_in: int, reserve_in: int, reserve_out: int) -> int:
        """Uniswap v2's getAmountOut: the 0.3 % fee stays in the pool."""
        with_fee = amount_in * 997
        return with_fee * reserve_out // (reserve_in * 1000 + with_fee)

    def add_liquidity(self, provider: str, eth: int, tokens: int, gp: int, meta: dict) -> SimTx:
        moves = [Move("erc20", provider, self.c.pair, self.c.stable, tokens)]
        self.reserve_token += tokens
        self.reserve_eth += eth
        return self.tx(provider, self.c.pair, eth,
                       calldata("SimPair", "addLiquidity(uint256)", tokens), 250_000, gp, meta, moves)

    def swap_eth(self, sender: str, eth: int, to: str, gp: int, meta: dict) -> tuple[SimTx, int]:
        out = self.quote(eth, self.reserve_eth, self.reserve_token)
        self.reserve_eth += eth
        self.reserve_token -= out
        moves = [Move("erc20", self.c.pair, to, self.c.stable, out)]
        data = calldata("SimPair", "swapETHForTokens(uint256,address)", out, to)
        return self.tx(sender, self.c.pair, eth, data, GAS_CALL, gp, meta, moves), out

    def swap_tokens(self, sender: str, tokens: int, to: str, gp: int, meta: dict) -> tuple[SimTx, int]:
        out = self.quote(tokens, self.reserve_token, self.reserve_eth)
        self.reserve_token += tokens
        self.reserve_eth -= out
        moves = [Move("erc20", sender, self.c.pair, self.c.stable, tokens),
                 Move("internal", self.c.pair, to, ETH, out)]
        data = calldata("SimPair", "swapTokensForETH(uint256,uint256,address)", tokens, out, to)
        return self.tx(sender, self.c.pair, 0, data, GAS_CALL, gp, meta, moves), out

    # -- bridge and batches --------------------------------------------------------------------

    def bridge_eth(self, sender: str, amount: int, dest_chain: int, dest: str, gp: int,
                   meta: dict) -> SimTx:
        data = calldata("SimBridge", "lock(uint256,bytes32)", dest_chain, dest)
        tx = self.tx(sender, self.c.bridge, amount, data, GAS_CALL, gp, meta)
        self._exit(tx, ETH, amount, dest_chain, dest)
        return tx

    def bridge_token(self, sender: str, amount: int, dest_chain: int, dest: str, gp: int,
                     meta: dict) -> SimTx:
        data = calldata("SimBridge", "lockToken(address,uint256,uint256,bytes32)", self.c.stable,
                        amount, dest_chain, dest)
        moves = [Move("erc20", sender, self.c.bridge, self.c.stable, amount)]
        tx = self.tx(sender, self.c.bridge, 0, data, GAS_CALL, gp, meta, moves)
        self._exit(tx, self.c.stable, amount, dest_chain, dest)
        return tx

    def _exit(self, tx: SimTx, asset: str, amount: int, dest_chain: int, dest: str) -> None:
        self.bridge_exits.append({"tx": tx, "sender": tx.sender, "asset": asset, "amount": amount,
                                  "dest_chain_id": dest_chain, "dest_address": dest,
                                  "nonce": len(self.bridge_exits)})

    def disperse(self, sender: str, payouts: list[tuple[str, int]], gp: int, meta: dict) -> SimTx:
        total = sum(v for _, v in payouts)
        data = calldata("SimBatcher", "disperseEther(address[],uint256[])",
                        [a for a, _ in payouts], [v for _, v in payouts])
        moves = [Move("internal", self.c.batcher, a, ETH, v) for a, v in payouts]
        return self.tx(sender, self.c.batcher, total, data, 40_000 + 40_000 * len(payouts), gp,
                       meta, moves)
