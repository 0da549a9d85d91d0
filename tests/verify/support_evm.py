"""Real account-chain data for the EVM proof tests: transactions of every kind anvil signs, mined
several to a block so the tries have branches, extensions and many leaves.

`play(node)` deploys the test ERC-20 token (tests/contracts/build/TestToken.json) in its own block,
then, with auto-mining off, sends into ONE block: legacy (type 0, EIP-155 signed), EIP-2930 (type 1)
and EIP-1559 (type 2) ether payments, ERC-20 transfers and a transfer that reverts (status 0); mines
it, then a last EIP-1559 payment and an EIP-7702 (type 4) delegation in blocks of their own. It
returns what was sent, as the sender knew it (from, to, value, token amounts): the oracle for what
the proofs must show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from support.anvil import Anvil
from support.eth_scenario import calldata, create_address, deploy_data, load_artefacts

ETHER = 10**18
GWEI = 10**9


@dataclass
class Sent:
    """One transaction as sent: its hash, the fields given, and the ERC-20 transfer it asked for."""

    hash: str
    kind: str
    sender: str
    to: str | None
    value: int
    token_transfer: tuple[str, str, str, int] | None = None  # (token, from, to, amount)
    reverts: bool = False
    block: int = -1
    index: int = -1


@dataclass
class Played:
    token: str
    sent: list[Sent] = field(default_factory=list)
    authority: str = ""  # the account the EIP-7702 transaction delegated to the token's code

    def by_kind(self, kind: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind]


def _send(node: Anvil, tx: dict[str, Any]) -> str:
    return str(node.rpc("eth_sendTransaction", tx))


def play(node: Anvil) -> Played:
    art = load_artefacts()["TestToken"]
    owner, alice, bob, carol = node.accounts[:4]
    token = create_address(node, owner, int(node.rpc("eth_getTransactionCount", owner, "pending"), 16))
    deploy = _send(node, {"from": owner, "data": deploy_data(art, "Test Token", "TT")})
    node.wait_receipt(deploy)
    mint = _send(node, {"from": owner, "to": token,
                        "data": calldata(art, "mint(address,uint256)", alice, 1000 * ETHER)})
    node.wait_receipt(mint)
    played = Played(token, [Sent(deploy, "create", owner, None, 0), Sent(mint, "mint", owner, token, 0)])

    node.automine(False)
    try:
        for i in range(6):  # the busy block: 3 kinds of payment, token transfers, a revert
            to = [bob, carol][i % 2]
            value = (i + 1) * ETHER // 10
            h = _send(node, {"from": owner, "to": to, "value": hex(value), "gas": hex(21000),
                             "gasPrice": hex(30 * GWEI), "type": "0x0"})
            played.sent.append(Sent(h, "legacy", owner, to, value))
            h = _send(node, {"from": bob, "to": carol, "value": hex(value + 1), "gas": hex(30000),
                             "gasPrice": hex(30 * GWEI), "type": "0x1",
                             "accessList": [{"address": token, "storageKeys": ["0x" + "00" * 31 + "01"]}]})
            played.sent.append(Sent(h, "eip2930", bob, carol, value + 1))
            h = _send(node, {"from": carol, "to": owner, "value": hex(value + 2), "gas": hex(21000),
                             "maxFeePerGas": hex(40 * GWEI), "maxPriorityFeePerGas": hex(GWEI), "type": "0x2"})
            played.sent.append(Sent(h, "eip1559", carol, owner, value + 2))
            amount = (i + 1) * 7 * ETHER
            h = _send(node, {"from": alice, "to": token, "gas": hex(100000),
                             "data": calldata(art, "transfer(address,uint256)", [bob, carol][i % 2], amount)})
            played.sent.append(Sent(h, "erc20", alice, token, 0, (token, alice, [bob, carol][i % 2], amount)))
        h = _send(node, {"from": bob, "to": token, "gas": hex(100000),  # bob holds no tokens yet: reverts
                         "data": calldata(art, "transfer(address,uint256)", carol, 10**30)})
        played.sent.append(Sent(h, "revert", bob, token, 0, reverts=True))
        node.mine()
    finally:
        node.automine(True)
    h = _send(node, {"from": alice, "to": bob, "value": hex(ETHER), "type": "0x2"})
    node.wait_receipt(h)
    played.sent.append(Sent(h, "eip1559", alice, bob, ETHER))
    h, authority = delegate(node, carol, token, 0xA11CE)
    played.sent.append(Sent(h, "eip7702", carol, authority, 0, reverts=True))  # the token has no fallback
    played.authority = authority
    for s in played.sent:
        receipt = node.wait_receipt(s.hash)
        s.block, s.index = int(receipt["blockNumber"], 16), int(receipt["transactionIndex"], 16)
    return played


def sign(secret: int, msg_hash: bytes, k: int) -> tuple[int, int, int]:
    """(y parity, r, s) of an ECDSA signature of `msg_hash` with nonce `k` (tests only: a fixed
    nonce is fine for throwaway keys), low-s as Ethereum requires."""
    from fundtrail.verify.secp256k1 import N, public_key

    point = public_key(k)
    r = int.from_bytes(point[:32], "big") % N
    parity = point[63] & 1
    s = pow(k, -1, N) * (int.from_bytes(msg_hash, "big") + r * secret) % N
    if s > N // 2:
        s, parity = N - s, parity ^ 1
    return parity, r, s


def delegate(node: Anvil, sender: str, target: str, secret: int) -> tuple[str, str]:
    """An EIP-7702 (type 4) transaction from `sender` carrying the authorization, signed by the
    key `secret`, to delegate its account's code to `target`; returns (tx hash, the authority)."""
    from fundtrail.verify.keccak import keccak256
    from fundtrail.verify.rlp import encode
    from fundtrail.verify.secp256k1 import public_key

    authority = "0x" + keccak256(public_key(secret))[12:].hex()
    chain_id = int(node.rpc("eth_chainId"), 16)
    digest = keccak256(b"\x05" + encode([chain_id, bytes.fromhex(target[2:]), 0]))
    parity, r, s = sign(secret, digest, 0x5EED + secret)
    auth = {"chainId": hex(chain_id), "address": target, "nonce": "0x0", "yParity": hex(parity),
            "r": hex(r), "s": hex(s)}
    h = _send(node, {"from": sender, "to": authority, "type": "0x4", "authorizationList": [auth]})
    node.wait_receipt(h)
    return h, authority
