"""A deliberately simple reference for the address-level taint policies on account chains.

It keeps every address's ledger from the first transfer (no activation, no replay, no index),
represents FIFO lots as runs of (length, tainted) instead of the engine's segments, and backward
recomputes the sender's history from scratch for every traced transfer. Checked by hand in
tests/trace/test_account_oracle.py, then used there and in test_account_anvil.py to check the
engine (`trace.account_engine`) exactly.

A transfer is a dict: from, to (None = mint / burn), asset, amount, fee (bool).

Several seeds: a seed transfer is wholly traced; when its sender already held traced value, the
part the sender's ledger put into it is its *overlap* (already counted upstream), so the seeds put
in gross - overlap. Poison *absorbs* clean value (docs/taint-policies.md). Pass `accounting={}` to
the oracles to get both per asset: then seed gross - overlap + absorbed = endpoints + fees.
"""

from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

POLICIES = ("poison", "haircut", "fifo")


# -- the oracle ---------------------------------------------------------------------------------
def _take(lots: list[list[list]], amount: int) -> tuple[list[list], int]:
    """FIFO: take `amount` from the head of a queue of lots (each a list of [length, tainted] runs)."""
    out: list[list] = []
    while amount and lots:
        run = lots[0][0]
        n = min(run[0], amount)
        out.append([n, run[1]])
        run[0] -= n
        amount -= n
        if run[0] == 0:
            lots[0].pop(0)
            if not lots[0]:
                lots.pop(0)
    return out, amount


def _tainted(runs: list[list]) -> int:
    return sum(n for n, t in runs if t)


class _Book:
    """All ledgers of one policy: balance and taint per (address, asset)."""

    def __init__(self, policy: str) -> None:
        self.policy = policy
        self.absorbed: dict = defaultdict(int)  # poison: clean value turned traced, per asset
        self.balance: dict = defaultdict(int)
        self.taint: dict = defaultdict(Fraction)  # haircut amount; poison: 1 when touched
        self.lots: dict = defaultdict(list)  # fifo

    def receive(self, key: tuple, amount: int, state) -> None:
        if self.policy == "poison" and bool(state) != bool(self.taint[key]):
            # taint meets a clean balance, or clean value a tainted one: both become traced
            self.absorbed[key[1]] += self.balance[key] if state else amount
        self.balance[key] += amount
        if self.policy == "fifo":
            if amount:
                self.lots[key].append([list(r) for r in state if r[0]] if state else [[amount, False]])
        elif self.policy == "haircut":
            self.taint[key] += state or 0
        elif state:
            self.taint[key] = Fraction(1)

    def send(self, key: tuple, amount: int):
        """(state carried, amount missing from the known balance)."""
        bal = self.balance[key]
        missing = max(0, amount - bal)
        self.balance[key] = max(0, bal - amount)
        if self.policy == "poison":
            if self.taint[key] and amount:
                self.absorbed[key[1]] += missing
            return (amount if self.taint[key] and amount else None), missing
        if self.policy == "haircut":
            if amount >= bal:
                out, self.taint[key] = self.taint[key], Fraction(0)
            else:
                out = self.taint[key] * amount / bal
                self.taint[key] -= out
            return (out or None), missing
        runs, short = _take(self.lots[key], amount)
        if short:
            runs.append([short, False])
        return (runs if _tainted(runs) else None), missing

    def held(self, key: tuple):
        if self.policy == "poison":
            return self.balance[key] if self.taint[key] else 0
        if self.policy == "haircut":
            return self.taint[key]
        return sum(_tainted(lot) for lot in self.lots[key])


def _amount(policy: str, state) -> int | Fraction:
    if state is None:
        return 0
    return _tainted(state) if policy == "fifo" else state


def oracle_forward(transfers: list[dict], seeds: set[int], policy: str, stops: frozenset = frozenset(),
                   accounting: dict | None = None):
    """({(address, asset, reason): amount}, {asset: fees}, [(address, asset, index, missing)]);
    `accounting` (if given) receives {"overlap": {asset: ...}, "absorbed": {asset: ...}}."""
    book = _Book(policy)
    overlap: dict = defaultdict(int)
    ends: dict = defaultdict(int)
    fees: dict = defaultdict(int)
    gaps = []
    for i, t in enumerate(transfers):
        frm, to, x, v = t["from"], t["to"], t["asset"], t["amount"]
        if frm is not None and frm == to:
            continue
        state = None
        if frm is not None:
            held = book.held((frm, x)) or (policy == "poison" and book.taint[(frm, x)])
            state, missing = book.send((frm, x), v)
            if missing and held:
                gaps.append((frm, x, i, missing))
        if i in seeds and not t.get("fee") and to is not None and frm != to:
            overlap[x] += _amount(policy, state)
            state = (v if policy == "poison" else Fraction(v) if policy == "haircut" else [[v, True]]) if v else None
        amt = _amount(policy, state)
        if t.get("fee"):
            fees[x] += amt
            state = None
        elif to is None:
            if amt:
                ends[(frm, x, "burned")] += amt
            continue
        elif to in stops and i not in seeds:
            if amt:
                ends[(to, x, "service")] += amt
            state = None
        if to is not None:
            book.receive((to, x), v, state)
    for key in list(book.balance):
        if book.held(key):
            ends[(*key, "unspent")] += book.held(key)
    if accounting is not None:
        accounting["overlap"] = {k: v for k, v in overlap.items() if v}
        accounting["absorbed"] = {k: v for k, v in book.absorbed.items() if v}
    return dict(ends), {k: v for k, v in fees.items() if v}, gaps


def _funding(transfers: list[dict], policy: str, s: int, x, e: int, state):
    """Which earlier inflows of `s` funded the traced part `state` of its outflow `e`, recomputed naively."""
    bal, colors, lots = 0, {}, []  # colors: inflow -> remaining (haircut); lots: [inflow, [start, end)] (fifo)
    inflows = []
    for q in range(e):
        t = transfers[q]
        if t["asset"] != x or t["from"] == t["to"]:
            continue
        if t["to"] == s:
            bal += t["amount"]
            inflows.append(q)
            colors[q] = Fraction(t["amount"])
            lots.append([q, 0, t["amount"]])
        elif t["from"] == s:
            o = min(t["amount"], bal)
            if o == bal:
                colors = {}
            elif o:
                colors = {k: c * (bal - o) / bal for k, c in colors.items()}
            while o:
                take = min(o, lots[0][2] - lots[0][1])
                lots[0][1] += take
                o -= take
                if lots[0][1] == lots[0][2]:
                    lots.pop(0)
            bal = max(0, bal - t["amount"])
    v = transfers[e]["amount"]
    missing = max(0, v - bal)
    if policy == "poison":
        return [(q, transfers[q]["amount"]) for q in inflows], missing
    if policy == "haircut":
        return [(q, state * c * (v - missing) / bal / v) for q, c in colors.items() if c], state * missing / v
    out, pos = [], 0
    for q, start, end in lots:
        part = [(max(a, pos) - pos + start, min(b, pos + end - start) - pos + start) for a, b in state
                if max(a, pos) < min(b, pos + end - start)]
        if part:
            out.append((q, part))
        pos += end - start
    unknown = sum(min(b, v) - max(a, pos) for a, b in state if max(a, pos) < min(b, v))
    return out, unknown


def _union(a: list, b: list) -> list:
    marks = sorted(a + b)
    out: list = []
    for s, e in marks:
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def oracle_backward(transfers: list[dict], seeds: set[int], policy: str, stops: frozenset = frozenset(),
                    accounting: dict | None = None):
    """{(address, asset, reason): amount} of where the seed transfers' value came from; see
    `oracle_forward` for `accounting` (backward poison's absorbed is net of transfers reached twice)."""
    traced: dict = {}
    for i in seeds:
        v = transfers[i]["amount"]
        if v and not transfers[i].get("fee") and transfers[i]["from"] != transfers[i]["to"]:
            traced[i] = v if policy == "poison" else Fraction(v) if policy == "haircut" else [(0, v)]
    whole = set(traced)  # seeds stay wholly traced
    seen: dict = {}  # seed -> what later traced transfers attribute to it
    overlap: dict = defaultdict(int)
    absorbed: dict = defaultdict(int)
    ends: dict = defaultdict(int)
    for e in range(len(transfers) - 1, -1, -1):
        if e not in traced:
            continue
        state = traced.pop(e)
        t = transfers[e]
        amt = _amount(policy, state) if policy != "fifo" else sum(b - a for a, b in state)
        if not amt:
            continue  # a transfer carrying nothing traced funded nothing traced
        if t["from"] is None:
            ends[(t["to"], t["asset"], "minted")] += amt
            continue
        if t["from"] in stops and e not in whole:  # a fee or self-transfer is no seed
            ends[(t["from"], t["asset"], "service")] += amt
            continue
        funding, unknown = _funding(transfers, policy, t["from"], t["asset"], e, state)
        if unknown and amt:
            ends[(t["from"], t["asset"], "unknown_history")] += unknown
        x = t["asset"]
        if policy == "poison":
            absorbed[x] += sum(qs for _, qs in funding) + unknown - amt
        for q, qs in funding:
            into = seen if q in whole else traced  # a seed stays whole: what reaches it is overlap
            if policy == "poison":
                absorbed[x] -= into.get(q, 0)  # reached again: counted once
                into[q] = qs
            elif policy == "haircut":
                into[q] = into.get(q, 0) + qs
            else:
                into[q] = _union(into.get(q, []), qs)
    for q, qs in seen.items():
        overlap[transfers[q]["asset"]] += qs if policy != "fifo" else sum(b - a for a, b in qs)
    if accounting is not None:
        accounting["overlap"] = {k: v for k, v in overlap.items() if v}
        accounting["absorbed"] = {k: v for k, v in absorbed.items() if v}
    return {k: v for k, v in ends.items() if v}


# -- comparing an engine result with the oracle's answers --------------------------------------
def engine_ends(result) -> dict:
    ends: dict = defaultdict(int)
    for e in result.endpoints:
        ends[(e.address, e.asset, e.reason)] += e.amount
    return {k: v for k, v in ends.items() if v}
