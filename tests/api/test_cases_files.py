"""The case routes that move files, on the shared real server: attachments round-trip byte for byte
with their SHA-256, proposed tags and saved layouts, exports, evidence bundles (made, listed,
downloaded by hash, verified by upload), the court report and the letters; each for members,
viewers and non-members, with the audit record naming the file, never its contents."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.api.conftest import Server
from tests.api.support_cases import Crew, audit_records, crew, open_case, truth_case
from tests.api.support_live import cli_json, cli_out, drop


@pytest.fixture(scope="module")
def people(api: Server) -> Crew:
    return crew(api, "files")


@pytest.fixture(scope="module")
def case(api: Server, people: Crew) -> dict[str, Any]:
    """A case with a seed, a fact and an inference, and a saved trace (fifo)."""
    cid = open_case(people, "Files case <script>alert(1)</script>")
    seed = truth_case(api)["seed_txids"][0]
    with people.client("owner") as owner:
        assert owner.post(f"/api/v1/cases/{cid}/seeds", json={"seed": seed}).status_code == 201
        r = owner.post(f"/api/v1/cases/{cid}/traces", json={"seeds": [seed], "hops": 4, "policy": "fifo"})
        assert r.status_code == 201, r.text
        trace = r.json()
        assert owner.post(f"/api/v1/cases/{cid}/findings", json={
            "kind": "fact", "text": "The ransom was paid in one transaction.", "basis": f"transaction {seed}",
            "refs": [f"tx:{seed}", f"trace:{trace['id']}"]}).status_code == 201
        assert owner.post(f"/api/v1/cases/{cid}/findings", json={
            "kind": "inference", "text": "The funds reached an exchange.", "basis": "endpoint tag",
            "confidence": 0.7, "source": "analyst"}).status_code == 201
    return {"id": cid, "seed": seed, "trace": trace}


def _disposition_name(header: str) -> str:
    assert header.startswith("attachment;"), header
    star = header.split("filename*=UTF-8''", 1)[1]
    return unquote(star)


def test_attachments_round_trip_byte_for_byte(api: Server, people: Crew, case: dict[str, Any], err) -> None:
    cid = case["id"]
    body = bytes(range(256)) * 40 + "Zeugenaussage: ÄÖÜ 证词".encode()
    name = 'victim "statement" 证词.bin'
    with people.client("member") as member, people.client("viewer") as viewer, \
            people.client("stranger") as stranger:
        r = member.post(f"/api/v1/cases/{cid}/attachments", files={"file": (name, body, "application/octet-stream")},
                        data={"note": "from the victim"})
        assert r.status_code == 201, r.text
        rec = r.json()
        assert (rec["name"], rec["bytes"], rec["sha256"], rec["note"]) == (
            name, len(body), hashlib.sha256(body).hexdigest(), "from the victim")
        for client in (member, viewer):
            got = client.get(f"/api/v1/cases/{cid}/attachments/{rec['id']}")
            assert got.status_code == 200 and got.content == body
            assert got.headers["x-content-sha256"] == hashlib.sha256(body).hexdigest()
            assert _disposition_name(got.headers["content-disposition"]) == name
            assert '"' not in got.headers["content-disposition"].split("filename=", 1)[1].split(";")[0].strip('"')
        assert rec["id"] in [a["id"] for a in viewer.get(f"/api/v1/cases/{cid}").json()["attachments"]]
        r = viewer.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("x.txt", b"x")})
        assert r.status_code == 403 and err(r)["code"] == "forbidden"
        for r in (stranger.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("x.txt", b"x")}),
                  stranger.get(f"/api/v1/cases/{cid}/attachments/{rec['id']}")):
            assert r.status_code == 404 and err(r)["field"] == "case"
        r = member.post(f"/api/v1/cases/{cid}/attachments", json={"file": "x"})
        assert r.status_code == 422 and err(r)["field"] == "file"
        r = member.post(f"/api/v1/cases/{cid}/attachments", data={"note": "no file"}, files={"other": ("a", b"a")})
        assert r.status_code == 422 and err(r)["field"] == "file"
        r = member.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("../etc/passwd", b"x")})
        assert r.status_code == 422 and err(r)["field"] == "name"
        r = member.get(f"/api/v1/cases/{cid}/attachments/A-00000000")
        assert r.status_code == 404
        # a body changed on the server's disk is refused, not handed out as evidence
        stored = api.store / "cases" / cid / "attachments" / rec["sha256"]
        original = stored.read_bytes()
        stored.chmod(0o600)
        stored.write_bytes(original[:-1] + b"!")
        try:
            r = member.get(f"/api/v1/cases/{cid}/attachments/{rec['id']}")
            assert r.status_code == 422 and err(r)["code"] == "bad_data", r.text
        finally:
            stored.write_bytes(original)
    records = [r for r in audit_records(api, user=people.names["member"])
               if r["action"] == "POST /api/v1/cases/{case}/attachments" and r["status"] == 201]
    assert records[-1]["subjects"] == [cid] and records[-1]["params"]["bytes"] == len(body)
    assert records[-1]["params"]["name"] == name and "Zeugenaussage" not in json.dumps(records)


def test_proposed_tags(api: Server, people: Crew, case: dict[str, Any], err) -> None:
    cid = case["id"]
    address = truth_case(api)["seed_addresses"][1]
    tag = {"address": address, "label": "ransom collector <b>", "category": "ransomware", "currency": "BTC-REGTEST",
           "confidence": "forensic"}
    with people.client("member") as member, people.client("viewer") as viewer:
        r = member.post(f"/api/v1/cases/{cid}/tags", json=tag)
        assert r.status_code == 201, r.text
        assert member.post(f"/api/v1/cases/{cid}/tags", json=tag).status_code == 200  # the same claim
        tags = member.get(f"/api/v1/cases/{cid}").json()["tags"]
        assert [(t["address"], t["label"], t["creator"]) for t in tags] == [
            (address, "ransom collector <b>", people.names["member"])]
        r = member.post(f"/api/v1/cases/{cid}/tags", json={**tag, "creator": "someone-else"})
        assert r.status_code == 422 and err(r)["field"] == "creator"
        r = member.post(f"/api/v1/cases/{cid}/tags", json={**tag, "case": "C-11111111"})
        assert r.status_code == 422 and err(r)["field"] == "case"
        assert viewer.post(f"/api/v1/cases/{cid}/tags", json=tag).status_code == 403


def test_saved_layouts(api: Server, people: Crew, case: dict[str, Any], err) -> None:
    cid = case["id"]
    with people.client("member") as member, people.client("owner") as owner:
        g = member.post("/api/v1/graphs", json={"name": "ransom flow", "chain": "btc-regtest",
                                                "document": {"nodes": []}})
        assert g.status_code == 201, g.text
        r = member.post(f"/api/v1/cases/{cid}/layouts", json={"graph_id": g.json()["id"]})
        assert r.status_code == 201, r.text
        assert [(x["graph_id"], x["name"]) for x in r.json()["layouts"]] == [(g.json()["id"], "ransom flow")]
        r = owner.post(f"/api/v1/cases/{cid}/layouts", json={"graph_id": g.json()["id"]})  # not the owner's graph
        assert r.status_code == 404, r.text


def test_exports(people: Crew, case: dict[str, Any], err) -> None:
    cid = case["id"]
    with people.client("viewer") as viewer, people.client("stranger") as stranger:
        r = viewer.get(f"/api/v1/cases/{cid}/export", params={"format": "json"})
        assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment;")
        doc = r.json()
        assert cid in json.dumps(doc) and "The funds reached an exchange." in json.dumps(doc)
        r = viewer.get(f"/api/v1/cases/{cid}/export", params={"format": "csv"})
        assert r.status_code == 200
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            assert any(n.endswith(".csv") for n in zf.namelist())
        r = viewer.get(f"/api/v1/cases/{cid}/export", params={"format": "ftm"})
        assert r.status_code == 200
        entities = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        assert entities and {"CryptoWallet", "Payment"} <= {e["schema"] for e in entities}
        r = viewer.get(f"/api/v1/cases/{cid}/export", params={"format": "tagpack"})
        assert r.status_code == 200 and "tags:" in r.text
        r = viewer.get(f"/api/v1/cases/{cid}/export", params={"format": "xlsx"})
        assert r.status_code == 422 and err(r)["field"] == "format"
        r = stranger.get(f"/api/v1/cases/{cid}/export")
        assert r.status_code == 404 and err(r)["field"] == "case"


def test_bundles_made_listed_downloaded_and_verified(api: Server, people: Crew, case: dict[str, Any], err) -> None:
    cid = case["id"]
    with people.client("member") as member, people.client("viewer") as viewer, \
            people.client("stranger") as stranger, api.client("analyst") as analyst:
        r = member.post(f"/api/v1/cases/{cid}/bundles")
        assert r.status_code == 201, r.text
        made = r.json()
        digest = made["bundle_hash"]
        kept = api.store / "cases" / cid / "bundles" / f"{digest}.zip"
        assert kept.is_file() and not [p for p in kept.parent.iterdir() if p.name.startswith(".tmp")]
        listed = viewer.get(f"/api/v1/cases/{cid}/bundles")
        assert listed.status_code == 200 and digest in listed.text
        got = viewer.get(f"/api/v1/cases/{cid}/bundles/{digest}")
        assert got.status_code == 200 and got.content == kept.read_bytes()
        with zipfile.ZipFile(io.BytesIO(got.content)) as zf:  # the oracle: the format's own definition
            assert hashlib.sha256(zf.read("SHA256SUMS")).hexdigest() == digest
        for bad, code in (("ABC", 422), ("0" * 64, 404)):
            r = viewer.get(f"/api/v1/cases/{cid}/bundles/{bad}")
            assert r.status_code == code and err(r)["field"] == "hash", r.text
        assert stranger.get(f"/api/v1/cases/{cid}/bundles/{digest}").status_code == 404
        assert viewer.post(f"/api/v1/cases/{cid}/bundles").status_code == 201  # bundling reads the case
        # the report names a kept bundle's hash on its cover
        r = viewer.get(f"/api/v1/cases/{cid}/report", params={"format": "html", "bundle": digest})
        assert r.status_code == 200 and digest in r.text

        r = analyst.post("/api/v1/verify", files={"file": ("case.zip", got.content)}, data={"expect": digest})
        assert r.status_code == 200 and r.json()["ok"] is True, r.text[:500]
        tampered = _tamper(got.content)
        r = analyst.post("/api/v1/verify", files={"file": ("case.zip", tampered)})
        assert r.status_code == 200 and r.json()["ok"] is False
        r = analyst.post("/api/v1/verify", files={"file": ("case.zip", got.content)}, data={"expect": "0" * 64})
        assert r.status_code == 200 and r.json()["ok"] is False
        r = analyst.post("/api/v1/verify", files={"file": ("junk.zip", b"not a zip at all")})
        assert r.status_code == 200 and (r.json()["ok"], r.json()["readable"], r.json()["path"]) == (
            False, False, "junk.zip")
        with api.client("auditor") as auditor:
            assert auditor.post("/api/v1/verify", files={"file": ("case.zip", got.content)}).status_code == 403


def _tamper(bundle: bytes) -> bytes:
    """The bundle with one byte of the manifest changed (SHA256SUMS left as it was)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                data = data.replace(b"fundtrail", b"fundtrai1", 1)
            dst.writestr(info, data)
    return out.getvalue()


def test_report_and_letters(api: Server, people: Crew, case: dict[str, Any], err) -> None:
    cid = case["id"]
    with people.client("viewer") as viewer, people.client("stranger") as stranger:
        r = viewer.get(f"/api/v1/cases/{cid}/report", params={"format": "html", "lang": "en"})
        assert r.status_code == 200, r.text[:300]
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
        assert "The ransom was paid in one transaction." in r.text
        r = viewer.get(f"/api/v1/cases/{cid}/report", params={"lang": "zh_CN"})
        assert r.status_code == 200 and r.content.startswith(b"%PDF") and r.headers["content-type"] == "application/pdf"
        for params, field in (({"lang": "fr"}, "lang"), ({"format": "docx"}, "format"), ({"bundle": "xyz"}, "bundle"),
                              ({"bundle": "0" * 64}, "bundle")):
            r = viewer.get(f"/api/v1/cases/{cid}/report", params=params)
            assert r.status_code in (404, 422) and err(r)["field"] == field, (params, r.text)
        assert stranger.get(f"/api/v1/cases/{cid}/report").status_code == 404
        r = viewer.get(f"/api/v1/cases/{cid}/letters", params={"lang": "en"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            names = zf.namelist()
            assert "index.json" in names
            assert any(n.endswith(".pdf") for n in names) == any(n.endswith(".json") and n != "index.json"
                                                                 for n in names)
        assert stranger.get(f"/api/v1/cases/{cid}/letters").status_code == 404


def test_every_file_route_every_caller(api: Server, people: Crew, case: dict[str, Any], err) -> None:
    """kind `read` (members and viewers), `write` (members), `verify` (permission read: any analyst
    or investigator, no case): each caller gets 2xx, 401, 403 or the unknown case's 404."""
    cid = case["id"]
    base = f"/api/v1/cases/{cid}"
    graphs: dict[str, str] = {}
    for who in ("owner", "member", "viewer", "stranger"):
        with people.client(who) as c:
            r = c.post("/api/v1/graphs", json={"name": f"{who} canvas", "chain": "btc-regtest", "document": {}})
            graphs[who] = r.json()["id"]
    with people.client("owner") as owner:
        att = owner.post(f"{base}/attachments", files={"file": ("a.txt", b"matrix")}).json()["id"]
        digest = owner.post(f"{base}/bundles").json()["bundle_hash"]
    address = truth_case(api)["seed_addresses"][2]
    routes: list[tuple[str, str, str, Any]] = [
        ("write", "POST", f"{base}/attachments", lambda who: {"files": {"file": (f"{who}.txt", b"x")}}),
        ("write", "POST", f"{base}/tags", lambda who: {"json": {
            "address": address, "label": f"by {who}", "category": "scam", "currency": "BTC-REGTEST"}}),
        ("write", "POST", f"{base}/layouts", lambda who: {"json": {"graph_id": graphs.get(who, "G-none")}}),
        ("read", "POST", f"{base}/bundles", lambda who: {}),
        ("read", "GET", f"{base}/attachments/{att}", lambda who: {}),
        ("read", "GET", f"{base}/export", lambda who: {"params": {"format": "json"}}),
        ("read", "GET", f"{base}/bundles", lambda who: {}),
        ("read", "GET", f"{base}/bundles/{digest}", lambda who: {}),
        ("read", "GET", f"{base}/report", lambda who: {"params": {"format": "html"}}),
        ("read", "GET", f"{base}/letters", lambda who: {}),
    ]
    with people.client("owner") as owner:
        bundle = owner.get(f"{base}/bundles/{digest}").content
    routes.append(("verify", "POST", "/api/v1/verify", lambda who: {"files": {"file": ("b.zip", bundle)}}))
    callers = {who: people.client(who) for who in ("owner", "member", "viewer", "stranger", "analyst", "auditor",
                                                   "admin")}
    callers[None] = api.client(None)
    wrong: list[str] = []
    try:
        for kind, method, path, kwargs in routes:
            for who, client in callers.items():
                r = client.request(method, path, **kwargs(who))
                if who is None:
                    want = (401, "unauthenticated")
                elif kind == "verify":
                    want = (403, "forbidden") if who in ("auditor", "admin") else (200, None)
                elif who in ("analyst", "auditor", "admin"):
                    want = (403, "forbidden")
                elif who == "stranger":
                    want = (404, "not_found")
                elif who == "viewer" and kind == "write":
                    want = (403, "forbidden")
                else:
                    want = (r.status_code if 200 <= r.status_code < 300 else 200, None)
                got = (r.status_code, err(r)["code"] if r.status_code >= 400 else None)
                if got != want:
                    wrong.append(f"{who} {method} {path}: {got} {r.text[:150]}; want {want}")
    finally:
        for client in callers.values():
            client.close()
    assert not wrong, "\n".join(wrong)


def test_downloads_equal_the_cli(api: Server, people: Crew, case: dict[str, Any], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """What the API sends is what the CLI writes on the same store, for the same user."""
    cid, viewer_name = case["id"], people.names["viewer"]
    with people.client("owner") as owner, people.client("viewer") as viewer:
        att = owner.post(f"/api/v1/cases/{cid}/attachments", files={"file": ("cli.bin", b"\x00cli\xff" * 99)}).json()
        digest = owner.post(f"/api/v1/cases/{cid}/bundles").json()["bundle_hash"]
        cli_out(capsys, api.store, "case", "attachment", cid, att["id"], "-o", str(tmp_path / "att"), user=viewer_name)
        assert viewer.get(f"/api/v1/cases/{cid}/attachments/{att['id']}").content == (tmp_path / "att").read_bytes()
        assert viewer.get(f"/api/v1/cases/{cid}/bundles").json() == cli_json(
            capsys, api.store, "case", "bundles", cid, "--json", user=viewer_name)
        cli_out(capsys, api.store, "case", "export", cid, "--format", "tagpack", "-o", str(tmp_path / "t.yaml"),
                user=viewer_name)
        assert viewer.get(f"/api/v1/cases/{cid}/export", params={"format": "tagpack"}).text == (
            tmp_path / "t.yaml").read_text()
        bundle = viewer.get(f"/api/v1/cases/{cid}/bundles/{digest}").content
        (tmp_path / "b.zip").write_bytes(bundle)
        ours = viewer.post("/api/v1/verify", files={"file": ("b.zip", bundle)}, data={"expect": digest}).json()
        theirs = cli_json(capsys, api.store, "verify", str(tmp_path / "b.zip"), "--expect", digest, "--json")
        assert drop(ours, ("seconds", "path")) == drop(theirs, ("seconds", "path"))

