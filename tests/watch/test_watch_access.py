"""Who sees what: an item and its alerts are its owner's and its case members'; anyone else is told
they do not exist, as for an unknown id. Bad targets and options are one-line errors naming the
target or the option, and nothing is stored by a `watch add` that fails on any of its targets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.workspace import Actor, Workspace
from tests.watch.support_watch import cli, cli_json


def _spent_in_tail(world: dict[str, Any]) -> str:
    head = {(t["txid"], n) for t in world["txs"] if t["height"] <= world["head_tip"] for n in range(len(t["outputs"]))}
    prev = next(tuple(p) for t in world["txs"] if t["height"] > world["head_tip"] for p in t["inputs"]
                if tuple(p) in head)
    return f"{prev[0]}:{prev[1]}"


def test_only_owner_and_case_members_see_items_and_alerts(world: dict[str, Any], store: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = _spent_in_tail(world)
    own = cli_json(capsys, store, "bob", "watch", "add", target)["items"][0]
    case = cli_json(capsys, store, "bob", "case", "new", "--title", "T")["id"]
    shared = cli_json(capsys, store, "bob", "watch", "add", target, "--case", case, "--severity", "critical",
                      "--name", "for the case")["items"][0]
    assert shared["case_id"] == case and shared["severity"] == "critical" and shared["name"] == "for the case"
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
    capsys.readouterr()
    bobs = cli_json(capsys, store, "bob", "alerts", "list")["alerts"]
    assert {a["item_id"] for a in bobs} == {own["id"], shared["id"]}
    assert cli_json(capsys, store, "eve", "watch", "list")["items"] == []
    assert cli_json(capsys, store, "eve", "alerts", "list")["alerts"] == []
    for args in (("alerts", "show", bobs[0]["id"]), ("alerts", "ack", bobs[0]["id"]), ("watch", "remove", own["id"]),
                 ("alerts", "list", "--item", own["id"])):
        code, _, err = cli(capsys, store, "eve", *args)
        assert code == 6 and "not found" in err and len(err.strip().splitlines()) == 1, (args, err)
    ws = Workspace.open(store=store, writable=True, actor=Actor(user="bob"))
    ws.case_set_member(case, "carl", role="member")
    carl = cli_json(capsys, store, "carl", "alerts", "list")["alerts"]
    assert [a["item_id"] for a in carl] == [shared["id"]]
    assert [i["id"] for i in cli_json(capsys, store, "carl", "watch", "list")["items"]] == [shared["id"]]
    acked = cli_json(capsys, store, "carl", "alerts", "ack", carl[0]["id"])
    assert acked["acked_by"] == "carl" and acked["acked_at"]
    again = cli_json(capsys, store, "bob", "alerts", "ack", carl[0]["id"])
    assert again["acked_by"] == "carl"  # the first acknowledgement stays
    assert [a["id"] for a in cli_json(capsys, store, "bob", "alerts", "list", "--unacked")["alerts"]] == [
        a["id"] for a in bobs if a["id"] != carl[0]["id"]]
    removed = cli_json(capsys, store, "bob", "watch", "remove", own["id"])
    assert removed["removed_by"] == "bob" and removed["removed_at"]
    assert [i["id"] for i in cli_json(capsys, store, "bob", "watch", "list")["items"]] == [shared["id"]]
    assert {i["id"] for i in cli_json(capsys, store, "bob", "watch", "list", "--all")["items"]} == {own["id"],
                                                                                                   shared["id"]}
    assert any(a["item_id"] == own["id"] for a in cli_json(capsys, store, "bob", "alerts", "list")["alerts"])


ADDR = "bcrt1q6ver76u7ns7yqq7hnttzjhzjfz7ed6ms4cqffv"  # an exchange address of the simulated case


@pytest.mark.parametrize(("args", "code", "words"), [
    (("nothere",), 6, "target 'nothere': is no address"),
    (("T-12345678",), 2, "give --case"),
    (("category:nope",), 2, "target 'category:nope': unknown category"),
    (("cluster:abc",), 2, "target 'cluster:abc'"),
    ((ADDR, "--rule", "bogus"), 2, "--rule 'bogus' is not a watch rule"),
    ((ADDR, "--severity", "loud"), 2, "--severity"),
    ((ADDR, "--policy", "fifo"), 2, "--policy applies to rule reaches-service"),
    ((ADDR, "--rule", "reaches-service", "--policy", "nope"), 2, "unknown taint policy"),
    ((ADDR, "--min-value", "abc"), 2, "--min-value 'abc' is not an amount"),
    ((ADDR, "--rule", "risk-above"), 2, "threshold"),
    ((ADDR, "--threshold", "5"), 2, "--threshold applies to rule risk-above"),
    ((ADDR, "--category", "exchange"), 2, "--category applies to"),
    ((ADDR, "--rule", "deposit", "--category", "nope"), 2, "--category: unknown category 'nope'"),
    (("category:exchange", "--rule", "reaches-service"), 2, "target 'category:exchange': rule reaches-service"),
    ((ADDR, "--case", "C-00000000"), 6, "--case C-00000000 is not a case you are a member of"),
    ((ADDR, "nothere"), 6, "target 'nothere'"),  # the good target before it is not stored either
])
def test_bad_targets_and_options(store: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], code: int,
                                 words: str) -> None:
    got, out, err = cli(capsys, store, "bob", "watch", "add", *args)
    assert got == code and words in err and len(err.strip().splitlines()) == 1, err
    assert cli_json(capsys, store, "bob", "watch", "list")["items"] == []


def test_risk_above_is_stored_and_evaluated(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, store, "bob", "watch", "add", ADDR, "--rule", "risk-above", "--threshold", "70")
    assert code == 0 and "not evaluated yet" not in out
    (item,) = cli_json(capsys, store, "bob", "watch", "list")["items"]
    assert item["evaluated"] is True and item["threshold"] == 70
    code, out, _ = cli(capsys, store, "bob", "watch", "add", "--help")
    assert "crosses --threshold upward" in " ".join(out.split())
