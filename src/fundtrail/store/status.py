"""What a store holds: per chain its coverage (heights held, gaps, blocks of unknown height),
counts and last ingest run, and the attribution tags imported.

Coverage is part of the answer because every conclusion drawn from the store ("still unspent",
"no exposure") holds only for the heights it covers. A chain registered by an ingest that failed
before committing a block is reported as holding no blocks, with the failed run that left it,
never as if it held data.
"""

from __future__ import annotations

from typing import Any

from fundtrail.store.coverage import coverage
from fundtrail.store.lake import Store
from fundtrail.store.txhash import tx_hash_text


def _hex(b: bytes | None) -> str | None:
    return None if b is None else bytes(b)[::-1].hex()


def _last_run(con: Any, chain: str) -> dict | None:
    run = con.execute(
        "SELECT run_id, source, started_at, finished_at, status, blocks, transactions, message "
        "FROM ingest_runs WHERE chain = ? ORDER BY run_id DESC LIMIT 1", [chain]).fetchone()
    if run is None:
        return None
    return {"run_id": run[0], "source": run[1], "started_at": run[2].isoformat() if run[2] else None,
            "finished_at": run[3].isoformat() if run[3] else None, "status": run[4],
            "blocks": run[5], "transactions": run[6], "message": run[7]}


def status(store: Store) -> dict:
    """What the store holds: per chain, coverage, counts, unresolved inputs, last run; and tags."""
    result: dict[str, Any] = {"store": str(store.root), "schema_version": store.schema_version(),
                              "chains": []}
    with store.query() as con:
        for chain, family, network in con.execute(
                "SELECT chain, family, network FROM chains ORDER BY chain").fetchall():
            p = chain.replace("-", "_")
            entry = (_account_status(con, chain, network, p) if family == "account"
                     else _utxo_status(con, chain, network, p))
            entry["last_run"] = _last_run(con, chain)
            entry["coverage"] = coverage(store, chain).as_dict()
            entry["empty"] = entry["blocks"] == 0
            result["chains"].append(entry)
        result["tags"] = _tag_counts(con)
    return result


def _utxo_status(con: Any, chain: str, network: str, p: str) -> dict:
    b = con.execute(f"SELECT count(*), min(height), max(height) FROM {p}_blocks").fetchone()
    counts = {t: con.execute(f"SELECT count(*) FROM {p}_{t}").fetchone()[0]
              for t in ("transactions", "inputs", "outputs", "addresses")}
    unresolved = con.execute(f"SELECT count(*) FROM {p}_inputs WHERE value IS NULL").fetchone()[0]
    tip = con.execute(
        f"SELECT hash FROM {p}_blocks WHERE height IS NOT NULL ORDER BY height DESC LIMIT 1").fetchone()
    last = con.execute(
        "SELECT max(batch_id), max(committed_at) FROM batches WHERE chain = ?", [chain]).fetchone()
    return {"chain": chain, "family": "utxo", "network": network, "blocks": b[0],
            "min_height": b[1], "max_height": b[2], "tip_hash": _hex(tip[0]) if tip else None,
            **counts, "unresolved_inputs": unresolved,
            "batches": (last[0] + 1) if last[0] is not None else 0,
            "last_commit": last[1].isoformat() if last[1] else None}


def _account_status(con: Any, chain: str, network: str, p: str) -> dict:
    b = con.execute(f"SELECT count(*), min(number), max(number) FROM {p}_blocks").fetchone()
    counts = {t: con.execute(f"SELECT count(*) FROM {p}_{t}").fetchone()[0]
              for t in ("transactions", "transfers", "logs", "traces", "addresses", "tokens")}
    tip = con.execute(f"SELECT hash FROM {p}_blocks ORDER BY number DESC LIMIT 1").fetchone()
    return {"chain": chain, "family": "account", "network": network, "blocks": b[0],
            "min_height": b[1], "max_height": b[2],
            "tip_hash": tx_hash_text(bytes(tip[0]), chain=chain, network=network) if tip else None, **counts}


def _tag_counts(con: Any) -> dict:
    """Tags imported (the catalog's `tags` and `tags_merged` tables): totals, by currency and
    category, and the source files they came from."""
    rows, tags, addresses = con.execute(
        "SELECT (SELECT count(*) FROM tags), count(*), count(DISTINCT address) FROM tags_merged"
    ).fetchone()
    by_currency = con.execute("SELECT currency, count(*) FROM tags_merged GROUP BY 1 "
                              "ORDER BY 2 DESC, 1").fetchall()
    by_category = con.execute("SELECT coalesce(category, '(none)'), count(*) FROM tags_merged "
                              "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    files = con.execute("SELECT count(*) FROM tag_files").fetchone()[0]
    return {"tags": int(tags), "tag_rows": int(rows), "addresses": int(addresses),
            "source_files": int(files),
            "by_currency": {str(c): int(n) for c, n in by_currency},
            "by_category": {str(c): int(n) for c, n in by_category}}
