"""`Workspace.risk`, `risks`, `screen` and `exposure` on a simulated chain with imported tags: the
same answers as the CLI, errors naming the request field, assessors built once per workspace."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import NotFoundError, TooLargeError, UsageError
from fundtrail.settings import Settings
from fundtrail.sim.scenario import simulate
from fundtrail.trace.graph import GraphIndex
from fundtrail.workspace import Workspace
from fundtrail.workspace.risk import (ExposureRequest, RiskReport, RiskRequest, RisksRequest, ScreenRequest,
                                      SCREEN_COLUMNS)

_CATEGORY = {"exchange": "exchange", "mixer": "mixing_service", "ransomware": "ransomware"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("wsrisk")
    simulate(base / "sim", seed=13, txs=1500)
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--blocks-dir", str(base / "sim/blocks")]) == 0
    with open(base / "sim/truth/addresses.csv") as fh:
        rows = list(csv.DictReader(fh))
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "currency"])
        for r in rows:
            if r["category"] in _CATEGORY and r["role"] not in ("change", "wallet"):
                w.writerow([r["address"], r["actor"], _CATEGORY[r["category"]], "BTC-REGTEST"])
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    case = json.loads((base / "sim/truth/cases/ransomware-1.json").read_text())
    retail = next(r["address"] for r in rows if r["category"] == "retail")
    ws = Workspace.open(Settings.load().with_(store=store))
    return {"store": str(store), "case": case, "retail": retail, "ws": ws}


def _cli_json_lines(capsys: pytest.CaptureFixture[str], args: list[str]) -> list[dict]:
    capsys.readouterr()
    assert main(args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_risk_report_is_the_cli_json(env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ransom = env["case"]["seed_addresses"][0]
    cash = env["case"]["cashout_points"][0]["address"]
    tx = env["case"]["seed_outputs"][0]["txid"]
    want = _cli_json_lines(capsys, ["--store", env["store"], "risk", ransom, cash, env["retail"], tx, "--json"])
    ws = env["ws"]
    got = [ws.risk(RiskRequest(target=t)).model_dump(mode="json") for t in (ransom, cash, env["retail"], tx)]
    assert got == want
    assert got[0]["score"] >= 90 and any(r["kind"] == "tag" for r in got[0]["reasons"])
    assert "transaction" not in got[0] and got[3]["transaction"]["inputs"] >= 1  # only a tx has the sides
    batch = ws.risks(RisksRequest(targets=[ransom, cash, env["retail"], tx]))
    assert [r.model_dump(mode="json") for r in batch.reports] == want
    # the JSON schema round-trips (what an API client gets back validates as a report)
    again = RiskReport.model_validate_json(batch.reports[3].model_dump_json())
    assert again.model_dump(mode="json") == want[3]


def test_assessors_and_indexes_are_built_once_per_workspace(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace.open(Settings.load().with_(store=Path(env["store"])))
    calls: list[str] = []
    real = GraphIndex.ensure.__func__  # type: ignore[attr-defined]

    def counting(cls: type, store: object, chain: str, **kw: object) -> GraphIndex:
        calls.append(chain)
        return real(cls, store, chain, **kw)

    monkeypatch.setattr(GraphIndex, "ensure", classmethod(counting))
    steps: list[tuple[str, int, int]] = []
    ws.risk(RiskRequest(target=env["retail"]), lambda s, d, t: steps.append((s, d, t)))
    assert calls == ["btc-regtest"]
    assert ("updating the exposure index of btc-regtest", 1, 1) in steps  # named steps reach the callback
    ws.risk(RiskRequest(target=env["case"]["seed_addresses"][0]))
    ws.screen(ScreenRequest(inputs=[env["retail"]]))
    ws.exposure(ExposureRequest(address=env["retail"]))
    assert calls == ["btc-regtest"], "the graph index is ensured once, then answered from the cache"


@pytest.mark.parametrize("req, exc, field, text", [
    (RiskRequest(target="notanaddress"), UsageError, "target", "not an address of a currency"),
    (RiskRequest(target="1BoatSLRHtKNngkdXEeobR76b53LETtpyU"), UsageError, "target", "bad checksum"),
    (RiskRequest(target="1BoatSLRHtKNngkdXEeobR76b53LETtpyT", chain="nosuchchain"), NotFoundError, "chain",
     "chain nosuchchain is not in the store"),
    (RiskRequest(target="00" * 32), NotFoundError, "target", "is not in the store"),
    (RiskRequest(target="1BoatSLRHtKNngkdXEeobR76b53LETtpyT", profile="/nonexistent/p.yaml"), Exception,
     "profile", "cannot read risk profile"),
])
def test_risk_errors_name_the_field(env: dict, req: RiskRequest, exc: type, field: str, text: str) -> None:
    with pytest.raises(exc) as got:
        env["ws"].risk(req)
    assert got.value.field == field and text in got.value.message and "--" not in got.value.message


def test_screen_rows_match_the_cli_csv(env: dict, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inputs = [env["case"]["seed_addresses"][0], env["retail"], "bogus", env["case"]["seed_outputs"][0]["txid"]]
    src = tmp_path / "in.csv"
    src.write_text("address\n" + "\n".join(inputs) + "\n")
    out = tmp_path / "out.csv"
    assert main(["--store", env["store"], "screen", str(src), "--output", str(out)]) == 3
    with open(out) as fh:
        cli_rows = list(csv.DictReader(fh))
    result = env["ws"].screen(ScreenRequest(inputs=inputs))
    assert result.failed == 1 and [r.input for r in result.rows] == inputs
    for row, cli in zip(result.rows, cli_rows):
        cells = row.cells()
        if row.error:
            cells[-1] = cli["error"].split(": ", 1)[0] + ": " + cells[-1]  # the CLI adds the CSV line
        assert cells == [cli[c if c != "input" else "input"] for c in SCREEN_COLUMNS]
    bad = result.rows[2]
    assert bad.score is None and bad.error and "not an address" in bad.error
    assert result.rows[0].score and result.rows[0].score >= 90 and result.rows[0].top_reasons
    assert len(env["ws"].screen(ScreenRequest(inputs=inputs[:1], top=0)).rows[0].top_reasons) == 0


def test_screen_bounds(env: dict) -> None:
    with pytest.raises(TooLargeError) as got:
        env["ws"].screen(ScreenRequest(inputs=[env["retail"]] * 3), max_rows=2)
    assert got.value.field == "inputs" and got.value.http_status == 413
    with pytest.raises(UsageError) as neg:
        env["ws"].screen(ScreenRequest(inputs=[env["retail"]], top=-1))
    assert neg.value.field == "top"


def test_exposure_is_the_risk_reports_exposure(env: dict, capsys: pytest.CaptureFixture[str]) -> None:
    cash = env["case"]["cashout_points"][0]["address"]
    ws = env["ws"]
    report = ws.risk(RiskRequest(target=cash))
    both = ws.exposure(ExposureRequest(address=cash))
    assert both.exposure == report.exposure and both.exposure_computed
    assert "ransomware" in both.categories
    assert both.exposure and (both.exposure["incoming"]["direct"] or both.exposure["incoming"]["indirect"])
    inc = ws.exposure(ExposureRequest(address=cash, direction="incoming"))
    assert inc.exposure and "outgoing" not in inc.exposure and inc.exposure["incoming"] == both.exposure["incoming"]
    capsys.readouterr()
    assert main(["--store", env["store"], "exposure", cash, "--direction", "incoming", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == inc.model_dump(mode="json")
    assert main(["--store", env["store"], "exposure", cash]) == 0
    text = capsys.readouterr().out
    assert "ransomware" in text and "incoming" in text
    fresh = ws.exposure(ExposureRequest(address="1BoatSLRHtKNngkdXEeobR76b53LETtpyT"))
    assert fresh.exposure is None and not fresh.exposure_computed and fresh.exposure_reason
    with pytest.raises(UsageError) as tx:
        ws.exposure(ExposureRequest(address=env["case"]["seed_outputs"][0]["txid"]))
    assert tx.value.field == "address"
    assert main(["--store", env["store"], "exposure", cash, "--direction", "sideways"]) == 2
    assert "--direction must be incoming, outgoing or both" in capsys.readouterr().err


def test_a_warmed_workspace_gives_the_same_reports(env: dict) -> None:
    """`warm()` sums the big clusters' exposure ahead of time (here every cluster of 2+ addresses,
    the fixture's clusters being small): every report equals a cold workspace's."""
    with open(Path(env["store"]).parent / "sim/truth/addresses.csv") as fh:
        sample = [r["address"] for r in csv.DictReader(fh)][::40]
    cold = Workspace.open(Settings.load().with_(store=Path(env["store"])))
    warm = Workspace.open(Settings.load().with_(store=Path(env["store"])))
    assert warm.warm() == ["btc-regtest"]
    service = warm._service("btc-regtest", None, lambda *_: None)
    assessor = service.assessor("btc-regtest")
    assert assessor.prepare(min_members=2) > 0
    for address in sample:
        want = cold.risk(RiskRequest(target=address)).model_dump(mode="json")
        assert warm.risk(RiskRequest(target=address)).model_dump(mode="json") == want
