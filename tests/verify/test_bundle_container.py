"""Hostile or broken containers: a file that is not a ZIP, no SHA256SUMS, duplicate and foreign
paths, a member that inflates past the limits or lies about its size. Each is refused with a line
that names it, memory stays bounded, and the exit status says which (2: unreadable, 1: a check)."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from verify.support_bundle import sums, write_zip, zip_bytes

from fundtrail.errors import UsageError
from fundtrail.verify import container
from fundtrail.workspace.verification import verify_bundle


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "verify", *args], capture_output=True,
                          text=True, check=False, timeout=300)


def test_not_a_zip_is_unreadable_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "case.zip"
    path.write_bytes(b"PK\x03\x04 but not really a zip file")
    result = verify_bundle(path)
    assert (result.readable, result.ok, result.exit_code) == (False, False, 2)
    assert result.failures[0].startswith(f"{path}: not a readable ZIP file")
    done = run_cli(str(path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"fundtrail: error: {path}: the bundle cannot be read: {path}: not a readable ZIP")


def test_a_missing_path_or_bad_hash_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        verify_bundle(tmp_path / "nope.zip")
    assert exc.value.field == "bundle" and "no such file" in exc.value.message
    assert run_cli(str(tmp_path / "nope.zip")).returncode == 2
    write_zip(tmp_path / "x.zip", {"manifest.json": b"{}"})
    with pytest.raises(UsageError) as exc:
        verify_bundle(tmp_path / "x.zip", expect="12ab")
    assert exc.value.field == "expect"


def test_no_sha256sums_is_unreadable(tmp_path: Path) -> None:
    write_zip(tmp_path / "a.zip", {"manifest.json": b"{}"}, with_sums=False)
    result = verify_bundle(tmp_path / "a.zip")
    assert result.exit_code == 2 and result.failures[-1] == f"{tmp_path / 'a.zip'}: no SHA256SUMS file"


def test_duplicate_and_foreign_paths_are_refused(tmp_path: Path) -> None:
    files = {"manifest.json": b"{}"}
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("SHA256SUMS", sums(files))
        zf.writestr("manifest.json", b"{}")
        with pytest.warns(UserWarning):
            zf.writestr("manifest.json", b'{"format": "other"}')
        zf.writestr("../../etc/passwd", b"x")
        zf.writestr("case/../manifest.json", b"x")
    got = verify_bundle(path).failures
    assert "manifest.json: duplicate file in the ZIP" in got
    assert "../../etc/passwd: not a path of the bundle format (unlisted file)" in got
    assert "case/../manifest.json: not a path of the bundle format (unlisted file)" in got


def test_sha256sums_lines_are_checked(tmp_path: Path) -> None:
    files = {"manifest.json": b"{}", "case/case.json": b"{}"}
    listing = (f"{hashlib.sha256(b'{}').hexdigest()}  manifest.json\n"
               f"{hashlib.sha256(b'{}').hexdigest()}  case/case.json\n"
               "not a line\n").encode()
    write_zip(tmp_path / "a.zip", {**files, "SHA256SUMS": listing})
    got = verify_bundle(tmp_path / "a.zip").failures
    assert "SHA256SUMS line 3: not `<64 hex sha256>  <path>`" in got
    assert "SHA256SUMS: lines are not sorted by path" in got


def test_a_member_past_the_limits_is_refused_while_inflating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The limits are lowered (narrow unit test) so that a 4 MiB member stands for a zip bomb."""
    monkeypatch.setattr(container, "MAX_MEMBER", 1 << 20)
    monkeypatch.setattr(container, "MAX_TOTAL", 3 << 20)
    big = bytes(4 << 20)
    files = {"manifest.json": b"{}", "tags/tags.jsonl": big}
    path = tmp_path / "bomb.zip"
    write_zip(path, files)
    assert path.stat().st_size < 64 << 10  # 4 MiB of zeros deflate to a few KiB
    got = verify_bundle(path).failures
    assert f"tags/tags.jsonl: declares {4 << 20} bytes decompressed: refused (limits: {1 << 20} per file, " \
           f"{3 << 20} in all)" in got
    assert f"{path}: the members declare {(4 << 20) + 2 + len(sums(files))} bytes decompressed, more than the " \
           f"limit of {3 << 20}; members past the limit are refused" in got


def test_a_member_that_lies_about_its_size_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ZIP headers say 100 bytes; the member inflates to 4 MiB: reading stops at the cap."""
    monkeypatch.setattr(container, "MAX_MEMBER", 1 << 20)
    big = bytes(4 << 20)
    files = {"manifest.json": b"{}", "tags/tags.jsonl": big}
    data = bytearray(zip_bytes({"SHA256SUMS": sums(files), **files}))
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local header and central directory
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            if struct.unpack_from("<I", data, pos + at)[0] == len(big):
                struct.pack_into("<I", data, pos + at, 100)
            pos += 4
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    got = [f for f in verify_bundle(path).failures if f.startswith("tags/tags.jsonl")]
    assert len(got) == 1 and got[0].startswith("tags/tags.jsonl: cannot be read from the ZIP: "), got


def test_too_many_members_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "MAX_MEMBERS", 3)
    write_zip(tmp_path / "many.zip", {f"traces/T-0000000{i}.json": b"{}" for i in range(5)})
    result = verify_bundle(tmp_path / "many.zip")
    assert result.exit_code == 2 and "6 members, more than the limit of 3" in result.failures[-1]
