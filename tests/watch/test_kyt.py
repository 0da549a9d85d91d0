"""KYT registration through the service layer: a transfer the ingest's rules already alerted on is
reported, not alerted twice (one idempotency key); a transaction not ingested yet is a 404 on
`txid` that works once it is; a read-only workspace assesses but never registers; an assessment
is only accepted for its own request. Oracles: the simulator's answer key (cash-out points) and
the raw blocks parsed by the tests' own parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import NotFoundError, StoreError, UsageError
from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.kyt_models import KytTransferRequest


def _ws(store: Path, user: str, *, writable: bool = True) -> Workspace:
    return Workspace.open(Settings.load(store=store), writable=writable, actor=Actor(user=user, via="python"))


def _count(store: Path, table: str) -> int:
    with Store(store).connect(read_only=True) as con:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_kyt_after_the_ingest_alerted_reports_the_same_alert(world: dict[str, Any], store: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    by_txid = {t["txid"]: t for t in world["txs"]}
    tail_cps = [p for p in world["truth"]["cashout_points"] if by_txid[p["first_txid"]]["height"] > world["head_tip"]]
    assert tail_cps, "the simulated case cashes out in the tail blocks"
    cp = tail_cps[0]
    tx = by_txid[cp["first_txid"]]
    req = KytTransferRequest(txid=cp["first_txid"], address=cp["address"], direction="received",
                             customer_ref="acct-77")
    item = _ws(store, "dora").watch_add(["category:exchange"], rule="deposit").items[0]
    with pytest.raises(NotFoundError) as missing:
        _ws(store, "dora").kyt_register(req)  # not ingested yet
    assert missing.value.field == "txid" and _count(store, "kyt_transfers") == 0
    for f in world["tail"]:
        assert main(["-q", "--store", str(store), "ingest", "bitcoin", "--raw", str(f)]) == 0
    capsys.readouterr()
    ws = _ws(store, "dora")
    raised = [a for a in ws.alerts_list(item=item.id, limit=1000).alerts if a.txid == cp["first_txid"]]
    assert len(raised) == 1, "the ingest's deposit rule alerted on the cash-out"
    n_alerts = _count(store, "alerts")
    # read-only: assessed, never registered
    ro = _ws(store, "dora", writable=False)
    assessed = ro.kyt_assess(req)
    paid = [(n, v) for n, (v, a) in enumerate(tx["outputs"]) if a == cp["address"]]
    assert assessed.outputs == [f"{cp['first_txid']}:{n}" for n, _ in paid]
    assert paid and assessed.amount == str(sum(v for _, v in paid))
    with pytest.raises(StoreError):
        ro.kyt_register(req, assessment=assessed)
    other = req.model_copy(update={"customer_ref": "acct-78"})
    with pytest.raises(UsageError) as wrong:
        ws.kyt_register(other, assessment=assessed)
    assert wrong.value.field == "assessment"
    reg = ws.kyt_register(req, assessment=assessed)
    assert reg.created and [(a.id, a.item_id, a.new) for a in reg.alerts] == [(raised[0].id, item.id, False)]
    assert _count(store, "alerts") == n_alerts  # the same event: no second alert
    again = ws.kyt_register(req)
    assert not again.created and again.transfer_id == reg.transfer_id and again.alerts == reg.alerts
    assert _count(store, "kyt_transfers") == 1
    # another user registering the same transfer sees none of dora's items' alerts, only their count
    theirs = _ws(store, "erin").kyt_register(req)
    assert theirs.transfer_id == reg.transfer_id and theirs.alerts == [] and theirs.alerts_hidden == 1
