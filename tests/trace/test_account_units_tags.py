"""Account traces in the asset's unit, with attribution, and with several seeds (issue 12 items 7,
16 and 1), on a real chain: a theft played on anvil with a 6-decimal stablecoin (the simulator's
SimStable, decimals read by the ingest from the contract), ingested by the real ingest, tagged,
clustered and traced through the real CLI.

The pattern: a victim pays a thief 7.5 ETH and 1,234.5678 sUSD; the thief passes 2.25 ETH and
1,000 sUSD to a mule; the mule pays 2 ETH and the 1,000 sUSD into an exchange deposit address
(an EOA), which sweeps both to the exchange's hot wallet. The deposit address is tagged
"exchange" by an analyst; clustering with the hot wallet links the mule with the deposit address.
The token leg pays no fees in the token, so its answers are worked out by hand below.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction

import pytest
from support.anvil import Anvil
from support.eth_scenario import calldata, create_address, deploy_data

from fundtrail.cli.main import main
from fundtrail.ingest.ethereum.jobs import ingest_ethereum
from fundtrail.ingest.ethereum.rpc import EthRpc, HttpTransport
from fundtrail.sim.evm.artifacts import artefact
from fundtrail.store import Store
from fundtrail.trace.account_report import format_units

ETHER = 10**18
USD = 10**6  # sUSD has 6 decimals
POLICIES = ("poison", "haircut", "fifo")


def _send(node: Anvil, sender: str, to: str | None, value: int = 0, data: str = "0x") -> str:
    tx = {"from": sender, "value": hex(value), "data": data}
    if to is not None:
        tx["to"] = to
    h = node.rpc("eth_sendTransaction", tx)
    assert int(node.wait_receipt(h)["status"], 16) == 1
    return h


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with Anvil() as node:
        issuer, victim, thief, mule, dep, hot = node.accounts[:6]
        art = artefact("SimStable")
        nonce = int(node.rpc("eth_getTransactionCount", issuer, "pending"), 16)
        usd = create_address(node, issuer, nonce)
        _send(node, issuer, None, data=deploy_data(art))

        def token(sender: str, to: str, amount: int) -> str:
            return _send(node, sender, usd, data=calldata(art, "transfer(address,uint256)", to, amount))

        _send(node, issuer, usd, data=calldata(art, "mint(address,uint256)", victim, 5_000 * USD))
        theft = _send(node, victim, thief, 75 * ETHER // 10)
        token(victim, thief, 12_345_678 * USD // 10_000)
        _send(node, thief, mule, 225 * ETHER // 100)
        token(thief, mule, 1_000 * USD)
        _send(node, mule, dep, 2 * ETHER)
        token(mule, dep, 1_000 * USD)
        _send(node, dep, hot, 199 * ETHER // 100)  # the exchange sweeps its deposit address
        token(dep, hot, 1_000 * USD)
        base = tmp_path_factory.mktemp("acct-units")
        store = Store.open(base / "store")
        ingest_ethereum(store, EthRpc(HttpTransport(node.url)), chain="anvil", first=0,
                        last=node.block_number(), batch_blocks=4)
    s = str(base / "store")
    assert main(["-q", "--store", s, "tags", "add", dep, "--label", "Test Exchange deposit", "--category",
                 "exchange", "--currency", "ANVIL", "--source", "https://example.org/subpoena-42"]) == 0
    assert main(["-q", "--store", s, "cluster", "run", "--chain", "anvil", "--hot-wallet", hot]) == 0
    yield {"store": s, "theft": theft, "usd": usd, "victim": victim, "thief": thief, "mule": mule,
           "dep": dep, "hot": hot}


def _trace(env: dict, capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["--store", env["store"], "trace", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _token(doc: dict, env: dict) -> tuple[str, dict]:
    key = next(k for k in doc["summary"]["by_asset"] if k.lower() == env["usd"])
    return key, doc["summary"]["by_asset"][key]


def test_format_units_writes_integers_exactly() -> None:
    assert format_units(125968838768554613603, 18) == "125.968838768554613603"
    assert format_units(2**256 - 1, 18) == str(2**256 - 1)[:-18] + "." + str(2**256 - 1)[-18:]
    assert format_units(1_000 * USD, 6) == "1000" and format_units(234_567_800, 6) == "234.5678"
    assert format_units(Fraction(5, 3), 0) == "1" and format_units(7, None) == "7"
    assert format_units(1_234_567 * USD, 6, group=True) == "1,234,567"


def test_text_shows_each_asset_in_its_unit(chain: dict, capsys) -> None:
    capsys.readouterr()
    assert main(["--store", chain["store"], "trace", chain["thief"], "--policy", "fifo"]) == 0
    text = capsys.readouterr().out
    assert "ETH: seed 7.5 ETH\n" in text
    assert "sUSD (" in text and "seed 1,234.5678 sUSD" in text
    assert "1,000 sUSD" in text and "234.5678 sUSD" in text  # reached the deposit / still at the thief
    assert "7500000000000000000" not in text and "1234567800" not in text  # base units only in --json


def test_json_keeps_base_units_and_adds_decimals(chain: dict, capsys) -> None:
    doc = _trace(chain, capsys, chain["thief"], "--policy", "fifo")
    key, usd = _token(doc, chain)
    assert usd["symbol"] == "sUSD" and usd["decimals"] == 6
    assert usd["seed_value"] == 1_234_567_800 and usd["seed_display"] == "1234.5678"
    eth = doc["summary"]["by_asset"]["ETH"]
    assert eth["decimals"] == 18 and eth["seed_value"] == 75 * ETHER // 10 and eth["seed_display"] == "7.5"
    assert doc["assets"][key] == {"symbol": "sUSD", "decimals": 6}
    ends = {(e["address"].lower(), e["asset"], e["reason"]): e for e in doc["endpoints"]}
    dep = ends[(chain["dep"], key, "service")]
    assert dep["amount_sat"] == 1_000 * USD and dep["amount_display"] == "1000" and dep["decimals"] == 6
    kept = ends[(chain["thief"], key, "unspent")]
    assert kept["amount_sat"] == 234_567_800 and kept["amount_display"] == "234.5678"
    for e in doc["endpoints"]:  # the display string is the exact integer, moved by the decimals
        assert Fraction(e["amount_display"]) == Fraction(e["amount_sat"], 10 ** e["decimals"])
    for d in doc["summary"]["by_asset"].values():
        assert d["accounting"]["balanced"]


def test_endpoints_and_nodes_carry_tags_with_provenance(chain: dict, capsys) -> None:
    doc = _trace(chain, capsys, chain["thief"], "--policy", "fifo")
    key, _ = _token(doc, chain)
    ends = {(e["address"].lower(), e["asset"], e["reason"]): e for e in doc["endpoints"]}
    dep = ends[(chain["dep"], key, "service")]
    assert dep["label"] == "exchange: Test Exchange deposit"  # stopped there by the analyst's tag
    direct = [t for t in dep["tags"] if t["category"] == "exchange"]
    assert direct and direct[0]["source"] == "https://example.org/subpoena-42"
    assert direct[0]["inherited_from"] is None
    # the mule paid into that deposit address and the exchange swept it: one cluster (Victor 2020),
    # so the mule's endpoint shows the tag as inherited, naming where it comes from; it is not a stop
    mule = ends[(chain["mule"], "ETH", "unspent")]
    assert mule["cluster"] is not None and mule["cluster"] == dep["cluster"]
    inherited = [t for t in mule["tags"] if t["category"] == "exchange"]
    assert inherited and inherited[0]["inherited_from"].lower() == chain["dep"]
    nodes = {n["address"].lower(): n for n in doc["graph"]["nodes"]}
    assert nodes[chain["dep"]]["tags"][0]["label"] == "Test Exchange deposit"
    assert nodes[chain["thief"]]["tags"] == []
    capsys.readouterr()
    assert main(["--store", chain["store"], "trace", chain["thief"], "--policy", "fifo"]) == 0
    text = capsys.readouterr().out
    assert "tag exchange: Test Exchange deposit (https://example.org/subpoena-42" in text
    assert "via cluster of" in text


@pytest.mark.parametrize("policy", POLICIES)
def test_several_seeds_are_one_taint_set(chain: dict, capsys, policy: str) -> None:
    # the mule's seed lies downstream of the thief's: the 1,000 sUSD it received is the thief's
    alone = _trace(chain, capsys, chain["thief"], "--policy", policy)
    both = _trace(chain, capsys, chain["thief"], chain["mule"], "--policy", policy)
    assert both["seed"]["kind"] == "set" and [s["input"] for s in both["seeds"]] == [chain["thief"], chain["mule"]]
    key, usd = _token(both, chain)
    acc = usd["accounting"]
    assert acc["seed_gross_sat"] == 2_234_567_800 and acc["retraced_sat"] == 1_000 * USD
    assert usd["seed_value"] == 1_234_567_800  # each sUSD unit is counted once
    assert acc["balanced"] and acc["absorbed_exact"] == "0"

    def token_ends(doc: dict) -> dict:
        return {(e["address"].lower(), e["reason"]): e["amount_exact"] for e in doc["endpoints"] if e["asset"] == key}

    assert token_ends(both) == token_ends(alone)
    for d in both["summary"]["by_asset"].values():  # every asset, every policy: the books balance
        a = d["accounting"]
        assert Fraction(a["seed_exact"]) + Fraction(a["absorbed_exact"]) == \
            Fraction(a["endpoints_exact"]) + Fraction(a["fees_exact"])
    # an address seed and a transaction seed together: the theft is in both, traced once
    mixed = _trace(chain, capsys, chain["theft"], chain["thief"], "--policy", policy, "--asset", "ETH")
    assert mixed["seed"]["kind"] == "set" and mixed["summary"]["by_asset"]["ETH"]["seed_value"] == 75 * ETHER // 10
    if policy == "poison":  # poison takes in clean value (the thief's gas money), and says so
        assert Fraction(both["summary"]["by_asset"]["ETH"]["accounting"]["absorbed_exact"]) >= 0


def test_a_bad_seed_in_a_set_is_one_line(chain: dict, capsys) -> None:
    capsys.readouterr()
    assert main(["--store", chain["store"], "trace", chain["thief"], "0xnot-an-address"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0xnot-an-address" in err

