"""Shared pytest fixtures.

Real chain data and label lists are not committed (licences, size): tests read them from the
directory in env FUNDTRAIL_TESTDATA, or by default from `<repo>/../shared/data`. Without it the
tests that need it are skipped locally, but fail under CI=true, where a skip would hide a gap.
"""

from __future__ import annotations

import os
from pathlib import Path

import sys

import pytest

# tests/support holds helpers shared by test modules: `from support import reliability`
sys.path.insert(0, str(Path(__file__).resolve().parent))

_DEFAULT_TESTDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """Directory of the shared real-data files (skip, or fail under CI, if it is missing)."""
    configured = os.environ.get("FUNDTRAIL_TESTDATA")
    path = Path(configured) if configured else _DEFAULT_TESTDATA
    if not path.is_dir():
        reason = f"test data directory {path} not found (set FUNDTRAIL_TESTDATA)"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def etl_fixtures(testdata: Path) -> Path:
    """ethereum-etl's recorded JSON-RPC responses and expected outputs (shared data)."""
    path = testdata / "eth" / "ethereum-etl-fixtures"
    if not path.is_dir():
        reason = f"ethereum-etl fixtures not found at {path}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path
