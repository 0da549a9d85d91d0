"""ruff and mypy as tests, so `make test` (and CI) fails on a lint or type error like on any other.

Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]: strict on the service layer
and the REST API). mypy runs once over the package with its cache in the repository's `.mypy_cache`,
so a re-run after a small change takes seconds. docs/development.md says how to run them alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if tool == "ruff":
        exe = BIN / "ruff"
        cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "ruff", *args]
    else:
        cmd = [sys.executable, "-m", tool, *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "--no-cache", "--output-format", "concise", "src", "tests", "benchmarks")
    assert done.returncode == 0, f"ruff check found problems:\n{done.stdout}{done.stderr}"


def test_mypy_finds_nothing() -> None:
    done = _run("mypy", "--no-error-summary", "--hide-error-context")
    errors = [ln for ln in done.stdout.splitlines() if ": error:" in ln]
    assert done.returncode == 0 and not errors, \
        f"mypy found {len(errors)} errors:\n{done.stdout}{done.stderr}"
