"""ClusterOps: the service calls behind `fundtrail cluster ...`, on a small real regtest store.

Every result's JSON is checked against the CLI's `--json` output for the same question; reads are
checked not to write; the loaded clustering is checked to be cached and dropped by this workspace's
own overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.address import segwit_encode
from fundtrail.chains.bitcoin.params import REGTEST
from fundtrail.cli.main import main
from fundtrail.cluster import query
from fundtrail.errors import NotFoundError, StoreError, UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.cluster_models import ClusterOverrideRequest, ClusterRunRequest


def addr(i: int) -> str:
    return segwit_encode(REGTEST.hrp, 0, bytes([i]) * 20)


def _out(i: int, value: int) -> w.TxOut:
    return w.TxOut(value, w.p2wpkh(bytes([i]) * 20))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Coinbases pay keys 1, 2, 3, 5; tx A spends 1 and 2 and pays 4: cluster {1, 2}; clustered
    once through the service layer."""
    tmp = tmp_path_factory.mktemp("ws-clusters")
    cbs = [w.coinbase_tx(h, [_out(h + 1, 50 * w.COIN)]) for h in range(3)]
    blocks, prev = [], bytes(32)
    for h, cb in enumerate(cbs):
        blocks.append(w.build_block(prev, [cb], 1_700_000_000 + 600 * h))
        prev = w.block_hash(blocks[-1])
    a = w.Tx(2, [w.TxIn(cbs[0].txid(), 0), w.TxIn(cbs[1].txid(), 0)], [_out(4, 99 * w.COIN)])
    blocks.append(w.build_block(prev, [w.coinbase_tx(3, [_out(5, 50 * w.COIN)]), a], 1_700_001_800))
    w.write_blocks_dir(tmp / "blocks", blocks, REGTEST)
    store = tmp / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(tmp / "blocks")]) == 0
    return store


@pytest.fixture(scope="module")
def ran(root: Path) -> list[tuple[str, int, int]]:
    """One run through the service layer; the progress calls it made."""
    seen: list[tuple[str, int, int]] = []
    ws = Workspace.open(store=root, writable=True, actor=Actor(user="ana"))
    summary = ws.cluster_run(ClusterRunRequest(), lambda stage, done, total: seen.append((stage, done, total)))
    assert (summary.mode, summary.n_unions, summary.n_clusters, summary.largest) == ("full", 1, 1, 2)
    return seen


def cli_json(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> object:
    capsys.readouterr()
    assert main(["--store", str(root), "cluster", *args, "--json"]) == 0
    return json.loads(capsys.readouterr()[0])


def test_run_reports_progress_as_stage_done_total(ran: list[tuple[str, int, int]]) -> None:
    stages = [s for s, _, _ in ran]
    assert "clustering btc-regtest with multi_input" in stages
    done, total = next((d, t) for s, d, t in ran if s == "clustering")
    assert total == 5 and 0 < done <= total


def test_show_by_address_and_by_id_match_the_cli(root: Path, ran: object, capsys) -> None:
    ws = Workspace.open(store=root)
    by_address = ws.cluster(addr(2))
    assert by_address.model_dump(mode="json") == cli_json(root, capsys, "show", addr(2))
    assert (by_address.members, by_address.cluster_address, by_address.received) == (2, addr(1), 100 * 10**8)
    by_id = ws.cluster(str(by_address.cluster_id))
    assert by_id.address == addr(1) and by_id.cluster_id == by_address.cluster_id
    assert by_id.model_dump(exclude={"address", "address_id"}) == by_address.model_dump(
        exclude={"address", "address_id"})
    assert by_id.model_dump(mode="json") == cli_json(root, capsys, "show", str(by_address.cluster_id))


def test_a_cluster_id_must_name_a_cluster(root: Path, ran: object) -> None:
    ws = Workspace.open(store=root)
    member = ws.cluster(addr(2))
    with pytest.raises(NotFoundError) as exc:
        ws.cluster(str(member.address_id))  # key 2's id is in key 1's cluster
    assert exc.value.field == "cluster_id" and f"is in cluster {member.cluster_id}" in exc.value.message
    with pytest.raises(NotFoundError) as exc:
        ws.cluster("999999")
    assert exc.value.field == "cluster_id"
    with pytest.raises(UsageError) as exc:
        ws.cluster("bcrt1qnotanaddress")
    assert exc.value.field == "address"
    with pytest.raises(NotFoundError) as exc:
        ws.cluster(addr(1), chain="btc")
    assert exc.value.field == "chain"


def test_members_are_paged_by_cursor(root: Path, ran: object, capsys) -> None:
    ws = Workspace.open(store=root)
    first = ws.cluster_members(addr(2), limit=1)
    assert first.size == 2 and [m.address for m in first.members] == [addr(1)] and first.next_cursor
    second = ws.cluster_members(str(first.cluster_id), limit=1, cursor=first.next_cursor)
    assert [m.address for m in second.members] == [addr(2)] and second.next_cursor is None
    whole = ws.cluster_members(addr(1))
    assert [m.address for m in whole.members] == [addr(1), addr(2)] and whole.next_cursor is None
    assert whole.model_dump(mode="json") == cli_json(root, capsys, "members", addr(1))
    for bad, field in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"cursor": "garbage!"}, "cursor"),
                       ({"cursor": ws_cursor({"after": "x"})}, "cursor")):
        with pytest.raises(UsageError) as exc:
            ws.cluster_members(addr(1), **bad)  # type: ignore[arg-type]
        assert exc.value.field == field, bad


def ws_cursor(position: dict[str, object]) -> str:
    from fundtrail.workspace import encode_cursor

    return encode_cursor(position)


def test_why_matches_the_cli_and_names_fields(root: Path, ran: object, capsys) -> None:
    ws = Workspace.open(store=root)
    linked = ws.cluster_why(addr(1), addr(2))
    doc = linked.model_dump(mode="json")
    assert doc == cli_json(root, capsys, "why", addr(1), addr(2))
    (step,) = doc["steps"]
    assert set(step) == {"from", "to", "txid", "heuristic", "confidence"}  # no "reason" key on evidence
    apart = ws.cluster_why(addr(1), addr(3)).model_dump(mode="json")
    assert apart["linked"] is False and "note" not in apart
    assert apart == cli_json(root, capsys, "why", addr(1), addr(3))
    for a, b, field in (("nonsense", addr(2), "a"), (addr(1), addr(9), "b")):
        with pytest.raises((UsageError, NotFoundError)) as exc:
            ws.cluster_why(a, b)
        assert exc.value.field == field


def test_reads_never_write_and_refuse_changes(root: Path, ran: object) -> None:
    catalog = next(root.glob("*.duckdb"))
    before = (catalog.stat().st_mtime_ns, catalog.stat().st_size)
    ws = Workspace.open(store=root)
    ws.cluster(addr(1))
    ws.cluster_why(addr(1), addr(2))
    ws.cluster_runs()
    ws.cluster_overrides()
    with pytest.raises(StoreError):
        ws.cluster_override(ClusterOverrideRequest(kind="merge", addresses=[addr(1), addr(3)], reason="x"))
    with pytest.raises(StoreError):
        ws.cluster_run(ClusterRunRequest())
    assert (catalog.stat().st_mtime_ns, catalog.stat().st_size) == before


def test_clustering_is_cached_and_an_override_refreshes_it(root: Path, ran: object, monkeypatch,
                                                           capsys) -> None:
    loads: list[str] = []
    real = query.load_clustering
    monkeypatch.setattr(query, "load_clustering", lambda store, chain: loads.append(chain) or real(store, chain))
    ws = Workspace.open(store=root, writable=True, actor=Actor(user="bob"))
    ws.cluster(addr(1))
    ws.cluster_members(addr(1))
    ws.cluster_why(addr(1), addr(2))
    assert loads == ["btc-regtest"]
    ov = ws.cluster_override(ClusterOverrideRequest(kind="merge", addresses=[addr(1), addr(3)], reason="same KYC"))
    assert (ov.author, ov.kind, ov.addresses) == ("bob", "merge", [addr(1), addr(3)])  # the actor by default
    assert ws.cluster(addr(3)).members == 3 and loads == ["btc-regtest"] * 2
    rows = ws.cluster_overrides().model_dump(mode="json")
    assert rows == cli_json(root, capsys, "overrides") and rows[-1]["author"] == "bob"
    assert ws.cluster_runs().model_dump(mode="json") == cli_json(root, capsys, "runs")
    with pytest.raises(UsageError) as exc:
        ws.cluster_override(ClusterOverrideRequest(kind="merge", addresses=[addr(1), addr(2)], reason=" "))
    assert exc.value.field == "reason"


def test_run_request_errors_name_the_field(root: Path, ran: object) -> None:
    ws = Workspace.open(store=root, writable=True)
    for req, field in ((ClusterRunRequest(heuristics=["multi-input", "change"]), "change_floor"),
                       (ClusterRunRequest(heuristics=["bogus"]), "heuristics"),
                       (ClusterRunRequest(coinjoin_floor=2.0), "coinjoin_floor"),
                       (ClusterRunRequest(hot_wallets=["nonsense"]), "hot_wallets")):
        with pytest.raises(UsageError) as exc:
            ws.cluster_run(req)
        assert exc.value.field == field and "--" not in exc.value.message, req
