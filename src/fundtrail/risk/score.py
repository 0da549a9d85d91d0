"""Risk scores with reasons: a profile's rules applied to an address's tags and exposure.

The result always carries the profile (name@version), the score, and every matching rule as a
reason with its evidence (tag label, source, inherited-from member; or category, direction,
direct/indirect, share, amount). A score computed without exposure (the address has no activity in
the store, or its chain is not stored) says so: `exposure_computed` is false and
`exposure_reason` says why, so a missing answer never reads as clean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fundtrail.risk.profile import SEVERITIES, Profile


@dataclass(frozen=True)
class TagEvidence:
    """A tag the address carries, directly or inherited from a member of its cluster."""

    category: str
    label: str
    source: str | None = None
    confidence: str | None = None
    inherited_from: str | None = None
    currency: str | None = None


@dataclass
class RiskResult:
    """Score 0-100 under a profile, with the reasons that produced it."""

    address: str
    profile: str
    score: float
    severity: str | None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    activity: bool = True
    exposure: dict[str, Any] | None = None
    kind: str = "address"
    currency: str | None = None
    chain: str | None = None
    exposure_computed: bool = True
    exposure_reason: str | None = None
    transaction: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The notes a reader must see, one line each (the JSON `note` joins them): `notes`, and for
        an address scored without exposure, that it was and why."""
        out = list(self.notes)
        if not self.exposure_computed and self.kind == "address":
            out.append(f"exposure not computed ({self.exposure_reason or 'no activity in the store'}): "
                       "scored from tags alone (exposure unknown, not zero)")
        return out

    def as_dict(self) -> dict[str, Any]:
        doc = {"address": self.address, "kind": self.kind, "currency": self.currency, "chain": self.chain,
               "profile": self.profile, "score": self.score, "severity": self.severity,
               "reasons": self.reasons, "activity_in_store": self.activity,
               "exposure_computed": self.exposure_computed, "exposure_reason": self.exposure_reason,
               "note": "; ".join(self.lines()) or None, "exposure": self.exposure}
        if self.transaction is not None:
            doc["transaction"] = self.transaction
        return doc


def reason_text(r: dict[str, Any]) -> str:
    """One line for a reason: rule, score, evidence and, for a transaction, the side it came from
    (the text interfaces print, and the `top_reasons` of a screening row)."""
    if r["kind"] == "tag":
        tag = r["tags"][0]
        cur = f" [{tag['currency']}]" if tag.get("currency") else ""
        inherited = f" (cluster of {tag['inherited_from']})" if tag.get("inherited_from") else ""
        text = f"{r['rule']} ({r['score']:g}): tagged {tag['category']} '{tag['label']}'{cur}{inherited}"
    elif r["kind"] == "freeze":
        tok = f"{r['token_symbol']} ({r['token']})" if r.get("token_symbol") else r["token"]
        text = (f"{r['rule']} ({r['score']:g}): frozen by the issuer of {tok} at block {r['block']} "
                f"({r['action']}, tx {r['tx']}, {r['time']})")
    else:
        text = (f"{r['rule']} ({r['score']:g}): {r['share']:.2%} {r['direction']} {r['hops']} "
                f"{r['category']}" + (f" in {r['asset']}" if r.get("asset") else ""))
    if r.get("side"):
        outs = r.get("outputs")
        where = f", output{'s' if len(outs) > 1 else ''} {', '.join(map(str, outs))}" if outs else ""
        text += f" ({r['side']} side: {r['via_address']}{where})"
    elif r.get("via_address"):
        text += f" via {r['via_address']}"
    return text


def score_address(profile: Profile, address: str, tags: list[TagEvidence],
                  exposure: dict[str, Any] | None) -> RiskResult:
    """Apply every rule of `profile`; the score is the highest rule score (0 when none match)."""
    reasons: list[dict[str, Any]] = []
    found: list[tuple[str, str, str, dict[str, Any]]] | None = None  # (direction, hops, category, part)
    for rule in profile.rules:
        if rule.kind == "tag":
            hits = [t for t in tags if t.category in rule.categories] if tags else None
            if hits:
                reasons.append({
                    "rule": rule.id, "kind": "tag", "score": rule.score, "severity": rule.severity,
                    "explain": rule.explain,
                    "tags": [{"category": t.category, "label": t.label, "source": t.source,
                              "confidence": t.confidence, "inherited_from": t.inherited_from,
                              "currency": t.currency} for t in hits],
                })
        elif exposure is not None:
            if found is None:  # once per address, in the order every rule reads them
                found = [(direction, hops, cat, part) for direction in ("incoming", "outgoing")
                         for hops in ("direct", "indirect") for cat, part in exposure[direction][hops].items()
                         if part["amount_sat"] > 0]
            best: dict[str, Any] | None = None
            for direction, hops, cat, part in found:
                if (rule.direction != "any" and direction != rule.direction) or cat not in rule.categories \
                        or part["share"] < rule.min_share:
                    continue
                s = rule.exposure_score(part["share"], hops == "direct")
                if best is None or s > best["score"]:
                    best = {"rule": rule.id, "kind": "exposure", "score": s,
                            "severity": rule.severity, "explain": rule.explain,
                            "category": cat, "direction": direction, "hops": hops,
                            "share": part["share"], "amount_sat": part["amount_sat"]}
            if best is not None:
                reasons.append(best)
    reasons.sort(key=lambda r: (-r["score"], -SEVERITIES.index(r["severity"]), r["rule"]))
    top = reasons[0] if reasons else None
    return RiskResult(address, profile.label, top["score"] if top else 0.0,
                      top["severity"] if top else None, reasons, exposure is not None, exposure,
                      exposure_computed=exposure is not None,
                      exposure_reason=None if exposure is not None else "no activity in the store")
