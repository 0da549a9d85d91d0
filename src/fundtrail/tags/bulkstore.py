"""Putting a streamed file version in force: its rows come from a Parquet file, the diff against the
file's previous version is counted in SQL, so no row of either version is held in Python.

The same transaction and the same catalog rows as `tagstore.replace_file` (which takes rows in
memory): one `tag_imports` row with the counts, the file's old tags deleted and the new ones
inserted in line order, `tag_files` pointing at the new version; the caller refreshes
`tags_merged` (`refresh_touched`: the touched addresses stay in DuckDB too) and commits. DuckDB's
joins, sorts and temp tables spill under its share of `memory_limit`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from fundtrail.store.engine import sql_string
from fundtrail.store.sql import scalar
from fundtrail.tags import tagstore

_OLD = "(SELECT tag_key, content_hash, address, line FROM tags WHERE origin = $origin)"
_EXAMPLES = 20


def _diff(con: duckdb.DuckDBPyConnection, new: str, origin: str) -> tagstore.Diff:
    """Added, changed, unchanged and removed tag keys; the lists hold the first `_EXAMPLES` of each
    (in line order, as the in-memory diff lists them), `counts` the totals."""
    params = {"origin": origin}
    joined = f"FROM {new} n LEFT JOIN {_OLD} o USING (tag_key)"
    added, changed, unchanged = con.execute(
        "SELECT count(*) FILTER (WHERE o.tag_key IS NULL), "
        "count(*) FILTER (WHERE o.content_hash <> n.content_hash), "
        f"count(*) FILTER (WHERE o.content_hash = n.content_hash) {joined}", params).fetchone() or (0, 0, 0)

    def first(sql: str) -> list[str]:
        return [r[0] for r in con.execute(sql + f" ORDER BY l LIMIT {_EXAMPLES}", params).fetchall()]

    gone = f"FROM {_OLD} o WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE n.tag_key = o.tag_key)"
    removed = int(scalar(con.execute(f"SELECT count(*) {gone}", params)))
    return tagstore.Diff(
        added=first(f"SELECT n.tag_key, n.line AS l {joined} WHERE o.tag_key IS NULL") if added else [],
        changed=first(f"SELECT n.tag_key, n.line AS l {joined} WHERE o.content_hash <> n.content_hash")
        if changed else [],
        removed=first(f"SELECT o.tag_key, o.line AS l {gone}") if removed else [],
        unchanged=int(unchanged), counts=(int(added), removed, int(changed)))


#: Temp table (of the transaction's connection) of the addresses whose merged tags must be redone.
TOUCHED = "_touched_addresses"


def _touch(con: duckdb.DuckDBPyConnection, new: str, origin: str) -> None:
    """Add the addresses of the file's old and new version to TOUCHED."""
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TOUCHED} (address VARCHAR)")
    con.execute(f"INSERT INTO {TOUCHED} SELECT address FROM {_OLD} UNION SELECT address FROM {new}",
                {"origin": origin})


def refresh_touched(con: duckdb.DuckDBPyConnection, more: set[str], batch: int | None) -> None:
    """Recompute the merged tags of the addresses in TOUCHED and `more`, `batch` addresses at a time.

    Their tags are copied once, sorted by batch number, into a temp table (which DuckDB spills), so
    each batch reads only its own rows: one scan of `tags` however many batches, where the
    in-memory path's batches and hash partitions each scan all of it. The rows are those of
    `tagstore.refresh_merged` (the merge is the same query, over the same tags of each address)."""
    if more:
        con.register("_more_touched", pa.table({"address": pa.array(sorted(more), pa.string())}))
        try:
            con.execute(f"INSERT INTO {TOUCHED} SELECT address FROM _more_touched")
        finally:
            con.unregister("_more_touched")
    step = batch or (1 << 62)
    con.execute(f"CREATE TEMP TABLE _touched_batches AS SELECT address, "
                f"(row_number() OVER (ORDER BY address) - 1) // {int(step)} AS b "
                f"FROM (SELECT DISTINCT address FROM {TOUCHED})")
    try:
        batches = int(scalar(con.execute("SELECT coalesce(max(b) + 1, 0) FROM _touched_batches")))
        con.execute("DELETE FROM tags_merged WHERE address IN (SELECT address FROM _touched_batches)")
        con.execute("CREATE TEMP TABLE _touched_tags AS SELECT t.*, b FROM tags t "
                    "JOIN _touched_batches USING (address) ORDER BY b")
        merge = tagstore.MERGE_SQL.replace("FROM tags WHERE", "FROM _touched_tags WHERE")
        for i in range(batches):
            con.execute("INSERT INTO tags_merged " + merge.replace("@WHERE@", f"b = {i}"))
    finally:
        for table in ("_touched_tags", "_touched_batches", TOUCHED):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def replace_file_from(con: duckdb.DuckDBPyConnection, path: str, sha: str, fmt: str, table: Path,
                      n_tags: int, counts: dict) -> tuple[int, tagstore.Diff]:
    """Put the file version whose `n_tags` deduplicated rows (in line order) are in the Parquet
    file `table` in force; returns (import id, diff). The addresses of both versions are added to
    TOUCHED: the caller calls `refresh_touched` before it commits."""
    new = f"read_parquet({sql_string(str(table))})"
    had = con.execute("SELECT 1 FROM tags WHERE origin = ? LIMIT 1", [path]).fetchone() is not None
    diff = _diff(con, new, path)
    _touch(con, new, path)
    import_id = tagstore.next_import_id(con)
    added, removed, changed = diff.totals()
    tagstore.record(con, import_id, path, sha, fmt, "updated" if had else "imported",
                    {**counts, "tags": n_tags, "added": added, "removed": removed, "changed": changed,
                     "actors": 0})
    if had:
        con.execute("DELETE FROM tags WHERE origin = ?", [path])
    columns = ", ".join(tagstore.COLUMN_ORDER[2:])
    con.execute(f"INSERT INTO tags SELECT $id::BIGINT, $origin, {columns} FROM {new}",
                {"id": import_id, "origin": path})
    con.execute("INSERT OR REPLACE INTO tag_files VALUES (?, ?, ?, ?)", [path, sha, fmt, import_id])
    return import_id, diff
