"""`audit verify` finds every kind of tampering and names the first bad record."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from fundtrail.workspace import Workspace
from fundtrail.workspace.access import AuditEntry, AuditVerifyResult, append_audit

N = 6


@pytest.fixture(scope="module")
def pristine(store_dir: Path) -> Path:
    """A store whose audit log holds N records."""
    for i in range(N):
        append_audit(store_dir, AuditEntry(user=f"user{i}", action="trace", subjects=[f"addr{i}"], status=0))
    return store_dir


def _copy(pristine: Path, tmp_path: Path) -> tuple[Path, list[bytes]]:
    root = tmp_path / "copy"
    shutil.copytree(pristine, root)
    return root, (root / "audit" / "audit.log").read_bytes().splitlines(keepends=True)


def _write(root: Path, lines: list[bytes]) -> AuditVerifyResult:
    (root / "audit" / "audit.log").write_bytes(b"".join(lines))
    return Workspace.open(store=root).audit_verify()


def _forge(rec: dict) -> bytes:
    body = {k: v for k, v in rec.items() if k != "hash"}
    rec = {**body, "hash": hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                     ensure_ascii=False).encode()).hexdigest()}
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _bad(res: AuditVerifyResult, line: int | None, seq: int | None, words: str) -> None:
    assert not res.ok and res.problem is not None, res
    assert (res.problem.line, res.problem.seq) == (line, seq), res.problem
    assert words in res.problem.what, res.problem.what


def test_intact_log_verifies(pristine: Path) -> None:
    res = Workspace.open(store=pristine).audit_verify()
    assert res.ok and res.problem is None and res.records == N and res.last_seq == N
    assert res.head_seq == N and res.head_hash == res.last_hash


def test_edited_field(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    lines[2] = lines[2].replace(b'"user2"', b'"someone"')
    _bad(_write(root, lines), 3, 3, "was edited")


def test_deleted_middle_record(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    del lines[3]
    _bad(_write(root, lines), 4, 5, "seq 5 where 4 was expected")


def test_deleted_last_record(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    _bad(_write(root, lines[:-1]), N, N, f"the log ends at seq {N - 1} but the head anchor says {N}")


def test_inserted_forged_record_with_recomputed_hash(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    third = json.loads(lines[2])
    forged = _forge({**json.loads(lines[3]), "user": "nobody", "seq": 4, "prev": third["hash"]})
    lines.insert(3, forged)  # looks like a good record 4: the genuine record 4 then breaks
    _bad(_write(root, lines), 5, 4, "seq 4 where 5 was expected")


def test_renumbered_forgery_breaks_prev(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    recs = [json.loads(x) for x in lines]
    del recs[1]  # record 2 deleted, the rest renumbered and re-hashed, but prev left as it was
    fixed = [lines[0]] + [_forge({**r, "seq": i + 2}) for i, r in enumerate(recs[1:])]
    _bad(_write(root, fixed), 2, 2, "prev is not the hash of the record before it")


def test_swapped_records(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    lines[1], lines[2] = lines[2], lines[1]
    _bad(_write(root, lines), 2, 3, "seq 3 where 2 was expected")


def test_truncated_mid_line(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    lines[-1] = lines[-1][:40]
    _bad(_write(root, lines), N, None, "cut off")


def test_rewritten_in_another_json_form(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    lines[1] = json.dumps(json.loads(lines[1]), indent=None).encode() + b"\n"  # same content, spaces
    _bad(_write(root, lines), 2, 2, "canonical form")


def test_garbage_line_and_missing_head(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    _bad(_write(root, [*lines[:2], b"{not json\n", *lines[2:]]), 3, None, "not a JSON record")
    (root / "audit" / "head.json").unlink()
    _bad(_write(root, lines), N + 1, None, "head anchor audit/head.json is missing")


def test_head_behind_after_a_crash_is_only_a_note(pristine: Path, tmp_path: Path) -> None:
    root, lines = _copy(pristine, tmp_path)
    rec = json.loads(lines[N - 2])
    (root / "audit" / "head.json").write_text(json.dumps({"seq": rec["seq"], "hash": rec["hash"]}))
    res = _write(root, lines)
    assert res.ok and res.note and "behind" in res.note
    (root / "audit" / "head.json").write_text(json.dumps({"seq": rec["seq"], "hash": "0" * 64}))
    _bad(_write(root, lines), N - 1, N - 1, "not the one it names")
