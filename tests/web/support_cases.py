"""A case for the workbench's route-wide tests: opened by the `investigator` user on a store, with a
seed and a saved trace, so that `/cases/{case}` and `/cases/{case}/traces/{trace}/...` have real
values for a member (test_security.py's role matrix asks every page with them).

    from web.support_cases import member_case
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fundtrail.settings import Settings
from fundtrail.workspace import Actor, TraceRequest, Workspace


def member_case(store: Path, seed: str, *, user: str = "investigator") -> dict[str, str]:
    """`{"case": id, "trace": id}` of a new case `user` owns on `store`, with `seed` (an address,
    `TXID:VOUT` or txid the store holds) as its seed and a haircut trace of it saved."""
    actor = Actor(user=user, role="investigator", via="python")
    ws: Any = Workspace.open(Settings.load(store=store), writable=True, actor=actor)
    made = ws.case_new("Route check", agency="Test unit", number="T-1")
    added = ws.case_add_seed(made.id, seed)
    saved = ws.case_trace(made.id, TraceRequest(seeds=[added.text], chain=added.chain, policy="haircut"))
    return {"case": made.id, "trace": saved.id}
