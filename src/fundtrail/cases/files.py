"""The rest of a case file (catalog migration 11): saved graph layouts, bundles made, and the tags
proposed in the case (tags whose `case_id` is the case, added with `fundtrail case tag` or
`tags add --case`).

A layout is a canvas the user saved (`saved_graphs`): only its owner can put it in a case (another
user's graph id reads as not found, as in `graph_get`); the case keeps the reference, the canvas
stays where it is. Bundles are recorded by the bundle writer; this module only reads them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb

from fundtrail.cases import ids
from fundtrail.cases.store import _case, check_writable, now
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store import Store

_GRAPH_ID = re.compile(r"g-[0-9a-f]{16}")
TAG_COLUMNS = ("address", "currency", "label", "category", "concepts", "confidence", "source", "creator", "lastmod",
               "actor", "context", "visibility", "import_id", "created")


def check_graph_id(graph_id: object) -> str:
    """`graph_id` when shaped like a saved graph id, else a UsageError on `graph`."""
    if not isinstance(graph_id, str) or not _GRAPH_ID.fullmatch(graph_id):
        raise UsageError(f"graph {str(graph_id)[:40]!r} is not a saved graph id (g- and 16 hex digits)",
                         field="graph")
    return graph_id


def add_layout(store: Store, case_id: str, user: str, graph_id: str) -> None:
    """Keep one of the user's saved graphs in an open case they write to (again: no change)."""
    ids.check_case_id(case_id)
    check_graph_id(graph_id)
    with store.connect() as con:
        check_writable(_case(con, case_id, user), "adding a graph layout")
        if not con.execute("SELECT 1 FROM saved_graphs WHERE graph_id = ? AND owner = ?",
                           [graph_id, user]).fetchone():
            raise NotFoundError(f"graph {graph_id} is not a saved graph of yours", field="graph")
        con.execute("INSERT INTO case_layouts VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [case_id, graph_id, now(), user])


def _rows(con: duckdb.DuckDBPyConnection, sql: str, case_id: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [dict(zip(names, r)) for r in con.execute(sql, [case_id]).fetchall()]


def list_layouts(con: duckdb.DuckDBPyConnection, case_id: str) -> list[dict[str, Any]]:
    """The case's layouts, oldest first; `name`/`chain` None when the canvas was deleted since."""
    return _rows(con, "SELECT l.graph_id, g.name, g.chain, l.added_at, l.added_by FROM case_layouts l "
                      "LEFT JOIN saved_graphs g ON g.graph_id = l.graph_id WHERE l.case_id = ? "
                      "ORDER BY l.added_at, l.graph_id", case_id, ("graph_id", "name", "chain", "added_at", "added_by"))


def list_bundles(con: duckdb.DuckDBPyConnection, case_id: str) -> list[dict[str, Any]]:
    """The evidence bundles made of the case, oldest first."""
    return _rows(con, "SELECT bundle_hash, created_at, created_by, path, bytes, transactions FROM case_bundles "
                      "WHERE case_id = ? ORDER BY created_at, bundle_hash", case_id,
                 ("bundle_hash", "created_at", "created_by", "path", "bytes", "transactions"))


def list_tags(con: duckdb.DuckDBPyConnection, case_id: str) -> list[dict[str, Any]]:
    """The tags proposed in the case, in a stable order (currency, address, label)."""
    rows = _rows(con, f"SELECT {', '.join('t.' + c for c in TAG_COLUMNS[:-1])}, i.imported_at FROM tags t "
                      "LEFT JOIN tag_imports i ON i.import_id = t.import_id WHERE t.case_id = ? "
                      "AND t.subject = 'address' ORDER BY t.currency, t.address, t.label, t.import_id",
                 case_id, TAG_COLUMNS)
    for row in rows:
        row["concepts"] = list(row["concepts"] or [])
        if isinstance(row["lastmod"], dt.date):
            row["lastmod"] = row["lastmod"].isoformat()
    return rows
