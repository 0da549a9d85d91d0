"""A watch item and an alert for the workbench's route-wide tests (test_security.py's role matrix asks
every page with real values for `{item}` and `{alert}`).

    from web.support_watch import member_watch

The demo's store is fully ingested, so no new block can raise an alert there; the alert is written
with the domain's own writer (`fundtrail.watch.alerts.write`, what the evaluator calls inside a
batch's commit) for the tip block. The real path (ingest raising alerts) is tested in
tests/watch and tests/web/test_pages_watch.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fundtrail.settings import Settings
from fundtrail.store import Store
from fundtrail.watch import alerts as alert_rows
from fundtrail.watch.items import load_item
from fundtrail.workspace import Actor, Workspace


def member_watch(store: Path, case: str, trace: str, *, user: str = "investigator") -> dict[str, str]:
    """`{"item": id, "alert": id}`: `user` watches the saved trace `trace` of `case` (their case) for
    `reaches-service`, and one alert of that item stands at the chain's tip."""
    actor = Actor(user=user, role="investigator", via="python")
    ws: Any = Workspace.open(Settings.load(store=store), writable=True, actor=actor)
    item_id = ws.watch_add([trace], rule="reaches-service", case=case).items[0].id
    with Store.open(store).connect() as con:
        item = load_item(con, item_id)
        height, raw = con.execute("SELECT height, hash FROM block_index WHERE chain = ? AND height IS NOT NULL "
                                  "ORDER BY height DESC LIMIT 1", [item.chain]).fetchone()
        block_hash = bytes(raw)[::-1].hex()  # shown as Bitcoin shows block hashes
        alert_id = alert_rows.write(con, alert_rows.Alert(item, int(height), block_hash, None,
                                                          f"route check of {item_id}", "route-check"))
    assert alert_id is not None
    return {"item": item_id, "alert": alert_id}
