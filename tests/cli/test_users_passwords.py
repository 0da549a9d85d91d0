"""`fundtrail users add --password-stdin`, `users passwd`: standard input, the terminal (a real pty),
the one-line errors, and that no password reaches the output, the logs or the audit log."""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import select
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from fundtrail.cli.main import main
from fundtrail.errors import AuthError
from fundtrail.workspace import Workspace

PASSWORD = "Tr0ub4dor & three"


def run(args: list[str], stdin: str | None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """The command through `cli.main.main` (audit hook included) with `stdin` as standard input
    (not a terminal, as when a password is piped in)."""
    with monkeypatch.context() as m:
        m.setattr(sys, "stdin", io.StringIO(stdin or ""))
        code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("users-pw") / "store"
    Workspace.open(store=root, create=True)
    return str(root)


def login(store: str, name: str, password: str) -> str:
    return Workspace.open(store=Path(store), writable=True).login(name, password).user


def test_add_with_password_stdin_and_passwd(store: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["--store", store, "users", "add", "ann", "--role", "investigator", "--password-stdin",
                          "--json"], PASSWORD + "\n", capsys, monkeypatch)
    assert code == 0, err
    user = json.loads(out)
    assert user["has_password"] is True and user["name"] == "ann" and PASSWORD not in out + err
    assert set(user) == {"name", "role", "active", "has_password", "created_at", "created_by", "disabled_at",
                         "disabled_by"}
    assert login(store, "ann", PASSWORD) == "ann"
    # only the line end is stripped: spaces around the password are part of it
    code, out, err = run(["--store", store, "users", "passwd", "ann", "--password-stdin"], "  spaced out pw  \r\n",
                         capsys, monkeypatch)
    assert code == 0 and "password of ann set" in out and "sessions have ended" in out, err
    assert login(store, "ann", "  spaced out pw  ") == "ann"
    with pytest.raises(AuthError):
        login(store, "ann", "spaced out pw")
    with pytest.raises(AuthError):
        login(store, "ann", PASSWORD)
    code, out, _ = run(["--store", store, "users", "list"], None, capsys, monkeypatch)
    assert code == 0 and "password set" in out


def test_without_a_terminal_and_without_the_flag(store: str, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["--store", store, "users", "add", "tok-only", "--role", "analyst", "--json"], PASSWORD,
                         capsys, monkeypatch)
    assert code == 0 and json.loads(out)["has_password"] is False  # stdin is not read without the flag
    code, out, err = run(["--store", store, "users", "add", "tok-two", "--role", "analyst"], None, capsys,
                         monkeypatch)
    assert code == 0 and "without a password (API tokens only)" in out
    code, out, err = run(["--store", store, "users", "passwd", "tok-only"], PASSWORD + "\n", capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "--password-stdin" in err
    assert err.startswith("fundtrail: error: password cannot be asked for: standard input is not a terminal")
    code, out, _ = run(["--store", store, "users", "list", "--json"], None, capsys, monkeypatch)
    assert {u["name"]: u["has_password"] for u in json.loads(out)["users"]}["tok-only"] is False


@pytest.mark.parametrize(("stdin", "says"), [
    ("", "password is too short"), ("\n", "password is too short"), ("nine char\n", "password is too short"),
    ("          \n", "password must not be only whitespace"), ("bad-rule-user\n", "password must not be the user name"),
    ("x" * 1025 + "\n", "password is too long"),
])
def test_bad_passwords_are_one_line_errors_and_change_nothing(store: str, stdin: str, says: str,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(["--store", store, "users", "add", "bad-rule-user", "--role", "analyst", "--password-stdin"],
                         stdin, capsys, monkeypatch)
    assert code == 2 and err.startswith(f"fundtrail: error: {says}")
    assert err.count("\n") == 1 and out == "" and (stdin.strip() == "" or stdin.strip() not in err)
    code, out, _ = run(["--store", store, "users", "list", "--json"], None, capsys, monkeypatch)
    assert "bad-rule-user" not in [u["name"] for u in json.loads(out)["users"]]


def test_errors_before_the_password_is_read(store: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run(["--store", store, "users", "passwd", "nobody-here", "--password-stdin"], PASSWORD, capsys,
                       monkeypatch)
    assert code == 6 and "'nobody-here' is not a user" in err
    code, _, err = run(["--store", store, "users", "add", "x y", "--role", "analyst", "--password-stdin"], PASSWORD,
                       capsys, monkeypatch)
    assert code == 2 and "is not a user name" in err
    code, _, err = run(["--store", store, "users", "add", "newbie", "--role", "king", "--password-stdin"], PASSWORD,
                       capsys, monkeypatch)
    assert code == 2 and "'king' is not a role" in err
    assert run(["--store", store, "users", "add", "taken", "--role", "analyst"], None, capsys, monkeypatch)[0] == 0
    code, _, err = run(["--store", store, "users", "add", "taken", "--role", "analyst", "--password-stdin"], PASSWORD,
                       capsys, monkeypatch)
    assert code == 2 and "already a user" in err


def test_no_password_in_output_logs_or_audit_log(store: str, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    secret = "Audit-me-not Qz7w"  # no hex run: a hash in the log must not match it by chance
    caplog.set_level(logging.DEBUG)
    code, out, err = run(["-vv", "--store", store, "users", "add", "quiet", "--role", "auditor", "--password-stdin"],
                         secret + "\n", capsys, monkeypatch)
    assert code == 0, err
    code, out2, err2 = run(["--store", store, "-vv", "users", "passwd", "quiet", "--password-stdin", "--json"],
                           secret + " 2\n", capsys, monkeypatch)
    assert code == 0, err2
    # a real process with debug logging, the password piped in
    done = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", "-vv", "--store", store, "users", "passwd",
                           "quiet", "--password-stdin"], input=secret + " 3\n", capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert login(store, "quiet", secret + " 3") == "quiet"
    log = (Path(store) / "audit" / "audit.log").read_text(encoding="utf-8")
    records = [json.loads(line) for line in log.splitlines()]
    mine = [r for r in records if r["subjects"] == ["quiet"]]
    assert [r["action"] for r in mine] == ["users add", "users passwd", "users passwd"]
    assert all(r["outcome"] == "ok" and r["status"] == 0 for r in mine)
    everything = log + out + err + out2 + err2 + done.stdout + done.stderr + caplog.text
    assert "Audit-me-not" not in everything and "Qz7w" not in everything
    catalog = (Path(store) / "catalog.duckdb").read_bytes()
    assert b"Audit-me-not" not in catalog


def run_on_terminal(store: str, args: list[str], answers: list[str]) -> tuple[int, str]:
    """The command in a real process whose controlling terminal is a pty; each password prompt
    is answered with the next of `answers`. Returns (exit code, what the terminal showed)."""
    master, slave = os.openpty()

    def take_terminal() -> None:  # the child: its own session, the pty as controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "fundtrail.cli.main", "--store", store, *args], stdin=slave,
                            stdout=slave, stderr=slave, start_new_session=True, preexec_fn=take_terminal,
                            close_fds=True)
    os.close(slave)
    shown, sent = b"", 0
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                raise AssertionError(f"no output from the command; so far: {shown!r}")
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            prompts = shown.count(b"Password for") + shown.count(b"Repeat the password")
            while sent < prompts and sent < len(answers):
                os.write(master, answers[sent].encode() + b"\n")
                sent += 1
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    return code, shown.decode(errors="replace")


def test_passwords_asked_on_the_terminal(store: str) -> None:
    code, shown = run_on_terminal(store, ["users", "add", "tty-user", "--role", "analyst"], [PASSWORD, PASSWORD])
    assert code == 0 and "Password for tty-user (empty: none, API tokens only):" in shown, shown
    assert "Repeat the password:" in shown and "added user tty-user (analyst) with a password" in shown
    assert PASSWORD not in shown  # no echo
    assert login(store, "tty-user", PASSWORD) == "tty-user"
    code, shown = run_on_terminal(store, ["users", "add", "tty-none", "--role", "analyst"], [""])
    assert code == 0 and "Repeat" not in shown and "without a password" in shown, shown
    code, shown = run_on_terminal(store, ["users", "passwd", "tty-user"], ["first try 123", "second try 123"])
    assert code == 2 and "password and its repetition differ; nothing was changed" in shown, shown
    assert login(store, "tty-user", PASSWORD) == "tty-user"
    code, shown = run_on_terminal(store, ["users", "passwd", "tty-user"], ["too short"])
    assert code == 2 and "password is too short" in shown and "Repeat" not in shown, shown
    code, shown = run_on_terminal(store, ["users", "passwd", "tty-none"], ["now a password", "now a password"])
    assert code == 0 and "password of tty-none set" in shown, shown
    assert login(store, "tty-none", "now a password") == "tty-none"
