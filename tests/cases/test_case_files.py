"""Case files through the CLI and the Python API on a CLI-built store (conftest `built`): finding
references checked against the store, attachments kept by SHA-256 (a changed body is refused),
proposed tags, saved graph layouts (only your own), bundles listed, and the audit records of it all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cases import attachments
from fundtrail.cli.main import main
from fundtrail.errors import DataError, NotFoundError, PermissionDenied, TooLargeError, UsageError
from fundtrail.workspace import Actor, TagAddRequest, Workspace


def run(capsys: pytest.CaptureFixture[str], built: dict[str, Any], user: str, *args: str) -> tuple[int, str, str]:
    code = main(["--store", str(built["store"]), "--as", user, "case", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def new_case(capsys: pytest.CaptureFixture[str], built: dict[str, Any], user: str, title: str = "Files") -> str:
    code, out, err = run(capsys, built, user, "new", "--title", title, "--json")
    assert code == 0, err
    return str(json.loads(out)["id"])


def ws_of(built: dict[str, Any], user: str) -> Workspace:
    return Workspace.open(store=built["store"], writable=True, actor=Actor(user=user))


def show(capsys: pytest.CaptureFixture[str], built: dict[str, Any], user: str, cid: str) -> dict[str, Any]:
    code, out, err = run(capsys, built, user, "show", cid, "--json")
    assert code == 0, err
    return dict(json.loads(out))


def test_finding_refs_are_checked_and_kept_canonical(capsys: pytest.CaptureFixture[str],
                                                    built: dict[str, Any]) -> None:
    truth = built["truth"]
    cid = new_case(capsys, built, "rita")
    out = truth["seed_outputs"][0]
    seed = f"{out['txid']}:{out['vout']}"
    assert run(capsys, built, "rita", "add-seed", cid, seed)[0] == 0
    code, saved, err = run(capsys, built, "rita", "trace", cid, seed, "--hops", "2", "--json")
    assert code == 0, err
    tid = json.loads(saved)["id"]
    txid = truth["seed_txids"][0]
    code, text, err = run(capsys, built, "rita", "finding", cid, "--fact", "ransom paid", "--basis", "chain",
                          "--ref", f"tx:{txid.upper()}", "--ref", f"output:{seed}", "--ref", f"trace:{tid}",
                          "--ref", f"tx:{txid}", "--json")
    assert code == 0, err
    assert json.loads(text)["refs"] == [f"tx:{txid.lower()}", f"output:{seed}", f"trace:{tid}"]
    assert show(capsys, built, "rita", cid)["findings"][0]["refs"] == [f"tx:{txid.lower()}", f"output:{seed}",
                                                                        f"trace:{tid}"]
    absent = "ab" * 32
    bad = {f"tx:{absent}": "is no transaction in the store", f"output:{out['txid']}:999": "is no output",
           "trace:T-00000000": f"is not a saved trace of case {cid}", "block:7": "is not tx:TXID"}
    for ref, why in bad.items():
        code, _, err = run(capsys, built, "rita", "finding", cid, "--fact", "x", "--basis", "y", "--ref", ref)
        assert code == 2 and err.count("\n") == 1 and f"refs: '{ref}' {why}" in err, err
    assert len(show(capsys, built, "rita", cid)["findings"]) == 1  # nothing stored by the refused ones
    with pytest.raises(UsageError) as many:
        ws_of(built, "rita").case_finding(cid, "fact", "x", basis="y", refs=[f"tx:{txid}"] * 101)
    assert many.value.field == "refs"


def test_attachments_keep_their_hash_and_refuse_a_changed_body(capsys: pytest.CaptureFixture[str],
                                                                built: dict[str, Any], tmp_path: Path) -> None:
    cid = new_case(capsys, built, "sam")
    body = b"Statement of the victim: paid 2.06 BTC on 15 Nov\n=cmd|' /C calc'!A0\n"
    src = tmp_path / "statement 1.txt"
    src.write_bytes(body)
    code, out, err = run(capsys, built, "sam", "attach", cid, str(src), "--note", "victim statement", "--json")
    assert code == 0, err
    rec = json.loads(out)
    want = hashlib.sha256(body).hexdigest()
    assert (rec["name"], rec["bytes"], rec["sha256"], rec["media_type"]) == ("statement 1.txt", len(body), want,
                                                                             "text/plain")
    on_disk = Path(built["store"]) / "cases" / cid / "attachments" / want
    assert on_disk.read_bytes() == body and oct(on_disk.stat().st_mode & 0o777) == "0o600"
    assert [a["id"] for a in show(capsys, built, "sam", cid)["attachments"]] == [rec["id"]]
    dest = tmp_path / "out.txt"
    assert run(capsys, built, "sam", "attachment", cid, rec["id"], "-o", str(dest))[0] == 0
    assert dest.read_bytes() == body
    assert run(capsys, built, "tess", "attachment", cid, rec["id"], "-o", str(dest))[0] == 6  # not a member
    code, _, err = run(capsys, built, "sam", "attachment", cid, "A-00000000", "-o", str(dest))
    assert code == 6 and "attachment A-00000000" in err
    on_disk.write_bytes(body.replace(b"2.06", b"0.06"))  # evidence changed behind the store's back
    code, _, err = run(capsys, built, "sam", "attachment", cid, rec["id"], "-o", str(tmp_path / "again.txt"))
    assert code == 3 and "was changed on disk" in err and want in err
    assert not (tmp_path / "again.txt").exists()
    with pytest.raises(DataError):
        ws_of(built, "sam").case_attachment(cid, rec["id"])


def test_attachment_names_size_and_access(capsys: pytest.CaptureFixture[str], built: dict[str, Any]) -> None:
    ws = ws_of(built, "uma")
    cid = ws.case_new("Names").id
    for name in ("../etc/passwd", "a/b.txt", "a\\b.txt", "bell\x07.txt", "", "..", "x" * 201):
        with pytest.raises(UsageError) as bad:
            ws.case_attach(cid, name, b"x")
        assert bad.value.field == "name"
    ok = ws.case_attach(cid, "  report (final).pdf ", b"%PDF-1.4", media_type="application/pdf; q=1")
    assert (ok.name, ok.media_type) == ("report (final).pdf", "application/pdf")
    with pytest.raises(UsageError) as kind:
        ws.case_attach(cid, "a.bin", b"x", media_type="not a type")
    assert kind.value.field == "media_type"
    with pytest.raises(TooLargeError) as big:
        ws.case_attach(cid, "big.bin", b"\0" * ((64 << 20) + 1))
    assert big.value.field == "file"
    with pytest.raises(NotFoundError) as hidden:
        ws_of(built, "vic").case_attach(cid, "a.txt", b"x")
    assert hidden.value.field == "case"
    ws.case_set_member(cid, "vic", role="viewer")
    with pytest.raises(PermissionDenied):
        ws_of(built, "vic").case_attach(cid, "a.txt", b"x")
    assert ws_of(built, "vic").case_attachment(cid, ok.id)[0] == ok  # viewers read
    ws.case_close(cid)
    with pytest.raises(UsageError) as closed:
        ws.case_attach(cid, "late.txt", b"late")
    assert closed.value.field == "case"
    assert [a.name for a in ws.case_get(cid).attachments] == ["report (final).pdf"]
    assert not list((Path(built["store"]) / "cases" / cid / "attachments").glob(
        hashlib.sha256(b"late").hexdigest()))  # refused before the body was written


def test_a_crash_between_body_and_row_leaves_no_row_and_a_retry_succeeds(built: dict[str, Any],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ws = ws_of(built, "walt")
    cid = ws.case_new("Crash").id
    data = b"exchange answer"
    def boom(prefix: str) -> str:
        raise KeyboardInterrupt  # the process dies after the body, before the catalog row

    monkeypatch.setattr(attachments.ids, "new_id", boom)
    with pytest.raises(KeyboardInterrupt):
        ws.case_attach(cid, "answer.eml", data)
    monkeypatch.undo()
    body = attachments.body_path(ws.store, cid, hashlib.sha256(data).hexdigest())
    assert body.read_bytes() == data and ws.case_get(cid).attachments == []
    rec = ws.case_attach(cid, "answer.eml", data)
    assert [a.id for a in ws.case_get(cid).attachments] == [rec.id] and ws.case_attachment(cid, rec.id)[1] == body


def test_proposed_tags_are_listed(capsys: pytest.CaptureFixture[str], built: dict[str, Any]) -> None:
    cid = new_case(capsys, built, "xena")
    address = built["truth"]["seed_addresses"][0]
    code, out, err = run(capsys, built, "xena", "tag", cid, address, "--label", "ransomware-group-1",
                         "--category", "ransomware", "--currency", "BTC-REGTEST", "--source", "victim report",
                         "--confidence", "high", "--json")
    assert code == 0, err
    assert "read as forensic" in err
    assert json.loads(out)["visibility"] == "private"
    (tag,) = show(capsys, built, "xena", cid)["tags"]
    assert (tag["address"], tag["label"], tag["category"], tag["confidence"], tag["source"], tag["creator"]) == (
        address, "ransomware-group-1", "ransomware", "forensic", "victim report", "xena")
    assert tag["created"].endswith("Z")
    code, _, err = run(capsys, built, "xena", "tag", cid, address, "--label", "x", "--category", "nonsense")
    assert code == 2 and "category" in err
    assert run(capsys, built, "yuri", "tag", cid, address, "--label", "x", "--category", "scam")[0] == 6
    ws = ws_of(built, "yuri")
    with pytest.raises(NotFoundError):
        ws.case_tag(cid, TagAddRequest(address=address, label="x", category="scam", currency="BTC-REGTEST"))


def test_layouts_only_of_your_own_graphs(capsys: pytest.CaptureFixture[str], built: dict[str, Any]) -> None:
    owner, other = ws_of(built, "zack"), ws_of(built, "amy")
    cid = owner.case_new("Layouts").id
    owner.case_set_member(cid, "amy", role="member")
    mine = owner.graph_save("ransom flow", "btc-regtest", {"nodes": [], "edges": []})
    theirs = other.graph_save("amy's canvas", "btc-regtest", {"nodes": []})
    code, out, err = run(capsys, built, "zack", "layout", cid, mine.id, "--json")
    assert code == 0, err
    (lay,) = json.loads(out)["layouts"]
    assert (lay["graph_id"], lay["name"], lay["chain"], lay["added_by"]) == (mine.id, "ransom flow", "btc-regtest",
                                                                            "zack")
    assert len(owner.case_layout_add(cid, mine.id).layouts) == 1  # again: no change
    code, _, err = run(capsys, built, "zack", "layout", cid, theirs.id)
    assert code == 6 and f"graph {theirs.id} is not a saved graph of yours" in err
    assert other.case_layout_add(cid, theirs.id).layouts[-1].graph_id == theirs.id  # amy's own, as a member
    code, _, err = run(capsys, built, "zack", "layout", cid, "g-nothex")
    assert code == 2 and "graph" in err


def test_bundles_are_listed(built: dict[str, Any]) -> None:
    ws = ws_of(built, "bea")
    cid = ws.case_new("Bundled").id
    with ws.store.connect() as con:  # as the bundle writer records one (docs/bundle.md)
        con.execute("INSERT INTO case_bundles VALUES (?, ?, now()::TIMESTAMP, 'bea', '/tmp/b.zip', 1234, 17)",
                    [cid, "f" * 64])
    (b,) = ws.case_get(cid).bundles
    assert (b.bundle_hash, b.created_by, b.path, b.bytes, b.transactions) == ("f" * 64, "bea", "/tmp/b.zip", 1234, 17)


def test_audit_names_new_cases_and_keeps_no_case_text(capsys: pytest.CaptureFixture[str],
                                                      built: dict[str, Any], tmp_path: Path) -> None:
    cid = new_case(capsys, built, "cleo", "Audit me")
    secret = "the suspect's name is Mallory Example"
    assert run(capsys, built, "cleo", "note", cid, secret)[0] == 0
    assert run(capsys, built, "cleo", "finding", cid, "--inference", secret, "--basis", secret,
               "--confidence", "0.5")[0] == 0
    src = tmp_path / "a.txt"
    src.write_text("x")
    assert run(capsys, built, "cleo", "attach", cid, str(src), "--note", secret)[0] == 0
    assert main(["--store", str(built["store"]), "audit", "show", "--json", "--limit", "10000"]) == 0
    records = [r for r in json.loads(capsys.readouterr().out)["records"] if r["user"] == "cleo"]
    assert [r["action"] for r in records] == ["case new", "case note", "case finding", "case attach"]
    assert all(cid in r["subjects"] for r in records)
    assert secret not in json.dumps(records)
    assert records[0]["params"]["title"] == "Audit me"
    assert records[1]["params"] == {"text_chars": len(secret)}
    assert records[2]["params"]["inference_chars"] == records[2]["params"]["basis_chars"] == len(secret)
    assert records[3]["params"]["note_chars"] == len(secret)
