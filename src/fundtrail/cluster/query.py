"""Reading the current clustering: address strings to ids and back, cluster of an address, members,
totals (`fundtrail cluster show`).

The current clustering of a chain is its newest completed run with today's analyst overrides
applied, so an override shows at once, before the next run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fundtrail.chains.resolve import account_text, parse_account_address, parse_utxo_address, utxo_text
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.cluster import labelfile, overrides, runs
from fundtrail.cluster.snapshot import Snapshot
from fundtrail.errors import NotFoundError, StoreError, UsageError
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.store import Store


@dataclass(frozen=True)
class Clustering:
    """The current clustering of a chain: the run it comes from, the overrides, cluster id per address."""

    chain: str
    run: runs.RunRecord
    overrides: list[overrides.Override]
    labels: np.ndarray

    def cluster_of(self, address_id: int) -> int:
        """Cluster id of an address (an address newer than the run is its own cluster)."""
        return int(self.labels[address_id]) if 0 <= address_id < self.labels.shape[0] else int(address_id)

    def members(self, cluster_id: int) -> np.ndarray:
        """Address ids of a cluster, ascending (the first is the cluster id); the labels are
        scanned a range at a time, from the cluster id on (no member is smaller)."""
        n = self.labels.shape[0]
        if not 0 <= cluster_id < n:
            return np.array([cluster_id], np.int64)
        step = labelfile.STEP
        parts = [np.flatnonzero(self.labels[lo:lo + step] == cluster_id) + lo for lo in range(cluster_id, n, step)]
        return np.concatenate(parts).astype(np.int64)


def load_clustering(store: Store, chain: str) -> Clustering:
    """The newest completed run of `chain` with the current overrides; NotFoundError before any run."""
    try:
        return _load(store, chain)
    except StoreError:  # a run committing meanwhile may have replaced the checkpoint we were reading
        return _load(store, chain)


def _load(store: Store, chain: str) -> Clustering:
    with store.connect(read_only=True) as con:
        rec = runs.latest_run(store, chain, con)
        if rec is None:
            raise NotFoundError(f"chain {chain} has not been clustered yet",
                                hint=f"run `fundtrail cluster run --chain {chain}`")
        lin = runs.lineage(store, rec, con)
        ovs = overrides.list_overrides(store, chain, con=con)
    return Clustering(chain, rec, ovs, labelfile.current_labels(store, rec, lin, ovs))


def address_id(snap: Snapshot, text: str) -> int:
    """Id of a stored address given as a string; UsageError if malformed, NotFoundError if unknown.

    The one rule per chain family (`chains.resolve`; a Bitcoin-family address by the fingerprint
    ingest assigned its id by), read from the snapshot as `store.addresses` reads the store; the
    errors name no request field, so a caller can name its own."""
    params: list[bytes | int]
    try:
        if snap.family == "account":
            where, params = "address = ?", [parse_account_address(text, chain=snap.chain, network=snap.network)]
        else:
            addr = parse_utxo_address(text, snap.network)
            where, params = "fp1 = ? AND fp2 = ?", [addr.fp1, addr.fp2]
    except UsageError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    row = snap.con.execute(f"SELECT address_id FROM {snap.prefix}_addresses WHERE {where}", params).fetchall()
    if not row:
        raise NotFoundError(f"address {text.strip()} does not appear in chain {snap.chain}")
    return int(row[0][0])


def address_texts(snap: Snapshot, ids: list[int] | np.ndarray) -> dict[int, str]:
    """Display strings of address ids (scripts without an address form show as `script:<type>:<hex>`)."""
    want = sorted({int(i) for i in ids})
    if not want:
        return {}
    snap.con.register("_want_addr", pa.table({"address_id": pa.array(want, pa.int64())}))
    try:
        if snap.family == "account":
            rows = snap.con.execute(f"SELECT a.address_id, a.address FROM {snap.prefix}_addresses a "
                                    "JOIN _want_addr USING (address_id)").fetchall()
            return {int(i): account_text(bytes(raw), chain=snap.chain, network=snap.network) for i, raw in rows}
        rows = snap.con.execute(f"SELECT a.address_id, a.script_type, a.payload FROM {snap.prefix}_addresses a "
                                "JOIN _want_addr USING (address_id)").fetchall()
    finally:
        snap.con.unregister("_want_addr")
    return {int(i): utxo_text(int(stype), bytes(payload), snap.network) for i, stype, payload in rows}


def _iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(int(ts), _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def totals(snap: Snapshot, members: np.ndarray) -> dict:
    """Value received by and sent from the members, and their first and last activity.

    UTXO chains: satoshi paid to member addresses and spent from them (payments between members,
    such as change, count on both sides). Account chains: the native asset only (wei), successful
    native and internal transfers, as decimal strings.
    """
    p = snap.prefix
    snap.con.register("_members", pa.table({"address_id": pa.array(members, pa.int64())}))
    try:
        if snap.family == "account":
            q = (f"SELECT sum(amount)::VARCHAR, count(*), min(block_time), max(block_time) FROM {p}_transfers "
                 "WHERE {col} IN (SELECT address_id FROM _members) AND asset_id IS NULL AND kind IN (0, 1) "
                 "AND success")
            recv = snap.con.execute(q.format(col="to_id")).fetchall()[0]
            sent = snap.con.execute(q.format(col="from_id")).fetchall()[0]
        else:
            recv = snap.con.execute(
                f"SELECT sum(o.value), count(*), min(b.time), max(b.time) FROM {p}_outputs o "
                f"JOIN _members m ON o.address_id = m.address_id JOIN {p}_transactions t ON o.tx_id = t.tx_id "
                f"LEFT JOIN {p}_blocks b ON t.block_id = b.block_id").fetchall()[0]
            sent = snap.con.execute(
                f"SELECT sum(i.value), count(*), min(b.time), max(b.time) FROM {p}_inputs i "
                f"JOIN _members m ON i.address_id = m.address_id JOIN {p}_transactions t ON i.tx_id = t.tx_id "
                f"LEFT JOIN {p}_blocks b ON t.block_id = b.block_id").fetchall()[0]
    finally:
        snap.con.unregister("_members")
    times = [t for t in (recv[2], recv[3], sent[2], sent[3]) if t is not None]
    zero = "0" if snap.family == "account" else 0
    return {
        "received": recv[0] if recv[0] is not None else zero, "received_count": int(recv[1]),
        "sent": sent[0] if sent[0] is not None else zero, "sent_count": int(sent[1]),
        "first_activity": _iso(min(times)) if times else None,
        "last_activity": _iso(max(times)) if times else None,
    }


def show(store: Store, snap: Snapshot, text: str, cl: Clustering | None = None) -> dict:
    """The cluster of an address: id, size, totals, activity, the run it comes from, tags (none yet).
    `cl` is the chain's current clustering when the caller holds it (loaded otherwise)."""
    aid = address_id(snap, text)
    return show_member(store, snap, aid, cl, text)


def cluster_root(snap: Snapshot, cl: Clustering, cluster_id: int) -> int:
    """`cluster_id` checked to name a cluster of the current clustering (the smallest address id of
    its members); NotFoundError otherwise, naming the cluster the address id is in."""
    if not 0 <= cluster_id < max(snap.n_addresses, cl.labels.shape[0]):
        raise NotFoundError(f"cluster {cluster_id} does not exist in chain {snap.chain}", field="cluster_id")
    root = cl.cluster_of(cluster_id)
    if root != cluster_id:
        raise NotFoundError(f"{cluster_id} is not a cluster id: address id {cluster_id} is in cluster {root}",
                            field="cluster_id", hint=f"ask for cluster {root}")
    return root


def show_member(store: Store, snap: Snapshot, aid: int, cl: Clustering | None = None,
                text: str | None = None, totals_of: Callable[[np.ndarray], dict | None] | None = None,
                texts_of: Callable[[list[int]], dict[int, str]] | None = None) -> dict:
    """`show` of the cluster of address id `aid` (`text`: the address as the user wrote it).
    `totals_of(members)`: the members' totals from a faster source the caller holds (an index),
    or None to have them summed here over the lake; `texts_of(ids)` the address texts likewise."""
    cl = cl if cl is not None else load_clustering(store, snap.chain)
    cid = cl.cluster_of(aid)
    members = cl.members(cid)
    names = (texts_of or (lambda ids: address_texts(snap, ids)))([aid, cid])
    touching = [ov.override_id for ov in cl.overrides if set(ov.addresses) & set(members.tolist())]
    return {
        "chain": snap.chain, "address": names.get(aid, (text or str(aid)).strip()), "address_id": aid,
        "cluster_id": cid, "cluster_address": names.get(cid), "members": int(members.size),
        **((totals_of(members) if totals_of is not None else None) or totals(snap, members)),
        "tags": [], "overrides": touching, "run_id": cl.run.run_id,
        "clustered_through_tx": cl.run.tx_hi,
    }


def amount_units(chain: str, family: str) -> dict:
    """Asset, base unit and decimals of the amounts `show` reports (satoshi; wei of the native asset)."""
    if family == "account":
        known = ACCOUNT_CHAINS.get(chain)
        return {"asset": known.native_symbol if known else "ETH", "unit": "sun" if is_tron_chain(chain) else "wei",
                "decimals": known.native_decimals if known else 18}
    return {"asset": "BTC", "unit": "satoshi", "decimals": 8}
