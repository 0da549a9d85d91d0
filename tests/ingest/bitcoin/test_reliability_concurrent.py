"""Two ingests into one store at once: the second is refused, the first is not harmed.

Without a writer lock the second run would delete the first one's uncommitted partition files as
"orphans" and commit batches from a stale view of the ids. A `--follow` run holds the store until
it is stopped with SIGTERM, after which it exits cleanly with everything committed.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from fundtrail.chains.bitcoin import writer as w
from fundtrail.chains.bitcoin.samplechain import build_sample_chain
from fundtrail.ingest.bitcoin.jobs import ingest_blocks_dir
from fundtrail.errors import StoreError
from fundtrail.store import Store


from support import reliability as rs


def _tip(root: Path) -> bytes | None:
    """The stored tip, polled while the follower runs; None before its catalog exists, and while
    DuckDB is still writing the new file's header (a read then finds no valid database: seen once
    on a loaded machine). A catalog that stays unreadable fails the caller's wait."""
    if not (root / "catalog.duckdb").exists():
        return None
    try:
        with Store(root).connect(read_only=True) as con:
            row = con.execute("SELECT hash FROM block_index WHERE chain = 'btc-regtest' "
                              "ORDER BY height DESC LIMIT 1").fetchone()
    except StoreError as exc:
        if "not a valid DuckDB database file" in exc.message:
            return None
        raise
    return bytes(row[0]) if row else None


def test_second_ingest_is_refused_while_a_follower_runs(tmp_path: Path) -> None:
    chain = build_sample_chain(seed=41, n_blocks=40, stale_branch=False).blocks
    rs.write_dir(tmp_path / "blocks", chain)
    node = rs.FakeNode(chain[:30])
    url, stop_server = rs.serve(node)
    store = tmp_path / "store"
    env = rs.cli_env(tmp_path)
    follower = subprocess.Popen(
        rs.cli_cmd(store, "ingest", "bitcoin", "--rpc", url, "--follow", "--poll-interval", "0.05", "--json"),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rs.wait_for(lambda: follower.poll() is not None or _tip(store) == w.block_hash(chain[29]), 60,
                    "the follower to store the node's tip")
        assert follower.poll() is None, follower.communicate()

        second = rs.run_cli(store, "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"), env=env)
        assert second.returncode == 4, second.stderr
        lines = second.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("fundtrail: error: another fundtrail process is "
                                                       "ingesting btc-regtest"), second.stderr

        node.set_chain(chain)  # the follower carries on undisturbed
        rs.wait_for(lambda: follower.poll() is not None or _tip(store) == w.block_hash(chain[-1]), 60,
                    "the follower to store the new tip")
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.communicate()
        stop_server()
    assert follower.returncode == 0, err
    assert json.loads(out)["blocks"] == len(chain)

    fresh = tmp_path / "fresh"
    ingest_blocks_dir(Store.open(fresh), tmp_path / "blocks")
    assert rs.logical_state(store) == rs.logical_state(fresh)
    assert rs.stray_files(store) == []
    # the lock went with the follower: the blocks-dir ingest now runs (and finds nothing new)
    again = rs.run_cli(store, "ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"), "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped_known"] == len(chain)


def test_lock_is_per_process_and_released_on_close(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "store")
    release = store.lock_writer("btc-regtest")
    release_again = store.lock_writer("btc-regtest")  # same process: shared, not a deadlock
    env = rs.cli_env(tmp_path)
    rs.write_dir(tmp_path / "blocks", build_sample_chain(seed=3, n_blocks=12, stale_branch=False).blocks)
    args = ("ingest", "bitcoin", "--blocks-dir", str(tmp_path / "blocks"))
    release()
    assert rs.run_cli(tmp_path / "store", *args, env=env).returncode == 4  # still held once
    release_again()
    release_again()  # idempotent
    done = rs.run_cli(tmp_path / "store", *args, env=env)
    assert done.returncode == 0, done.stderr
