"""`Workspace.trace`, `paths` and `graph_build`: the CLI's JSON documents from one call, every option
checked with the request field named, indexes loaded once, and account traces carrying tags."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from support.anvil import require_anvil

from fundtrail.cli.main import main
from fundtrail.errors import DataError, FundtrailError, NotFoundError, UsageError
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace import Workspace
from fundtrail.workspace.tracing import (PathsRequest, SeedInput, StopAddress, TraceRequest, TraceResult,
                                         render_trace_text)


def _ws(store: str | Path) -> Workspace:
    return Workspace.open(Settings.load().with_(store=Path(store)))


def _cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict:
    capsys.readouterr()
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


def _same(a: dict, b: dict) -> None:
    """Equal documents but for the run time."""
    assert {**a, "elapsed_ms": 0} == {**b, "elapsed_ms": 0}
    assert list(a) == list(b), "the keys come in the report's order"


@pytest.fixture(scope="module")
def utxo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("wstrace")
    simulate(base / "sim", seed=7, txs=1500)
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    case = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    with open(base / "sim/truth/addresses.csv") as fh:
        exchanges = [r for r in csv.DictReader(fh) if r["category"] == "exchange"]
    stop = base / "exchanges.txt"
    stop.write_text("".join(f"{r['address']},{r['actor']}\n" for r in exchanges))
    return {"store": store, "case": case, "stop": stop, "ws": _ws(store)}


def test_trace_is_the_cli_document(utxo: dict, capsys: pytest.CaptureFixture[str]) -> None:
    o = utxo["case"]["seed_outputs"][0]
    seed = f"{o['txid']}:{o['vout']}"
    want = _cli(capsys, ["--store", utxo["store"], "trace", seed, "--stop-file", str(utxo["stop"]), "--hops", "6",
                         "--policy", "fifo", "--json"])
    stops = [StopAddress(address=line.split(",")[0], label=line.split(",")[1])
             for line in utxo["stop"].read_text().splitlines()]
    got = utxo["ws"].trace(TraceRequest(seeds=[seed], stop_addresses=stops, stop_list=str(utxo["stop"]), hops=6,
                                        policy="fifo"))
    _same(got.document(), want)
    assert any(e["reason"] == "service" for e in want["endpoints"])
    assert "Policy: fifo" in render_trace_text(got)
    again = TraceResult.model_validate_json(got.model_dump_json())  # what an API client reads back
    assert set(again.document()) == set(want)


def test_follow_change_is_the_cli_document(utxo: dict, capsys: pytest.CaptureFixture[str]) -> None:
    o = utxo["case"]["seed_outputs"][0]
    seed = f"{o['txid']}:{o['vout']}"
    want = _cli(capsys, ["--store", utxo["store"], "trace", seed, "--follow-change", "--hops", "5", "--json"])
    got = utxo["ws"].trace(TraceRequest(seeds=[SeedInput(text=seed)], follow_change=True, hops=5)).document()
    assert got == want and got["mode"] == "follow_change" and list(got) == list(want)


def test_paths_is_the_cli_document(utxo: dict, capsys: pytest.CaptureFixture[str]) -> None:
    o = utxo["case"]["seed_outputs"][0]
    target = utxo["case"]["cashout_points"][0]["address"]
    args = [f"{o['txid']}:{o['vout']}", target]
    want = _cli(capsys, ["--store", utxo["store"], "paths", *args, "--max-hops", "30", "--json"])
    got = utxo["ws"].paths(PathsRequest(source=args[0], target=target, max_hops=30))
    assert got.model_dump(mode="json") == want


@pytest.mark.parametrize("change, exc, field, text", [
    ({"direction": "sideways"}, UsageError, "direction", "direction must be forward or backward"),
    ({"policy": "lilo"}, UsageError, "policy", "unknown taint policy 'lilo'"),
    ({"min_value": "abc"}, UsageError, "min_value", "min_value 'abc' is not an amount"),
    ({"min_value": "inf"}, UsageError, "min_value", "is not an amount"),
    ({"since": "yesterday"}, UsageError, "since", "since 'yesterday' is not a date"),
    ({"since": "2024-02-01", "until": "2024-01-01"}, UsageError, "since", "is after `until`"),
    ({"hops": 0}, UsageError, "hops", "hops must be at least 1"),
    ({"max_txs": 0}, UsageError, "max_txs", "max_txs must be at least 1"),
    ({"max_seconds": float("nan")}, UsageError, "max_seconds", "positive number"),
    ({"change_confidence": 2.0}, UsageError, "change_confidence", "between 0 and 1"),
    ({"stop_at": ["exchange", "foo"]}, UsageError, "stop_at", "unknown category 'foo'"),
    ({"asset": "ETH"}, UsageError, "asset", "asset applies to account chains"),
    ({"chain": "eth"}, NotFoundError, "chain", "chain eth is not in the store"),
    ({"seeds": []}, UsageError, "seeds", "no seed"),
    ({"stop_addresses": [StopAddress(address="not-an-address", where="stops.txt:2")]}, DataError, None,
     "stops.txt:2:"),
    ({"stop_addresses": ["not-an-address"]}, UsageError, "stop_addresses", "not-an-address"),
])
def test_trace_errors_name_the_field(utxo: dict, change: dict, exc: type, field: str | None, text: str) -> None:
    o = utxo["case"]["seed_outputs"][0]
    req = TraceRequest.model_validate({"seeds": [f"{o['txid']}:{o['vout']}"], **change})
    with pytest.raises(exc) as got:
        utxo["ws"].trace(req)
    err: FundtrailError = got.value
    assert err.field == field and text in err.message and "--" not in err.message


def test_paths_errors_name_the_field(utxo: dict) -> None:
    target = utxo["case"]["cashout_points"][0]["address"]
    for req, field in [(PathsRequest(source="x", target=target, limit=0), "limit"),
                       (PathsRequest(source="x", target=target, max_hops=0), "max_hops"),
                       (PathsRequest(source=target, target=target), "target"),
                       (PathsRequest(source="notaseed", target=target), "source")]:
        with pytest.raises(UsageError) as got:
            utxo["ws"].paths(req)
        assert got.value.field == field


def test_index_is_loaded_once_per_workspace(utxo: dict, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ws = _ws(utxo["store"])
    calls: list[str] = []
    real = GraphIndex.ensure.__func__  # type: ignore[attr-defined]

    def counting(cls: type, store: object, chain: str, **kw: object) -> GraphIndex:
        calls.append(chain)
        return real(cls, store, chain, **kw)

    monkeypatch.setattr(GraphIndex, "ensure", classmethod(counting))
    o = utxo["case"]["seed_outputs"][0]
    for policy in ("haircut", "poison"):
        ws.trace(TraceRequest(seeds=[f"{o['txid']}:{o['vout']}"], policy=policy, hops=3))
    ws.paths(PathsRequest(source=f"{o['txid']}:{o['vout']}", target=utxo["case"]["cashout_points"][0]["address"]))
    assert calls == ["btc-regtest"]
    built = ws.graph_build()
    assert built.chain == "btc-regtest" and built.transactions > 1000 and Path(built.path).is_dir()
    assert main(["-q", "--store", utxo["store"], "graph", "build", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in doc.items() if k != "seconds"} == {
        k: v for k, v in built.model_dump(mode="json").items() if k != "seconds"}



def test_repeated_traces_mark_from_memory_alike(utxo: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first trace of a workspace marks its transactions from the lake; later ones from the
    graph index and the chain's `MarkFacts` kept in memory, with the same document; the coverage
    is read from the catalog once."""
    from fundtrail.workspace import tracing

    ws = _ws(utxo["store"])
    covered: list[str] = []
    real = tracing.coverage
    monkeypatch.setattr(tracing, "coverage", lambda store, chain: covered.append(chain) or real(store, chain))
    o = utxo["case"]["seed_outputs"][0]
    req = TraceRequest(seeds=[f"{o['txid']}:{o['vout']}"], policy="haircut", hops=6)
    docs = [ws.trace(req).document() for _ in range(3)]
    assert [k for k in ws._cache if k[0] == "mark-facts" and ws._cache[k][1] is not None]
    assert any(n["change"] for n in docs[0]["graph"]["nodes"])
    _same(docs[0], docs[1])
    _same(docs[0], docs[2])
    assert covered == ["btc-regtest"]

# -- account chains: tags on endpoints and graph nodes ---------------------------------------------

@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> dict:
    require_anvil()
    base = tmp_path_factory.mktemp("wsevm")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "400", "--out", str(base / "sim")]) == 0
    store = str(base / "store")
    assert main(["-q", "--store", store, "ingest", "ethereum", "--replay", str(base / "sim" / "rpc")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        exchanges = [r for r in csv.DictReader(fh) if r["category"] == "exchange"]
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "currency"])
        for r in exchanges:
            w.writerow([r["address"], r["actor"], "exchange", "ANVIL"])  # the simulator's chain: anvil
    assert main(["-q", "--store", store, "tags", "import", str(labels), "--format", "csv"]) == 0
    case = json.loads((base / "sim/truth/cases/theft-1.json").read_text())
    return {"store": store, "case": case, "ws": _ws(store)}


def test_account_trace_carries_tags(account: dict, capsys: pytest.CaptureFixture[str]) -> None:
    tx = account["case"]["seed_txs"][0]
    want = _cli(capsys, ["--store", account["store"], "trace", tx, "--policy", "fifo", "--asset", "ETH", "--json"])
    got = account["ws"].trace(TraceRequest(seeds=[tx], policy="fifo", asset="ETH")).document()
    _same(got, want)
    service = [e for e in got["endpoints"] if e["reason"] == "service"]
    assert service, "the stolen ETH reaches a tagged exchange and stops there"
    for e in service:
        assert e["tags"] and e["tags"][0]["category"] == "exchange" and e["tags"][0]["label"] == e["label"].split(
            ": ", 1)[1]
    tagged_nodes = [n for n in got["graph"]["nodes"] if n["tags"]]
    assert tagged_nodes and all(t["source"] for n in tagged_nodes for t in n["tags"])
    assert "exchange" in render_trace_text(TraceResult.of(got))


def test_account_min_value_and_follow_change(account: dict) -> None:
    tx = account["case"]["seed_txs"][0]
    ws = account["ws"]
    with pytest.raises(UsageError) as several:
        ws.trace(TraceRequest(seeds=[tx], min_value="0.5"))
    assert several.value.field == "min_value" and "name one with `asset`" in several.value.message
    doc = ws.trace(TraceRequest(seeds=[tx], min_value="0.5", asset="ETH", policy="fifo")).document()
    assert doc["limits"]["min_value_sat"] == 5 * 10**17
    with pytest.raises(UsageError) as follow:
        ws.trace(TraceRequest(seeds=[tx], follow_change=True))
    assert follow.value.field == "follow_change"
