"""Service operations: saved graphs, the canvases investigators save and open again.

A saved graph is the canvas's own JSON document (node positions, annotations, colours, hidden
nodes), a name and the store chain it shows, kept in the catalog table `saved_graphs` and owned
by the user who saved it: only they list, open or overwrite it, and another user's id reads as
not found, so ids reveal nothing. The service stores the document as given (at most 8 MB of JSON)
and never interprets it; until cases land (issue 16) the store is where canvases live.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import Any

from fundtrail.errors import NotFoundError, TooLargeError, UsageError
from fundtrail.workspace.core import WorkspaceBase
from fundtrail.workspace.graph_models import SavedGraph, SavedGraphDocument, SavedGraphList

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_NAME_CHARS", "GraphStoreOps"]

MAX_DOCUMENT_BYTES = 8 << 20
MAX_NAME_CHARS = 200
_ID = re.compile(r"g-[0-9a-f]{16}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COLUMNS = "graph_id, name, chain, owner, created_at, updated_at, bytes"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _iso(value: Any) -> str:
    assert isinstance(value, dt.datetime)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _name(name: Any) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(text) <= MAX_NAME_CHARS or _CONTROL.search(text):
        raise UsageError(f"name must be 1 to {MAX_NAME_CHARS} characters on one line", field="name")
    return text


def _document(document: Any) -> str:
    """The document as compact JSON text, checked to be a JSON object of at most 8 MB."""
    if not isinstance(document, dict):
        raise UsageError("document must be a JSON object (the canvas's JSON)", field="document")
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"document is not JSON: {exc}", field="document") from None
    size = len(text.encode())
    if size > MAX_DOCUMENT_BYTES:
        raise TooLargeError(f"document holds {size:,} bytes of JSON; at most {MAX_DOCUMENT_BYTES:,}",
                            field="document", hint="hide or remove nodes, or split the canvas")
    return text


def _graph_id(graph_id: Any) -> str:
    if not isinstance(graph_id, str) or not _ID.fullmatch(graph_id):
        raise UsageError("id is not a saved graph id (g- and 16 hex digits)", field="id")
    return graph_id


def _saved(row: tuple[Any, ...]) -> SavedGraph:
    gid, name, chain, owner, created, updated, size = row
    return SavedGraph(id=gid, name=name, chain=chain, owner=owner, created_at=_iso(created),
                      updated_at=_iso(updated), bytes=int(size))


class GraphStoreOps(WorkspaceBase):
    """Saved graphs of the acting user (module docstring)."""

    def graph_save(self, name: str, chain: str, document: dict[str, Any], *, id: str | None = None) -> SavedGraph:
        """Save a canvas as the acting user (a writable workspace); with `id`, overwrite that one
        of the user's graphs (NotFoundError for any other id)."""
        self.require_writable("saving a graph")
        text, title = _document(document), _name(name)
        chain_name = self.chain(chain, what="a saved graph").name
        owner, now = self.actor.user, _now()
        with self.store.connect() as con:
            if id is None:
                gid = f"g-{secrets.token_hex(8)}"
                con.execute("INSERT INTO saved_graphs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [gid, owner, title, chain_name, text, len(text.encode()), now, now])
            else:
                gid = _graph_id(id)
                row = con.execute("SELECT owner FROM saved_graphs WHERE graph_id = ?", [gid]).fetchone()
                if row is None or row[0] != owner:
                    raise NotFoundError(f"id {gid} is not one of your saved graphs", field="id")
                con.execute("UPDATE saved_graphs SET name = ?, chain = ?, document = ?, bytes = ?, updated_at = ? "
                            "WHERE graph_id = ?", [title, chain_name, text, len(text.encode()), now, gid])
            saved = con.execute(f"SELECT {_COLUMNS} FROM saved_graphs WHERE graph_id = ?", [gid]).fetchone()
        assert saved is not None
        return _saved(saved)

    def graph_list(self, *, owner: str | None = None) -> SavedGraphList:
        """The saved graphs of `owner` (default: the acting user), most recently updated first.
        A server passes the authenticated user, its workspace acting as itself."""
        who = owner if owner is not None else self.actor.user
        with self.store.connect(read_only=not self.writable) as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM saved_graphs WHERE owner = ? "
                               "ORDER BY updated_at DESC, graph_id", [who]).fetchall()
        return SavedGraphList(graphs=[_saved(r) for r in rows])

    def graph_load(self, id: str, *, owner: str | None = None) -> SavedGraphDocument:
        """One saved graph of `owner` (default: the acting user) with its document; NotFoundError
        for an id that is not theirs."""
        gid = _graph_id(id)
        who = owner if owner is not None else self.actor.user
        with self.store.connect(read_only=not self.writable) as con:
            row = con.execute(f"SELECT {_COLUMNS}, document FROM saved_graphs WHERE graph_id = ? AND owner = ?",
                              [gid, who]).fetchone()
        if row is None:
            raise NotFoundError(f"id {gid} is not one of your saved graphs", field="id")
        return SavedGraphDocument(**_saved(row[:-1]).model_dump(), document=json.loads(row[-1]))
