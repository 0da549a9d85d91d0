"""The frontier a `frontier` item (a saved trace `T-…`) or a `reaches-service` item starts from.

Split from `workspace.watch_targets` so that each stays small. A saved trace's frontier honours
its request: the same seeds, policy, stop categories (unless `--category` names others) and
listed stop addresses — those are kept with the item (rows `stop:ADDRESS` of `watch_frontier`)
so that taint reaching one later is not carried further either. Monitoring follows the funds
beyond the trace's hop limit (the limit bounds an investigator's view, not where the funds
go): the frontier is the unspent taint of the same trace without it (docs/watch.md).

When the store's tip is still the one the trace was saved on, the frontier is read from the
saved result instead of tracing again (a trace of the 10M chain per frontier took seconds):
possible when each unspent output's state follows from the result — poison (the output's
value), haircut and TIHO (its amount) with one output per unspent endpoint, and no endpoint cut
by the hop limit. Otherwise (FIFO/LIFO: the taint's place inside the output is not saved) the
trace runs again on the store as it is now.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

from fundtrail.cases import traces as case_traces
from fundtrail.chains.resolve import parse_utxo_address
from fundtrail.errors import FundtrailError, UsageError
from fundtrail.model.amounts import parse_sat
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.trace.account_report import native_symbol
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.policies import Haircut, whole_sat
from fundtrail.trace.policies import policy as policy_by_name
from fundtrail.trace.seeds import address_id as utxo_address_id
from fundtrail.trace.seeds import parse_seeds
from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES, combine, stop_categories
from fundtrail.watch.account_frontier import frontier_ledgers
from fundtrail.watch.frontier import encode_state, exact_amount, frontier_of_trace, outpoint_key, stop_row
from fundtrail.workspace.cases import CaseOps
from fundtrail.workspace.trace_models import TraceRequest
from fundtrail.workspace.tracing import _limits, _seed_texts, _stop_list, _stop_pairs

Frontier = list[tuple[str, str, str, int | None]]  # (output, amount, state, height)
Target = tuple[str, str, str, Frontier, dict[str, Any]]


class SavedTraceTargets(CaseOps):
    """Frontiers of saved traces and of `reaches-service` targets (module docstring)."""

    def _trace_target(self, trace_id: str, chain: str | None, policy: str | None, cats: list[str],
                      cats_given: bool, case: str | None) -> Target:
        if case is None:
            raise UsageError("a saved trace is watched within its case: give --case")
        saved = case_traces.get_trace(self.store, case, trace_id, self.actor.user, read_only=False)
        req = TraceRequest(**saved["request"])
        name = str(saved["state"].get("chain"))
        if chain is not None and chain != name:
            raise UsageError(f"is a trace of chain {name}, not {chain}")
        if req.direction != "forward" or req.follow_change:
            raise UsageError("is not a forward taint trace: only forward traces have a frontier to watch")
        if policy is not None and policy != req.policy:
            raise UsageError(f"was traced under policy {req.policy}; its frontier cannot follow {policy}")
        if cats_given:
            use = cats
        else:  # the saved trace's stop categories
            use = stop_categories(",".join(req.stop_at)) if req.stop_at is not None else list(DEFAULT_STOP_CATEGORIES)
        fresh = self._same_tip(name, saved)
        if self.chain(name).family == "account":
            return self._account_trace_target(trace_id, name, saved, req, use, fresh)
        stored = self._stored_frontier(name, saved, req) if fresh and not cats_given else None
        note: dict[str, Any]
        if stored is not None:
            frontier, note = stored, {"policy": req.policy}
        else:
            frontier, note = self._frontier(name, req, use)
        note["categories"] = use
        frontier = frontier + self._stop_rows(name, req)
        saved_unspent = (saved["result"].get("summary") or {}).get("by_reason_sat", {}).get("unspent", 0)
        total = whole_sat(sum((Fraction(a) for o, a, _, _ in frontier if not o.startswith("stop:")), Fraction(0)))
        same = "the saved result's" if total == saved_unspent else f"the saved result said {saved_unspent}"
        how = "read from the saved result" if stored is not None else "traced again now"
        outputs = sum(1 for o, _, _, _ in frontier if not o.startswith("stop:"))
        note["text"] = (f"frontier of {trace_id} ({how}): {outputs} "
                        f"unspent output(s) carrying {total} sat under {req.policy} ({same}); followed from here "
                        "with every new block")
        return ("frontier", name, trace_id, frontier, note)

    def _same_tip(self, chain: str, saved: dict[str, Any]) -> bool:
        """Whether the chain's tip is still the one the saved trace was computed on."""
        now = case_traces.store_state(self.store, chain, policy=None, read_only=not self.writable)
        return (now["tip_height"], now["tip_hash"]) == (saved["state"].get("tip_height"),
                                                        saved["state"].get("tip_hash"))

    def _stored_frontier(self, chain: str, saved: dict[str, Any], req: TraceRequest) -> Frontier | None:
        """The frontier as the saved result gives it, or None when it does not determine the
        outputs' states (module docstring)."""
        result = saved["result"]
        ends = result.get("endpoints") or []
        if result.get("truncated") or any(e.get("reason") == "hop_limit" for e in ends):
            return None
        if req.policy not in ("poison", "haircut", "tiho"):
            return None
        graph = self.graph_index(chain)
        rows: Frontier = []
        for e in ends:
            if e.get("reason") != "unspent":
                continue
            outs = e.get("outputs") or []
            if req.policy != "poison" and len(outs) != 1:
                return None
            for text in outs:
                txid, vout = outpoint_key(text)
                tx = graph.find_tx(txid)
                if tx < 0:
                    return None
                state = _state_of(req, e, int(graph.out_value[int(graph.tx_first_out[tx]) + vout]))
                if state is None:
                    return None
                amount = policy_by_name(req.policy, exact=req.exact).amount(state)
                rows.append((text, exact_amount(amount), encode_state(state), int(graph.tx_height[tx])))
        return rows

    def _stop_rows(self, chain: str, req: TraceRequest) -> Frontier:
        """The saved request's listed stop addresses, kept with the item (`stop:ADDRESS` rows)."""
        net = bitcoin_network_of(chain)
        rows: Frontier = []
        for pair in _stop_pairs(req):
            try:
                text = parse_utxo_address(pair.address.strip(), net).text
            except FundtrailError:
                continue  # a malformed stop could not stop the trace either
            rows.append(stop_row(text, pair.label or "listed service"))
        return rows

    def _account_trace_target(self, trace_id: str, chain: str, saved: dict[str, Any], req: TraceRequest,
                              cats: list[str], fresh: bool) -> Target:
        """A saved account-chain trace: its `unspent` endpoints become the item's ledgers
        (`watch.account_frontier`), read from the saved result when the store's tip is still the
        one it was computed on, else from the same request traced again now."""
        result = saved["result"]
        if not fresh:
            result = self.trace(req.model_copy(update={"chain": chain}), max_edges=0).document()
        if result.get("truncated"):
            raise UsageError("its trace ran out of budget (truncated): the frontier would be incomplete; trace with "
                             "a larger --max-txs or a narrower seed set")
        state = case_traces.store_state(self.store, chain, policy=None, read_only=not self.writable)
        height = int(state["tip_height"] if state["tip_height"] is not None else 0)
        rows = frontier_ledgers(self.store, chain, result.get("endpoints") or [], req.policy, native_symbol(chain),
                                height)
        where = "the saved result" if fresh else f"the trace re-run at height {height} (the store moved on)"
        note = {"policy": req.policy, "categories": cats,
                "text": f"frontier of {trace_id}: {len(rows)} address ledger(s) holding traced value under "
                        f"{req.policy}, from {where}; followed from here with every new block"}
        return ("frontier", chain, trace_id, list(rows), note)

    def _frontier(self, chain: str, req: TraceRequest, cats: list[str]) -> tuple[Frontier, dict[str, Any]]:
        """The unspent endpoints of a forward trace of `req`, with their states (a frontier):
        stopped by the categories and the listed stop addresses, not by the hop limit."""
        limits = replace(_limits(req), hops=None)
        limits = replace(limits, min_value=parse_sat(req.min_value, "min_value"))
        graph = self.graph_index(chain)
        parsed = parse_seeds(graph, _seed_texts(req), since=limits.since, until=limits.until)
        listed = _stop_list(_stop_pairs(req), lambda t: utxo_address_id(graph, t))
        stop = combine(listed, self.tag_map(chain, "utxo").stop_rule(cats))
        outputs, truncated = frontier_of_trace(graph, [o for s in parsed for o in s.outputs], req.policy,
                                               exact=req.exact, limits=limits, stop=stop)
        if truncated:
            raise UsageError("its trace ran out of budget (truncated): the frontier would be incomplete; trace with "
                             "a larger --max-txs or a narrower seed set")
        pol = policy_by_name(req.policy, exact=req.exact)
        return _rows(graph, outputs, pol), {"policy": req.policy}


def _state_of(req: TraceRequest, endpoint: dict[str, Any], value: int) -> Any:
    """The policy state of an unspent output from its saved endpoint (None: not determined)."""
    if req.policy == "poison":
        return value  # a poisoned output is tainted in full
    amount = Fraction(str(endpoint["amount_exact"]))
    if req.policy == "haircut" and req.exact:
        return amount
    scaled = amount * Haircut.GRID if req.policy == "haircut" else amount  # the grid: units of 2^-128 sat
    return int(scaled) if scaled.denominator == 1 else None


def _rows(graph: GraphIndex, outputs: list[tuple[int, Any]], pol: Any) -> Frontier:
    rows: Frontier = []
    for o, state in outputs:
        tx = graph.tx_of_output(o)
        rows.append((f"{graph.txid_hex(tx)}:{o - int(graph.tx_first_out[tx])}", exact_amount(pol.amount(state)),
                     encode_state(state), int(graph.tx_height[tx])))
    return rows
