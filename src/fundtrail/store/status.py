"""What a store holds, per chain and family: block ranges, counts, the last ingest run."""

from __future__ import annotations

from fundtrail.store.lake import Store


def _hex(b: bytes | None) -> str | None:
    return None if b is None else bytes(b)[::-1].hex()


def status(store: Store) -> dict:
    """What the store holds: per chain, block range, counts, unresolved inputs, last batch."""
    result = {"store": str(store.root), "schema_version": store.schema_version(), "chains": []}
    with store.query() as con:
        for chain, family, network in con.execute(
                "SELECT chain, family, network FROM chains ORDER BY chain").fetchall():
            p = chain.replace("-", "_")
            if family == "account":
                result["chains"].append(_account_status(con, chain, network, p))
                continue
            b = con.execute(f"SELECT count(*), min(height), max(height) FROM {p}_blocks").fetchone()
            counts = {t: con.execute(f"SELECT count(*) FROM {p}_{t}").fetchone()[0]
                      for t in ("transactions", "inputs", "outputs", "addresses")}
            unresolved = con.execute(
                f"SELECT count(*) FROM {p}_inputs WHERE value IS NULL").fetchone()[0]
            tip = con.execute(
                f"SELECT hash FROM {p}_blocks WHERE height IS NOT NULL ORDER BY height DESC LIMIT 1"
            ).fetchone()
            last = con.execute(
                "SELECT max(batch_id), max(committed_at) FROM batches WHERE chain = ?", [chain]).fetchone()
            run = con.execute(
                "SELECT run_id, source, started_at, finished_at, status, blocks, transactions, message "
                "FROM ingest_runs WHERE chain = ? ORDER BY run_id DESC LIMIT 1", [chain]).fetchone()
            last_run = None if run is None else {
                "run_id": run[0], "source": run[1], "started_at": run[2].isoformat(),
                "finished_at": run[3].isoformat() if run[3] else None, "status": run[4],
                "blocks": run[5], "transactions": run[6], "message": run[7]}
            result["chains"].append({
                "chain": chain, "family": family, "network": network, "blocks": b[0],
                "min_height": b[1], "max_height": b[2], "tip_hash": _hex(tip[0]) if tip else None,
                **counts, "unresolved_inputs": unresolved,
                "batches": (last[0] + 1) if last[0] is not None else 0,
                "last_commit": last[1].isoformat() if last[1] else None,
                "last_run": last_run,
            })
    return result


def _account_status(con, chain: str, network: str, p: str) -> dict:
    b = con.execute(f"SELECT count(*), min(number), max(number) FROM {p}_blocks").fetchone()
    counts = {t: con.execute(f"SELECT count(*) FROM {p}_{t}").fetchone()[0]
              for t in ("transactions", "transfers", "logs", "traces", "addresses", "tokens")}
    tip = con.execute(f"SELECT hash FROM {p}_blocks ORDER BY number DESC LIMIT 1").fetchone()
    run = con.execute("SELECT run_id, status, blocks FROM ingest_runs WHERE chain = ? "
                      "ORDER BY run_id DESC LIMIT 1", [chain]).fetchone()
    return {"chain": chain, "family": "account", "network": network, "blocks": b[0],
            "min_height": b[1], "max_height": b[2],
            "tip_hash": "0x" + bytes(tip[0]).hex() if tip else None, **counts,
            "last_run": None if run is None else {"run_id": run[0], "status": run[1], "blocks": run[2]}}
