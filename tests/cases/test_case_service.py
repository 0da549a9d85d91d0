"""CaseOps through the Python API on a CLI-built store: seeds of each kind, facts, access rules."""

from __future__ import annotations

from typing import Any

import pytest

from fundtrail.errors import NotFoundError, PermissionDenied, StoreError, UsageError
from fundtrail.workspace import Actor, CaseDetail, Workspace


def ws_of(built: dict[str, Any], user: str, *, writable: bool = True) -> Workspace:
    return Workspace.open(store=built["store"], writable=writable, actor=Actor(user=user))


def test_seeds_of_every_kind_are_kept_canonical_with_facts(built: dict[str, Any]) -> None:
    ws = ws_of(built, "olga")
    case = ws.case_new("Seeds", agency=None, number=None)
    assert (case.agency, case.case_number) == (None, None)
    truth = built["truth"]
    address, txid, out = truth["seed_addresses"][0], truth["seed_txids"][0], truth["seed_outputs"][0]
    a = ws.case_add_seed(case.id, f"  {address} ", facts={"victim": "paid 0.5 BTC", "when": "2026-05-01"})
    t = ws.case_add_seed(case.id, txid.upper(), chain="btc-regtest")
    o = ws.case_add_seed(case.id, f"{out['txid']}:{out['vout']}", note="ransom payment")
    assert (a.text, a.facts) == (address, {"victim": "paid 0.5 BTC", "when": "2026-05-01"})
    assert (t.text, t.chain, t.facts) == (txid.lower(), "btc-regtest", {})
    assert (o.text, o.note) == (f"{out['txid']}:{out['vout']}", "ransom payment")
    detail = ws.case_get(case.id)
    assert [s.id for s in detail.seeds] == [a.id, t.id, o.id]
    assert CaseDetail.model_validate_json(detail.model_dump_json()) == detail
    with pytest.raises(NotFoundError) as err:
        ws.case_add_seed(case.id, txid, chain="nochain")
    assert err.value.field == "chain" or "nochain" in err.value.one_line()
    with pytest.raises(UsageError) as bad:
        ws.case_add_seed(case.id, txid, facts=["not", "a", "dict"])  # type: ignore[arg-type]
    assert bad.value.field == "facts"


def test_access_rules(built: dict[str, Any]) -> None:
    owner, other = ws_of(built, "pat"), ws_of(built, "quinn")
    case = owner.case_new("Rules")
    with pytest.raises(NotFoundError) as hidden:
        other.case_get(case.id)
    unknown = "C-ffffffff" if case.id != "C-ffffffff" else "C-fffffffe"
    with pytest.raises(NotFoundError) as missing:
        other.case_get(unknown)
    assert hidden.value.field == missing.value.field == "case"
    assert hidden.value.one_line().replace(case.id, "X") == missing.value.one_line().replace(unknown, "X")
    owner.case_set_member(case.id, "quinn", role="viewer")
    assert other.case_get(case.id).role == "viewer"
    with pytest.raises(PermissionDenied):
        other.case_finding(case.id, "fact", "x", basis="y")
    owner.case_set_member(case.id, "quinn", role="member")
    assert other.case_finding(case.id, "fact", "x", basis="y").confidence is None
    assert [c.id for c in other.case_list().cases].count(case.id) == 1
    reader = ws_of(built, "pat", writable=False)
    assert reader.case_get(case.id).findings[0].created_by == "quinn"
    with pytest.raises(StoreError):
        reader.case_note(case.id, "read-only workspace")
