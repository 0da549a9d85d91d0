"""Helpers of the case route tests: users made through the admin API (a second investigator who is no
member, one who is a viewer, one who is a plain member), a case with a seed, and the audit log read
back through `GET /api/v1/audit`."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import Server


@dataclass
class Crew:
    """Who acts in a module's cases: the owner (`investigator1` of the conftest) and three more
    investigators (`member`, `viewer`, `stranger`, the last in no case), each with a token."""

    api: Server
    tokens: dict[str, str]
    names: dict[str, str]

    def client(self, who: str) -> httpx.Client:
        """A client acting as `who` (owner, member, viewer, stranger, or a conftest role name)."""
        if who in self.tokens:
            return httpx.Client(base_url=self.api.url, headers={"Authorization": f"Bearer {self.tokens[who]}"},
                                timeout=120)
        return self.api.client(who)


def crew(api: Server, prefix: str) -> Crew:
    """Three investigators `<prefix>-member`, `-viewer`, `-stranger`, made by the admin through the API."""
    tokens = {"owner": api.tokens["investigator"]}
    names = {"owner": "investigator1"}
    with api.client("admin") as admin:
        for who in ("member", "viewer", "stranger"):
            name = f"{prefix}-{who}"
            r = admin.post("/api/v1/users", json={"name": name, "role": "investigator"})
            assert r.status_code == 201, r.text
            r = admin.post("/api/v1/tokens", json={"user": name})
            assert r.status_code == 201, r.text
            tokens[who], names[who] = r.json()["token"], name
    return Crew(api, tokens, names)


def open_case(c: Crew, title: str) -> str:
    """A case of the owner with `member` as a member and `viewer` as a viewer; its id."""
    with c.client("owner") as owner:
        r = owner.post("/api/v1/cases", json={"title": title, "agency": "Test Police", "number": "TP-1"})
        assert r.status_code == 201, r.text
        case = str(r.json()["id"])
        for who, role in (("member", "member"), ("viewer", "viewer")):
            r = owner.post(f"/api/v1/cases/{case}/members", json={"user": c.names[who], "role": role})
            assert r.status_code == 200, r.text
    return case


def truth_case(api: Server) -> dict[str, Any]:
    """The simulator's ransomware case (seed txids, cash-out points)."""
    return dict(json.loads((api.sim / "truth" / "cases" / "ransomware-1.json").read_text()))


def truth_rows(sim: Path, name: str) -> list[dict[str, str]]:
    with open(sim / "truth" / name) as fh:
        return list(csv.DictReader(fh))


def audit_records(api: Server, *, user: str | None = None, limit: int = 2000) -> list[dict[str, Any]]:
    """The newest audit records (of `user`), read by the auditor through the API."""
    params: dict[str, Any] = {"limit": limit} | ({"user": user} if user else {})
    with api.client("auditor") as c:
        r = c.get("/api/v1/audit", params=params)
        assert r.status_code == 200, r.text
        return list(r.json()["records"])
