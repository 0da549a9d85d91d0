"""`make demo` leaves the store ready for the web workbench: the README's promise, followed as a
newcomer would (the console script run as the Makefile runs it, the printed serve command started
as printed, the printed password typed into the login form)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fundtrail.errors import AuthError
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace
from web.browser import http_login

EXE = Path(sys.executable).parent / "fundtrail"


def make_demo(cwd: Path) -> str:
    """`make demo`'s command, in `cwd`; its standard output."""
    res = subprocess.run([str(EXE), "--store", "demo-store", "demo", "--workdir", "demo-data"], cwd=cwd,
                         capture_output=True, text=True, timeout=600, env={**os.environ, "PATH": os.defpath})
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def workbench_lines(out: str) -> tuple[str, list[str], str]:
    """The password, the serve command (argv) and the address line the demo ends with."""
    lines = out.rstrip("\n").splitlines()
    password = re.fullmatch(r"  password: (\S+)", lines[-3])
    serve = re.fullmatch(r"  serve it: (.+ --store demo-store serve)", lines[-2])
    assert password and serve, lines[-5:]
    return password.group(1), shlex.split(serve.group(1)), lines[-1]


def ws_of(cwd: Path) -> Workspace:
    return Workspace.open(Settings.load(store=cwd / "demo-store"), writable=True,
                          actor=Actor(user="test", via="python"))


@pytest.mark.skipif(not EXE.exists(), reason="the fundtrail console script is not installed")
def test_demo_ends_with_the_way_into_the_workbench(tmp_path: Path) -> None:
    out = make_demo(tmp_path)
    password, serve, opening = workbench_lines(out)
    # the last thing printed: the address to open and the ransom address to search (the first
    # payment the demo reported, a real address of the store)
    first_ransom = re.search(r"^   (\S+)  received ", out, re.M)
    assert first_ransom
    opened = re.fullmatch(r"  then open http://127\.0\.0\.1:8800/ , log in as demo and search the ransom address "
                          r"(\S+), or open the case at http://127\.0\.0\.1:8800/cases/(C-[0-9a-f]{8})", opening)
    assert opened and opened.group(1) == first_ransom.group(1), opening
    case_id = opened.group(2)
    # the case's files, and the bundle verified by the command a court's expert would run (no store)
    folder = tmp_path / "demo-data" / "case"
    for name in ("bundle.zip", "report-en.pdf", "report-zh_CN.pdf", "report-en.html", "report-zh_CN.html",
                 "letters/index.json", "letters-zh_CN/index.json"):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    said = re.search(r"^   `fundtrail verify .*bundle\.zip` \(no store, no network\): verified; ", out, re.M)
    assert said, out[-3000:]
    res = subprocess.run([str(EXE), "verify", str(folder / "bundle.zip")], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path / "demo-data")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "the workbench, in the browser: user demo (investigator)" in out
    assert len(password) >= 16 and out.count(password) == 1  # printed once
    # stored only as a slow salted hash: in no file of the store (catalog, audit log, lake)
    for f in (tmp_path / "demo-store").rglob("*"):
        assert not f.is_file() or password.encode() not in f.read_bytes(), f
    assert ws_of(tmp_path).users_list().users[0].name == "demo"

    # the printed command serves the store; the printed password logs `demo` in through the form
    proc = subprocess.Popen([*serve, "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        listening = re.search(r"listening on (http://127\.0\.0\.1:\d+)/", line)
        assert listening, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        with httpx.Client(base_url=listening.group(1), timeout=60) as c:
            http_login(c, "demo", password)
            assert "demo" in c.get("/").text
            # the search the demo suggests finds the ransom address
            found = c.get("/search", params={"q": first_ransom.group(1)}, follow_redirects=True)
            assert found.status_code == 200 and first_ransom.group(1) in found.text
            # the demo user is a member of the demo's case: its page shows the case and its findings
            page = c.get(f"/cases/{case_id}")
            assert page.status_code == 200 and "DEMO-2026-001" in page.text and "INFERENCE" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # a session of the first password; then the demo again: a new password, the old one and its
    # session refused
    session = ws_of(tmp_path).login("demo", password).token
    again = make_demo(tmp_path)
    new_password, _, _ = workbench_lines(again)
    assert new_password != password
    ws = ws_of(tmp_path)
    with pytest.raises(AuthError, match="wrong user name or password"):
        ws.login("demo", password)
    with pytest.raises(AuthError):
        ws.authenticate_session(session)
    assert ws.login("demo", new_password).role == "investigator"
    assert [u.name for u in ws.users_list().users] == ["demo"]  # not a second user
