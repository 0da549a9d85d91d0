"""Every address resolver answers by the one rule (issue 14: one address resolver per chain family).

`store.addresses` (by SQL and through a loaded index, with and without a chain named), the trace
seeds' `address_id` (over the graph index / account graph) and the clustering's `address_id` (over
a snapshot) must give the id ingest gave each address, for every address form: P2PKH, P2SH, P2WPKH,
P2WSH, P2TR, and P2PK outputs found by their key's P2PKH address; account addresses in lower, upper
and EIP-55 case. Checked on a hand-built regtest chain holding each form, and on real mainnet blocks
(0-599 with their P2PK coinbases, 574200 of 2019 and the taproot-era 951658), Ethereum too.
Malformed, other-network and unknown addresses fail the same way everywhere, and the older
resolvers keep their messages and leave the request field for their callers to name.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.realchain import BLOCK_574200, real_store

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import render_address, segwit_encode
from fundtrail.chains.bitcoin.addresskey import address_key, fingerprint
from fundtrail.chains.bitcoin.hashing import hash160
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.chains.bitcoin.script import ScriptType
from fundtrail.chains.resolve import account_text, parse_utxo_address, utxo_text
from fundtrail.cluster import query
from fundtrail.cluster.snapshot import Snapshot, open_snapshot
from fundtrail.errors import FundtrailError, NotFoundError, UsageError
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.store import Store
from fundtrail.store.addresses import account_address_id, utxo_address_id
from fundtrail.trace import account_seeds, seeds
from fundtrail.trace.account_graph import AccountGraph
from fundtrail.trace.graph import GraphIndex

#: The forms a Bitcoin-family address id can have a text for (P2PK outputs count as P2PKH).
ADDRESS_FORMS = (ScriptType.P2PKH, ScriptType.P2SH, ScriptType.P2WPKH, ScriptType.P2WSH, ScriptType.P2TR)
Resolver = Callable[[str], int]


def _utxo_resolvers(store: Store, chain: str, graph: GraphIndex, snap: Snapshot) -> dict[str, Resolver]:
    return {
        "store.addresses sql": lambda t: _checked(utxo_address_id(store, t, chain=chain), chain),
        "store.addresses any chain": lambda t: _checked(utxo_address_id(store, t), chain),
        "store.addresses index": lambda t: _checked(utxo_address_id(store, t, chain=chain, index=graph), chain),
        "trace.seeds": lambda t: seeds.address_id(graph, t),
        "cluster.query": lambda t: query.address_id(snap, t),
    }


def _account_resolvers(store: Store, chain: str, graph: AccountGraph,
                       snap: Snapshot) -> dict[str, Resolver]:
    return {
        "store.addresses sql": lambda t: _checked(account_address_id(store, t, chain=chain), chain),
        "store.addresses any chain": lambda t: _checked(account_address_id(store, t), chain),
        "store.addresses index": lambda t: _checked(account_address_id(store, t, chain=chain, index=graph), chain),
        "trace.account_seeds": lambda t: account_seeds.address_id(graph, t),
        "cluster.query": lambda t: query.address_id(snap, t),
    }


def _checked(found: tuple[str, int], chain: str) -> int:
    assert found[0] == chain
    return found[1]


def _answers(resolvers: dict[str, Resolver], text: str) -> dict[str, int | str]:
    """Each resolver's id for `text`, or the name of the error it raised."""
    out: dict[str, int | str] = {}
    for name, resolve in resolvers.items():
        try:
            out[name] = resolve(text)
        except FundtrailError as exc:
            out[name] = type(exc).__name__
    return out


def _agree(resolvers: dict[str, Resolver], text: str, want: int | str) -> None:
    got = _answers(resolvers, text)
    assert got == dict.fromkeys(resolvers, want), text


def _stored_addresses(store: Store, chain: str) -> list[tuple[int, int, bytes, int, int]]:
    """(address id, script type, payload, fp1, fp2) of every stored address of `chain`."""
    p = chain.replace("-", "_")
    with store.query() as con:
        rows = con.execute(f"SELECT address_id, script_type, payload, fp1, fp2 FROM {p}_addresses "
                           "ORDER BY address_id").fetchall()
    return [(int(a), int(s), bytes(pl), int(f1), int(f2)) for a, s, pl, f1, f2 in rows]


# -- a hand-built regtest chain with every form -----------------------------------------------------

CHAIN = "btc-regtest"
PUBKEY = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")  # secp256k1 G


def _forms() -> dict[str, bytes]:
    """One output script per form (the P2PK one pays a key whose P2PKH address gets no output)."""
    return {
        "p2pkh": w.p2pkh(bytes([1]) * 20), "p2sh": w.p2sh(bytes([2]) * 20), "p2wpkh": w.p2wpkh(bytes([3]) * 20),
        "p2wsh": w.p2wsh(bytes([4]) * 32), "p2tr": w.p2tr(bytes([5]) * 32), "p2pk": w.p2pk(PUBKEY),
        "multisig": w.multisig(1, [PUBKEY]),
    }


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("resolvers-hand")
    scripts = _forms()
    cb = w.coinbase_tx(0, [w.TxOut(w.COIN, s) for s in scripts.values()])
    w.write_blocks_dir(base / "blocks", [w.build_block(bytes(32), [cb], 1_700_000_000)], REGTEST)
    store = Store.open(base / "store")
    ingest_blocks_dir(store, base / "blocks")
    with store.query() as con:
        out_ids = [int(r[0]) for r in con.execute("SELECT address_id FROM btc_regtest_outputs ORDER BY output_id")
                   .fetchall()]
    return {"store": store, "graph": GraphIndex.ensure(store, CHAIN), "ids": dict(zip(scripts, out_ids))}


def _hand_texts() -> dict[str, str]:
    """The address text of each form's output, made with the encoders rather than the resolvers."""
    texts = {name: render_address(int(t), p, REGTEST)
             for name, (t, p) in {"p2pkh": (ScriptType.P2PKH, bytes([1]) * 20),
                                  "p2sh": (ScriptType.P2SH, bytes([2]) * 20),
                                  "p2pk": (ScriptType.P2PKH, hash160(PUBKEY))}.items()}
    texts |= {"p2wpkh": segwit_encode(REGTEST.hrp, 0, bytes([3]) * 20),
              "p2wsh": segwit_encode(REGTEST.hrp, 0, bytes([4]) * 32),
              "p2tr": segwit_encode(REGTEST.hrp, 1, bytes([5]) * 32)}
    return {k: v for k, v in texts.items() if v is not None}


def test_every_form_resolves_to_the_id_ingest_gave_it_on_a_hand_built_chain(hand: dict) -> None:
    store, graph = hand["store"], hand["graph"]
    texts = _hand_texts()
    assert set(texts) == {"p2pkh", "p2sh", "p2wpkh", "p2wsh", "p2tr", "p2pk"}
    with open_snapshot(store, CHAIN) as snap:
        resolvers = _utxo_resolvers(store, CHAIN, graph, snap)
        for form, text in texts.items():
            want = hand["ids"][form]
            _agree(resolvers, text, want)
            _agree(resolvers, f"  {text}\n", want)  # surrounding blanks do not matter
            if text.startswith(REGTEST.hrp + "1"):
                _agree(resolvers, text.upper(), want)  # bech32 in upper case is the same address
        # the P2PK output's id is its key's P2PKH address id; a bare multisig has an id but no text
        assert graph.address_key(hand["ids"]["p2pk"]) == address_key(int(ScriptType.P2PK), PUBKEY)
        multisig = hand["ids"]["multisig"]
        assert utxo_text(*graph.address_key(multisig), "regtest").startswith("script:7:")
        assert len(set(hand["ids"].values())) == len(hand["ids"])


def test_every_resolver_fails_alike_on_a_hand_built_chain(hand: dict) -> None:
    store, graph = hand["store"], hand["graph"]
    unknown = segwit_encode(REGTEST.hrp, 0, bytes([9]) * 20)
    with open_snapshot(store, CHAIN) as snap:
        resolvers = _utxo_resolvers(store, CHAIN, graph, snap)
        _agree(resolvers, unknown, "NotFoundError")
        for bad in ("bcrt1qnotanaddress", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",  # malformed; mainnet on regtest
                    "0x52908400098527886E0F7030069857D2E4169EE7", "x" * 300):
            _agree(resolvers, bad, "UsageError")


def test_older_resolvers_keep_their_messages_and_leave_the_field_to_the_caller(hand: dict) -> None:
    store, graph = hand["store"], hand["graph"]
    unknown = segwit_encode(REGTEST.hrp, 0, bytes([9]) * 20)
    mainnet = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    with pytest.raises(UsageError) as rule:  # the message of the one rule, which names the field
        parse_utxo_address(mainnet, "regtest")
    assert rule.value.field == "address"
    with open_snapshot(store, CHAIN) as snap:
        for resolve in (lambda t: seeds.address_id(graph, t), lambda t: query.address_id(snap, t)):
            with pytest.raises(UsageError) as err:
                resolve(mainnet)
            assert err.value.field is None and err.value.message == rule.value.message
        with pytest.raises(NotFoundError) as nf:
            seeds.address_id(graph, unknown)
        assert nf.value.field is None
        assert nf.value.message == f"address {unknown} has no activity in the store's {CHAIN} chain"
        with pytest.raises(NotFoundError) as nf:
            query.address_id(snap, f" {unknown} ")
        assert nf.value.field is None and nf.value.message == f"address {unknown} does not appear in chain {CHAIN}"
    with pytest.raises(UsageError) as seed_err:
        seeds.parse_seed(graph, mainnet)
    assert seed_err.value.message == (f"seed {mainnet!r} is not a txid, TXID:VOUT or {CHAIN} address: "
                                      f"{rule.value.message}")


# -- real mainnet blocks --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mainnet(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    store = real_store(testdata, tmp_path_factory.mktemp("resolvers-real"),
                       raw=(BLOCK_574200, "electrumx/block951658.hex"))
    return {"store": store, "graph": GraphIndex.ensure(store, "btc")}


def test_resolvers_agree_on_real_blocks_for_every_form(mainnet: dict) -> None:
    store, graph = mainnet["store"], mainnet["graph"]
    rows = _stored_addresses(store, "btc")
    by_form: dict[int, list[tuple[int, int, bytes, int, int]]] = {}
    for row in rows:
        by_form.setdefault(row[1], []).append(row)
    assert set(ADDRESS_FORMS) <= set(by_form), sorted(by_form)
    with open_snapshot(store, "btc") as snap:
        resolvers = _utxo_resolvers(store, "btc", graph, snap)
        for form in ADDRESS_FORMS:
            sample = by_form[form][:: max(1, len(by_form[form]) // 40)]  # about 40 of each, spread
            for aid, stype, payload, fp1, fp2 in sample:
                text = utxo_text(stype, payload, "mainnet")
                assert not text.startswith("script:")
                assert (fp1, fp2) == fingerprint(*address_key(stype, payload))  # ingest's fast path agrees
                _agree(resolvers, text, aid)


def test_real_p2pk_outputs_resolve_by_their_keys_p2pkh_address(mainnet: dict) -> None:
    store, graph = mainnet["store"], mainnet["graph"]
    with store.query() as con:
        rows = con.execute(f"SELECT address_id FROM btc_outputs WHERE script_type = {int(ScriptType.P2PK)} "
                           "ORDER BY output_id LIMIT 25").fetchall()
    assert len(rows) == 25  # the early coinbases pay to bare keys
    with open_snapshot(store, "btc") as snap:
        resolvers = _utxo_resolvers(store, "btc", graph, snap)
        _agree(resolvers, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", int(rows[0][0]))  # the genesis coinbase's key
        for (aid,) in rows:
            stype, payload = graph.address_key(int(aid))
            assert stype == ScriptType.P2PKH
            _agree(resolvers, utxo_text(stype, payload, "mainnet"), int(aid))


@pytest.fixture(scope="module")
def ethereum(etl_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from fundtrail.ingest.ethereum.pipeline import EthIngest
    from fundtrail.ingest.ethereum.replay import ReplayTransport
    from fundtrail.ingest.ethereum.rpc import EthRpc
    from fundtrail.model.chains import EVM_CHAINS

    fixture = etl_fixtures / "test_stream" / "blocks_1755634_1755635"
    if not fixture.is_dir():
        pytest.skip(f"{fixture} not found")
    store = Store.open(tmp_path_factory.mktemp("resolvers-eth") / "store")
    with EthIngest(store, EVM_CHAINS["eth"], EthRpc(ReplayTransport(fixture, unrecorded_as_rpc_error=True)),
                   batch_blocks=10) as ing:
        ing.ingest_range(1755634, 1755635)
        ing.finish()
    return {"store": store, "graph": AccountGraph.ensure(store, "eth")}


def test_account_resolvers_agree_on_real_ethereum_blocks_in_every_case(ethereum: dict) -> None:
    store, graph = ethereum["store"], ethereum["graph"]
    with store.query() as con:
        rows = [(int(a), bytes(raw)) for a, raw in
                con.execute("SELECT address_id, address FROM eth_addresses ORDER BY address_id").fetchall()]
    assert len(rows) >= 5  # two 2016 blocks: senders, receivers, miners
    with open_snapshot(store, "eth") as snap:
        resolvers = _account_resolvers(store, "eth", graph, snap)
        for aid, raw in rows:
            checksummed = account_text(raw)
            for text in (checksummed, "0x" + raw.hex(), "0x" + raw.hex().upper(), f" {checksummed} "):
                _agree(resolvers, text, aid)
        unknown = bytes(19) + b"\x7f"
        assert unknown not in {raw for _, raw in rows}
        _agree(resolvers, account_text(unknown), "NotFoundError")
        good = account_text(rows[0][1])
        flipped = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
        typo = good[:flipped] + good[flipped].swapcase() + good[flipped + 1:]  # a wrong EIP-55 checksum
        for bad in (typo, "0x" + "a" * 39, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"):
            _agree(resolvers, bad, "UsageError")
        with pytest.raises(UsageError) as err:
            account_seeds.address_id(graph, typo)
        assert err.value.field is None and err.value.message == f"bad EIP-55 checksum in address {typo}"
        with pytest.raises(NotFoundError) as nf:
            query.address_id(snap, account_text(unknown))
        assert nf.value.field is None
