"""Issue 12 item 4 on real data: `cluster run` with real label sources imported resolves the guard's
service labels in bulk (no per-tag query), and the labels are those an independent per-tag
computation gives.

The store holds mainnet blocks 0-599 (blk files), block 300025 with its undo data (so its inputs
have addresses and its clusters have members) and block 574200 (many exchange addresses); the tags
are a large real subset of the shared label sources: two BitMEX wallet packs, the miners pack,
walletexplorer's services and the OFAC lists (about 125k tags, 130k of them Bitcoin services).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fundtrail.chains.bitcoin.address import parse_address
from fundtrail.chains.bitcoin.params import MAINNET
from fundtrail.cli.main import main
from fundtrail.cluster import engine, query
from fundtrail.cluster.snapshot import open_snapshot
from fundtrail.errors import FundtrailError
from fundtrail.store import Store
from fundtrail.tags.taxonomy import is_service

_PACKS = ("exchange-wallets-bitmex_0.yaml", "exchange-wallets-bitmex_6.yaml", "miners.yaml",
          "walletexplorer.yaml")
_BUSY = "block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"


@pytest.fixture(scope="module")
def tagged(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    btc = testdata / "btc-raw-blocks"
    packs = testdata / "tagpacks" / "graphsense" / "packs"
    needed = [btc / "nbitcoin" / "blk00001.dat", btc / "bcoin" / "block300025-undo.raw", btc / "btcd" / _BUSY,
              *(packs / p for p in _PACKS), testdata / "sanctions"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        pytest.skip(f"test data missing: {', '.join(missing)}")
    root = tmp_path_factory.mktemp("tagged") / "store"
    s = ["--store", str(root), "--quiet"]
    assert main([*s, "ingest", "bitcoin", "--blocks-dir", str(btc / "nbitcoin")]) == 0
    assert main([*s, "ingest", "bitcoin", "--raw", str(btc / "bcoin" / "block300025.raw"),
                 "--undo-file", str(btc / "bcoin" / "block300025-undo.raw")]) == 0
    assert main([*s, "ingest", "bitcoin", "--raw", str(btc / "btcd" / _BUSY)]) == 0
    main([*s, "tags", "import", *(str(packs / p) for p in _PACKS), str(testdata / "sanctions")])
    return root


@pytest.fixture(scope="module")
def independent(tagged: Path) -> dict[int, str]:
    return _independent_labels(tagged)


def _independent_labels(root: Path) -> dict[int, str]:
    """address id -> guard label, computed per tag as the old path did but without its query per
    tag: every Bitcoin service tag is parsed here and looked up among all the chain's addresses
    (read in one query); of several service tags on one address the strongest counts (then by
    category, then by name)."""
    store = Store.open(root, create=False)
    with store.connect(read_only=True) as con:
        rows = con.execute("SELECT address, category, label, actor, confidence_level FROM tags "
                           "WHERE currency = 'BTC'").fetchall()
    with open_snapshot(store, "btc") as snap:
        chain = {(int(t), bytes(p)): int(a) for a, t, p in
                 snap.con.execute("SELECT address_id, script_type, payload FROM btc_addresses").fetchall()}
    best: dict[int, tuple] = {}
    for address, category, label, actor, level in rows:
        if not is_service(category):
            continue
        try:
            stype, payload = parse_address(address, MAINNET)
        except FundtrailError:
            continue
        aid = chain.get((int(stype), payload))
        if aid is None:
            continue
        name = actor or label
        key = (-level, category, name)
        if aid not in best or key < best[aid][0]:
            best[aid] = (key, f"{category}: {name}")
    return {a: v[1] for a, v in best.items()}


def test_cluster_run_resolves_real_service_tags_in_bulk(tagged: Path, independent: dict[int, str], capsys,
                                                        monkeypatch) -> None:
    monkeypatch.setattr(query, "address_id", lambda *a: pytest.fail(f"per-tag resolver called for {a[1]}"))
    asked: list[tuple] = []
    real_conflicts = engine.service_conflicts

    def spy(labels_, candidates, sizes, service_labels):
        def recording(members: np.ndarray) -> dict:
            found = service_labels(members)
            asked.append((service_labels, members, found))
            return found

        return real_conflicts(labels_, candidates, sizes, recording)

    monkeypatch.setattr(engine, "service_conflicts", spy)
    capsys.readouterr()
    assert main(["--store", str(tagged), "cluster", "run", "--full", "--json"]) == 0
    out, err = capsys.readouterr()
    monkeypatch.undo()
    from fundtrail.cluster import labels

    (hook, members, found), = asked
    assert isinstance(hook, labels.AddressLabels) and len(hook) > 100_000
    assert hook.queries == 1 and hook.converted <= min(members.size, len(hook))
    assert found == {int(m): independent[int(m)] for m in members if int(m) in independent}
    assert len(found) >= 2  # block 300025's clusters hold service-tagged members (gambling sites)
    assert json.loads(out)["n_tx"] == 616 + 461 + 3315
    assert "service-tagged BTC addresses" in err and f"service labels: {len(found)} of" in err


@pytest.mark.parametrize("strategy", ["render", "parse"])
def test_both_ways_of_matching_agree_with_a_per_tag_computation(tagged: Path, independent: dict[int, str],
                                                                strategy: str) -> None:
    from fundtrail.workspace.cluster_tags import service_labels as _service_labels
    from fundtrail.cluster import labels

    store = Store.open(tagged, create=False)
    svc = _service_labels(store, "btc", lambda _: None)
    assert svc is not None
    with open_snapshot(store, "btc") as snap:
        n = snap.n_addresses
    hook = labels.AddressLabels(store, "btc", svc.labels, strategy=strategy)
    got = hook(np.arange(n))
    assert got == independent and len(independent) >= 6  # pools, gambling sites, a BitMEX wallet in block 574200
    assert hook.queries == 1
