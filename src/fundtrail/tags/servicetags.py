"""Service tags for the clustering run's false-merge guard.

Two different single-operator services (two exchanges, an exchange and a mixer) among the members
of one cluster mean the cluster is probably a false merge. The guard gets, per address of the
chain's currency, the strongest service tag as the label "category: actor" (the tag's label when it
names no actor), read in one query however many tags are stored.
"""

from __future__ import annotations

import duckdb

from fundtrail.tags.lookup import has_tags
from fundtrail.tags.taxonomy import CATEGORIES

_SERVICE_TAGS_SQL = """
SELECT address, category || ': ' || coalesce(nullif(actor, ''), label) FROM tags
WHERE currency = ? AND category IN (SELECT unnest(?))
QUALIFY row_number() OVER (PARTITION BY address
                           ORDER BY confidence_level DESC, category, coalesce(nullif(actor, ''), label)) = 1
"""


def service_tags(con: duckdb.DuckDBPyConnection, currency: str) -> dict[str, str]:
    """Address text -> the guard's label of its strongest service tag of `currency` ({} without
    tags or tag tables)."""
    if not has_tags(con):
        return {}
    services = [c.id for c in CATEGORIES.values() if c.service]
    rows = con.execute(_SERVICE_TAGS_SQL, [currency, services]).fetchall()
    return {str(a): str(label) for a, label in rows}
