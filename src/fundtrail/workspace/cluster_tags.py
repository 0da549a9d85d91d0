"""Where clusters meet tags: the tags a cluster inherits from its members (`cluster show`), and the
service tags fed to a clustering run's false-merge guard.

Both combine the `cluster` and `tags` packages, which sit on one layer and do not import each
other; the service layer joins them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fundtrail.cluster.labels import AddressLabels
from fundtrail.cluster.query import Clustering, address_texts
from fundtrail.cluster.snapshot import Snapshot
from fundtrail.store import Store
from fundtrail.tags.lookup import cluster_tags, distinct_tags, has_tags, tags_of, with_actors
from fundtrail.tags.servicetags import service_tags
from fundtrail.trace.attribution import chain_currency

#: Members whose tags `cluster show` reads (a bigger cluster says how many it looked at).
SHOW_TAG_MEMBERS = 200_000


def tags_of_cluster(store: Store, snap: Snapshot, cl: Clustering, address: str, cluster_id: int, *,
                    texts_of: Callable[[Any], dict[int, str]] | None = None) -> dict[str, Any]:
    """Tags of `address` and those its cluster inherits from members, one entry per distinct tag
    (`tags.lookup.distinct_tags`), with the cluster's conflict check and how many members were read.
    `texts_of(ids)`: the members' address texts from a source the caller holds (else the lake)."""
    with store.connect(read_only=True) as con:
        if not has_tags(con):
            return {"tags": [], "possible_false_merge": False, "conflict": None, "tag_members_read": 0}
        members = cl.members(cluster_id)[:SHOW_TAG_MEMBERS]
        texts = texts_of(members) if texts_of is not None else address_texts(snap, members)
        own = with_actors(con, tags_of(con, address))
        inherited = cluster_tags(con, [texts[int(m)] for m in members if int(m) in texts])
    carried = [{**t, "member": address} for t in own]
    carried += [t for t in inherited["tags"] if t["member"] != address]
    return {"tags": distinct_tags(carried, address), "possible_false_merge": inherited["possible_false_merge"],
            "conflict": inherited["conflict"], "tag_members_read": int(members.size)}


def service_labels(store: Store, chain: str, say: Callable[[str], None]) -> AddressLabels | None:
    """The guard's hook over the chain currency's service tags (single-operator categories: two of
    them in one cluster = likely false merge); None without any. The tags are matched to address
    ids in bulk, only for the members the guard asks about (`fundtrail.cluster.labels`)."""
    currency = chain_currency(chain)
    t0 = time.perf_counter()
    with store.connect(read_only=True) as con:
        labels = service_tags(con, currency)
    if not labels:
        return None
    say(f"{len(labels):,} service-tagged {currency} addresses for the false-merge guard "
        f"({time.perf_counter() - t0:.1f} s)")
    return AddressLabels(store, chain, labels, progress=say)
