"""Assess addresses and transactions of one account chain (EVM or TRON): tags + exposure -> score.

The account-chain twin of `fundtrail.risk.assess.Assessor` with the same API (`addresses`,
`transaction`, `screen`) and the same `RiskResult` objects, so `fundtrail risk` and `screen` print
and export both alike. Tags are the chain currency's (`chain_currency`: ETH for `eth`, the chain
name upper-cased otherwise, ANVIL for the simulator's chain), direct only: account chains are not
clustered here. Exposure is per asset (`fundtrail.risk.account_exposure`); a rule matches on the
largest share over the assets and its reason names the asset. A transaction is scored by both
sides, like a UTXO one: its sender (the funding side, the counterparty of a deposit) and every
address it pays (the paying side: the contract it calls, native, internal and token transfer
recipients; the counterparty of a withdrawal), each reason naming its side and address. A profile's
`freeze` rules add a reason for an address a known stablecoin issuer has frozen (`risk.freezes`).
"""

from __future__ import annotations

import re
from collections.abc import Container

import numpy as np

from fundtrail.chains.resolve import account_text, parse_account_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.model.chains import ACCOUNT_CHAINS
from fundtrail.risk.account_exposure import AccountExposureIndex
from fundtrail.risk.assess import Step, no_step, side_reasons
from fundtrail.risk.freezes import FreezeRisk
from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult, TagEvidence, score_address
from fundtrail.risk.tagsonly import text_tags
from fundtrail.store.lake import Store
from fundtrail.store.spill import Spill, default_limit
from fundtrail.store.txhash import is_tx_hash, parse_tx_hash
from fundtrail.trace.account_graph import KIND_FEE, AccountGraph
from fundtrail.trace.account_seeds import address_id
from fundtrail.trace.attribution import TagMap, chain_currency

_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def is_account_tx_hash(text: str) -> bool:
    """True for `0x` + 64 hex digits (a transaction hash, not an address)."""
    return bool(_TX_HASH.match(text.strip()))


class AccountAssessor:
    """Risk of addresses and transactions of one account chain under one profile."""

    def __init__(self, store: Store, chain: str, profile: Profile, step: Step = no_step, *,
                 graph: AccountGraph | None = None, tagmap: TagMap | None = None,
                 tagged: Container[str] | None = None) -> None:
        """`graph` and `tagmap`: already loaded ones to share (a workspace's caches), else loaded
        here; only the map's direct tags count (account chains are scored unclustered). `tagged`:
        the tagged addresses a workspace holds (`tagsonly.text_tags`), to skip the catalog."""
        self.store, self.chain, self.profile = store, chain, profile
        self.tagged = tagged
        self.currency = chain_currency(chain)
        with step(f"updating the account graph index of {chain}"):
            self.graph = graph if graph is not None else AccountGraph.ensure(store, chain)
        known = ACCOUNT_CHAINS.get(chain)
        self.native = known.native_symbol if known else "ETH"
        with step(f"resolving {self.currency} tags to {chain} addresses"):
            self.tags = (tagmap if tagmap is not None else TagMap.load(store, self.graph, clusters=False)).direct
        cats = profile.exposure_categories
        col = {c: i for i, c in enumerate(cats)}
        lim = default_limit()  # the category column (2 B per address): in memory up to an eighth of it
        with step(f"updating the exposure index of {chain}"), \
                Spill(store.root, None if lim is None else lim // 4, "exposure-codes") as sp:
            addr_cat = sp.array("addr_cat", self.graph.n_addresses, np.int16, -1)
            for a, tags in self.tags.items():
                addr_cat[a] = col.get(tags[0]["category"], len(cats))
            self.exposure = AccountExposureIndex.ensure(store, self.graph, cats, addr_cat)
        with step(f"reading the stablecoin freezes of {chain}"):
            self.freezes = FreezeRisk(store, chain, profile, show=lambda raw: account_text(raw, chain=chain))

    def _asset_name(self, asset: int) -> str:
        return self.native if asset < 0 else self._text(asset)

    def _text(self, address: int) -> str:
        """An address id as the chain writes it (EIP-55; `T…` on TRON)."""
        return account_text(self.graph.address_bytes(address), chain=self.chain)

    def _shown(self, text: str) -> str:
        """A typed address as its tags are keyed and its result shows it: on TRON the `T…` form of
        whichever form was typed (`T…`, `41…`, `0x…`); on EVM chains as typed (UsageError if malformed)."""
        if not is_tron_chain(self.chain):
            return text.strip()
        return account_text(parse_account_address(text, chain=self.chain), chain=self.chain)

    def _resolve(self, text: str) -> int:
        """Address id, or -1 for a valid address without activity; UsageError if malformed."""
        try:
            return address_id(self.graph, text)
        except NotFoundError:
            return -1

    def _tag_evidence(self, address: int, by_text: list[TagEvidence]) -> list[TagEvidence]:
        """The chain's tags of an address, then those found by its text (`tagsonly.text_tags`)."""
        own = [] if address < 0 else [TagEvidence(r["category"], r["label"], r.get("source"), r.get("confidence"),
                                                  None, self.currency)
                                      for r in self.tags.get(address, []) if r.get("category")]
        return list(dict.fromkeys(own + by_text))

    def addresses(self, texts: list[str]) -> list[RiskResult]:
        """Score addresses (UsageError on the first malformed one)."""
        ids = [self._resolve(t) for t in texts]
        texts = [self._shown(t) for t in texts]
        by_text = text_tags(self.store, texts, [a >= 0 for a in ids], self.currency, tagged=self.tagged)
        out = []
        for text, a, found in zip(texts, ids, by_text):
            tags = self._tag_evidence(a, found)
            if a < 0:
                res = score_address(self.profile, text.strip(), tags, None)
                res.currency, res.chain = self.currency, self.chain
                res.exposure_reason = f"no activity in the store's {self.chain} chain"
                out.append(res)
                continue
            exp = self.exposure.of_address(a)
            names = {x: self._asset_name(x) for x in exp.assets}
            row = exp.row(names)
            res = score_address(self.profile, text.strip(), tags, _scoring_view(row))
            for reason in res.reasons:
                if reason["kind"] == "exposure":
                    part = row[reason["direction"]][reason["hops"]][reason["category"]]
                    reason.pop("amount_sat", None)
                    reason["amount"], reason["asset"] = part["amount"], part["asset"]
            res.exposure = {**row, "cluster": None}
            res.currency, res.chain = self.currency, self.chain
            out.append(self.freezes.apply(res, a))
        return out

    def sender(self, tx: int) -> int:
        """The address that sent transaction `tx` (its fee payer), or -1."""
        g = self.graph
        for kind in (KIND_FEE, 0):
            for e in g.events_of_tx(tx):
                if int(g.ev_kind[e]) == kind and int(g.ev_from[e]) >= 0:
                    return int(g.ev_from[e])
        p = self.chain.replace("-", "_")
        with self.store.query() as con:
            got = con.execute(f"SELECT from_id FROM {p}_transactions WHERE tx_id = ?", [tx]).fetchall()
        return int(got[0][0]) if got and got[0][0] is not None else -1

    def recipients(self, tx: int, sender: int) -> list[int]:
        """Addresses transaction `tx` pays: the contract or account it calls, and the recipients of
        its native, internal and token transfers (fees and the sender itself left out)."""
        g = self.graph
        out = []
        p = self.chain.replace("-", "_")
        with self.store.query() as con:
            got = con.execute(f"SELECT to_id FROM {p}_transactions WHERE tx_id = ?", [tx]).fetchall()
        if got and got[0][0] is not None:
            out.append(int(got[0][0]))
        out.extend(int(g.ev_to[e]) for e in g.events_of_tx(tx) if int(g.ev_kind[e]) != KIND_FEE)
        return list(dict.fromkeys(a for a in out if a >= 0 and a != sender))

    def transaction(self, tx_hash: str) -> RiskResult:
        """Score a transaction by its sender (funding side) and the addresses it pays (paying side)."""
        raw = tx_hash.strip()
        tron = is_tron_chain(self.chain)
        if not (is_tx_hash(raw) if tron else is_account_tx_hash(raw)):
            raise UsageError(f"not a transaction hash: {raw!r} (expected "
                             f"{'64 hex digits, with or without 0x' if tron else '0x followed by 64 hex digits'})")
        tx = self.graph.find_tx(parse_tx_hash(raw, chain=self.chain))
        if tx < 0:
            raise NotFoundError(f"transaction {raw} is not in the store's {self.chain} chain")
        a = self.sender(tx)
        payees = self.recipients(tx, a)
        ids = ([a] if a >= 0 else []) + payees
        results = self.addresses([self._text(x) for x in ids]) if ids else []
        fund_res, pay_res = results[:1 if a >= 0 else 0], results[1 if a >= 0 else 0:]
        reasons = [x for r in fund_res for x in side_reasons(r, "funding")]
        reasons += [x for r in pay_res for x in side_reasons(r, "paying")]
        reasons.sort(key=lambda x: -x["score"])
        top = reasons[0] if reasons else None
        notes = [] if a >= 0 else ["no sender found for this transaction: the funding side could not be assessed"]
        shown = self.graph.tx_hash_hex(tx) if tron else raw
        return RiskResult(shown, self.profile.label, top["score"] if top else 0.0, top["severity"] if top else None,
                          reasons, True, None, kind="transaction",
                          currency=self.currency, chain=self.chain, notes=notes,
                          transaction={"sender": fund_res[0].address if fund_res else None,
                                       "paying_addresses": len(payees),
                                       "funding_score": max((r.score for r in fund_res), default=0.0),
                                       "paying_score": max((r.score for r in pay_res), default=0.0)})


def _scoring_view(row: dict) -> dict:
    """The row in the shape `score_address` reads (`amount_sat`; no indirect outgoing: empty)."""
    def view(parts: dict | None) -> dict:
        return {c: {"amount_sat": p["amount"], "share": p["share"]} for c, p in (parts or {}).items()}

    return {d: {h: view(row[d][h]) for h in ("direct", "indirect")} for d in ("incoming", "outgoing")}
