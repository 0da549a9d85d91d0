"""`fundtrail cluster ...`: run, show, why, merge, split, overrides (JSON contract and errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import segwit_encode
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.main import main


def addr(i: int) -> str:
    return segwit_encode(REGTEST.hrp, 0, bytes([i]) * 20)


def _out(i: int, value: int) -> w.TxOut:
    return w.TxOut(value, w.p2wpkh(bytes([i]) * 20))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Coinbases pay keys 1, 2, 3; tx A spends 1 and 2 and pays 4: cluster {1, 2}."""
    cbs = [w.coinbase_tx(h, [_out(h + 1, 50 * w.COIN)]) for h in range(3)]
    blocks, prev = [], bytes(32)
    for h, cb in enumerate(cbs):
        blocks.append(w.build_block(prev, [cb], 1_700_000_000 + 600 * h))
        prev = w.block_hash(blocks[-1])
    a = w.Tx(2, [w.TxIn(cbs[0].txid(), 0), w.TxIn(cbs[1].txid(), 0)], [_out(4, 99 * w.COIN)])
    blocks.append(w.build_block(prev, [w.coinbase_tx(3, [_out(5, 50 * w.COIN)]), a], 1_700_001_800))
    w.write_blocks_dir(tmp_path / "blocks", blocks, REGTEST)
    root = tmp_path / "store"
    assert main(["--store", str(root), "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks")]) == 0
    return root


def run(store: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), "cluster", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_show_why_json(store: Path, capsys) -> None:
    code, out, err = run(store, capsys, "run", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert (s["mode"], s["n_tx"], s["n_unions"], s["n_clusters"], s["largest"]) == ("full", 5, 1, 1, 2)
    assert s["heuristics"] == ["multi_input"] and s["suspects"] == []
    assert "clustering:" in err  # progress on stderr

    code, out, _ = run(store, capsys, "show", addr(2), "--json")
    r = json.loads(out)
    assert code == 0 and r["address"] == addr(2) and r["cluster_address"] == addr(1)
    assert r["members"] == 2 and r["tags"] == [] and r["received"] == 100 * 10**8 and r["sent"] == 100 * 10**8
    assert r["first_activity"] == "2023-11-14T22:13:20Z" and r["last_activity"] == "2023-11-14T22:43:20Z"

    code, out, _ = run(store, capsys, "why", addr(1), addr(2), "--json")
    r = json.loads(out)
    assert code == 0 and r["linked"] is True
    (step,) = r["steps"]
    assert set(step) == {"from", "to", "txid", "heuristic", "confidence"}
    assert (step["from"], step["to"], step["heuristic"], step["confidence"]) == (addr(1), addr(2), "multi_input", 1.0)
    assert len(step["txid"]) == 64

    code, out, _ = run(store, capsys, "why", addr(1), addr(3), "--json")
    assert code == 0 and json.loads(out)["linked"] is False
    code, out, _ = run(store, capsys, "why", addr(1), addr(3))
    assert out.startswith("not linked:")


def test_overrides_through_the_cli(store: Path, capsys) -> None:
    assert run(store, capsys, "run")[0] == 0
    code, out, _ = run(store, capsys, "merge", addr(1), addr(3), "--reason", "same KYC", "--author", "bob")
    assert code == 0 and "override #0" in out
    code, out, _ = run(store, capsys, "split", addr(2), "--reason", "custodian", "--author", "ana", "--json")
    assert code == 0 and json.loads(out)["kind"] == "split"
    code, out, _ = run(store, capsys, "overrides", "--json")
    rows = json.loads(out)
    assert [(r["kind"], r["addresses"], r["author"]) for r in rows] == [
        ("merge", [addr(1), addr(3)], "bob"), ("split", [addr(2)], "ana")]
    code, out, _ = run(store, capsys, "why", addr(3), addr(1), "--json")
    (step,) = json.loads(out)["steps"]
    assert step["heuristic"] == "manual_merge" and step["reason"] == "manual merge by bob: same KYC"
    code, out, _ = run(store, capsys, "show", addr(2), "--json")
    assert json.loads(out)["members"] == 1
    assert run(store, capsys, "run", "--json")[0] == 0  # kept across runs
    code, out, _ = run(store, capsys, "show", addr(3), "--json")
    assert json.loads(out)["members"] == 2


@pytest.mark.parametrize("args,code,text", [
    (["show", "bcrt1qnotanaddress"], 2, "invalid Bitcoin address"),
    (["show", segwit_encode(REGTEST.hrp, 0, bytes([9]) * 20)], 6, "does not appear in chain"),
    (["show", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], 2, "wrong network"),
    (["run", "--heuristics", "multi-input,change"], 2, "--change-floor"),
    (["run", "--heuristics", "bogus"], 2, "unknown heuristic"),
    (["run", "--chain", "btc"], 6, "is not in the store"),
    (["merge", addr(1), addr(1), "--reason", "x", "--author", "y"], 2, "two different addresses"),
    (["merge", addr(1), addr(2), "--reason", " ", "--author", "y"], 2, "needs a reason"),
])
def test_errors_are_one_line(store: Path, capsys, args: list[str], code: int, text: str) -> None:
    assert run(store, capsys, "run")[0] == 0
    got, _, err = run(store, capsys, *args)
    assert got == code, err
    assert err.startswith("fundtrail: error:") and text in err and err.count("\n") == 1


def test_show_before_any_run_says_what_to_do(store: Path, capsys) -> None:
    code, _, err = run(store, capsys, "show", addr(1))
    assert code == 6 and "has not been clustered yet" in err and "fundtrail cluster run" in err


def test_runs_lists_what_each_run_did(store: Path, capsys) -> None:
    assert run(store, capsys, "run")[0] == 0
    assert run(store, capsys, "run", "--full")[0] == 0
    code, out, _ = run(store, capsys, "runs", "--json")
    rows = json.loads(out)
    assert code == 0 and [(r["run_id"], r["mode"], r["status"]) for r in rows] == [
        (1, "full", "completed"), (0, "full", "completed")]
    assert rows[0]["reason"] == "full recompute requested" and rows[0]["checkpoint"] is True
    assert len(rows[0]["last_block_hash"]) == 64 and rows[0]["tx_hi"] == 5


def _tag_csv(tmp_path: Path) -> Path:
    """Tags on the fixture's chain: keys 1 and 2 (one cluster) carry two different exchanges; the
    weaker of key 1's two exchange tags, a scam tag, a tag of another currency and one of an
    address the chain never saw must not reach the guard."""
    rows = ["address,label,category,confidence,actor,currency",
            f"{addr(1)},Alpha hot wallet,exchange,forensic,alpha,BTC-REGTEST",
            f"{addr(1)},Beta deposit,exchange,heuristic,beta,BTC-REGTEST",
            f"{addr(2).upper()},Beta deposit,exchange,forensic,beta,BTC-REGTEST",
            f"{addr(3)},Some scam,scam,forensic,,BTC-REGTEST",
            f"{addr(4)},Gamma,exchange,web_crawl,,BTC-REGTEST",
            f"{addr(9)},Delta,exchange,forensic,delta,BTC-REGTEST",
            "1BoatSLRHtKNngkdXEeobR76b53LETtpyT,Epsilon,exchange,forensic,epsilon,BTC"]
    path = tmp_path / "tags.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _old_service_tags(store_root: Path) -> dict[int, str]:
    """The guard's labels as the per-tag path computed them before issue 12 item 4 (one query and one
    parse per tag): the reference the bulk path must reproduce."""
    from fundtrail.cluster import query
    from fundtrail.cluster.snapshot import open_snapshot
    from fundtrail.errors import FundtrailError
    from fundtrail.store import Store
    from fundtrail.tags.taxonomy import is_service
    from fundtrail.trace.tag_resolve import tag_rows

    store = Store.open(store_root, create=False)
    out: dict[int, str] = {}
    with open_snapshot(store, "btc-regtest") as snap:
        for tag in tag_rows(store, "BTC-REGTEST")["rows"]:
            if not is_service(tag["category"]):
                continue
            try:
                a = query.address_id(snap, tag["address"])
            except FundtrailError:
                continue
            out.setdefault(a, f"{tag['category']}: {tag['actor'] or tag['label']}")
    return out


def test_service_tags_reach_the_guard_in_bulk(store: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """Issue 12 item 4 on a small case: the labels the guard gets are those of the per-tag path,
    the per-address resolver is never called per tag, and each step shows progress on stderr."""
    import numpy as np

    from fundtrail.workspace.cluster_tags import service_labels
    from fundtrail.cluster import engine, query
    from fundtrail.store import Store

    assert main(["--store", str(store), "tags", "import", str(_tag_csv(tmp_path))]) == 0
    capsys.readouterr()
    per_tag = []
    monkeypatch.setattr(query, "address_id", lambda *a: per_tag.append(a) or pytest.fail("per-tag resolver"))
    hooks: list = []
    real_conflicts = engine.service_conflicts

    def spy(labels_, candidates, sizes, service_labels):
        hooks.append(service_labels)
        return real_conflicts(labels_, candidates, sizes, service_labels)

    monkeypatch.setattr(engine, "service_conflicts", spy)
    code, out, err = run(store, capsys, "run", "--json")
    monkeypatch.undo()
    assert code == 0, err
    (sp,) = json.loads(out)["suspects"]
    ids = {a: json.loads(_show(store, capsys, a))["address_id"] for a in (addr(1), addr(2))}
    assert sp["reason"] == "service_conflict" and sp["size"] == 2
    assert sp["detail"] == (f"members labelled exchange: alpha (address id {ids[addr(1)]}), "
                            f"exchange: beta (address id {ids[addr(2)]})")
    assert per_tag == []
    from fundtrail.cluster import labels

    (hook,) = hooks
    assert isinstance(hook, labels.AddressLabels) and hook.queries == 1 and hook.converted == 2
    assert "4 service-tagged BTC-REGTEST addresses" in err and "service labels: 2 of 2" in err
    # either way of matching gives every address of the chain the per-tag path's label
    want = _old_service_tags(store)
    assert set(want.values()) == {"exchange: alpha", "exchange: beta", "exchange: Gamma"}
    everyone = np.arange(6)
    svc = service_labels(Store.open(store, create=False), "btc-regtest", lambda _: None)
    for strategy in (labels.RENDER, labels.PARSE):
        hook = labels.AddressLabels(Store.open(store, create=False), "btc-regtest", svc.labels,
                                    strategy=strategy)
        assert hook(everyone) == want and hook.queries == 1
    code, _, err = run_quiet(store, capsys, "run", "--full")
    assert code == 0 and err == ""


def _show(store: Path, capsys, address: str) -> str:
    assert main(["--store", str(store), "cluster", "show", address, "--json"]) == 0
    return capsys.readouterr()[0]


def run_quiet(store: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), "--quiet", "cluster", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_show_amounts_in_btc_and_each_tag_once(store: Path, tmp_path: Path, capsys) -> None:
    """`cluster show` gives BTC with 8 decimals and its unit (exact satoshi in JSON) and lists a tag
    several members carry once, saying how many carry it."""
    assert main(["--store", str(store), "tags", "import", str(_tag_csv(tmp_path))]) == 0
    assert run(store, capsys, "run")[0] == 0
    code, out, _ = run(store, capsys, "show", addr(2))
    assert code == 0
    # keys 1 and 2 each received a 50 BTC coinbase and both were spent by tx A
    assert "received 100.00000000 BTC in 2 outputs, sent 100.00000000 BTC in 2 inputs" in out
    tag_lines = [line.strip() for line in out.splitlines() if line.strip().startswith("tag:")]
    assert tag_lines == ["tag: exchange 'Beta deposit' (this address and 1 other member(s))",
                         f"tag: exchange 'Alpha hot wallet' (inherited from {addr(1)})"]
    r = json.loads(_show(store, capsys, addr(2)))
    assert (r["received"], r["sent"], r["unit"], r["asset"], r["decimals"]) == (
        100 * 10**8, 100 * 10**8, "satoshi", "BTC", 8)
    beta, alpha = r["tags"]
    assert (beta["label"], beta["kind"], beta["members"], beta["carried_by"]) == (
        "Beta deposit", "direct", 2, [addr(1)])
    assert beta["confidence"] == "forensic"  # the strongest of the two members' tags
    assert (alpha["label"], alpha["kind"], alpha["members"], alpha["carried_by"]) == (
        "Alpha hot wallet", "inherited", 1, [addr(1)])
    assert (beta["member"], alpha["member"]) == (addr(2), addr(1))
    code, out, _ = run(store, capsys, "show", addr(4))
    assert "received 99.00000000 BTC in 1 outputs, sent 0.00000000 BTC" in out
