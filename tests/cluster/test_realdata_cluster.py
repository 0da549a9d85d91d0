"""Multi-input clustering of a real mainnet block (300025, 2014) whose spent outputs come from undo
data, against an answer computed here from the raw bytes with embit (an independent parser and
address encoder) and a plain union of each transaction's input addresses."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from embit import compact
from embit.networks import NETWORKS
from embit.script import Script, p2pkh
from embit.transaction import Transaction

from fundtrail.cluster import coinjoin
from fundtrail.cluster.engine import run_clustering
from fundtrail.cluster.query import address_texts, load_clustering
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.cluster.txview import load_txview
from fundtrail.ingest.bitcoin.jobs import ingest_raw_files
from fundtrail.store import Store


def _undo_scripts(data: bytes) -> list[bytes]:
    """bcoin's flat undo: per spent output, int64 value + varint length + scriptPubKey."""
    out, pos = [], 0
    while pos < len(data):
        pos += 8
        n = data[pos]
        pos += 1
        if n >= 0xFD:
            width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[n]
            n = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        out.append(data[pos:pos + n])
        pos += n
    return out


def _address(script: bytes) -> str:
    """Address string; scripts without one (bare multisig here) are keyed by their bytes: they are
    input addresses too, and the engine links them like any other."""
    s = Script(script)
    if len(script) in (35, 67) and script[-1] == 0xAC:  # p2pk: shown as the key's p2pkh address
        from embit.ec import PublicKey
        return p2pkh(PublicKey.parse(script[1:-1])).address(NETWORKS["main"])
    try:
        return s.address(NETWORKS["main"])
    except ValueError:  # no address form (multisig, nonstandard)
        return "script:" + script.hex()


def test_block300025_clusters_match_an_independent_union(testdata: Path, tmp_path: Path) -> None:
    btc = testdata / "btc-raw-blocks" / "bcoin"
    if not (btc / "block300025.raw").exists():
        pytest.skip("block300025.raw not in the test data")
    store = Store.open(tmp_path / "s")
    ingest_raw_files(store, [btc / "block300025.raw"], undo_files=[btc / "block300025-undo.raw"])
    s = run_clustering(store, "btc")
    # which transactions the CoinJoin detector excludes (an input of clustering, not under test here)
    with open_snapshot(store, "btc") as snap:
        view = load_txview(snap.con, "btc", 0, snap.next_tx_id)
        hexes = dict(snap.con.execute("SELECT tx_id, txid FROM btc_transactions").fetchall())
        cj = coinjoin.detect(view)
        skipped = {bytes(hexes[int(t)])[::-1].hex() for t in view.tx_id[(cj.protocol != 0) & (cj.confidence >= 0.5)]}

    stream = io.BytesIO((btc / "block300025.raw").read_bytes())
    stream.read(80)
    txs = [Transaction.read_from(stream) for _ in range(compact.read_from(stream))]
    scripts = iter(_undo_scripts((btc / "block300025-undo.raw").read_bytes()))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for tx in txs[1:]:
        addrs = [_address(next(scripts)) for _ in tx.vin]
        if tx.txid().hex() in skipped:
            continue
        for a in addrs[1:]:
            ra, rb = find(addrs[0]), find(a)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    want: dict[str, set[str]] = {}
    for a in parent:
        want.setdefault(find(a), set()).add(a)
    want_sets = sorted(sorted(g) for g in want.values() if len(g) > 1)

    labels = np.asarray(load_clustering(store, "btc").labels)
    sizes = np.bincount(labels)
    multi = np.flatnonzero(sizes[labels] >= 2)
    with open_snapshot(store, "btc") as snap:
        names = address_texts(snap, multi)
    got: dict[int, set[str]] = {}
    for aid in multi.tolist():
        name = names[aid]
        if name.startswith("script:"):  # script:<type code>:<hex> -> script:<hex>
            name = "script:" + name.split(":")[2]
        got.setdefault(int(labels[aid]), set()).add(name)
    got_sets = sorted(sorted(g) for g in got.values())
    assert len(want_sets) > 10 and s.n_clusters == len(want_sets)
    assert got_sets == want_sets
