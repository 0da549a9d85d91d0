"""Writing tags to the catalog: one transaction per imported file, with its diff against the last
version of the same file, and analyst tags added one at a time.

A file is identified by its resolved path; its content by SHA-256. Importing the same content again
records an `unchanged` import and touches no tag. A new version replaces that file's tags and reports
which tags were added, removed or changed (same tag identity, different content). Every file is
replaced whole inside a transaction, so a crash before the commit leaves the previous versions in
force and a rerun converges to the same tags as an uninterrupted run.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from fundtrail.store.spill import default_limit
from fundtrail.store.sql import scalar
from fundtrail.tags.records import Actor

ANALYST = "analyst"  # origin of tags added with `fundtrail tags add`
_TYPES = {"line": pa.int32(), "concepts": pa.list_(pa.string()), "confidence_level": pa.int32(),
          "lastmod": pa.date32(), "is_cluster_definer": pa.bool_()}
_EXAMPLES = 20


@dataclass
class Diff:
    """What a file import changed, by tag identity (subject, currency, address, category, entity).

    The lists hold every key, or only the first `_EXAMPLES` when `counts` (added, removed, changed)
    gives the totals (a streamed file's diff, counted in SQL)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    counts: tuple[int, int, int] | None = None

    def totals(self) -> tuple[int, int, int]:
        """(added, removed, changed)."""
        return self.counts or (len(self.added), len(self.removed), len(self.changed))

    def summary(self) -> dict:
        added, removed, changed = self.totals()
        return {"added": added, "removed": removed, "changed": changed,
                "unchanged": self.unchanged, "examples": {
                    "added": self.added[:_EXAMPLES], "removed": self.removed[:_EXAMPLES],
                    "changed": self.changed[:_EXAMPLES]}}


def current_version(con: duckdb.DuckDBPyConnection, path: str) -> str | None:
    """SHA-256 of the version of `path` whose tags are in force, or None if never imported."""
    row = con.execute("SELECT sha256 FROM tag_files WHERE path = ?", [path]).fetchone()
    return row[0] if row else None


def next_import_id(con: duckdb.DuckDBPyConnection) -> int:
    """The id the next import gets (inside the caller's transaction)."""
    return int(scalar(con.execute("SELECT coalesce(max(import_id), 0) + 1 FROM tag_imports")))


def record(con: duckdb.DuckDBPyConnection, import_id: int, path: str | None, sha: str | None,
           fmt: str, status: str, counts: dict) -> None:
    """One row of `tag_imports`."""
    con.execute(
        "INSERT INTO tag_imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [import_id, path, sha, fmt, _dt.datetime.now(), status, counts.get("tags", 0),
         counts.get("added", 0), counts.get("removed", 0), counts.get("changed", 0),
         counts.get("invalid", 0), counts.get("warnings", 0), counts.get("duplicates", 0),
         counts.get("actors", 0)])


def record_unchanged(con: duckdb.DuckDBPyConnection, path: str, sha: str, fmt: str) -> int:
    """Note a re-import of identical content (a no-op for the tags); returns its import id."""
    import_id = next_import_id(con)
    record(con, import_id, path, sha, fmt, "unchanged", {})
    return import_id


#: Columns of the `tags` table, in order.
COLUMN_ORDER = ("import_id", "origin", "line", "subject", "currency", "address", "validation",
                "label", "category", "concepts", "confidence", "confidence_level", "source",
                "creator", "lastmod", "actor", "is_cluster_definer", "context", "visibility",
                "case_id", "entity", "tag_key", "content_hash")


def row_table(rows: list[dict]) -> pa.Table:
    """Validated rows as an Arrow table: the `tags` columns after import_id and origin."""
    return pa.table({name: pa.array([r[name] for r in rows], _TYPES.get(name, pa.string()))
                     for name in COLUMN_ORDER[2:]})


def _arrow(rows: list[dict], import_id: int, origin: str) -> pa.Table:
    table = row_table(rows)
    table = table.add_column(0, "origin", pa.array([origin] * len(rows), pa.string()))
    return table.add_column(0, "import_id", pa.array([import_id] * len(rows), pa.int64()))


def _insert_rows(con: duckdb.DuckDBPyConnection, rows: list[dict], import_id: int, origin: str) -> None:
    if not rows:
        return
    table = _arrow(rows, import_id, origin)
    con.register("_new_tags", table)
    con.execute("INSERT INTO tags SELECT * FROM _new_tags")
    con.unregister("_new_tags")


_SOURCE = ("{'origin': origin, 'line': line, 'import_id': import_id, 'label': label, "
           "'source': source, 'creator': creator, 'lastmod': lastmod, 'confidence': confidence, "
           "'visibility': visibility, 'case_id': case_id, 'validation': validation, "
           "'concepts': concepts, 'context': context, 'is_cluster_definer': is_cluster_definer}")
_ORDER = "confidence_level DESC, origin, line, label"
#: Tags making the same claim (same tag_key) merged: the label and confidence of the first source,
#: sources ordered strongest first, then by file and line (so equally strong sources give the same
#: pick in every import, not whichever row the engine meets first), the actor of the first source
#: naming one; every source listed in that order. `tags_merged` holds this for every address.
MERGE_SQL = f"""
    SELECT address, tag_key, any_value(subject), any_value(currency), any_value(category),
           any_value(entity), first(label ORDER BY {_ORDER}), list(DISTINCT label ORDER BY label),
           first(confidence ORDER BY {_ORDER}), max(confidence_level),
           first(actor ORDER BY {_ORDER}) FILTER (WHERE actor IS NOT NULL),
           CASE WHEN bool_or(visibility = 'shared') THEN 'shared' ELSE 'private' END,
           list({_SOURCE} ORDER BY {_ORDER})
    FROM tags WHERE @WHERE@ GROUP BY address, tag_key
"""
_FULL_REFRESH = 200_000  # touched addresses above which rebuilding everything is cheaper
#: DuckDB's share of a limit for the merge (a quarter of it, not below what its joins need, as
#: ingest's), and its bytes per merged address: the merge's ordered list aggregates cannot spill, so
#: it runs over as many addresses at a time as fit (about 3.6 KB each measured; a quarter of the share).
DUCKDB_FLOOR = 128 << 20
_MERGE_BYTES = 16 << 10


def duckdb_share(limit: int) -> int:
    """The DuckDB memory the merge's batches are sized from under `limit` bytes."""
    return max(DUCKDB_FLOOR, limit // 4)


def import_share(limit: int) -> int:
    """DuckDB's memory limit during a tag import under `limit` bytes: half of it. The import's own
    objects are one chunk of a file (`streamimport`), and the commit of a large file pins DuckDB's
    ART indexes on address (about 60 B per row of `tags` and `tags_merged` it loads; 145 MB for a
    586,000-row file into a catalog of 763,000 tags), which cannot spill."""
    return max(DUCKDB_FLOOR, limit // 2)


def merge_batch() -> int | None:
    """Addresses merged per query under `store.spill.default_limit()` (None: no limit, all at once)."""
    limit = default_limit()
    return None if limit is None else max(1_000, duckdb_share(limit) // _MERGE_BYTES)


def refresh_merged(con: duckdb.DuckDBPyConnection, addresses: set[str], *, batch: int | None = None) -> None:
    """Recompute the merged tags of these addresses (all of them when there are many), `batch`
    addresses per query (default `merge_batch()`); the rows are the same however they are cut."""
    if not addresses:
        return
    batch = merge_batch() if batch is None else batch
    if len(addresses) >= _FULL_REFRESH:
        con.execute("DELETE FROM tags_merged")
        n = int(scalar(con.execute("SELECT count(DISTINCT address) FROM tags")))
        parts = 1 if batch is None else max(1, -(-n // batch))
        for i in range(parts):  # address partitions by hash: each address's rows in one query
            where = "true" if parts == 1 else f"hash(address) % {parts} = {i}"
            con.execute("INSERT INTO tags_merged " + MERGE_SQL.replace("@WHERE@", where))
        return
    todo = sorted(addresses)
    step = len(todo) if batch is None else batch
    for lo in range(0, len(todo), step):
        con.register("_touched", pa.table({"address": pa.array(todo[lo:lo + step], pa.string())}))
        try:
            con.execute("DELETE FROM tags_merged WHERE address IN (SELECT address FROM _touched)")
            con.execute("INSERT INTO tags_merged "
                        + MERGE_SQL.replace("@WHERE@", "address IN (SELECT address FROM _touched)"))
        finally:
            con.unregister("_touched")


def _diff(old: list[tuple[str, str]], rows: list[dict]) -> Diff:
    before = dict(old)
    diff = Diff()
    seen = set()
    for r in rows:
        key = r["tag_key"]
        seen.add(key)
        if key not in before:
            diff.added.append(key)
        elif before[key] != r["content_hash"]:
            diff.changed.append(key)
        else:
            diff.unchanged += 1
    diff.removed = [k for k in before if k not in seen]
    return diff


def _upsert_actors(con: duckdb.DuckDBPyConnection, actors: list[Actor], origin: str, import_id: int) -> None:
    con.execute("DELETE FROM actors WHERE origin = ?", [origin])
    if not actors:
        return
    table = pa.table({
        "actor_id": [a.id for a in actors], "label": [a.label for a in actors],
        "uri": [a.uri for a in actors],
        "categories": pa.array([list(a.categories) for a in actors], pa.list_(pa.string())),
        "jurisdictions": pa.array([list(a.jurisdictions) for a in actors], pa.list_(pa.string())),
        "aliases": pa.array([list(a.aliases) for a in actors], pa.list_(pa.string())),
        "context": [a.context for a in actors], "origin": [origin] * len(actors),
        "line": pa.array([a.line for a in actors], pa.int32()),
        "import_id": pa.array([import_id] * len(actors), pa.int64()),
    })
    con.register("_new_actors", table)
    con.execute("INSERT OR REPLACE INTO actors SELECT * FROM _new_actors")
    con.unregister("_new_actors")


def replace_file(con: duckdb.DuckDBPyConnection, path: str, sha: str, fmt: str, rows: list[dict],
                 actors: list[Actor], counts: dict) -> tuple[int, Diff, set[str]]:
    """Put one file version's tags in force; returns (import id, diff, addresses touched).

    Runs inside the caller's transaction (the importer commits several small files at once); the
    caller refreshes `tags_merged` for the touched addresses before it commits.
    """
    old = con.execute("SELECT tag_key, content_hash, address FROM tags WHERE origin = ?", [path]).fetchall()
    touched = {r[2] for r in old} | {r["address"] for r in rows}
    old = [(k, h) for k, h, _ in old]
    diff = _diff(old, rows)
    import_id = next_import_id(con)
    record(con, import_id, path, sha, fmt, "updated" if old else "imported",
            {**counts, "tags": len(rows), "added": len(diff.added), "removed": len(diff.removed),
             "changed": len(diff.changed), "actors": len(actors)})
    if old:
        con.execute("DELETE FROM tags WHERE origin = ?", [path])
    _insert_rows(con, rows, import_id, path)
    if actors or fmt == "actorpack":
        _upsert_actors(con, actors, path, import_id)
    con.execute("INSERT OR REPLACE INTO tag_files VALUES (?, ?, ?, ?)", [path, sha, fmt, import_id])
    return import_id, diff, touched


def add_analyst_tag(con: duckdb.DuckDBPyConnection, row: dict) -> tuple[int, bool]:
    """Store one analyst tag; returns (import id, False if an identical tag was already there)."""
    con.execute("BEGIN")
    try:
        same = con.execute("SELECT 1 FROM tags WHERE origin = ? AND tag_key = ? AND content_hash = ?",
                           [ANALYST, row["tag_key"], row["content_hash"]]).fetchone()
        import_id = next_import_id(con)
        record(con, import_id, None, None, ANALYST, "unchanged" if same else "imported",
                {"tags": 0 if same else 1, "added": 0 if same else 1})
        if not same:
            con.execute("DELETE FROM tags WHERE origin = ? AND tag_key = ?", [ANALYST, row["tag_key"]])
            _insert_rows(con, [row], import_id, ANALYST)
            refresh_merged(con, {row["address"]})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return import_id, not same
