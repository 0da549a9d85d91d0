"""Make a store look like one an older fundtrail wrote: the schema steps above a version undone
(what they created dropped, their rows in `schema_migrations` deleted), for the migration tests."""

from __future__ import annotations

import re
from pathlib import Path

from fundtrail.store import Store, migrations


def make_older(root: Path, keep: int) -> None:
    """Undo every schema step above version `keep` of the store at `root`."""
    with Store(root).connect() as con:
        for version, _desc, statements in reversed(migrations.MIGRATIONS):
            if version <= keep:
                continue
            for sql in reversed(statements):
                if m := re.match(r"\s*CREATE TABLE (\w+)", sql):
                    con.execute(f"DROP TABLE IF EXISTS {m.group(1)} CASCADE")
                elif m := re.match(r"\s*ALTER TABLE (\w+) ADD COLUMN (\w+)", sql):
                    con.execute(f"ALTER TABLE {m.group(1)} DROP COLUMN {m.group(2)}")
            con.execute("DELETE FROM schema_migrations WHERE version = ?", [version])
