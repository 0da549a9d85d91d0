"""Deposit-address reuse (Victor 2020) on a real anvil node with a hand-made exchange.

Accounts (anvil's unlocked dev accounts): 9 is the exchange's hot wallet. Customers 1 and 2 pay
deposit address 5, which sweeps each payment on to the hot wallet (less a little, as if it paid
gas); customer 3 pays 500 tokens to deposit address 6, swept on in full; 0 pays deposit address 5
later and is never swept. Negative cases: 7 forwards what 4 sent it, but to 8, not to an exchange;
8 receives 3 ETH from 4 and pays only 1 ETH to the hot wallet (not a forward of that payment);
the hot wallet's withdrawal to 2 makes 2 no deposit address. Later 4 also pays 5, swept right
after: only a sweep that follows a payment can forward it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.anvil import Anvil
from support.eth_scenario import calldata, deploy_data, load_artefacts

from fundtrail.cluster.deposit import (
    CONF_FORWARDED,
    CONF_OTHER_SENDER,
    DepositRule,
    deposit_links,
    forwarded_deposits,
)
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.store import Store

ETH = 10**18


def _send(node: Anvil, frm: str, to: str, value: int = 0, data: str = "0x") -> str:
    tx = {"from": frm, "value": hex(value), "data": data}
    if to:
        tx["to"] = to
    h = node.rpc("eth_sendTransaction", tx)
    receipt = node.wait_receipt(h)
    assert int(receipt["status"], 16) == 1
    return h


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with Anvil() as node:
        acc = node.accounts
        hot = acc[9]
        token = load_artefacts()["TestToken"]
        h = _send(node, acc[0], "", data=deploy_data(token, "Test", "TST"))
        tok = node.wait_receipt(h)["contractAddress"].lower()
        _send(node, acc[0], tok, data=calldata(token, "mint(address,uint256)", acc[3], 1000))
        deposits = {
            "c1": _send(node, acc[1], acc[5], 1 * ETH),
            "c2": _send(node, acc[2], acc[5], 2 * ETH),
            "c3": _send(node, acc[3], tok, data=calldata(token, "transfer(address,uint256)",
                                                          acc[6], 500)),
        }
        _send(node, acc[5], hot, 1 * ETH - 10**15)  # sweeps, each a little short (gas)
        _send(node, acc[5], hot, 2 * ETH - 2 * 10**15)
        _send(node, acc[6], tok, data=calldata(token, "transfer(address,uint256)", hot, 500))
        deposits["c0"] = _send(node, acc[0], acc[5], ETH // 3)  # never swept
        _send(node, acc[4], acc[7], 1 * ETH)  # negative: forwarded, but not to an exchange
        _send(node, acc[7], acc[8], 1 * ETH - 10**15)
        _send(node, acc[4], acc[8], 3 * ETH)  # negative: amount does not match
        _send(node, acc[8], hot, 1 * ETH)
        _send(node, hot, acc[2], ETH // 2)  # a withdrawal: 2 is a customer, not a deposit address
        node.mine(5)
        deposits["late"] = _send(node, acc[4], acc[5], ETH // 4)  # to a deposit address, late
        _send(node, acc[5], hot, ETH // 4 - 10**15)
        store = Store.open(tmp_path_factory.mktemp("deposit") / "store")
        ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain="anvil", first=0,
                        last=node.block_number())
    with store.query() as con:
        ids = {bytes(a).hex(): int(i) for i, a in con.sql(
            "SELECT address_id, address FROM anvil_addresses").fetchall()}
        txs = {bytes(h).hex(): int(i) for i, h in con.sql(
            "SELECT tx_id, hash FROM anvil_transactions").fetchall()}
    yield {"store": store, "id": {k: ids[a[2:]] for k, a in enumerate(acc)},
           "tx": {k: txs[h[2:]] for k, h in deposits.items()}}


def _links(ex: dict, rule: DepositRule | None = None) -> dict[tuple[int, int], tuple[int, float]]:
    with ex["store"].query() as con:
        links = deposit_links(con, "anvil", [ex["id"][9]], rule or DepositRule())
    return {(int(a), int(b)): (int(t), round(float(c), 3))
            for a, b, t, c in zip(links.a, links.b, links.tx_id, links.confidence)}


def test_senders_are_linked_with_their_deposit_address(exchange: dict) -> None:
    i, tx = exchange["id"], exchange["tx"]
    got = _links(exchange)
    assert got == {
        (i[1], i[5]): (tx["c1"], CONF_FORWARDED),
        (i[2], i[5]): (tx["c2"], CONF_FORWARDED),
        (i[3], i[6]): (tx["c3"], CONF_FORWARDED),  # an ERC-20 deposit, swept in full
        (i[0], i[5]): (tx["c0"], CONF_OTHER_SENDER),  # paid a proven deposit address, not swept
        (i[4], i[5]): (tx["late"], CONF_FORWARDED),  # its own payment was swept right after
    }
    # negatives: 7 forwards to a non-exchange, 8 pays the hot wallet an unrelated amount,
    # 2 received a withdrawal: none of 7, 8, 2 is a deposit address
    deposits = {b for _, b in got}
    assert deposits == {i[5], i[6]}


def test_forwarding_window_and_tolerance_are_enforced(exchange: dict) -> None:
    i = exchange["id"]
    with exchange["store"].query() as con:
        fwd = forwarded_deposits(con, "anvil", [i[9]], DepositRule(max_blocks=0))
        assert fwd == []  # every sweep came in a later block (anvil mines one tx per block)
        tight = forwarded_deposits(con, "anvil", [i[9]], DepositRule(native_tolerance=10**14))
    # with 0.0001 ETH of tolerance the native sweeps (0.001 ETH short) no longer match; the
    # token sweep (exact) still does
    assert {(s, d) for s, d, *_ in tight} == {(i[3], i[6])}


def test_no_hot_wallets_no_links_and_bad_input_is_one_line(exchange: dict) -> None:
    with exchange["store"].query() as con:
        assert len(deposit_links(con, "anvil", [])) == 0
        with pytest.raises(UsageError, match="hot wallet ids"):
            deposit_links(con, "anvil", [-3])
        with pytest.raises(NotFoundError, match="'eth'"):
            deposit_links(con, "eth", [1])
