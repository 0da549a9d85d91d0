"""A saved trace's listed stop addresses, as a UTXO evaluator follows its frontier (docs/watch.md).

`watch add` keeps them with the item as rows `stop:ADDRESS` of `watch_frontier`
(`watch.frontier.stop_row`); taint reaching one is not carried further, as the trace stopped
there. Resolved to address ids by fingerprint once per load; one not on the chain yet is matched
in the batch that first pays it (pending until that batch is committed).
"""

from __future__ import annotations

import pyarrow as pa

from fundtrail.errors import FundtrailError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store
from fundtrail.watch.services import fingerprint_of, known_fingerprints


class ListedStops:
    """Item -> the address ids of its listed stops."""

    def __init__(self, store: Store, chain: str, stops: list[tuple[str, str]]) -> None:
        """`stops`: (item id, address text) of the `stop:` rows of the chain's active items."""
        net = bitcoin_network_of(chain)
        self.by_fp: dict[tuple[int, int], set[str]] = {}
        for item_id, text in stops:
            try:
                self.by_fp.setdefault(fingerprint_of(text, net), set()).add(item_id)
            except FundtrailError:
                continue  # a malformed stop could not stop anything
        self.ids: dict[str, set[int]] = {}
        for aid, fp1, fp2 in known_fingerprints(store, chain, list(self.by_fp)):
            for item_id in self.by_fp[(fp1, fp2)]:
                self.ids.setdefault(item_id, set()).add(aid)
        self.pending: dict[str, set[int]] = {}

    def observe(self, addresses: pa.Table) -> None:
        """Note the batch's new addresses that are listed stops (kept once it is committed)."""
        self.pending = {}
        if not self.by_fp or addresses.num_rows == 0:
            return
        for aid, fp1, fp2 in zip(addresses.column("address_id").to_pylist(), addresses.column("fp1").to_pylist(),
                                 addresses.column("fp2").to_pylist()):
            for item_id in self.by_fp.get((int(fp1), int(fp2)), ()):
                self.pending.setdefault(item_id, set()).add(int(aid))

    def of(self, item_id: str) -> set[int]:
        """The item's stops, those of the pending batch included."""
        return self.ids.get(item_id, set()) | self.pending.get(item_id, set())

    def commit(self) -> None:
        for item_id, ids in self.pending.items():
            self.ids.setdefault(item_id, set()).update(ids)
        self.pending = {}
