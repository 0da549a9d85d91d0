"""Service labels for the super-cluster guard, matched to address ids in bulk.

The guard asks which members of the clusters a run touched carry a service label
(`guard.ServiceLabels`). Labels come keyed by address string (tags are); the chain keys addresses
by id and stores them as (script type, payload) or 20 raw account bytes. Matching one label at a
time (parse the string, query its id) cost one query per tag: with the public label sources
imported (375k Bitcoin service tags) a run over 600 blocks had not finished after 12 minutes.

So the smaller side is converted and then matched in one step:
- members no more than labels (small chains, incremental runs): the members' strings are rendered
  (one query) and looked up in the label map;
- more members than labels (a full run on a large chain): the label strings are parsed once for the
  chain's network and joined to the chain's addresses on (script type, payload) in DuckDB,
  restricted to the members (one query).
Either way at most min(members, labels) strings are converted, in two queries, whatever the number
of tags, and only addresses present in the chain get a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pyarrow as pa

from fundtrail.chains.bitcoin.address import parse_address as parse_btc
from fundtrail.chains.bitcoin.params import network as btc_network
from fundtrail.chains.resolve import parse_account_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.cluster.query import address_texts
from fundtrail.cluster.snapshot import Snapshot, open_snapshot
from fundtrail.errors import FundtrailError
from fundtrail.store import Store

RENDER, PARSE, AUTO = "render", "parse", "auto"
#: Conversions (about 10 µs each) from which a step is announced before it starts.
_ANNOUNCE = 50_000


class AddressLabels:
    """A `guard.ServiceLabels` hook over labels keyed by address text in the tags' normal form
    (Base58 as written, bech32 and hex in lower case), for one chain of a store.

    `progress` receives one line per step that converts many strings; `queries` and `converted`
    count the work done (what a test checks: bounded, not one query per tag).
    """

    def __init__(self, store: Store, chain: str, labels: Mapping[str, str], *, strategy: str = AUTO,
                 progress: Callable[[str], None] | None = None) -> None:
        if strategy not in (RENDER, PARSE, AUTO):
            raise ValueError(f"unknown strategy {strategy!r}")
        self.store, self.chain, self.labels = store, chain, dict(labels)
        self.strategy, self.progress = strategy, progress
        self.queries = 0
        self.converted = 0

    def __len__(self) -> int:
        return len(self.labels)

    def __call__(self, members: np.ndarray) -> dict[int, str]:
        members = np.unique(np.asarray(members, np.int64))
        if members.size == 0 or not self.labels:
            return {}
        render = self.strategy == RENDER or (self.strategy == AUTO and members.size <= len(self.labels))
        t0 = time.perf_counter()
        work = members.size if render else len(self.labels)
        if self.progress and work >= _ANNOUNCE:  # about a second or more of conversions
            self.progress(f"service labels: matching {len(self.labels):,} labelled addresses to "
                          f"{members.size:,} cluster members")
        with open_snapshot(self.store, self.chain) as snap:
            found = self._by_render(snap, members) if render else self._by_parse(snap, members)
        if self.progress:
            how = (f"rendered {members.size:,} member addresses" if render
                   else f"parsed {len(self.labels):,} labelled addresses")
            self.progress(f"service labels: {len(found):,} of {members.size:,} cluster members labelled "
                          f"({how}, {time.perf_counter() - t0:.1f} s)")
        return found

    def _by_render(self, snap: Snapshot, members: np.ndarray) -> dict[int, str]:
        """Render the members' strings (one query) and look them up."""
        texts = address_texts(snap, members)
        self.queries += 1
        self.converted += len(texts)
        # EIP-55 mixed case; tags keep hex in lower case (TRON's `T…` text is case-sensitive, as keyed)
        lower = snap.family == "account" and not is_tron_chain(snap.chain, snap.network)
        out = {}
        for aid, text in texts.items():
            label = self.labels.get(text.lower() if lower else text)
            if label is not None:
                out[aid] = label
        return out

    def _by_parse(self, snap: Snapshot, members: np.ndarray) -> dict[int, str]:
        """Parse the labelled strings for the chain and join them to its addresses (one query);
        strings that are not addresses of this network are skipped, as the chain cannot hold them."""
        stypes, payloads, ranks = [], [], []
        net = btc_network(snap.network) if snap.family != "account" else None
        for rank, text in enumerate(self.labels):
            try:
                if net is None:
                    stypes.append(0)
                    payloads.append(parse_account_address(text, chain=snap.chain, network=snap.network))
                else:
                    stype, payload = parse_btc(text, net)
                    stypes.append(int(stype))
                    payloads.append(payload)
            except FundtrailError:
                continue
            ranks.append(rank)
        self.converted += len(self.labels)
        parsed = pa.table({"script_type": pa.array(stypes, pa.uint8()), "payload": pa.array(payloads, pa.binary()),
                           "rank": pa.array(ranks, pa.int64())})
        on = ("a.address = l.payload" if net is None
              else "a.script_type = l.script_type AND a.payload = l.payload")
        snap.con.register("_labelled", parsed)
        snap.con.register("_members", pa.table({"address_id": pa.array(members, pa.int64())}))
        try:
            rows = snap.con.execute(
                f"SELECT a.address_id, min(l.rank) FROM {snap.prefix}_addresses a JOIN _labelled l ON {on} "
                "WHERE a.address_id IN (SELECT address_id FROM _members) GROUP BY a.address_id").fetchall()
        finally:
            snap.con.unregister("_labelled")
            snap.con.unregister("_members")
        self.queries += 1
        values = list(self.labels.values())
        return {int(aid): values[int(rank)] for aid, rank in rows}
