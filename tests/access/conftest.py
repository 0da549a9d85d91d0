"""Fixtures of the access tests: one small store per module (users, tokens, audit log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundtrail.workspace import Actor, Workspace


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new, empty store (catalog only)."""
    root = tmp_path_factory.mktemp("access") / "store"
    Workspace.open(store=root, create=True, actor=Actor(user="setup", via="python"))
    return root


@pytest.fixture(scope="module")
def admin_ws(store_dir: Path) -> Workspace:
    """A writable workspace acting as `root-admin`."""
    return Workspace.open(store=store_dir, writable=True, actor=Actor(user="root-admin", via="python"))


@pytest.fixture(scope="module")
def server_ws(store_dir: Path) -> Workspace:
    """A read-only workspace, as the API server holds one for its lifetime."""
    return Workspace.open(store=store_dir, actor=Actor(user="server", via="api"))
