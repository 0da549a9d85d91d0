"""Account-chain evidence bundles end to end (format 1.1, docs/bundle.md "Account chains"): a theft of
ETH and of an ERC-20 token played on a real anvil node, ingested by the CLI, traced in a case, bundled
with `case bundle --rpc`, checked by `fundtrail verify`; then each kind of tampering (a trie proof node,
a transaction byte, a header byte, an edge amount), each rewritten with a consistent SHA256SUMS so only
the proofs can catch it, is detected and named. A chain fundtrail does not verify fully is bundled
without proofs, and says why.

Oracles: what was sent (senders, recipients, values, token amounts), the node's own transaction
hashes and raw bytes (`eth_getRawTransactionByHash`), not the bundle writer's encoder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.anvil import Anvil
from support.eth_scenario import calldata, create_address, deploy_data, load_artefacts

from fundtrail.cli.main import main
from fundtrail.verify.bundle import verify_bundle
from tests.cases.support_bundle import jsonl, read_zip, sums_ok

ETHER = 10**18


def _send(node: Anvil, sender: str, to: str | None, value: int = 0, data: str = "0x", wait: bool = True) -> str:
    tx: dict[str, Any] = {"from": sender, "value": hex(value), "data": data}
    if to is not None:
        tx["to"] = to
    h = str(node.rpc("eth_sendTransaction", tx))
    if wait:
        assert int(node.wait_receipt(h)["status"], 16) == 1
    return h


def play(node: Anvil) -> dict[str, Any]:
    """Victim robbed of 10 ETH and 400 TT; the thief pays two mules in both; one mule pays the
    'exchange' hot wallet directly, the other through a forwarding deposit contract (an internal
    transfer: stated in the bundle, not provable from transaction bytes)."""
    art = load_artefacts()
    owner, victim, thief, m1, m2, hot = node.accounts[:6]
    nonce = int(node.rpc("eth_getTransactionCount", owner, "pending"), 16)
    tt, dep = create_address(node, owner, nonce), create_address(node, owner, nonce + 1)
    _send(node, owner, None, data=deploy_data(art["TestToken"], "Test Token", "TT"))
    _send(node, owner, None, data=deploy_data(art["Forwarder"]))
    mint = _send(node, owner, tt, data=calldata(art["TestToken"], "mint(address,uint256)", victim, 1000 * ETHER))

    def token(sender: str, to: str, amount: int, wait: bool = True) -> str:
        return _send(node, sender, tt, data=calldata(art["TestToken"], "transfer(address,uint256)", to, amount),
                     wait=wait)

    sent = {"theft": _send(node, victim, thief, 10 * ETHER), "theft_tt": token(victim, thief, 400 * ETHER)}
    node.automine(False)  # the thief's three payments in one block: proofs through a branching trie
    try:
        sent |= {"m1": _send(node, thief, m1, 3 * ETHER, wait=False),
                 "m2": _send(node, thief, m2, 4 * ETHER, wait=False),
                 "m1_tt": token(thief, m1, 150 * ETHER, wait=False)}
        node.mine()
    finally:
        node.automine(True)
    assert all(int(node.wait_receipt(sent[k])["status"], 16) == 1 for k in ("m1", "m2", "m1_tt"))
    sent |= {"hot": _send(node, m1, hot, 2 * ETHER), "hot_tt": token(m1, hot, 100 * ETHER),
             "forward": _send(node, m2, dep, 3 * ETHER, calldata(art["Forwarder"], "forward(address)", hot))}
    return {"thief": thief, "victim": victim, "m1": m1, "m2": m2, "hot": hot, "tt": tt, "sent": sent, "mint": mint}


def cli(store: Path, *args: str) -> Any:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["-q", "--store", str(store), "--as", "alice", *args, "--json"])
    assert code == 0, args
    return json.loads(buf.getvalue())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("acctbundle")
    with Anvil() as node:
        roles = play(node)
        store = base / "store"
        cli(store, "ingest", "ethereum", "--rpc", node.url, "--chain", "anvil")
        cid = cli(store, "case", "new", "--title", "Anvil theft")["id"]
        eth = cli(store, "case", "trace", cid, roles["thief"], "--chain", "anvil", "--asset", "ETH",
                  "--policy", "fifo")
        tok = cli(store, "case", "trace", cid, roles["thief"], "--chain", "anvil", "--asset", roles["tt"],
                  "--policy", "haircut")
        back = cli(store, "case", "trace", cid, roles["hot"], "--chain", "anvil", "--asset", roles["tt"],
                   "--direction", "backward", "--policy", "fifo")  # back to the token's mint
        cli(store, "case", "finding", cid, "--fact", "The victim paid 10 ETH to the thief",
            "--basis", "the victim's statement and the transaction", "--ref", f"tx:{roles['sent']['theft']}")
        made = cli(store, "case", "bundle", cid, "-o", str(base / "case.zip"), "--rpc", node.url)
        raw = {k: str(node.rpc("eth_getRawTransactionByHash", h)) for k, h in roles["sent"].items()}
        # without --rpc: the node the chain was ingested from (recorded in the ingest run)
        again = cli(store, "case", "bundle", cid, "-o", str(base / "again.zip"))
        # the same chain under a name fundtrail does not verify fully (a --chain NAME --chain-id N chain)
        other = base / "other"
        cli(other, "ingest", "ethereum", "--rpc", node.url, "--chain", "devchain", "--chain-id", "31337")
        cid2 = cli(other, "case", "new", "--title", "Unverified chain")["id"]
        cli(other, "case", "trace", cid2, roles["thief"], "--chain", "devchain", "--asset", "ETH")
        made2 = cli(other, "case", "bundle", cid2, "-o", str(base / "other.zip"))
    yield {"base": base, "roles": roles, "made": made, "traces": (eth, tok), "back": back, "raw": raw,
           "path": base / "case.zip", "files": read_zip(base / "case.zip"), "made2": made2, "again": again,
           "other": read_zip(base / "other.zip"), "other_path": base / "other.zip"}


def test_the_bundle_carries_every_traced_transaction_with_proofs(env: dict[str, Any]) -> None:
    files, roles = env["files"], env["roles"]
    sums_ok(files)
    manifest = json.loads(files["manifest.json"])
    assert manifest["format_version"] == "1.1"
    entry = manifest["chains"]["anvil"]
    assert (entry["family"], entry["proofs"], entry["chain_id"], entry["network"]) == (
        "account", "mpt", 31337, "chain-id-31337")
    assert entry["source"].startswith("rpc http://127.0.0.1:")
    lines = jsonl(files["chains/anvil/transactions.jsonl"])
    heads = jsonl(files["chains/anvil/headers.jsonl"])
    assert entry["transactions"] == len(lines) == env["made"]["transactions"]
    assert entry["blocks"] == len(heads) == len({ln["block_hash"] for ln in lines})
    by_hash = {ln["hash"]: ln for ln in lines}
    sent = roles["sent"]
    # every value transfer the traces followed, and nothing of the victim's earlier history
    edge_txs = {e["output"].split(":")[0] for t in (*env["traces"], env["back"]) for e in t["result"]["graph"]["edges"]}
    assert edge_txs == set(by_hash) and set(sent.values()) | {roles["mint"]} == set(by_hash)
    for name, h in sent.items():  # the node's own bytes of each transaction
        assert "0x" + by_hash[h]["raw"] == env["raw"][name], name
    assert set(by_hash[sent["theft"]]["roles"]) == {"traced", "seed", "finding"}
    assert by_hash[sent["hot"]]["roles"] == ["traced"]
    keys = [(ln["block_number"], ln["index"]) for ln in lines]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    busy = {ln["hash"]: ln for ln in lines if ln["block_number"] == by_hash[sent["m1"]]["block_number"]}
    assert set(busy) == {sent["m1"], sent["m2"], sent["m1_tt"]}  # one block, three positions
    assert sorted(ln["index"] for ln in busy.values()) == [0, 1, 2]
    assert all(len(ln["proof"]) >= 2 for ln in busy.values())  # a branch node above the leaves


def test_the_recorded_node_gives_the_same_bundle(env: dict[str, Any]) -> None:
    again = read_zip(Path(env["again"]["path"]))
    assert again.keys() == env["files"].keys()
    for member in sorted(again.keys() - {"manifest.json", "SHA256SUMS"}):
        assert again[member] == env["files"][member], member
    first, second = (json.loads(f["manifest.json"]) for f in (env["files"], again))
    assert {**first, "created_at": None} == {**second, "created_at": None}  # the same node, the same source


def test_verify_proves_the_account_transactions(env: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(env["path"])]) == 0
    out = capsys.readouterr().out
    assert "Result: verified" in out
    report = verify_bundle(str(env["path"]))
    assert report.ok, report.failures
    n = len(jsonl(env["files"]["chains/anvil/transactions.jsonl"]))
    assert report.counts["transactions"] == n and report.counts["transactions_not_proven"] == 0
    assert report.counts["traces_edges_proven"] == 3 and report.counts["facts_verified"] == 1
    assert any(env["roles"]["sent"]["theft"] in f and "trie proofs" in f for f in report.facts)
    by_asset = {t.id: t for t in report.traces}
    eth, tok = (by_asset[t["id"]] for t in env["traces"])
    assert eth.status == tok.status == "edges proven"
    # the forwarder's sweep to the hot wallet is an internal transfer: stated, not proven
    fees = sum(":fee:" in e["output"] for e in env["traces"][0]["result"]["graph"]["edges"])
    assert f"1 internal transfers, {fees} fees;" in eth.detail and fees > 0
    assert report.counts["transfers_stated"] == 1 + fees
    assert any("unspent as of block" in s for s in eth.stops)
    assert f"{len(env['traces'][1]['result']['graph']['edges'])} of " in tok.detail
    # backward to the token's mint: a Transfer from the zero address, the trace's "from": null
    back = by_asset[env["back"]["id"]]
    mint = [e for e in env["back"]["result"]["graph"]["edges"] if e["output"].startswith(env["roles"]["mint"])]
    assert back.status == "edges proven" and len(mint) == 1 and mint[0]["from"] is None


def _rewrite(src: Path, dst: Path, member: str, change: Callable[[bytes], bytes]) -> None:
    """A copy of the bundle with `member` changed and SHA256SUMS recomputed to match (a consistent
    forgery: only the proofs can catch it)."""
    files = read_zip(src)
    files[member] = change(files[member])
    files["SHA256SUMS"] = b"".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n".encode()
                                   for p in sorted(files) if p != "SHA256SUMS")
    with zipfile.ZipFile(dst, "w") as zf:
        for name in sorted(files):
            zf.writestr(name, files[name])


def _flip_hex(text: str, at: int) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:]


def _edit_line(data: bytes, pick: Callable[[dict[str, Any]], bool], edit: Callable[[dict[str, Any]], None]) -> bytes:
    rows = jsonl(data)
    row = next(r for r in rows if pick(r))
    edit(row)
    return b"".join((json.dumps(r, sort_keys=True) + "\n").encode() for r in rows)


def _failures(env: dict[str, Any], tmp_path: Path, member: str, change: Callable[[bytes], bytes]) -> list[str]:
    bad = tmp_path / "bad.zip"
    _rewrite(env["path"], bad, member, change)
    report = verify_bundle(str(bad))
    assert report.readable and not report.ok
    return report.failures


def test_a_changed_proof_node_is_named(env: dict[str, Any], tmp_path: Path) -> None:
    theft = env["roles"]["sent"]["theft"]

    def edit(r: dict[str, Any]) -> None:
        r["proof"][-1] = _flip_hex(r["proof"][-1], len(r["proof"][-1]) // 2)

    fails = _failures(env, tmp_path, "chains/anvil/transactions.jsonl",
                      lambda d: _edit_line(d, lambda r: r["hash"] == theft, edit))
    assert any("chains/anvil/transactions.jsonl line" in f and theft in f and "proof" in f for f in fails), fails


def test_a_changed_transaction_byte_is_named(env: dict[str, Any], tmp_path: Path) -> None:
    h = env["roles"]["sent"]["m2"]

    def edit(r: dict[str, Any]) -> None:
        r["raw"] = _flip_hex(r["raw"], 30)  # inside the nonce/gas fields

    fails = _failures(env, tmp_path, "chains/anvil/transactions.jsonl",
                      lambda d: _edit_line(d, lambda r: r["hash"] == h, edit))
    assert any("transactions.jsonl line" in f and h in f for f in fails), fails


def test_a_changed_header_byte_is_named(env: dict[str, Any], tmp_path: Path) -> None:
    lines = jsonl(env["files"]["chains/anvil/transactions.jsonl"])
    target = next(r for r in lines if r["hash"] == env["roles"]["sent"]["hot"])

    def edit(r: dict[str, Any]) -> None:
        r["rlp"] = _flip_hex(r["rlp"], len(r["rlp"]) - 10)  # a byte of the header's last fields

    fails = _failures(env, tmp_path, "chains/anvil/headers.jsonl",
                      lambda d: _edit_line(d, lambda r: r["hash"] == target["block_hash"], edit))
    assert any("chains/anvil/headers.jsonl line" in f and "hashes to" in f for f in fails), fails
    assert any(target["hash"] in f and "not in headers.jsonl" in f for f in fails), fails


def test_a_changed_edge_amount_is_named(env: dict[str, Any], tmp_path: Path) -> None:
    tok = env["traces"][1]
    member = f"traces/{tok['id']}.json"
    doc = json.loads(env["files"][member])
    edges = doc["result"]["graph"]["edges"]
    i = next(k for k, e in enumerate(edges) if e["output"].startswith(env["roles"]["sent"]["m1_tt"]))
    edges[i]["value_sat"] += 1
    fails = _failures(env, tmp_path, member, lambda d: (json.dumps(doc, sort_keys=True) + "\n").encode())
    assert any(f.startswith(f"{member}: edge {i}:") and "ERC-20 Transfer" in f
               and str(150 * ETHER + 1) in f for f in fails), fails


def test_an_unverified_chain_is_bundled_without_proofs_and_says_why(env: dict[str, Any]) -> None:
    files = env["other"]
    manifest = json.loads(files["manifest.json"])
    entry = manifest["chains"]["devchain"]
    assert manifest["format_version"] == 1 and entry["proofs"] == "none" and entry["transactions"] == 0
    assert "not 'full'" in entry["proofs_note"] and not any(p.startswith("chains/") for p in files)
    assert any("devchain" in w and "no inclusion proofs" in w for w in env["made2"]["warnings"])
    report = verify_bundle(str(env["other_path"]))
    assert report.ok, report.failures
    assert any("devchain" in n and "not 'full'" in n for n in report.notes)
    assert report.traces[0].status == "not recomputable" and report.counts["transactions"] == 0


# -- real mainnet blocks (ethereum-etl's recording of blocks 1,755,634-1,755,635) ------------------

MAINNET_TX = "0x9a5437ec71b74ecf5930b406908ac6999966d38a86d1534b7190ece7599095eb"  # 0.405738107 ETH
MAINNET_BLOCK = "0x1dec87ec1ba8e65b7773bb6f62249468948a28a427efd3d896a2ff7d7c591a67"  # 1,755,635


@pytest.fixture(scope="module")
def mainnet(etl_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store replayed from the recording, a case tracing a real payment, bundled from the recording
    the chain was ingested from (no --rpc)."""
    base = tmp_path_factory.mktemp("mainnetbundle")
    recording = base / "recording"
    shutil.copytree(etl_fixtures / "test_stream" / "blocks_1755634_1755635", recording)
    store = base / "store"
    cli(store, "ingest", "ethereum", "--replay", str(recording), "--chain", "eth")
    cid = cli(store, "case", "new", "--title", "Mainnet payment")["id"]
    trace = cli(store, "case", "trace", cid, MAINNET_TX, "--chain", "eth")
    cli(store, "case", "finding", cid, "--fact", "0.405738107 ETH paid", "--basis", "the transaction",
        "--ref", f"tx:{MAINNET_TX}")
    made = cli(store, "case", "bundle", cid, "-o", str(base / "mainnet.zip"))
    expected = [json.loads(line) for line in (recording / "expected_transactions.json").read_text().splitlines()]
    return {"base": base, "store": store, "cid": cid, "recording": recording, "trace": trace, "made": made,
            "path": base / "mainnet.zip", "expected": expected}


def test_a_real_mainnet_payment_is_proven(mainnet: dict[str, Any]) -> None:
    files = read_zip(mainnet["path"])
    manifest = json.loads(files["manifest.json"])
    entry = manifest["chains"]["eth"]
    assert (entry["chain_id"], entry["proofs"], entry["blocks"], entry["transactions"]) == (1, "mpt", 1, 1)
    assert entry["source"] == f"recorded responses {mainnet['recording'].resolve()}"
    (line,) = jsonl(files["chains/eth/transactions.jsonl"])
    want = next(t for t in mainnet["expected"] if t["hash"] == MAINNET_TX)  # ethereum-etl's own export
    assert (line["hash"], line["block_number"], line["index"], line["block_hash"]) == (
        MAINNET_TX, want["block_number"], want["transaction_index"], MAINNET_BLOCK)
    (head,) = jsonl(files["chains/eth/headers.jsonl"])
    assert head["number"] == 1755635 and head["hash"] == MAINNET_BLOCK
    report = verify_bundle(str(mainnet["path"]))
    assert report.ok, report.failures
    assert report.counts["transactions"] == 1 and report.counts["facts_verified"] == 1
    assert report.traces[0].status == "edges proven" and report.traces[0].detail.startswith("1 of 1 edges")


def test_no_node_and_no_recording_is_one_clear_error(mainnet: dict[str, Any],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    moved = mainnet["base"] / "moved"
    mainnet["recording"].rename(moved)
    try:
        code = main(["-q", "--store", str(mainnet["store"]), "--as", "alice", "case", "bundle", mainnet["cid"],
                     "-o", str(mainnet["base"] / "none.zip")])
    finally:
        moved.rename(mainnet["recording"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "no node for chain eth" in err and f"replay:{mainnet['recording']}" in err and "--rpc URL" in err
    assert not (mainnet["base"] / "none.zip").exists()


@pytest.mark.parametrize(("nonce", "created"), [(0, "0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d"),
                                                (1, "0x343c43a37d37dff08ae8c4a11544c718abb4fcf8")])
def test_a_contract_creation_pays_the_address_its_sender_and_nonce_give(nonce: int, created: str) -> None:
    """Known answers (the widely quoted example of sender 0x6ac7…dbf0): the value of a creation
    goes to the new contract, which the proven sender and nonce name."""
    from fundtrail.verify.evm import Inclusion, Receipt, Transaction, parse_header
    from fundtrail.verify.evm_bundle import check_edge, transfer_facts
    from fundtrail.verify.rlp import encode

    sender = bytes.fromhex("6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0")
    header = parse_header(encode([b"\0" * 32] * 8 + [b"\x01"] + [b""] * 6))
    tx = Transaction(b"\1" * 32, 2, 1, nonce, None, 5, b"", sender)
    facts = transfer_facts(Inclusion(header, 0, tx, Receipt(2, 1, 21000, ())))
    assert facts == [{"kind": "native", "from": "0x" + sender.hex(), "to": created, "asset": "native", "amount": 5}]
    edge = {"output": "0x" + "01" * 32 + ":native", "from": "addr:0x" + sender.hex(), "to": f"addr:{created}",
            "asset": "ETH", "value_sat": 5}
    assert check_edge(edge, facts) is None
    assert check_edge({**edge, "to": "addr:0x" + "22" * 20}, facts) is not None
