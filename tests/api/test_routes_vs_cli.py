"""Every route of the API contract answers what the CLI's `--json` prints for the same question, on
the same store, asked through a real server over loopback (issue 14, section 6).

The simulated Bitcoin chain of the shared `api` server is tagged through the API first (its truth's
exchanges, miners and a scam, `POST /api/v1/tags`), so tags, risk reasons, trace stops and the tag
search have something to show. An account chain (the EVM simulator's anvil recording) is served by a
second server. Only wall-clock timings (`elapsed_ms`) are dropped, by name.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from tests.api.conftest import Server, stop
from tests.api.support_live import cli_json, cli_lines, cli_out, drop, rows_of, serve_store

CHAIN = "btc-regtest"
CURRENCY = "BTC-REGTEST"  # the tag currency of the simulator's regtest chain


def _truth(sim: Path, name: str) -> list[dict[str, str]]:
    with open(sim / "truth" / name) as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def world(api: Server) -> dict[str, Any]:
    """The shared server's chain with tags added through the API, and the things the tests ask about."""
    addresses = _truth(api.sim, "addresses.csv")
    case = json.loads((api.sim / "truth" / "cases" / "ransomware-1.json").read_text())
    by_cat: dict[str, list[dict[str, str]]] = {}
    for row in addresses:
        by_cat.setdefault(row["category"], []).append(row)
    tagged = by_cat["exchange"][:12] + by_cat["miner"][:4] + by_cat["scam"][:2]
    with api.client("investigator") as c:
        for row in tagged:
            r = c.post("/api/v1/tags", json={"address": row["address"], "label": f"{row['actor']} (sim truth)",
                                             "category": row["category"], "currency": CURRENCY,
                                             "confidence": "ownership"})
            assert r.status_code in (200, 201), r.text
        counts = {}
        for a in api.addresses[:30]:
            r = c.get(f"/api/v1/{CHAIN}/addresses/{a}/txs", params={"limit": 1})
            if r.status_code == 200:
                counts[a] = r.json()["total"]
        busy = max(counts, key=lambda a: counts[a])
        txs = c.get(f"/api/v1/{CHAIN}/addresses/{busy}/txs", params={"limit": 1000}).json()["txs"]
        cluster = c.get(f"/api/v1/{CHAIN}/clusters/{busy}").json()
    return {"busy": busy, "busy_txs": [t["txid"] for t in txs], "cluster": cluster, "tagged": tagged,
            "by_cat": by_cat, "seed_txids": case["seed_txids"], "cashouts": case["cashout_points"], "case": case}


def test_status_and_search(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    tx0 = world["busy_txs"][0]
    queries = [(world["busy"], None), (tx0, None), (f"{tx0}:0", None), (str(world["cluster"]["cluster_id"]), None),
               ("sim truth", 5), ("exchange-a", None), (world["tagged"][0]["address"], 3), ("nothing-like-this", None)]
    with api.client("analyst") as c:
        r = c.get("/api/v1/status")
        assert r.status_code == 200
        assert r.json() == cli_json(capsys, api.store, "status", "--json")
        for q, limit in queries:
            params: dict[str, Any] = {"q": q} if limit is None else {"q": q, "limit": limit}
            r = c.get("/api/v1/search", params=params)
            assert r.status_code == 200, (q, r.text)
            args = ["search", q, "--json"] + ([] if limit is None else ["--limit", str(limit)])
            assert r.json() == cli_json(capsys, api.store, *args), q
        hits = c.get("/api/v1/search", params={"q": "sim truth"}).json()["hits"]
        assert hits and all(h["link"].startswith("/api/v1/") for h in hits)


def test_address_summary_and_risk(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    picks = [world["busy"], world["tagged"][0]["address"], world["tagged"][-1]["address"],
             world["by_cat"]["ransomware"][0]["address"], world["cashouts"][0]["address"], *api.addresses[7:10]]
    tagged_seen = False
    with api.client("analyst") as c:
        for a in picks:
            r = c.get(f"/api/v1/{CHAIN}/addresses/{a}")
            assert r.status_code == 200, (a, r.text)
            doc = r.json()
            assert doc == cli_json(capsys, api.store, "address", a, "--chain", CHAIN, "--json"), a
            tagged_seen |= bool(doc["tags"])
            r = c.get(f"/api/v1/{CHAIN}/addresses/{a}/risk")
            assert r.status_code == 200, (a, r.text)
            assert [r.json()] == cli_lines(capsys, api.store, "risk", a, "--chain", CHAIN, "--json"), a
    assert tagged_seen, "no summary showed the tags added through the API"


def test_address_txs_every_page(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    a = world["busy"]
    assert len(world["busy_txs"]) >= 5
    seen: list[str] = []
    cursor: str | None = None
    with api.client("analyst") as c:
        for _ in range(100):
            params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            r = c.get(f"/api/v1/{CHAIN}/addresses/{a}/txs", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            args = ["txs", a, "--chain", CHAIN, "--limit", "3", "--json"] + (["--cursor", cursor] if cursor else [])
            assert page == cli_json(capsys, api.store, *args), cursor
            seen += [t["txid"] for t in page["txs"]]
            cursor = page["page"]["next_cursor"]
            if cursor is None:
                break
        full = c.get(f"/api/v1/{CHAIN}/addresses/{a}/txs").json()
    assert full == cli_json(capsys, api.store, "txs", a, "--chain", CHAIN, "--json")  # default limit
    assert seen == world["busy_txs"] and len(seen) == len(set(seen))


def test_transaction_detail(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    coinjoins = [r["txid"] for r in _truth(api.sim, "coinjoins.csv")][:2]
    chain_txs = [r["txid"] for r in _truth(api.sim, "transactions.csv")]
    txids = [*world["busy_txs"][:3], *coinjoins, chain_txs[0], chain_txs[-1], *world["seed_txids"][:2]]
    with api.client("analyst") as c:
        for txid in txids:
            r = c.get(f"/api/v1/{CHAIN}/txs/{txid}")
            assert r.status_code == 200, (txid, r.text)
            assert r.json() == cli_json(capsys, api.store, "tx", txid, "--chain", CHAIN, "--json"), txid
        r = c.get(f"/api/v1/{CHAIN}/addresses/{world['seed_txids'][0]}/risk")  # a txid in the address slot
        if r.status_code == 200:
            want = cli_lines(capsys, api.store, "risk", world["seed_txids"][0], "--chain", CHAIN, "--json")
            assert [r.json()] == want


def test_cluster_show_members_and_why(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    cluster = world["cluster"]
    cid = str(cluster["cluster_id"])
    assert cluster["members"] >= 5
    with api.client("analyst") as c:
        for ref in (cid, world["busy"], world["tagged"][0]["address"]):
            r = c.get(f"/api/v1/{CHAIN}/clusters/{ref}")
            assert r.status_code == 200, (ref, r.text)
            assert r.json() == cli_json(capsys, api.store, "cluster", "show", ref, "--chain", CHAIN, "--json"), ref
        members: list[str] = []
        cursor: str | None = None
        for ref in (cid, world["busy"]):  # by id, then by member address: the same pages
            members, cursor = [], None
            for _ in range(100):
                params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
                r = c.get(f"/api/v1/{CHAIN}/clusters/{ref}/members", params=params)
                assert r.status_code == 200, r.text
                page = r.json()
                args = ["cluster", "members", ref, "--chain", CHAIN, "--limit", "10", "--json"]
                assert page == cli_json(capsys, api.store, *args + (["--cursor", cursor] if cursor else [])), cursor
                members += [m["address"] for m in page["members"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert len(members) == cluster["members"] == len(set(members))
        r = c.get(f"/api/v1/{CHAIN}/clusters/{cid}/members")
        assert r.json() == cli_json(capsys, api.store, "cluster", "members", cid, "--chain", CHAIN, "--json")
        mate = next(m for m in members if m != world["busy"])
        other = next(a for a in api.addresses[20:] if a not in members)
        linked = None
        for a, b in ((world["busy"], mate), (mate, world["busy"]), (world["busy"], other)):
            r = c.get(f"/api/v1/{CHAIN}/clusters/why", params={"a": a, "b": b})
            assert r.status_code == 200, r.text
            assert r.json() == cli_json(capsys, api.store, "cluster", "why", a, b, "--chain", CHAIN, "--json")
            linked = r.json()["linked"] if linked is None else linked
        assert linked is True


def test_tags_by_address_and_by_text(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with api.client("analyst") as c:
        for a, currency in ((world["tagged"][0]["address"], None), (world["tagged"][1]["address"], CURRENCY),
                            (world["tagged"][1]["address"], "ETH"), (api.addresses[30], None),
                            ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", None)):
            params = {"address": a} | ({"currency": currency} if currency else {})
            r = c.get("/api/v1/tags", params=params)
            assert r.status_code == 200, r.text
            args = ["tags", "show", a, "--json"] + (["--currency", currency] if currency else [])
            assert r.json() == cli_json(capsys, api.store, *args), params
        found_any = False
        for q, limit in (("sim truth", None), ("exchange-a", 2), ("scam", 50), ("pool-", 1), ("no such label", None)):
            params: dict[str, Any] = {"q": q} | ({"limit": limit} if limit else {})
            r = c.get("/api/v1/tags", params=params)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert (doc["q"], doc["limit"]) == (q, limit or 50)
            # `tags search --json` prints one JSON line per tag; the API wraps the same list
            args = ["tags", "search", q, "--json"] + (["--limit", str(limit)] if limit else [])
            assert doc["tags"] == cli_lines(capsys, api.store, *args), q
            found_any |= bool(doc["tags"])
        assert found_any


def test_post_tag_then_get_shows_it(api: Server, capsys: pytest.CaptureFixture[str]) -> None:
    target = api.addresses[40]
    claim = {"address": target, "label": "seized wallet (route test)", "category": "scam", "currency": CURRENCY,
             "source": "case file 14/route", "actor": "route-test-actor", "date": "2024-05-01"}
    with api.client("investigator") as c:
        before = c.get("/api/v1/tags", params={"address": target}).json()
        r = c.post("/api/v1/tags", json=claim)
        assert r.status_code == 201, r.text
        added = r.json()
        assert added["added"] is True and added["label"] == claim["label"]
        again = c.post("/api/v1/tags", json=claim)  # every attempt is an import record of its own
        assert again.status_code == 200 and again.json()["import_id"] > added["import_id"]
        assert drop(again.json(), ["import_id"]) == drop(added, ["import_id"]) | {"added": False}
        after = c.get("/api/v1/tags", params={"address": target})
        assert after.status_code == 200
    doc = after.json()
    assert len(doc["tags"]) == len(before["tags"]) + 1
    assert any(t["label"] == claim["label"] for t in doc["tags"])
    assert doc == cli_json(capsys, api.store, "tags", "show", target, "--json")
    # the same claim by the same user through the CLI is already there: the CLI says what the API said
    cli = cli_json(capsys, api.store, "tags", "add", target, "--label", claim["label"], "--category", "scam",
                   "--currency", CURRENCY, "--source", claim["source"], "--actor", claim["actor"],
                   "--date", claim["date"], "--json", user="investigator1")
    assert cli["import_id"] > again.json()["import_id"]
    assert drop(cli, ["import_id"]) == drop(added, ["import_id"]) | {"added": False}


# -- trace: every option of `fundtrail trace`, as a body and as CLI options ---------------------------

def _trace_argv(body: dict[str, Any], stop_file: Path | None) -> list[str]:
    """The CLI options asking what `body` asks."""
    argv = ["trace", *body["seeds"], "--chain", CHAIN, "--json"]
    flags = {"direction": "--direction", "policy": "--policy", "hops": "--hops", "min_value": "--min-value",
             "since": "--since", "until": "--until", "max_txs": "--max-txs", "max_seconds": "--max-seconds",
             "change_confidence": "--change-confidence", "asset": "--asset"}
    for key, value in body.items():
        if key in flags:
            argv += [flags[key], str(value)]
        elif key == "stop_at":
            argv += ["--stop-at", ",".join(value)]
        elif key == "exact" and value:
            argv.append("--exact")
        elif key == "follow_change" and value:
            argv.append("--follow-change")
        elif key in ("stop_addresses", "stop_list"):
            assert stop_file is not None
        else:
            assert key == "seeds", key
    if stop_file is not None:
        argv += ["--stop-file", str(stop_file)]
    return argv


def _sim_time(api: Server, height: int) -> dt.datetime:
    with api.client("analyst") as c:
        txid = next(r["txid"] for r in _truth(api.sim, "transactions.csv") if int(r["height"]) == height)
        return dt.datetime.fromisoformat(c.get(f"/api/v1/{CHAIN}/txs/{txid}").json()["time"].replace("Z", "+00:00"))


def test_trace_every_option(api: Server, world: dict[str, Any], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    seeds = world["seed_txids"]
    case = world["case"]
    outputs = case["seed_outputs"]
    out0 = f"{outputs[0]['txid']}:{outputs[0]['vout']}"
    seed_addr = outputs[0]["address"]
    t10, t40 = _sim_time(api, 10), _sim_time(api, 40)
    stops = [c for c in world["cashouts"] if c.get("address")][:2]
    stop_file = tmp_path / "stops.csv"
    stop_file.write_text("".join(f"{s['address']},{s['actor']} cash-out\n" for s in stops))
    stop_body = {"stop_addresses": [{"address": s["address"], "label": f"{s['actor']} cash-out",
                                     "where": f"{stop_file}:{n}"} for n, s in enumerate(stops, 1)],
                 "stop_list": str(stop_file)}
    bodies: list[tuple[dict[str, Any], bool]] = [
        ({"seeds": seeds[:1]}, False),
        ({"seeds": seeds, "policy": "poison", "hops": 4}, False),
        ({"seeds": seeds[:2], "policy": "haircut", "hops": 6, "min_value": "0.01"}, False),
        ({"seeds": [out0], "policy": "fifo", "min_value": "50000sat", "stop_at": ["exchange", "mixer"]}, False),
        ({"seeds": seeds[:1], "policy": "lifo", "hops": 5, "stop_at": ["miner"]}, False),
        ({"seeds": seeds[:1], "policy": "tiho", "hops": 5, "exact": True}, False),
        ({"seeds": [seed_addr], "policy": "poison", "hops": 3, "since": t10.date().isoformat(),
          "until": str(int(t40.timestamp()))}, False),
        ({"seeds": seeds[:1], "policy": "haircut", "since": t10.strftime("%Y-%m-%dT%H:%M:%SZ"),
          "until": t40.strftime("%Y-%m-%dT%H:%M:%S")}, False),
        ({"seeds": [world["cashouts"][0]["address"]], "direction": "backward", "policy": "poison", "hops": 3},
         False),
        ({"seeds": seeds[:1], "direction": "backward", "policy": "haircut", "hops": 2,
          "stop_at": ["scam", "exchange"]}, False),
        ({"seeds": seeds, "policy": "poison", "max_txs": 5}, False),  # truncated by the node budget
        ({"seeds": seeds[:1], "policy": "haircut", "hops": 8, **stop_body}, True),
        ({"seeds": [out0], "follow_change": True, "hops": 6, "change_confidence": 0.5}, False),
        ({"seeds": seeds[:1], "follow_change": True}, False),
        ({"seeds": seeds[:1], "max_seconds": 20.0, "hops": 3, "policy": "fifo", "direction": "forward"}, False),
    ]
    truncated = False
    reasons: set[str] = set()
    with api.client("investigator") as c:
        for body, with_file in bodies:
            r = c.post(f"/api/v1/{CHAIN}/trace", json=body)
            assert r.status_code == 200, (body, r.text)
            got = r.json()
            want = cli_json(capsys, api.store, *_trace_argv(body, stop_file if with_file else None))
            assert drop(got) == drop(want), body
            assert got["chain"] == CHAIN
            truncated |= bool(got.get("truncated"))
            reasons |= {e.get("reason") for e in got.get("endpoints") or []}
    assert truncated, "max_txs=5 did not truncate any trace"
    assert {"service", "stop_list"} & reasons, reasons  # the tags added through the API stop traces


def test_paths(api: Server, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    seed = world["seed_txids"][0]
    target = world["cashouts"][0]["address"]
    found = 0
    with api.client("investigator") as c:
        for source, to, extra in ((seed, target, {}), (seed, target, {"max_hops": 12, "limit": 3}),
                                  (world["busy_txs"][0], world["busy"], {"max_hops": 2}),
                                  (world["busy"], target, {"limit": 1, "max_hops": 4})):
            r = c.get(f"/api/v1/{CHAIN}/paths", params={"from": source, "to": to, **extra})
            assert r.status_code == 200, r.text
            argv = ["paths", source, to, "--chain", CHAIN, "--json"]
            argv += [x for k, v in extra.items() for x in (f"--{k.replace('_', '-')}", str(v))]
            assert r.json() == cli_json(capsys, api.store, *argv), (source, to, extra)
            found += r.json()["found"]
    assert found > 0


def test_screen_json_and_csv(api: Server, world: dict[str, Any], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    """`fundtrail screen` on a sheet, against the API's CSV (text/csv body and upload) and JSON."""
    inputs = [world["tagged"][0]["address"], world["busy"], world["seed_txids"][0],
              world["by_cat"]["ransomware"][0]["address"], world["cashouts"][0]["address"], api.addresses[50]]
    sheet = "id,address,note\n" + "".join(f"{n},{a},row {n}\n" for n, a in enumerate(inputs, 1))
    path = tmp_path / "sheet.csv"
    path.write_text(sheet)
    cli = rows_of(cli_out(capsys, api.store, "screen", str(path)))
    assert cli[0] == ["id", "address", "note", "input", "kind", "currency", "chain", "score", "severity", "profile",
                      "top_reasons", "activity_in_store", "exposure_computed", "screen_note", "error"]
    with api.client("analyst") as c:
        body = c.post("/api/v1/screen", content=sheet.encode(), headers={"content-type": "text/csv",
                                                                         "accept": "text/csv"})
        assert body.status_code == 200 and body.headers["content-type"].startswith("text/csv"), body.text
        assert rows_of(body.text) == cli
        upload = c.post("/api/v1/screen", files={"file": ("sheet.csv", sheet.encode(), "text/csv")},
                        headers={"accept": "text/csv"})
        assert upload.status_code == 200 and rows_of(upload.text) == cli
        # another column name and more reasons per row
        sheet2 = "wallet\n" + "".join(f"{a}\n" for a in inputs)
        (tmp_path / "sheet2.csv").write_text(sheet2)
        r = c.post("/api/v1/screen", params={"column": "wallet", "top": 5, "chain": CHAIN}, content=sheet2.encode(),
                   headers={"content-type": "text/csv", "accept": "text/csv"})
        assert r.status_code == 200, r.text
        want = rows_of(cli_out(capsys, api.store, "screen", str(tmp_path / "sheet2.csv"), "--column", "wallet",
                               "--top", "5", "--chain", CHAIN))
        assert rows_of(r.text) == want
        # JSON in, JSON out: the rows are the CLI's result columns
        j = c.post("/api/v1/screen", json={"inputs": inputs})
        assert j.status_code == 200, j.text
        doc = j.json()
        assert doc["failed"] == 0 and len(doc["rows"]) == len(inputs)
        for row, cells in zip(doc["rows"], cli[1:]):
            assert _cells(row) == cells[3:], row
        # JSON in, CSV out: the plain result columns
        jc = c.post("/api/v1/screen", json={"inputs": inputs, "top": 1}, headers={"accept": "text/csv"})
        one = tmp_path / "plain.csv"
        one.write_text("address\n" + "".join(f"{a}\n" for a in inputs))
        want = rows_of(cli_out(capsys, api.store, "screen", str(one), "--top", "1"))
        got = rows_of(jc.text)
        assert got[0] == want[0][1:] and got[1:] == [w[1:] for w in want[1:]]


def _cells(row: dict[str, Any]) -> list[str]:
    """A JSON screening row as the CSV writes it."""
    def flag(v: bool | None) -> str:
        return "" if v is None else str(v).lower()

    score = "" if row["score"] is None else f"{row['score']:g}"
    return [row["input"], row["kind"], row["currency"] or "", row["chain"] or "", score, row["severity"] or "",
            row["profile"], " | ".join(row["top_reasons"]), flag(row["activity_in_store"]),
            flag(row["exposure_computed"]), row["note"] or "", row["error"] or ""]


def test_screen_rows_that_fail(api: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An input that cannot be screened: its error in its row, in the API's CSV and the CLI's (which
    prefixes the sheet's line number, `line N: `, and exits 3 after writing every row)."""
    good = api.addresses[51]
    sheet = f"address\n{good}\nnot-an-address\n{'0' * 64}\n"
    path = tmp_path / "bad.csv"
    path.write_text(sheet)
    cli = rows_of(cli_out(capsys, api.store, "screen", str(path), code=3))
    with api.client("analyst") as c:
        r = c.post("/api/v1/screen", content=sheet.encode(), headers={"content-type": "text/csv",
                                                                      "accept": "text/csv"})
        assert r.status_code == 200
        got = rows_of(r.text)
        j = c.post("/api/v1/screen", json={"inputs": [good, "not-an-address", "0" * 64]}).json()
    assert got[0] == cli[0] and len(got) == len(cli) == 4
    errors = [row[-1] for row in cli[1:]]
    assert errors[0] == "" and all(e.startswith(f"line {n}: ") for n, e in zip((3, 4), errors[1:]))
    unprefixed = [[*row[:-1], row[-1].split(": ", 1)[1] if row[-1] else ""] for row in cli[1:]]
    assert got[1:] == unprefixed
    assert j["failed"] == sum(1 for e in errors if e)
    assert [_cells(row) for row in j["rows"]] == [row[1:] for row in got[1:]]


def test_audit_matches_audit_show(api: Server, capsys: pytest.CaptureFixture[str]) -> None:
    """`GET /api/v1/audit` filtered by user and time is `fundtrail audit show --json` filtered the same way;
    paging back with the cursor walks the same records."""
    since = dt.datetime.now(dt.UTC)
    with api.client("analyst") as c:
        for n in range(7):
            c.get(f"/api/v1/{CHAIN}/addresses/{api.addresses[60 + n]}")
        c.get("/api/v1/search", params={"q": "route-audit"})
    until = dt.datetime.now(dt.UTC)
    with api.client("investigator") as c:  # after `until`: filtered out by time, and another user
        c.get("/api/v1/status")
    s, u = since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with api.client("auditor") as c:
        for params, argv in (
            ({"user": "analyst1", "since": s, "until": u}, ["--user", "analyst1", "--since", s, "--until", u]),
            ({"user": "analyst1", "since": s, "until": u, "limit": 3},
             ["--user", "analyst1", "--since", s, "--until", u, "--limit", "3"]),
            ({"user": "analyst1", "since": str(since.timestamp()), "until": str(until.timestamp())},
             ["--user", "analyst1", "--since", str(since.timestamp()), "--until", str(until.timestamp())]),
            ({"user": "nobody-at-all"}, ["--user", "nobody-at-all"]),
        ):
            r = c.get("/api/v1/audit", params=params)
            assert r.status_code == 200, r.text
            assert r.json() == cli_json(capsys, api.store, "audit", "show", "--json", *argv), params
        everything = c.get("/api/v1/audit", params={"user": "analyst1", "since": s, "until": u}).json()
        assert len(everything["records"]) == 8 and everything["next_cursor"] is None
        paged: list[dict[str, Any]] = []
        params = {"user": "analyst1", "since": s, "until": u, "limit": 3}
        for _ in range(10):
            page = c.get("/api/v1/audit", params=params).json()
            paged = page["records"] + paged
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert paged == everything["records"]


# -- an account chain ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def evm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The EVM simulator's recording (made on a real anvil node) ingested, its exchanges tagged,
    served by a server of its own."""
    from support.anvil import require_anvil

    require_anvil()
    base = tmp_path_factory.mktemp("api-evm")
    assert main(["-q", "simulate", "--chain", "eth", "--seed", "5", "--txs", "300", "--out", str(base / "sim")]) == 0
    store = base / "store"
    assert main(["-q", "--store", str(store), "ingest", "ethereum", "--replay", str(base / "sim" / "rpc")]) == 0
    rows = _truth(base / "sim", "addresses.csv")
    labels = base / "labels.csv"
    with open(labels, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address", "label", "category", "currency"])
        w.writerows([r["address"], r["actor"], "exchange", "ANVIL"] for r in rows if r["category"] == "exchange")
    assert main(["-q", "--store", str(store), "tags", "import", str(labels), "--format", "csv"]) == 0
    case = json.loads((base / "sim/truth/cases/theft-1.json").read_text())
    server = serve_store(store, base / "serve", [r["address"] for r in rows])
    yield {"server": server, "case": case, "rows": rows}
    stop(server)


def test_account_chain_routes(evm: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    server: Server = evm["server"]
    chain = "anvil"
    exchange = next(r["address"] for r in evm["rows"] if r["category"] == "exchange")
    tx = evm["case"]["seed_txs"][0]
    with server.client("investigator") as c:
        counts = {a: c.get(f"/api/v1/{chain}/addresses/{a}").json().get("tx_count", 0) for a in server.addresses[:25]}
        busy = max(counts, key=lambda a: counts[a])
        pairs = [("/api/v1/status", {}, ["status", "--json"]),
                 ("/api/v1/search", {"q": busy}, ["search", busy, "--json"]),
                 ("/api/v1/search", {"q": tx}, ["search", tx, "--json"]),
                 (f"/api/v1/{chain}/addresses/{busy}", {}, ["address", busy, "--chain", chain, "--json"]),
                 (f"/api/v1/{chain}/addresses/{exchange}", {}, ["address", exchange, "--chain", chain, "--json"]),
                 (f"/api/v1/{chain}/addresses/{exchange}/risk", {}, None),
                 (f"/api/v1/{chain}/txs/{tx}", {}, ["tx", tx, "--chain", chain, "--json"]),
                 ("/api/v1/tags", {"address": exchange}, ["tags", "show", exchange, "--json"])]
        for path, params, argv in pairs:
            r = c.get(path, params=params)
            assert r.status_code == 200, (path, r.text)
            if argv is None:
                assert [r.json()] == cli_lines(capsys, server.store, "risk", exchange, "--chain", chain, "--json")
            else:
                assert r.json() == cli_json(capsys, server.store, *argv), path
        cursor: str | None = None
        for _ in range(100):
            page = c.get(f"/api/v1/{chain}/addresses/{busy}/txs",
                         params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
            argv = ["txs", busy, "--chain", chain, "--limit", "2", "--json"] + (["--cursor", cursor] if cursor else [])
            assert page == cli_json(capsys, server.store, *argv)
            cursor = page["page"]["next_cursor"]
            if cursor is None:
                break
        tags_seen = False
        for body in ({"seeds": [tx], "policy": "fifo", "asset": "ETH"}, {"seeds": [tx], "policy": "poison", "hops": 3},
                     {"seeds": [tx], "policy": "haircut", "asset": "ETH", "stop_at": ["exchange"], "hops": 6}):
            r = c.post(f"/api/v1/{chain}/trace", json=body)
            assert r.status_code == 200, (body, r.text)
            argv = ["trace", tx, "--chain", chain, "--policy", body["policy"], "--json"]
            argv += ["--asset", body["asset"]] if "asset" in body else []
            argv += ["--hops", str(body["hops"])] if "hops" in body else []
            argv += ["--stop-at", ",".join(body["stop_at"])] if "stop_at" in body else []
            got = r.json()
            assert drop(got) == drop(cli_json(capsys, server.store, *argv)), body
            tags_seen |= '"exchange"' in json.dumps(got)
        assert tags_seen, "account-chain traces carry tags (issue 14 section 1)"
        r = c.post("/api/v1/screen", json={"inputs": [busy, exchange, tx]})
        assert r.status_code == 200 and r.json()["failed"] == 0
        sheet = f"address\n{busy}\n{exchange}\n{tx}\n"
    path = server.sim / "screen.csv"
    path.write_text(sheet)
    cli = rows_of(cli_out(capsys, server.store, "screen", str(path)))
    assert [_cells(row) for row in r.json()["rows"]] == [row[1:] for row in cli[1:]]
