"""docs/cli.md's "Command list" names exactly the commands `fundtrail --help` and each group's
`--help` list, so a new command cannot ship undocumented and a removed one cannot linger in the docs.

After adding or renaming a command, regenerate the list with
`FUNDTRAIL_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -p no:xdist -q tests/docs/test_cli_commands.py`
and describe the command in its own section of docs/cli.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from fundtrail.cli.main import app

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
TITLE = "## Command list"
ENTRY = re.compile(r"^- `fundtrail ([^`]+)`")
INTRO = ("Every command, as `fundtrail --help` and each group's `--help` list them (a test keeps this list\n"
         "and the help equal). Each has a section below.\n")


def commands(group: Any = None, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(path, one-line help) of every visible command, groups expanded into their subcommands."""
    group = group or typer.main.get_group(app)
    ctx = typer.Context(group, info_name=" ".join(("fundtrail", *prefix)))
    found: list[tuple[tuple[str, ...], str]] = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        if hasattr(cmd, "list_commands"):  # a group (typer vendors click: no isinstance test)
            found += commands(cmd, (*prefix, name))
        else:
            found.append(((*prefix, name), cmd.get_short_help_str(limit=110)))
    return found


def documented(text: str) -> list[str]:
    """The commands the "Command list" section of docs/cli.md names, in order."""
    start = text.index(TITLE)
    end = text.find("\n## ", start + len(TITLE))
    section = text[start:end if end >= 0 else len(text)]
    return [m.group(1).strip() for line in section.splitlines() if (m := ENTRY.match(line))]


def render() -> str:
    """The "Command list" section for the current commands."""
    rows = [f"- `fundtrail {' '.join(path)}`" + (f": {summary}" if summary else "")
            for path, summary in commands()]
    return f"{TITLE}\n\n{INTRO}\n" + "\n".join(rows) + "\n"


def _rewrite(text: str) -> str:
    start = text.index(TITLE)
    end = text.find("\n## ", start + len(TITLE))
    return text[:start] + render() + (text[end:] if end >= 0 else "")


def test_command_list_matches_help() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    assert TITLE in text, f"docs/cli.md needs a {TITLE!r} section"
    if os.environ.get("FUNDTRAIL_UPDATE_GOLDEN") == "1":
        CLI_MD.write_text(_rewrite(text), encoding="utf-8")
        text = CLI_MD.read_text(encoding="utf-8")
    want = [" ".join(path) for path, _ in commands()]
    have = documented(text)
    missing, stale = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    assert not missing and not stale, (
        f"docs/cli.md {TITLE!r} is out of date: missing {missing}, no longer a command {stale} "
        "(regenerate: FUNDTRAIL_UPDATE_GOLDEN=1 pytest tests/docs/test_cli_commands.py)")
    assert len(have) == len(set(have)), "a command is listed twice"


def test_every_group_help_lists_its_commands() -> None:
    """The list above is built from the command tree; this checks the tree is what --help prints."""
    runner = CliRunner()
    groups: dict[tuple[str, ...], list[str]] = {}
    for path, _ in commands():
        for depth in range(len(path)):
            groups.setdefault(path[:depth], []).append(path[depth])
    assert groups[()], "fundtrail lists no commands"
    for group, names in groups.items():
        result = runner.invoke(app, [*group, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
        assert result.exit_code == 0, f"fundtrail {' '.join(group)} --help failed: {result.output}"
        listed = set(re.findall(r"^\s{2,}([a-z][a-z0-9-]*)\b", result.output, flags=re.M))
        assert set(names) <= listed, f"`fundtrail {' '.join(group)} --help` does not list {set(names) - listed}"


def test_documented_reads_the_section_only() -> None:
    text = ("# cli\n\n- `fundtrail before`\n\n## Command list\n\n- `fundtrail a b`: x\n- `fundtrail c`\n\n"
            "## next\n- `fundtrail d`\n")
    assert documented(text) == ["a b", "c"]
