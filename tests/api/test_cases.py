"""The case routes (`/api/v1/cases`) on the shared real server: every route x every kind of caller,
a non-member told exactly what an unknown id gets, a whole case's life (open, seed, findings with
references, a saved trace and its reruns, notes, members, close), answers equal to the CLI's
`--json` on the same store, and the audit log naming the case without a note's text."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Server
from tests.api.support_cases import Crew, audit_records, crew, open_case, truth_case
from tests.api.support_live import cli_json, cli_out

UNKNOWN = "C-00000000"
_n = itertools.count()


@pytest.fixture(scope="module")
def people(api: Server) -> Crew:
    return crew(api, "cases")


@pytest.fixture(scope="module")
def matrix_case(api: Server, people: Crew) -> dict[str, str]:
    """A case with a seed and a saved trace (the matrix reads them)."""
    case = open_case(people, "Matrix case")
    seed = truth_case(api)["seed_txids"][0]
    with people.client("owner") as owner:
        r = owner.post(f"/api/v1/cases/{case}/seeds", json={"seed": seed, "note": "victim's payment"})
        assert r.status_code == 201, r.text
        r = owner.post(f"/api/v1/cases/{case}/traces", json={"seeds": [seed], "hops": 2})
        assert r.status_code == 201, r.text
    return {"case": case, "seed": seed, "trace": r.json()["id"]}


def _routes(case: str, trace: str, seed: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, method, path, request kwargs): kind `list` (no case), `read`, `write`, `owner` (owner-only write)."""
    base = f"/api/v1/cases/{case}"
    return [
        ("list", "GET", "/api/v1/cases", {}),
        ("list", "POST", "/api/v1/cases", {"json": {"title": "another case {n}"}}),
        ("read", "GET", base, {}),
        ("read", "GET", f"{base}/members", {}),
        ("read", "GET", f"{base}/traces/{trace}", {}),
        ("read", "POST", f"{base}/traces/{trace}/rerun", {}),
        ("write", "POST", f"{base}/seeds", {"json": {"seed": seed, "note": "again {n}"}}),
        ("write", "POST", f"{base}/notes", {"json": {"text": "note {n}"}}),
        ("write", "POST", f"{base}/findings", {"json": {"kind": "fact", "text": "fact {n}", "basis": f"tx {seed}"}}),
        ("write", "POST", f"{base}/traces", {"json": {"seeds": [seed], "hops": 1, "policy": "poison"}}),
        ("write", "POST", f"{base}/traces/{trace}/rerun", {"params": {"save": "true"}}),
        ("owner", "POST", f"{base}/members", {"json": {"user": "someone-{n}", "role": "viewer"}}),
    ]


def _fill(value: Any, n: int) -> Any:
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, dict):
        return {k: _fill(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, n) for v in value]
    return value


def test_every_case_route_every_caller(api: Server, people: Crew, matrix_case: dict[str, str], err) -> None:
    case = matrix_case["case"]
    callers: dict[str | None, httpx.Client] = {who: people.client(who) for who in
                                               ("owner", "member", "viewer", "stranger", "analyst", "auditor",
                                                "admin")}
    callers[None] = api.client(None)
    try:
        for kind, method, path, kwargs in _routes(case, matrix_case["trace"], matrix_case["seed"]):
            for who, client in callers.items():
                r = client.request(method, path, **_fill(kwargs, next(_n)))
                what = (who, method, path, r.text[:300])
                if who is None:
                    assert r.status_code == 401 and err(r)["code"] == "unauthenticated", what
                elif who in ("analyst", "auditor", "admin"):
                    assert r.status_code == 403 and err(r)["code"] == "forbidden", what
                elif kind == "list" or who == "owner" or (who == "member" and kind != "owner") \
                        or (who == "viewer" and kind == "read"):
                    assert 200 <= r.status_code < 300, what
                elif who == "stranger":
                    assert r.status_code == 404 and err(r) == {
                        "code": "not_found", "field": "case",
                        "message": f"case {case} is not a case you are a member of"}, what
                else:  # a viewer writing, a member managing members
                    assert r.status_code == 403 and err(r)["code"] == "forbidden" and err(r)["field"] == "case", what
    finally:
        for client in callers.values():
            client.close()
    closing = open_case(people, "Closed by its owner only")
    want = {None: 401, "analyst": 403, "auditor": 403, "admin": 403, "stranger": 404, "viewer": 403, "member": 403,
            "owner": 200}
    for who, status in want.items():
        with (people.client(who) if who else api.client(None)) as client:
            r = client.post(f"/api/v1/cases/{closing}/close")
            assert r.status_code == status, (who, r.text)
    with people.client("stranger") as stranger:
        assert case not in [c["id"] for c in stranger.get("/api/v1/cases").json()["cases"]]
    with people.client("viewer") as viewer:
        listed = {c["id"]: c["role"] for c in viewer.get("/api/v1/cases").json()["cases"]}
        assert listed[case] == "viewer"


def test_a_non_member_gets_exactly_the_unknown_case_answer(people: Crew, matrix_case: dict[str, str], err) -> None:
    case, trace = matrix_case["case"], matrix_case["trace"]
    asks = [("GET", "", {}), ("GET", "/members", {}), ("GET", f"/traces/{trace}", {}),
            ("POST", f"/traces/{trace}/rerun", {}), ("POST", "/notes", {"json": {"text": "x"}}),
            ("POST", "/close", {}), ("POST", "/members", {"json": {"user": "x1", "role": "member"}})]
    with people.client("stranger") as stranger, people.client("owner") as owner:
        for method, tail, kwargs in asks:
            theirs = stranger.request(method, f"/api/v1/cases/{case}{tail}", **kwargs)
            unknown = owner.request(method, f"/api/v1/cases/{UNKNOWN}{tail}", **kwargs)
            assert theirs.status_code == unknown.status_code == 404, (tail, theirs.text, unknown.text)
            assert json.loads(theirs.text.replace(case, "CASE")) == json.loads(unknown.text.replace(UNKNOWN, "CASE"))
            assert err(theirs)["field"] == "case"
        r = owner.get("/api/v1/cases/not-a-case")
        assert r.status_code == 422 and err(r)["field"] == "case"
        r = owner.get(f"/api/v1/cases/{case}/traces/T-00000000")
        assert r.status_code == 404 and err(r)["field"] == "trace"


def test_a_case_from_opening_to_closing(api: Server, people: Crew, err) -> None:
    truth = truth_case(api)
    seed_tx = truth["seed_txids"][0]
    victim = truth["seed_addresses"][0]
    with people.client("owner") as owner, people.client("member") as member:
        bad = owner.post("/api/v1/cases", json={"title": "  "})
        assert bad.status_code == 422 and err(bad)["field"] == "title"
        r = owner.post("/api/v1/cases", json={"title": "Ransomware <b>wave</b>", "agency": "Cyber Unit",
                                              "number": "CU-2026-17"})
        assert r.status_code == 201, r.text
        new = r.json()
        case = new["id"]
        assert (new["title"], new["agency"], new["case_number"], new["status"], new["role"], new["created_by"]) == (
            "Ransomware <b>wave</b>", "Cyber Unit", "CU-2026-17", "open", "owner", "investigator1")
        r = owner.post(f"/api/v1/cases/{case}/members", json={"user": people.names["member"]})
        assert r.status_code == 200 and {m["user"]: m["role"] for m in r.json()["members"]} == {
            "investigator1": "owner", people.names["member"]: "member"}
        for body, field in (({"seed": " "}, "seed"), ({"seed": seed_tx, "chain": "nochain"}, "chain"),
                            ({"seed": seed_tx, "facts": [1]}, "facts")):
            r = owner.post(f"/api/v1/cases/{case}/seeds", json=body)
            assert r.status_code in (404, 422) and err(r)["field"] == field, (body, r.text)
        r = owner.post(f"/api/v1/cases/{case}/seeds", json={"seed": "f" * 64})
        assert r.status_code == 404 and err(r)["field"] == "seed"
        r = owner.post(f"/api/v1/cases/{case}/seeds", json={"seed": seed_tx, "note": "paid the ransom",
                                                            "facts": {"amount_reported": "0.5 BTC"}})
        assert r.status_code == 201, r.text
        assert (r.json()["text"], r.json()["note"], r.json()["facts"]) == (seed_tx, "paid the ransom",
                                                                           {"amount_reported": "0.5 BTC"})
        r = owner.post(f"/api/v1/cases/{case}/seeds", json={"seed": victim})
        assert r.status_code == 201 and r.json()["text"] == victim
        r = member.post(f"/api/v1/cases/{case}/traces", json={"seeds": [seed_tx], "hops": 3, "policy": "fifo"})
        assert r.status_code == 201, r.text
        saved = r.json()
        trace = saved["id"]
        assert saved["created_by"] == people.names["member"] and saved["request"]["policy"] == "fifo"
        assert saved["state"]["tip_height"] is not None and saved["result"]["policy"] == "fifo"
        # the saved result is the trace the API's own trace route gives on the same store
        direct = member.post("/api/v1/btc-regtest/trace", json={"seeds": [seed_tx], "hops": 3, "policy": "fifo"})
        assert direct.status_code == 200
        assert saved["result"]["endpoints"] == direct.json()["endpoints"]
        assert owner.get(f"/api/v1/cases/{case}/traces/{trace}").json() == saved

        for body, field in (({"kind": "guess", "text": "t", "basis": "b"}, "kind"),
                            ({"kind": "inference", "text": "t", "basis": "b", "confidence": 2}, "confidence"),
                            ({"kind": "inference", "text": "t", "basis": "b"}, "confidence"),
                            ({"kind": "fact", "text": "t", "basis": "b", "confidence": 0.5}, "confidence"),
                            ({"kind": "fact", "text": "t"}, "basis"),
                            ({"kind": "fact", "text": "t", "basis": "b", "refs": ["tx:" + "0" * 64]}, "refs"),
                            ({"kind": "fact", "text": "t", "basis": "b", "refs": ["trace:T-00000000"]}, "refs"),
                            ({"kind": "fact", "text": "t", "basis": "b", "color": "red"}, "color")):
            r = owner.post(f"/api/v1/cases/{case}/findings", json=body)
            assert r.status_code == 422 and err(r)["field"] == field, (body, r.text)
        refs = [f"tx:{seed_tx}", f"trace:{trace}"]
        r = owner.post(f"/api/v1/cases/{case}/findings", json={
            "kind": "fact", "text": "The victim paid the ransom address.", "basis": f"transaction {seed_tx}",
            "refs": refs})
        assert r.status_code == 201, r.text
        assert (r.json()["kind"], r.json()["refs"], r.json()["confidence"]) == ("fact", refs, None)
        r = member.post(f"/api/v1/cases/{case}/findings", json={
            "kind": "inference", "text": "The cash-out went to exchange A.", "basis": "tag of the endpoint",
            "confidence": 0.8, "source": "sim truth"})
        assert r.status_code == 201 and r.json()["confidence"] == 0.8
        r = owner.post(f"/api/v1/cases/{case}/notes", json={"text": "Called the victim.\nSecond line."})
        assert r.status_code == 201 and r.json()["text"] == "Called the victim.\nSecond line."

        rerun = owner.post(f"/api/v1/cases/{case}/traces/{trace}/rerun")
        assert rerun.status_code == 200, rerun.text
        assert (rerun.json()["changed"], rerun.json()["saved_as"]) == (False, None)
        rerun = owner.post(f"/api/v1/cases/{case}/traces/{trace}/rerun", params={"save": "true"})
        assert rerun.status_code == 201 and rerun.json()["saved_as"].startswith("T-")

        detail = owner.get(f"/api/v1/cases/{case}").json()
        assert [s["text"] for s in detail["seeds"]] == [seed_tx, victim]
        assert [f["kind"] for f in detail["findings"]] == ["fact", "inference"]
        assert [n["author"] for n in detail["notes"]] == ["investigator1"]
        assert [(t["id"], t["rerun_of"]) for t in detail["traces"]] == [
            (trace, None), (rerun.json()["saved_as"], trace)]

        assert member.post(f"/api/v1/cases/{case}/close").status_code == 403  # the owner closes
        r = owner.post(f"/api/v1/cases/{case}/close")
        assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_by"] == "investigator1"
        for path, body in (("seeds", {"seed": victim}), ("notes", {"text": "late"}),
                           ("findings", {"kind": "fact", "text": "t", "basis": "b"}),
                           ("traces", {"seeds": [seed_tx], "hops": 1})):
            r = member.post(f"/api/v1/cases/{case}/{path}", json=body)
            assert r.status_code == 422 and err(r)["field"] == "case" and "closed" in err(r)["message"], (path, r.text)
        for r in (member.post(f"/api/v1/cases/{case}/attachments", files={"file": ("late.txt", b"late")}),
                  member.post(f"/api/v1/cases/{case}/tags", json={"address": victim, "label": "late",
                                                                  "category": "scam", "currency": "BTC-REGTEST"})):
            assert r.status_code == 422 and err(r)["field"] == "case", r.text
        assert owner.get(f"/api/v1/cases/{case}").json()["status"] == "closed"  # still readable
        assert len(owner.get(f"/api/v1/cases/{case}").json()["notes"]) == 1


def test_answers_equal_the_cli(api: Server, people: Crew, matrix_case: dict[str, str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    case, trace = matrix_case["case"], matrix_case["trace"]
    with people.client("owner") as owner, people.client("viewer") as viewer:
        assert owner.get(f"/api/v1/cases/{case}").json() == cli_json(
            capsys, api.store, "case", "show", case, "--json", user="investigator1")
        assert owner.get("/api/v1/cases").json() == cli_json(capsys, api.store, "case", "list", "--json",
                                                             user="investigator1")
        assert viewer.get(f"/api/v1/cases/{case}").json() == cli_json(
            capsys, api.store, "case", "show", case, "--json", user=people.names["viewer"])
        assert viewer.get(f"/api/v1/cases/{case}/members").json() == cli_json(
            capsys, api.store, "case", "members", case, "--json", user=people.names["viewer"])
        ours = owner.post(f"/api/v1/cases/{case}/traces/{trace}/rerun").json()
        theirs = cli_json(capsys, api.store, "case", "rerun", case, trace, "--json", user="investigator1")
        for doc in (ours, theirs):
            doc["state"].pop("computed_at")
            doc["result"].pop("elapsed_ms", None)
        assert ours == theirs
    assert cli_out(capsys, api.store, "case", "show", case, user=people.names["stranger"], code=6) == ""


def test_audit_names_the_case_and_never_a_text(api: Server, people: Crew, matrix_case: dict[str, str]) -> None:
    case = matrix_case["case"]
    secret = "The informant is called Zhang Wei"
    with people.client("member") as member, people.client("stranger") as stranger:
        assert member.post(f"/api/v1/cases/{case}/notes", json={"text": secret}).status_code == 201
        assert member.post(f"/api/v1/cases/{case}/findings", json={
            "kind": "inference", "text": secret, "basis": secret, "confidence": 0.5}).status_code == 201
        assert member.post(f"/api/v1/cases/{case}/notes", json={"text": secret, "extra": 1}).status_code == 422
        assert member.get(f"/api/v1/cases/{case}").status_code == 200
        assert stranger.get(f"/api/v1/cases/{case}").status_code == 404
        assert member.get("/api/v1/cases/not-a-case").status_code == 422
    records = audit_records(api)
    assert secret not in json.dumps(records)
    ours = [r for r in records if r["action"].startswith(("GET /api/v1/cases/{case}", "POST /api/v1/cases/{case}"))]
    assert len(ours) >= 6  # at least this test's and the fixture's; with the matrix before it, refused ones too
    # the case id (as given, even a malformed one) is every record's first subject, never a parameter
    assert all(r["subjects"] and "case" not in r["params"] for r in ours), [r for r in ours if not r["subjects"]][:3]
    assert {r["subjects"][0] for r in ours} >= {case, "not-a-case"}
    notes = [r for r in ours if r["action"] == "POST /api/v1/cases/{case}/notes" and r["user"] == people.names["member"]
             and r["subjects"][0] == case]
    assert notes[-2]["params"]["text_chars"] == len(secret) and notes[-2]["outcome"] == "ok"
    assert notes[-1]["outcome"] == "bad_request" and notes[-1]["subjects"] == [case]
    refused = [r for r in ours if r["user"] == people.names["stranger"] and r["action"] == "GET /api/v1/cases/{case}"]
    assert refused[-1]["subjects"] == [case] and refused[-1]["status"] == 404
    made = [r for r in records if r["action"] == "POST /api/v1/cases" and r["status"] == 201]
    assert made and all(r["subjects"] and r["subjects"][0].startswith("C-") for r in made)


def test_bad_input_names_the_field(api: Server, people: Crew, matrix_case: dict[str, str], err) -> None:
    case, trace, seed = matrix_case["case"], matrix_case["trace"], matrix_case["seed"]
    base = f"/api/v1/cases/{case}"
    table: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/api/v1/cases/not-a-case", {}, 422, "case"),
        ("GET", f"/api/v1/cases/C-{'0' * 70}", {}, 422, "case"),
        ("POST", "/api/v1/cases", {"json": {}}, 422, "title"),
        ("POST", "/api/v1/cases", {"json": {"title": "two\nlines"}}, 422, "title"),
        ("POST", "/api/v1/cases", {"json": {"title": "t", "agency": "x" * 201}}, 422, "agency"),
        ("POST", "/api/v1/cases", {"json": {"title": "t", "number": 17}}, 422, "number"),
        ("POST", "/api/v1/cases", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422,
         "body"),
        ("POST", "/api/v1/cases", {"json": ["title"]}, 422, "body"),
        ("POST", f"{base}/members", {"json": {"user": "bad name!"}}, 422, "user"),
        ("POST", f"{base}/members", {"json": {"user": "x1", "role": "owner"}}, 422, "role"),
        ("POST", f"{base}/seeds", {"json": {}}, 422, "seed"),
        ("POST", f"{base}/seeds", {"json": {"seed": ""}}, 422, "seed"),
        ("POST", f"{base}/seeds", {"json": {"seed": "no-such-thing"}}, 404, "seed"),
        ("POST", f"{base}/seeds", {"json": {"seed": seed, "note": "x" * 20_001}}, 422, "note"),
        ("POST", f"{base}/notes", {"json": {"text": " "}}, 422, "text"),
        ("POST", f"{base}/notes", {"json": {"text": "x" * 20_001}}, 422, "text"),
        ("POST", f"{base}/notes", {"json": {"body": "x"}}, 422, "text"),
        ("POST", f"{base}/findings", {"json": {"kind": "inference", "text": "t", "basis": "b",
                                               "confidence": "high"}}, 422, "confidence"),
        ("POST", f"{base}/findings", {"json": {"kind": "fact", "text": "t", "basis": "b", "refs": ["tx:abc"]}}, 422,
         "refs"),
        ("POST", f"{base}/findings", {"json": {"kind": "fact", "text": "t", "basis": "b", "refs": "tx:abc"}}, 422,
         "refs"),
        ("POST", f"{base}/findings", {"json": {"kind": "fact", "text": "", "basis": "b"}}, 422, "text"),
        ("POST", f"{base}/traces", {"json": {"seeds": [seed], "policy": "magic"}}, 422, "policy"),
        ("POST", f"{base}/traces", {"json": {"seeds": [seed], "hops": "many"}}, 422, "hops"),
        ("POST", f"{base}/traces", {"json": {"seeds": [seed], "chain": "nochain"}}, 404, "chain"),
        ("POST", f"{base}/traces", {"json": {"hops": 2}}, 422, "seeds"),
        ("GET", f"{base}/traces/not-a-trace", {}, 422, "trace"),
        ("POST", f"{base}/traces/{trace}/rerun", {"params": {"save": "maybe"}}, 422, "save"),
        ("POST", f"{base}/traces/T-00000000/rerun", {}, 404, "trace"),
        ("GET", f"{base}/export", {"params": {"format": "xml"}}, 422, "format"),
        ("GET", f"{base}/report", {"params": {"lang": "de"}}, 422, "lang"),
        ("GET", f"{base}/report", {"params": {"format": "odt"}}, 422, "format"),
        ("GET", f"{base}/letters", {"params": {"lang": "de"}}, 422, "lang"),
        ("GET", f"{base}/bundles/{'z' * 64}", {}, 422, "hash"),
        ("GET", f"{base}/attachments/not-an-id", {}, 422, "attachment"),
        ("POST", f"{base}/attachments", {"content": b"raw", "headers": {"content-type": "text/plain"}}, 422, "file"),
        ("POST", f"{base}/attachments", {"files": [("file", ("a", b"a")), ("file", ("b", b"b"))]}, 422, "file"),
        ("POST", f"{base}/attachments", {"content": b"--x\r\nbroken", "headers": {
            "content-type": "multipart/form-data; boundary=x"}}, 422, "file"),
        ("POST", f"{base}/layouts", {"json": {}}, 422, "graph_id"),
        ("POST", f"{base}/tags", {"json": {"address": seed, "label": "x"}}, 422, "category"),
    ]
    wrong = []
    with people.client("owner") as owner:
        for method, path, kwargs, status, field in table:
            r = owner.request(method, path, **kwargs)
            what = f"{method} {path[-40:]} {str(kwargs)[:90]}"
            if r.status_code < 400:
                wrong.append(f"{what}: accepted")
                continue
            e = err(r)
            assert e["message"] and "\n" not in str(e["message"]), (what, e)
            if (r.status_code, e["field"]) != (status, field):
                wrong.append(f"{what}: got {r.status_code} {e['code']} {e['field']} ({e['message']})")
        r = owner.post("/api/v1/verify", data={"expect": "0" * 64})
        if (r.status_code, err(r)["field"]) != (422, "file"):
            wrong.append(f"verify without a file: {r.status_code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)


def test_too_large_uploads_and_bodies(tight: Server, err) -> None:
    """On this server a body may hold 1 MB (`api_max_body_mb`) and an uploaded file 3 MB
    (`api_max_upload_mb`): a 2 MB note is refused, a 2 MB attachment is taken whole, a 4 MB one and
    a 4 MB bundle to verify are refused; each refusal is 413 on `body` naming its setting."""
    body = bytes(range(256)) * (8 * 1024)  # 2 MiB
    with tight.client("investigator") as c:
        case = c.post("/api/v1/cases", json={"title": "limits"}).json()["id"]
        for path, kwargs, setting in (
                (f"/api/v1/cases/{case}/notes", {"json": {"text": "x" * (2 << 20)}}, "api_max_body_mb"),
                (f"/api/v1/cases/{case}/attachments", {"files": {"file": ("big.bin", body * 2)}}, "api_max_upload_mb"),
                ("/api/v1/verify", {"files": {"file": ("big.zip", body * 2)}}, "api_max_upload_mb")):
            r = c.post(path, **kwargs)
            assert r.status_code == 413 and (err(r)["code"], err(r)["field"]) == ("too_large", "body"), path
            assert setting in err(r)["message"], r.text
        detail = c.get(f"/api/v1/cases/{case}").json()
        assert detail["notes"] == [] and detail["attachments"] == []
        r = c.post(f"/api/v1/cases/{case}/attachments", files={"file": ("ok.bin", body, "application/octet-stream")})
        assert r.status_code == 201, r.text
        assert (r.json()["sha256"], r.json()["bytes"]) == (hashlib.sha256(body).hexdigest(), len(body))
