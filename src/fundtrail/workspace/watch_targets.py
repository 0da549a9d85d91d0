"""Resolving watch targets (`watch add`): addresses of every chain family, outputs, clusters,
categories, saved traces, with the frontier a `reaches-service` item starts from (docs/watch.md).

Split from `workspace.watching` so that each stays small; `WatchOps` builds on it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any


from fundtrail.cases import traces as case_traces
from fundtrail.chains.resolve import account_text, parse_account_address, parse_utxo_address
from fundtrail.errors import FundtrailError, NotFoundError, UsageError
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.tags.taxonomy import CATEGORIES, resolve_category
from fundtrail.trace.seeds import parse_seeds
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES, stop_categories
from fundtrail.watch import items as watch_items
from fundtrail.watch.services import known_fingerprints
from fundtrail.workspace.watch_saved import Frontier, SavedTraceTargets
from fundtrail.workspace.trace_models import TraceRequest

#: What an account-chain address looks like: 0x and 40 hex digits; TRON's T… (Base58Check) and 41…
ACCOUNT_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}|T[1-9A-HJ-NP-Za-km-z]{33}|41[0-9a-fA-F]{40}")

class WatchTargets(SavedTraceTargets):
    """Target resolution for `WatchOps.watch_add`."""

    def _watch_categories(self, rule: str, category: str | None) -> list[str]:
        if category is None:
            return list(DEFAULT_STOP_CATEGORIES) if rule == "reaches-service" else []
        if rule not in ("reaches-service", "deposit"):
            raise UsageError("category applies to rules reaches-service (the services to alert on) and deposit "
                             "(the paying side's category)", field="category")
        try:
            return stop_categories(category)
        except UsageError as exc:
            raise UsageError(exc.message.replace("stop_at", "category", 1), field="category") from None

    def _resolve_target(self, text: str, chain: str | None, rule: str, policy: str | None, cats: list[str],
                        cats_given: bool, case: str | None, seen: frozenset[str] = frozenset(),
                        ) -> list[tuple[str, str, str, Frontier, dict[str, Any] | None]]:
        """(kind, chain, canonical target, frontier rows, note) for one target; one error naming it."""
        raw = text.strip() if isinstance(text, str) else ""
        try:
            if case_traces.TRACE_ID.fullmatch(raw):
                return [self._trace_target(raw, chain, policy, cats, cats_given, case)]
            if raw.startswith("category:"):
                cat = resolve_category(raw.split(":", 1)[1].strip())
                if cat is None:
                    raise UsageError(f"unknown category (known: {', '.join(CATEGORIES)})")
                ref = self.chain(chain, family=None if chain else "utxo", what="watch")
                return [("category", ref.name, cat, [], None)]
            if raw.startswith("cluster:"):
                return [self._cluster_target(raw.split(":", 1)[1].strip(), chain)]
            return self._seed_targets(raw, chain, rule, policy, cats, seen)
        except FundtrailError as exc:
            msg = exc.message if exc.message.startswith(f"target {raw!r}") else f"target {raw[:120]!r}: {exc.message}"
            raise type(exc)(msg, field="rule" if exc.field == "rule" else "targets") from None

    def _cluster_target(self, text: str, chain: str | None) -> tuple[str, str, str, Frontier, None]:
        ref = self.chain(chain, family="utxo", what="watch")
        if not text.isdigit():
            raise UsageError("a cluster is cluster:N with N the cluster id `cluster show` gives")
        labels, _sizes, _run = self.cluster_sizes(ref.name, ref.family)
        cid = int(text)
        if labels is None or not 0 <= cid < labels.shape[0] or int(labels[cid]) != cid:
            raise NotFoundError(f"is no cluster of the current clustering of {ref.name}")
        return ("cluster", ref.name, str(cid), [], None)

    def _seed_targets(self, raw: str, chain: str | None, rule: str, policy: str | None, cats: list[str],
                      seen: frozenset[str] = frozenset(),
                      ) -> list[tuple[str, str, str, Frontier, dict[str, Any] | None]]:
        if not raw:
            raise UsageError("is empty")
        account = self._account_target(raw, chain, rule)
        if account is not None:
            return [account]
        direct = self._address_target(raw, chain, rule, seen)
        if direct is not None:  # an address watched for its own activity: parsed, no search (100,000 at once)
            return [direct]
        hits = [h for h in self.search(raw, limit=50).hits if h.chain is not None and chain in (None, h.chain)
                and h.kind in ("output", "transaction", "address")]
        if not hits:
            where = f" on chain {chain}" if chain else ""
            raise NotFoundError(f"is no address, output or transaction in the store{where}")
        hit = hits[0]
        if self.chain(hit.chain).family != "utxo":
            raise UsageError("on an account chain watch the address (a transaction or transfer is not a "
                             "watch target there)")
        assert hit.chain is not None
        if hit.kind == "address":
            texts = [hit.text]
            kind = "address"
        else:
            graph = self.graph_index(hit.chain)
            seed = parse_seeds(graph, [(hit.text, None)])[0]
            texts = [f"{graph.txid_hex(graph.tx_of_output(o))}:{o - int(graph.tx_first_out[graph.tx_of_output(o)])}"
                     for o in seed.outputs]
            kind = "output"
        out = []
        for t in texts:
            frontier: Frontier = []
            note = None
            if rule == "reaches-service":
                frontier, note = self._frontier(hit.chain, TraceRequest(seeds=[t], policy=policy or "haircut"), cats)
                note["categories"] = cats
            out.append((kind, hit.chain, t, frontier, note))
        return out

    def _account_target(self, raw: str, chain: str | None, rule: str,
                        ) -> tuple[str, str, str, Frontier, dict[str, Any] | None] | None:
        """An address of an account chain (EVM, TRON): watched for `moved`, `deposit`, `risk-above`,
        or as the source of `reaches-service` (every outflow of it traced, docs/watch.md "Account chains");
        None when the target is not for an account chain (the UTXO paths then resolve it)."""
        if chain is not None:
            ref = self.chain(chain, what="watch")
            if ref.family != "account":
                return None
        else:
            if not ACCOUNT_ADDRESS.fullmatch(raw):
                return None
            try:
                ref = self.chain(None, family="account", what="watch")
            except FundtrailError:
                return None
        addr = parse_account_address(raw, field="targets", chain=ref.name)
        text = account_text(addr, chain=ref.name)
        view = f"{ref.name.replace('-', '_')}_addresses"
        with self.store.query() as con:
            known = con.execute(f"SELECT count(*) FROM {view} WHERE address = ?", [addr]).fetchone()
        note: dict[str, Any] = {}
        if not known or not known[0]:
            note["text"] = f"{text} is not on the chain yet: watched from its first appearance"
        return ("address", ref.name, text, [], note or None)

    def _address_target(self, raw: str, chain: str | None, rule: str, seen: frozenset[str],
                        ) -> tuple[str, str, str, Frontier, dict[str, Any] | None] | None:
        """An address of the chain watched for its own activity (`moved`, `deposit`), in canonical
        form, seen by the store or not yet (a ransom address published before it is paid: matched
        from its first appearance); None when `raw` is not an address of the chain or the rule
        needs a trace (the search path then resolves it or names the error)."""
        if rule not in ("moved", "deposit", "risk-above"):
            return None
        try:
            ref = self.chain(chain, family="utxo", what="watch")
            addr = parse_utxo_address(raw, bitcoin_network_of(ref.name), field="targets")
        except FundtrailError:
            return None
        note = None
        if addr.text not in seen:
            note = {"text": f"{addr.text} is not on the chain yet: watched from its first appearance"}
        return ("address", ref.name, addr.text, [], note)

    def _seen_addresses(self, targets: list[str], chain: str | None, rule: str) -> frozenset[str]:
        """The canonical texts of the address targets the chain has seen (one join for them all)."""
        if rule not in ("moved", "deposit", "risk-above"):
            return frozenset()
        try:
            ref = self.chain(chain, family="utxo", what="watch")
        except FundtrailError:
            return frozenset()  # the target loop names the problem
        net = bitcoin_network_of(ref.name)
        by_fp: dict[tuple[int, int], str] = {}
        for text in targets:
            try:
                addr = parse_utxo_address(text, net, field="targets")
            except FundtrailError:
                continue
            by_fp[(addr.fp1, addr.fp2)] = addr.text
        if not by_fp:
            return frozenset()
        return frozenset(by_fp[(f1, f2)] for _aid, f1, f2 in known_fingerprints(self.store, ref.name, list(by_fp)))

    def _unique_ids(self, made: list[tuple[watch_items.Item, Frontier]]) -> list[tuple[watch_items.Item, Frontier]]:
        """The items with ids no other item has (8 hex digits: among 100,000 items a random id
        repeats about once, so repeats are drawn again)."""
        ids = [i.item_id for i, _ in made]
        with self.store.connect(read_only=not self.writable) as con:
            taken = {r[0] for r in con.execute("SELECT item_id FROM watch_items WHERE list_contains(?, item_id)",
                                                [ids]).fetchall()}
        seen: set[str] = set()
        out = []
        for item, frontier in made:
            iid = item.item_id
            while iid in taken or iid in seen:
                iid = watch_items.new_item_id()
            seen.add(iid)
            out.append((replace(item, item_id=iid) if iid != item.item_id else item, frontier))
        return out

