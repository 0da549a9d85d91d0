"""Assess addresses and transactions of one account chain (Ethereum/EVM): tags + exposure -> score.

The account-chain twin of `fundtrail.risk.assess.Assessor` with the same API (`addresses`,
`transaction`, `screen`) and the same `RiskResult` objects, so `fundtrail risk` and `screen` print
and export both alike. Tags are the chain currency's (`chain_currency`: ETH for `eth`, the chain
name upper-cased otherwise, ANVIL for the simulator's chain), direct only: account chains are not
clustered here. Exposure is per asset (`fundtrail.risk.account_exposure`); a rule matches on the
largest share over the assets and its reason names the asset. A transaction is scored by its
sender (the counterparty of a deposit).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from fundtrail.chains.ethereum.hexutil import eip55
from fundtrail.errors import FundtrailError, NotFoundError, UsageError
from fundtrail.model.chains import EVM_CHAINS
from fundtrail.risk.account_exposure import AccountExposureIndex
from fundtrail.risk.assess import Screened
from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult, TagEvidence, score_address
from fundtrail.store.lake import Store
from fundtrail.trace.account_graph import KIND_FEE, AccountGraph
from fundtrail.trace.account_seeds import address_id
from fundtrail.trace.attribution import TagMap, chain_currency, tag_rows

_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def is_account_tx_hash(text: str) -> bool:
    """True for `0x` + 64 hex digits (a transaction hash, not an address)."""
    return bool(_TX_HASH.match(text.strip()))


class AccountAssessor:
    """Risk of addresses and transactions of one account chain under one profile."""

    def __init__(self, store: Store, chain: str, profile: Profile) -> None:
        self.store, self.chain, self.profile = store, chain, profile
        self.graph = AccountGraph.ensure(store, chain)
        known = EVM_CHAINS.get(chain)
        self.native = known.native_symbol if known else "ETH"
        self.tags = TagMap.load(store, self.graph, clusters=False).direct
        self._text_tags: dict[str, list[dict[str, Any]]] | None = None
        cats = profile.exposure_categories
        col = {c: i for i, c in enumerate(cats)}
        addr_cat = np.full(self.graph.n_addresses, -1, np.int16)
        for a, tags in self.tags.items():
            addr_cat[a] = col.get(tags[0]["category"], len(cats))
        self.exposure = AccountExposureIndex.ensure(store, self.graph, cats, addr_cat)

    def _asset_name(self, asset: int) -> str:
        return self.native if asset < 0 else eip55(self.graph.address_bytes(asset))

    def _resolve(self, text: str) -> int:
        """Address id, or -1 for a valid address without activity; UsageError if malformed."""
        try:
            return address_id(self.graph, text)
        except NotFoundError:
            return -1

    def _by_text(self) -> dict[str, list[dict[str, Any]]]:
        """The chain's tags by lower-case address string, for addresses without activity (read once)."""
        if self._text_tags is None:
            self._text_tags = {}
            for tag in tag_rows(self.store, chain_currency(self.chain))["rows"]:
                self._text_tags.setdefault(str(tag["address"]).lower(), []).append(tag)
        return self._text_tags

    def _tag_evidence(self, address: int, text: str) -> list[TagEvidence]:
        rows = self.tags.get(address, []) if address >= 0 else self._by_text().get(text.strip().lower(), [])
        return [TagEvidence(r["category"], r["label"], r.get("source"), r.get("confidence"), None)
                for r in rows if r.get("category")]

    def addresses(self, texts: list[str]) -> list[RiskResult]:
        """Score addresses (UsageError on the first malformed one)."""
        ids = [self._resolve(t) for t in texts]
        out = []
        for text, a in zip(texts, ids):
            tags = self._tag_evidence(a, text)
            if a < 0:
                out.append(score_address(self.profile, text.strip(), tags, None))
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
            out.append(res)
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

    def transaction(self, tx_hash: str) -> RiskResult:
        """Score a transaction by its sender."""
        raw = tx_hash.strip()
        if not is_account_tx_hash(raw):
            raise UsageError(f"not a transaction hash: {raw!r} (expected 0x followed by 64 hex digits)")
        tx = self.graph.find_tx(bytes.fromhex(raw[2:]))
        if tx < 0:
            raise NotFoundError(f"transaction {raw} is not in the store's {self.chain} chain")
        a = self.sender(tx)
        results = self.addresses([eip55(self.graph.address_bytes(a))]) if a >= 0 else []
        best = results[0] if results else None
        res = RiskResult(raw, self.profile.label, best.score if best else 0.0, best.severity if best else None,
                         [], True, None, None if best else "no sender found for this transaction")
        if best is not None:
            res.reasons = [{**r, "via_address": best.address} for r in best.reasons]
        return res

    def screen(self, inputs: list[str]) -> list[Screened]:
        """Score many addresses and transaction hashes; a bad input gets its own error, the rest go on."""
        out: list[Screened] = []
        for text in inputs:
            t = text.strip()
            kind = "transaction" if is_account_tx_hash(t) else "address"
            try:
                res = self.transaction(t) if kind == "transaction" else self.addresses([t])[0]
                out.append(Screened(t, kind, res))
            except FundtrailError as exc:
                out.append(Screened(t, kind, None, exc.one_line()))
        return out


def _scoring_view(row: dict) -> dict:
    """The row in the shape `score_address` reads (`amount_sat`; no indirect outgoing: empty)."""
    def view(parts: dict | None) -> dict:
        return {c: {"amount_sat": p["amount"], "share": p["share"]} for c, p in (parts or {}).items()}

    return {d: {h: view(row[d][h]) for h in ("direct", "indirect")} for d in ("incoming", "outgoing")}
