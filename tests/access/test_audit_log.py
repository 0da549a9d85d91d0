"""The audit log: chained records, durability errors, secrets kept out, concurrent appenders."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fundtrail.errors import AuditError, UsageError
from fundtrail.workspace import Actor, Workspace
from fundtrail.workspace.access import AuditEntry, append_audit, append_audit_many, check_audit_writable

ACTION = "GET /api/v1/{chain}/addresses/{address}"


def _new_store(tmp_path: Path) -> Path:
    Workspace.open(store=tmp_path / "s", create=True)
    return tmp_path / "s"


def _lines(root: Path) -> list[dict]:
    return [json.loads(x) for x in (root / "audit" / "audit.log").read_text().splitlines()]


def _canon(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_records_are_chained_as_documented(tmp_path: Path) -> None:
    ws = Workspace.open(store=_new_store(tmp_path))  # read-only: the audit log is still written
    actor = Actor(user="analyst1", role="analyst", via="api")
    first = ws.audit_append(AuditEntry.of(actor, ACTION, subjects=["1Addr"], params={"limit": 5},
                                          result_size=1, result_unit="items", status=200))
    second = ws.audit_append(AuditEntry.of(actor, "cluster show", subjects=["ünïcode"], outcome="not_found",
                                           status=404))
    assert (first.seq, second.seq) == (1, 2) and first.prev == "0" * 64 and second.prev == first.hash
    stored = _lines(ws.store.root)
    assert stored == [first.model_dump(), second.model_dump()]
    for rec in stored:
        body = {k: v for k, v in rec.items() if k != "hash"}
        assert rec["hash"] == hashlib.sha256(_canon(body)).hexdigest()
        assert len(rec["time"]) == len("2024-01-01T00:00:00.000000Z") and rec["time"].endswith("Z")
    raw = (ws.store.root / "audit" / "audit.log").read_bytes().splitlines()
    assert raw[1] == _canon(stored[1]) and "ünïcode".encode() in raw[1]  # canonical, UTF-8 on disk
    head = json.loads((ws.store.root / "audit" / "head.json").read_text())
    assert head["seq"] == 2 and head["hash"] == second.hash
    assert (ws.store.root / "audit" / "audit.log").stat().st_mode & 0o777 == 0o600


def test_the_head_anchor_is_one_sector_rewritten_in_place(tmp_path: Path) -> None:
    ws = Workspace.open(store=_new_store(tmp_path))
    actor = Actor(user="analyst1", role="analyst", via="api")
    head_path = ws.store.root / "audit" / "head.json"
    ws.audit_append(AuditEntry.of(actor, ACTION, subjects=["a"], status=200))
    inode = head_path.stat().st_ino
    for k in range(5):
        rec = ws.audit_append(AuditEntry.of(actor, ACTION, subjects=[f"b{k}"], status=200))
        raw = head_path.read_bytes()
        assert len(raw) == 512 and raw.endswith(b"\n") and json.loads(raw)["seq"] == rec.seq
        assert json.loads(raw)["hash"] == rec.hash and head_path.stat().st_ino == inode  # the same file
    assert head_path.stat().st_mode & 0o777 == 0o600
    # an anchor replaced behind the writer's back (restored from a backup, say) is the one written next
    head_path.unlink()
    head_path.write_text(json.dumps({"seq": rec.seq, "hash": rec.hash, "time": "x"}))
    after = ws.audit_append(AuditEntry.of(actor, ACTION, subjects=["c"], status=200))
    assert json.loads(head_path.read_bytes())["seq"] == after.seq and len(head_path.read_bytes()) == 512
    assert not list(head_path.parent.glob("*.tmp"))
    assert ws.audit_verify().ok


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    root = _new_store(tmp_path)
    token = "ft_0123456789ab_" + "S" * 43
    rec = append_audit(root, AuditEntry(user="u", action="ingest bitcoin", subjects=[token],
                                        params={"rpc_password": "hunter2", "Authorization": f"Bearer {token}",
                                                "rpc": "http://alice:pw@127.0.0.1:8332", "hops": 3,
                                                "nested": {"api_key": "k"}}))
    text = (root / "audit" / "audit.log").read_text()
    for secret in ("hunter2", token, "alice:pw", '"k"'):
        assert secret not in text
    assert rec.params["hops"] == 3 and rec.params["rpc"] == "http://[redacted]@127.0.0.1:8332"


def test_entry_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="result_unit"):
        AuditEntry(user="u", action="x", result_unit="rows")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="extra"):
        AuditEntry(user="u", action="x", token="t")  # type: ignore[call-arg]


def test_an_unwritable_log_fails_the_request(tmp_path: Path) -> None:
    root = _new_store(tmp_path)
    (root / "audit" / "audit.log").mkdir(parents=True)  # the file cannot be opened for appending
    with pytest.raises(AuditError) as err:
        append_audit(root, AuditEntry(user="u", action="status"))
    assert err.value.exit_code == 4 and err.value.code == "audit_unavailable"
    with pytest.raises(AuditError):
        check_audit_writable(root)


def test_append_many_writes_one_batch_in_order_and_returns_each_outcome(tmp_path: Path) -> None:
    """A server's committer hands over every waiting record at once: one group commit (one time
    stamp), in the order given, chained; a failure is returned per entry, not raised."""
    root = _new_store(tmp_path)
    append_audit(root, AuditEntry(user="u", action="first"))
    got = append_audit_many(root, [AuditEntry(user=f"u{i}", action=f"a{i}") for i in range(5)])
    assert [r.seq for r in got] == [2, 3, 4, 5, 6] and len({r.time for r in got}) == 1
    recs = _lines(root)
    assert [r["action"] for r in recs] == ["first", "a0", "a1", "a2", "a3", "a4"]
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(recs))
    assert append_audit_many(root, []) == []
    log = root / "audit" / "audit.log"
    log.rename(tmp_path / "kept.log")
    log.mkdir()  # the file cannot be opened for appending
    failed = append_audit_many(root, [AuditEntry(user="u", action="x"), AuditEntry(user="v", action="y")])
    assert [type(f) for f in failed] == [AuditError, AuditError] and failed[0].code == "audit_unavailable"
    log.rmdir()
    (tmp_path / "kept.log").rename(log)
    assert append_audit(root, AuditEntry(user="u", action="after")).seq == 7
    assert Workspace.open(store=root).audit_verify().ok


def test_a_torn_or_truncated_end_stops_appending(tmp_path: Path) -> None:
    root = _new_store(tmp_path)
    for i in range(3):
        append_audit(root, AuditEntry(user="u", action=f"a{i}"))
    log = root / "audit" / "audit.log"
    whole = log.read_bytes()
    log.write_bytes(whole[:-10])  # cut mid-record
    with pytest.raises(AuditError, match="ends inside a record"):
        append_audit(root, AuditEntry(user="u", action="after"))
    log.write_bytes(b"".join(whole.splitlines(keepends=True)[:2]))  # the last record removed
    with pytest.raises(AuditError, match="head anchor says seq 3"):
        check_audit_writable(root)
    log.write_bytes(whole)
    assert append_audit(root, AuditEntry(user="u", action="after")).seq == 4


def test_32_threads_and_another_process_append_one_unbroken_chain(tmp_path: Path) -> None:
    root = _new_store(tmp_path)
    script = ("import sys; from pathlib import Path; from fundtrail.workspace.access import AuditEntry, "
              "append_audit\nfor i in range(40): append_audit(Path(sys.argv[1]), "
              "AuditEntry(user='proc', via='cli', action='status'))")
    other = subprocess.Popen([sys.executable, "-c", script, str(root)])
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                append_audit(root, AuditEntry(user=f"t{n}", via="api", action="GET /api/v1/status",
                                              params={"i": i}))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert other.wait(timeout=120) == 0 and not errors
    recs = _lines(root)
    assert [r["seq"] for r in recs] == list(range(1, 32 * 10 + 40 + 1))
    assert sum(r["user"] == "proc" for r in recs) == 40
    for t in range(32):  # each thread's records in its own order
        assert [r["params"]["i"] for r in recs if r["user"] == f"t{t}"] == list(range(10))
    result = Workspace.open(store=root).audit_verify()
    assert result.ok and result.records == 360 and result.head_seq == 360


def test_audit_show_filters_and_pages(tmp_path: Path) -> None:
    root = _new_store(tmp_path)
    for i in range(7):
        append_audit(root, AuditEntry(user="alice" if i % 2 == 0 else "bob", action=f"a{i}"))
    ws = Workspace.open(store=root)
    assert [r.seq for r in ws.audit_show(user="alice").records] == [1, 3, 5, 7]
    page = ws.audit_show(limit=3)
    assert [r.seq for r in page.records] == [5, 6, 7] and page.next_cursor
    older = ws.audit_show(limit=3, cursor=page.next_cursor)
    assert [r.seq for r in older.records] == [2, 3, 4]
    assert [r.seq for r in ws.audit_show(limit=3, cursor=older.next_cursor).records] == [1]
    t4 = ws.audit_show().records[3].time
    after, before = ws.audit_show(since=t4).records, ws.audit_show(until=t4).records
    assert 4 in [r.seq for r in after] and all(r.time >= t4 for r in after) and after[-1].seq == 7
    assert 4 in [r.seq for r in before] and all(r.time <= t4 for r in before) and before[0].seq == 1
    assert ws.audit_show(until="2000-01-01").records == []
    assert len(ws.audit_show(since="0").records) == 7  # unix seconds
    for field, kwargs in (("since", {"since": "yesterday"}), ("until", {"until": "2024-13-01"}),
                          ("limit", {"limit": 0}), ("cursor", {"cursor": "garbage!"})):
        with pytest.raises(UsageError) as err:
            ws.audit_show(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field
