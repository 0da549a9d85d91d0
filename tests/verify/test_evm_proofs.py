"""Account-chain inclusion proofs: the standalone verifier's Keccak, RLP, trie proofs, headers,
transactions (with sender recovery) and receipts (`fundtrail.verify.evm` and friends) against
independent oracles, and the bundle writer's proofs (`fundtrail.cases.bundle_evm`) on real chains.

Oracles: hashlib's FIPS-202 SHA3 and pycryptodome's C Keccak (for the pure Keccak); the Ethereum
wiki's RLP examples; ethereum/tests' "puppy" trie root and the ingest's own trie-root code (a separate
implementation) for the proof builder; real mainnet blocks recorded by ethereum-etl (hashes, roots and
senders computed by the network); a real anvil node (what was sent: senders, recipients, values,
token amounts; the node's block and transaction hashes).
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from Crypto.Hash import keccak as c_keccak
from support.anvil import Anvil
from verify.support_evm import ETHER, play, sign

from fundtrail.cases.bundle_evm import block_proofs, fetch_proofs, header_lines, transaction_line
from fundtrail.chains.ethereum.trie import ordered_trie_proofs, trie_proofs
from fundtrail.chains.ethereum.encode import header_rlp, transaction_bytes
from fundtrail.chains.ethereum.trie import trie_root
from fundtrail.errors import DataError, NotFoundError
from fundtrail.verify.bitcoin import VerifyError
from fundtrail.verify.evm import TRANSFER_TOPIC, check_inclusion, erc20_transfers, parse_header, parse_transaction
from fundtrail.verify.evm_bundle import check_edge, check_headers, check_transaction_line, transfer_facts
from fundtrail.verify.keccak import keccak256, sponge
from fundtrail.verify.mpt import verify_proof
from fundtrail.verify.rlp import decode, encode

# -- Keccak ---------------------------------------------------------------------------------------


def test_keccak_known_answers() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    assert keccak256(b"Transfer(address,address,uint256)") == TRANSFER_TOPIC
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()  # not FIPS-202's padding


@pytest.mark.parametrize("n", [1, 55, 56, 134, 135, 136, 137, 271, 272, 273, 1000])
def test_keccak_equals_c_keccak_around_the_rate(n: int) -> None:
    data = bytes((7 * i + 3) % 256 for i in range(n))
    assert keccak256(data) == c_keccak.new(digest_bits=256, data=data).digest()


def test_the_permutation_equals_hashlibs_sha3() -> None:  # same Keccak-f, FIPS-202 domain byte 0x06
    data = bytes(range(256)) * 2
    for n in (0, 1, 135, 136, 137, 200, 408, 512):
        assert sponge(data[:n], domain=0x06) == hashlib.sha3_256(data[:n]).digest(), n
        assert sponge(data[:n], rate=72, domain=0x06, out_len=64) == hashlib.sha3_512(data[:n]).digest(), n


# -- RLP ------------------------------------------------------------------------------------------

WIKI = [  # (item, encoding) from the Ethereum wiki's RLP page
    (b"dog", "83646f67"), ([b"cat", b"dog"], "c88363617483646f67"), (b"", "80"), ([], "c0"),
    (b"\x0f", "0f"), (b"\x04\x00", "820400"), ([[], [[]], [[], [[]]]], "c7c0c1c0c3c0c1c0"),
    (b"Lorem ipsum dolor sit amet, consectetur adipisicing elit",
     "b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974"),
]


@pytest.mark.parametrize(("item", "encoded"), WIKI)
def test_rlp_wiki_vectors(item: Any, encoded: str) -> None:
    assert encode(item).hex() == encoded
    assert decode(bytes.fromhex(encoded)) == item


def test_rlp_integers() -> None:
    assert encode(0) == b"\x80" and encode(15) == b"\x0f" and encode(1024) == bytes.fromhex("820400")
    big = [b"x" * 1000, [b"y" * 70] * 20]
    assert decode(encode(big)) == big


def _nested(depth: int) -> Any:
    item: Any = []
    for _ in range(depth):
        item = [item]
    return item


@pytest.mark.parametrize(("hex_bytes", "words"), [
    ("8105", "non-canonical RLP at byte 0: byte 0x05 written as a string"),
    ("b80548656c6c6f", "non-canonical RLP at byte 0: long form for length 5"),
    ("b90038" + "00" * 56, "non-canonical RLP at byte 0: length with a leading zero"),
    ("c2f801", "non-canonical RLP at byte 1: long form for length 1"),
    ("c3836162", "truncated at byte 1"),
    ("83646f6700", "1 trailing bytes at byte 4"),
    ("c28363", "truncated at byte 1: string of 3 bytes, 1 left"),
    ("", "truncated at byte 0"),
    (encode(_nested(40)).hex(), "lists nested more than 32 deep at byte 33"),
])
def test_rlp_refuses_non_canonical_and_malformed(hex_bytes: str, words: str) -> None:
    with pytest.raises(VerifyError, match="the thing: " + words):
        decode(bytes.fromhex(hex_bytes), "the thing")


# -- Merkle-Patricia proofs -----------------------------------------------------------------------

PUPPY = {b"do": b"verb", b"horse": b"stallion", b"doge": b"coin", b"dog": b"puppy"}


def test_puppy_trie_root_and_proofs() -> None:
    root, proofs = trie_proofs(PUPPY)
    assert root.hex() == "5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84"
    for key, value in PUPPY.items():
        assert verify_proof(root, key, proofs[key]) == value
    # absence: the path leaves the trie (a missing branch child, a diverging leaf or extension),
    # shown by the nodes on the path, which a neighbour's proof begins with
    for absent, neighbour in ((b"d", b"do"), (b"horses", b"horse"), (b"cat", b"do"), (b"dogs", b"doge")):
        answers = []
        for k in range(1, len(proofs[neighbour]) + 1):
            try:
                answers.append(verify_proof(root, absent, proofs[neighbour][:k]))
            except VerifyError as exc:
                answers.append(str(exc).split(":")[1].split()[0])  # "ends" or the unused count
        assert None in answers and all(a is None or isinstance(a, str) for a in answers), (absent, answers)


def test_random_tries_against_the_ingest_root() -> None:
    rng = random.Random(16)
    for size in (1, 2, 3, 17, 200):
        items = {bytes(rng.randrange(4) for _ in range(rng.randrange(1, 5))):
                 bytes([rng.randrange(256)]) * rng.randrange(1, 40) for _ in range(size)}
        root, proofs = trie_proofs(items)
        assert root == trie_root(items)  # the ingest's separate implementation
        for key, value in items.items():
            assert verify_proof(root, key, proofs[key]) == value
            assert verify_proof(root, key + b"\xff", proofs[key]) is None  # no key has nibble f


def test_proof_errors_name_the_node() -> None:
    values = [bytes([i]) * 40 for i in range(30)]
    root, proofs = ordered_trie_proofs(values)
    good = proofs[20]
    assert verify_proof(root, encode(20), good) == values[20]
    assert verify_proof(root, encode(20), good, "p") == values[20]
    with pytest.raises(VerifyError, match=r"p: node 1 hashes to .*, its parent refers to"):
        verify_proof(root, encode(20), [good[0], good[1][:-1] + b"\x00", *good[2:]], "p")
    with pytest.raises(VerifyError, match=r"p: ends after 1 nodes"):
        verify_proof(root, encode(20), good[:1], "p")
    with pytest.raises(VerifyError, match=r"p: 1 unused nodes"):
        verify_proof(root, encode(20), [*good, good[0]], "p")
    with pytest.raises(VerifyError, match="p: node 1 hashes to"):  # another key's proof proves nothing here
        verify_proof(root, encode(20), proofs[3], "p")


# -- mainnet known answers ------------------------------------------------------------------------

def _result(path: Path) -> Any:
    doc = json.loads(path.read_text())
    return doc["result"] if isinstance(doc, dict) and "result" in doc else doc


def test_mainnet_blocks_transactions_and_senders(etl_fixtures: Path) -> None:
    paths = sorted(etl_fixtures.glob("*/*/web3_response.eth_getBlockByNumber_*_true.json"))
    blocks = [b for b in map(_result, paths) if b["transactions"]]
    assert len(blocks) >= 3 and sum(len(b["transactions"]) for b in blocks) >= 10
    for b in blocks:
        header = parse_header(header_rlp(b, "fixture"))
        assert "0x" + header.hash.hex() == b["hash"] and header.number == int(b["number"], 16)
        assert header.fork == "Frontier" and header.timestamp == int(b["timestamp"], 16)
        raws = [transaction_bytes(tx, "fixture") for tx in b["transactions"]]
        root, proofs = ordered_trie_proofs(raws)
        assert "0x" + root.hex() == b["transactionsRoot"] == "0x" + header.transactions_root.hex()
        for i, tx in enumerate(b["transactions"]):
            assert verify_proof(header.transactions_root, encode(i), proofs[i]) == raws[i]
            t = parse_transaction(raws[i])
            assert "0x" + t.hash.hex() == tx["hash"]
            assert t.sender is not None and "0x" + t.sender.hex() == tx["from"]  # ecrecover, pre-EIP-155
            assert t.to is None if tx["to"] is None else "0x" + t.to.hex() == tx["to"]
            assert t.value == int(tx["value"], 16) and t.nonce == int(tx["nonce"], 16)


def test_mainnet_block_with_receipts_through_the_writer(etl_fixtures: Path) -> None:
    d = etl_fixtures / "test_stream" / "blocks_1755634_1755635"
    block = _result(d / "web3_response.eth_getBlockByNumber_0x1ac9f3_true.json")
    receipts = [_result(p) for p in sorted(d.glob("web3_response.eth_getTransactionReceipt_*.json"))]
    receipts.sort(key=lambda r: int(r["transactionIndex"], 16))
    hashes = [bytes.fromhex(tx["hash"][2:]) for tx in block["transactions"]]
    proofs = block_proofs(block, receipts, hashes, "fixture")
    for p, r in zip(proofs, receipts, strict=True):
        inc = check_inclusion(p.header_rlp, p.index, p.raw, list(p.proof), p.receipt, list(p.receipt_proof))
        assert "0x" + inc.header.hash.hex() == block["hash"]
        assert inc.receipt.cumulative_gas_used == int(r["cumulativeGasUsed"], 16)
        assert len(inc.receipt.logs) == len(r["logs"])
        # pre-Byzantium: the receipt holds a post-state root, not a status
        assert inc.receipt.status is None


# -- a real anvil chain ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chain() -> Any:
    with Anvil() as node:
        played = play(node)
        proofs = fetch_proofs(node.url, [(s.block, s.hash) for s in played.sent])
        yield node, played, proofs


def test_every_transaction_and_receipt_is_proven(chain: Any) -> None:
    node, played, proofs = chain
    in_order = sorted(played.sent, key=lambda s: (s.block, s.index))
    assert ["0x" + p.hash.hex() for p in proofs] == [s.hash for s in in_order]
    by_hash = {s.hash: s for s in played.sent}
    kinds = set()
    for p in proofs:
        s = by_hash["0x" + p.hash.hex()]
        inc = check_inclusion(p.header_rlp, p.index, p.raw, list(p.proof), p.receipt, list(p.receipt_proof))
        block = node.rpc("eth_getBlockByNumber", hex(s.block), False)
        assert "0x" + inc.header.hash.hex() == block["hash"] and inc.header.number == s.block
        assert inc.header.fork == "Prague"  # anvil's default hardfork: 21 header fields
        assert "0x" + inc.header.parent_hash.hex() == block["parentHash"]
        t = inc.transaction
        kinds.add(t.type)
        assert t.sender is not None and "0x" + t.sender.hex() == s.sender  # recovered from the signature
        assert (t.to is None) == (s.to is None) and (t.to is None or "0x" + t.to.hex() == s.to)
        assert t.value == s.value and t.chain_id == 31337
        assert inc.receipt.status == (0 if s.reverts else 1)
        transfers = erc20_transfers(inc.receipt)
        if s.token_transfer is not None:
            token, frm, to, amount = s.token_transfer
            assert [("0x" + x.token.hex(), "0x" + x.sender.hex(), "0x" + x.recipient.hex(), x.amount)
                    for x in transfers] == [(token, frm, to, amount)]
        elif s.kind == "mint":
            assert [(x.sender, x.amount) for x in transfers] == [(bytes(20), 1000 * ETHER)]
        else:
            assert transfers == []
    assert kinds == {0, 1, 2, 4}
    # the node accepted the authorization signed by the test's own signer: the delegation is in force
    assert node.rpc("eth_getCode", played.authority, "latest") == "0xef0100" + played.token[2:]
    assert max(len(p.proof) for p in proofs) == 3 and max(p.index for p in proofs) == 24


def test_the_bundle_lines_round_trip_and_verify(chain: Any) -> None:
    _node, played, proofs = chain
    headers = check_headers(json.loads(json.dumps(header_lines(proofs))), "headers.jsonl")
    assert sorted(h.number for h in headers.values()) == sorted({s.block for s in played.sent}) == [1, 2, 3, 4, 5]
    with pytest.raises(VerifyError, match="headers.jsonl line 2: block 4 after block 5 .lines must be sorted"):
        check_headers(header_lines(proofs)[::-1], "headers.jsonl")
    for n, p in enumerate(proofs, 1):
        line = json.loads(json.dumps(transaction_line(p, ["traced", "finding", "traced"])))
        assert line["roles"] == ["finding", "traced"]
        inc = check_transaction_line(line, headers, f"transactions.jsonl line {n}")
        assert inc.transaction.hash == p.hash


def test_blob_transaction_fields_and_sender() -> None:
    """EIP-4844 (type 3) as the trie holds it (no blobs), signed here with anvil's first dev key,
    whose address is public knowledge; a node cannot mine one without KZG blobs, so no anvil."""
    secret = 0xAC0974BEC39A17E36BA4A6B4D238FF944BACB478CBED5EFCAE784D7BF4F2FF80
    to = bytes.fromhex("70997970c51812dc3a010c7d01b50e0d17dc79c8")
    body = [1, 7, 10**9, 3 * 10**10, 21000, to, 5 * ETHER, b"\x12\x34", [], 10**9, [b"\x01" + b"\x00" * 31]]
    unsigned = b"\x03" + encode(body)
    parity, r, s = sign(secret, keccak256(unsigned), 0xC0FFEE)
    raw = b"\x03" + encode([*body, parity, r, s])
    t = parse_transaction(raw)
    assert t.sender == bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")
    assert (t.type, t.chain_id, t.nonce, t.to, t.value, t.input) == (3, 1, 7, to, 5 * ETHER, b"\x12\x34")
    assert t.hash == c_keccak.new(digest_bits=256, data=raw).digest()
    with pytest.raises(VerifyError, match="tx: a type 3 transaction cannot create a contract"):
        parse_transaction(b"\x03" + encode([*body[:5], b"", *body[6:], parity, r, s]), "tx")
    with pytest.raises(VerifyError, match="tx: EIP-4844 transaction with 13 fields, expected 14"):
        parse_transaction(b"\x03" + encode([*body, parity, r]), "tx")
    with pytest.raises(VerifyError, match="tx: transaction type 0x7 is not known"):
        parse_transaction(b"\x07" + encode(body), "tx")


def test_trace_edges_against_the_proven_facts(chain: Any) -> None:
    _node, played, proofs = chain
    by_hash = {"0x" + p.hash.hex(): p for p in proofs}

    def facts(h: str) -> list[dict[str, Any]]:
        p = by_hash[h]
        return transfer_facts(check_inclusion(p.header_rlp, p.index, p.raw, list(p.proof), p.receipt,
                                              list(p.receipt_proof)))

    def mixed(a: str) -> str:  # EIP-55-like mixed case, as account traces write addresses
        return "0x" + a[2:].upper()

    for s in played.by_kind("erc20"):
        token, frm, to, amount = s.token_transfer  # type: ignore[misc]
        edge = {"from": f"addr:{mixed(frm)}", "to": f"addr:{mixed(to)}", "output": f"{s.hash}:{s.index}",
                "asset": mixed(token), "value_sat": amount}
        assert check_edge(edge, facts(s.hash)) is None
        assert "no ERC-20 Transfer log in the proven bytes moves" in str(
            check_edge(dict(edge, value_sat=amount + 1), facts(s.hash)))
        assert check_edge(dict(edge, to=f"addr:{mixed(played.token)}"), facts(s.hash)) is not None
    for s in played.by_kind("legacy") + played.by_kind("eip1559"):
        edge = {"from": f"addr:{s.sender}", "to": f"addr:{s.to}", "output": f"{s.hash}:native", "asset": "ETH",
                "value_sat": s.value}
        assert check_edge(edge, facts(s.hash)) is None
        assert check_edge(dict(edge, value_sat=s.value - 1), facts(s.hash)) is not None
        assert check_edge(dict(edge, **{"from": f"addr:{played.token}"}), facts(s.hash)) is not None
    [revert] = played.by_kind("revert")
    assert facts(revert.hash) == []  # a failed transaction moved nothing
    internal = {"output": f"{revert.hash}:trace:0.1", "from": "addr:0x", "to": "addr:0x", "value_sat": 1}
    assert "not provable from transaction and receipt bytes" in str(check_edge(internal, facts(revert.hash)))


def _flip(b: bytes, i: int) -> bytes:
    return b[:i] + bytes([b[i] ^ 0x01]) + b[i + 1:]


def test_tampering_is_detected(chain: Any) -> None:
    _node, played, proofs = chain
    p = next(p for p in proofs if len(p.proof) == 3 and played.sent and p.index > 16)
    args = [p.header_rlp, p.index, p.raw, list(p.proof), p.receipt, list(p.receipt_proof)]
    check_inclusion(*args)  # type: ignore[arg-type]
    for n in range(len(p.proof)):  # a byte of each proof node, of each receipt proof node
        for i in (0, len(p.proof[n]) // 2, len(p.proof[n]) - 1):
            with pytest.raises(VerifyError, match="transaction proof"):
                check_inclusion(p.header_rlp, p.index, p.raw, [*p.proof[:n], _flip(p.proof[n], i), *p.proof[n + 1:]],
                                p.receipt, list(p.receipt_proof))
    for n in range(len(p.receipt_proof)):
        bad = [*p.receipt_proof[:n], _flip(p.receipt_proof[n], 40), *p.receipt_proof[n + 1:]]
        with pytest.raises(VerifyError, match="receipt proof"):
            check_inclusion(p.header_rlp, p.index, p.raw, list(p.proof), p.receipt, bad)
    for i in (0, 5, len(p.raw) // 2, len(p.raw) - 1):  # the raw transaction, the raw receipt
        with pytest.raises(VerifyError, match="the transactions trie of block 3 holds other bytes at index"):
            check_inclusion(p.header_rlp, p.index, _flip(p.raw, i), list(p.proof), p.receipt, list(p.receipt_proof))
    with pytest.raises(VerifyError, match="the receipts trie of block 3 holds other bytes"):
        check_inclusion(p.header_rlp, p.index, p.raw, list(p.proof), _flip(p.receipt, len(p.receipt) - 1),
                        list(p.receipt_proof))
    with pytest.raises(VerifyError, match="1 unused nodes"):  # a position the block does not have...
        check_inclusion(p.header_rlp, 25, p.raw, list(p.proof), p.receipt, list(p.receipt_proof))
    with pytest.raises(VerifyError, match="holds nothing at index 25"):  # ...proven absent by the path to it
        check_inclusion(p.header_rlp, 25, p.raw, list(p.proof[:2]), p.receipt, list(p.receipt_proof))
    with pytest.raises(VerifyError, match="transaction proof: node 0 hashes to"):  # transactionsRoot changed
        check_inclusion(_flip(p.header_rlp, 130), p.index, p.raw, list(p.proof), p.receipt, list(p.receipt_proof))
    for i in (0, 100, 300, len(p.header_rlp) - 1):  # any header byte, against the block hash
        with pytest.raises(VerifyError, match="tx: the header hashes to|tx header: "):
            check_inclusion(_flip(p.header_rlp, i), p.index, p.raw, list(p.proof), p.receipt, list(p.receipt_proof),
                            block_hash=p.block_hash)
    headers = header_lines([p])
    for field, value in (("rlp", _flip(p.header_rlp, 600).hex()), ("hash", "0x" + _flip(p.block_hash, 3).hex())):
        bad = [dict(headers[0], **{field: value})]
        with pytest.raises(VerifyError, match=r"headers.jsonl line 1: the header RLP hashes to"):
            check_headers(bad, "headers.jsonl")
    good = check_headers(headers, "headers.jsonl")
    line = transaction_line(p, ["traced"])
    for field, value, words in (
            ("hash", "0x" + _flip(p.hash, 0).hex(), "raw hashes to"),
            ("index", p.index - 1, "transaction proof: node 2 hashes to"),
            ("block_number", 4, "block_number 4, but block"),
            ("block_hash", "0x" + "11" * 32, "is not in headers.jsonl"),
            ("raw", p.raw.hex()[:-2], "other bytes")):
        with pytest.raises(VerifyError, match=words):
            check_transaction_line(dict(line, **{field: value}), good, "transactions.jsonl line 7")


def test_the_writer_refuses_a_node_answer_it_cannot_prove(chain: Any) -> None:
    node, played, _proofs = chain
    s = played.by_kind("erc20")[2]
    block = node.rpc("eth_getBlockByNumber", hex(s.block), True)
    receipts = node.rpc("eth_getBlockReceipts", hex(s.block))
    wanted = [bytes.fromhex(s.hash[2:])]
    assert len(block_proofs(block, receipts, wanted, "anvil")) == 1
    lying = json.loads(json.dumps(block))
    lying["transactions"][5]["value"] = hex(int(lying["transactions"][5]["value"], 16) + 1)
    with pytest.raises(DataError, match=r"anvil: block 3 0x[0-9a-f]{64}: field transactionsRoot: .* no proof is made"):
        block_proofs(lying, receipts, wanted, "anvil")
    lying_receipts = json.loads(json.dumps(receipts))
    lying_receipts[3]["logs"][0]["data"] = "0x" + "00" * 32
    with pytest.raises(DataError, match="field receiptsRoot"):
        block_proofs(block, lying_receipts, wanted, "anvil")
    with pytest.raises(DataError, match="the re-encoded header hashes to"):
        block_proofs(dict(block, gasUsed=hex(int(block["gasUsed"], 16) + 1)), receipts, wanted, "anvil")
    with pytest.raises(NotFoundError, match=f"transaction 0x{'ab' * 32} is not in this block"):
        block_proofs(block, receipts, [b"\xab" * 32], "anvil")


@pytest.mark.parametrize(("hardfork", "fork"), [("london", "London"), ("shanghai", "Shanghai"), ("cancun", "Cancun")])
def test_header_variants(hardfork: str, fork: str) -> None:
    with Anvil(hardfork=hardfork) as node:
        sender, to = node.accounts[:2]
        h = node.rpc("eth_sendTransaction", {"from": sender, "to": to, "value": hex(ETHER)})
        receipt = node.wait_receipt(h)
        [p] = fetch_proofs(node.url, [(int(receipt["blockNumber"], 16), h)])
    inc = check_inclusion(p.header_rlp, p.index, p.raw, list(p.proof), p.receipt, list(p.receipt_proof))
    assert inc.header.fork == fork and "0x" + inc.header.hash.hex() == receipt["blockHash"]
    assert "0x" + inc.transaction.sender.hex() == sender and inc.transaction.value == ETHER  # type: ignore[union-attr]
