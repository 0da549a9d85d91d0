"""Helpers of the API-versus-CLI tests: ask the CLI (in process, on the same store) the question an
HTTP request asked, and serve a store that `conftest.build_store` did not make (real blocks, an
account chain) with one user and token per role.

Imported as `tests.api.support_live` (pytest's importlib mode registers `tests.api.conftest`
under that package, so the conftest's server helpers are shared, not copied).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from fundtrail.cli.main import main
from fundtrail.settings import Settings
from fundtrail.workspace import Actor, Workspace
from tests.api.conftest import ROLES, Server, start

#: Fields that legitimately differ between two runs of the same question (wall-clock timings).
TIMINGS = ("elapsed_ms",)


def cli_out(capsys: pytest.CaptureFixture[str], store: Path, *args: str, code: int = 0,
            user: str | None = None) -> str:
    """stdout of `fundtrail --store STORE ARGS...` run in process, which must exit `code`."""
    capsys.readouterr()
    who = ["--as", user] if user else []
    got = main(["-q", "--store", str(store), *who, *args])
    captured = capsys.readouterr()
    assert got == code, (args, got, captured.err)
    return captured.out


def cli_json(capsys: pytest.CaptureFixture[str], store: Path, *args: str, **kw: Any) -> Any:
    """The one JSON document the CLI printed."""
    return json.loads(cli_out(capsys, store, *args, **kw))


def cli_lines(capsys: pytest.CaptureFixture[str], store: Path, *args: str, **kw: Any) -> list[Any]:
    """The JSON lines the CLI printed (`tags search --json`, `risk --json`)."""
    return [json.loads(line) for line in cli_out(capsys, store, *args, **kw).splitlines() if line.strip()]


def drop(doc: Any, names: Iterable[str] = TIMINGS) -> Any:
    """`doc` without the top-level fields `names` (each named by the caller: nothing else is ignored)."""
    names = tuple(names)
    assert isinstance(doc, dict), doc
    return {k: v for k, v in doc.items() if k not in names}


def rows_of(text: str) -> list[list[str]]:
    """A CSV document's rows (line ends of either kind)."""
    return list(csv.reader(text.splitlines()))


def serve_store(store: Path, base: Path, addresses: list[str], **settings: object) -> Server:
    """A running API server on `store` with a user `<role>1` and a token per role; `addresses` are
    what `Server.addresses` holds (the conftest's `start` reads them from a truth file)."""
    ws = Workspace.open(Settings.load(store=store), writable=True, actor=Actor(user="setup", via="python"))
    tokens = {}
    for role in ROLES:
        ws.users_add(f"{role}1", role=role)
        tokens[role] = ws.tokens_create(f"{role}1").token
    truth = base / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    with open(truth / "addresses.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["address"])
        w.writerows([a] for a in addresses)
    return start(store, tokens, base, **settings)
