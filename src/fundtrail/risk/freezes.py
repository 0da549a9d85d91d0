"""The `freeze` risk rule: an address a stablecoin issuer has frozen is a reason, with its evidence.

An issuer blacklists an address it has tied to crime (Tether and Circle act on law-enforcement
requests), so a current freeze is strong evidence about the address. It counts only when the freeze
came from a known issuer's contract (`model.issuers`, plus the rule's own `issuers`): anyone can
emit `AddedBlackList`. "Current" means the contract's last action on the address blacklisted it or
destroyed its funds (`trace.freezes`); after `unblacklisted` the address no longer scores, though
the actions stay listed by `fundtrail freezes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fundtrail.model.issuers import issuer_of
from fundtrail.risk.profile import SEVERITIES, Profile, Rule
from fundtrail.risk.score import RiskResult
from fundtrail.store.lake import Store
from fundtrail.store.txhash import tx_hash_text
from fundtrail.trace.freezes import FreezeFact, frozen_now


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FreezeRisk:
    """The freeze rules of a profile applied to one account chain: current freezes by known issuers,
    read once (an assessor is rebuilt when the store changes)."""

    def __init__(self, store: Store, chain: str, profile: Profile,
                 show: Callable[[bytes], str] = lambda raw: "0x" + raw.hex()) -> None:
        """`show`: how the chain writes an address (EIP-55, TRON's Base58Check)."""
        self.chain, self.show = chain, show
        self.rules: list[Rule] = [r for r in profile.rules if r.kind == "freeze"]
        self.by_address: dict[int, list[FreezeFact]] = {}
        self.extra = {raw for r in self.rules for c, raw in r.issuers if c == chain}
        if not self.rules:
            return
        for fact in frozen_now(store, chain).values():
            if self.known(fact.token):
                self.by_address.setdefault(fact.address_id, []).append(fact)

    def known(self, token: bytes) -> bool:
        """True when `token` is a known issuer's contract on this chain (model or profile)."""
        return issuer_of(self.chain, token) is not None or token in self.extra

    def reasons(self, address_id: int) -> list[dict[str, Any]]:
        """One reason per rule and current freeze of the address (none when it is not frozen)."""
        facts = self.by_address.get(address_id, [])
        return [self.reason(rule, f) for rule in self.rules for f in facts]

    def reason(self, rule: Rule, f: FreezeFact) -> dict[str, Any]:
        issuer = issuer_of(self.chain, f.token)
        return {"rule": rule.id, "kind": "freeze", "score": rule.score, "severity": rule.severity,
                "explain": rule.explain, "action": f.action, "token": self.show(f.token),
                "token_symbol": issuer.symbol if issuer else None, "issuer": issuer.issuer if issuer else None,
                "block": f.block, "time": _iso(f.time), "tx": tx_hash_text(f.tx_hash, chain=self.chain),
                "log_index": f.log_index,
                "amount": str(f.amount) if f.amount is not None else None}

    def apply(self, result: RiskResult, address_id: int) -> RiskResult:
        """`result` with the address's freeze reasons added, its score and severity recomputed."""
        extra = self.reasons(address_id) if address_id >= 0 else []
        if extra:
            add_reasons(result, extra)
        return result


def add_reasons(result: RiskResult, reasons: list[dict[str, Any]]) -> None:
    """Add reasons to a result; the score stays the highest reason's (profile.py)."""
    result.reasons.extend(reasons)
    result.reasons.sort(key=lambda r: (-r["score"], -SEVERITIES.index(r["severity"]), r["rule"]))
    top = result.reasons[0]
    result.score, result.severity = top["score"], top["severity"]


def freeze_text(r: dict[str, Any]) -> str:
    """One line for a freeze reason (what `score.reason_text` prints for kind `freeze`)."""
    what = {"blacklisted": "blacklisted", "destroyed": "funds destroyed",
            "unblacklisted": "unblacklisted"}.get(r["action"], r["action"])
    token = f"{r['token_symbol']} ({r['token']})" if r.get("token_symbol") else r["token"]
    return (f"{r['rule']} ({r['score']:g}): frozen by the issuer of {token} at block {r['block']} "
            f"({what}, tx {r['tx']}, {r['time']})")
