"""Scores from tags alone: for addresses whose chain the store does not hold (or that have no
activity on it), so a sanctions list screens customer addresses of every currency.

Tags are read in one join over the merged tag table (`tags.lookup.lookup_batch`), keeping those of
the currencies the address's form is valid for (each reason names the tag's currency). The result
always says that exposure was not computed and why (`exposure_computed: false`,
`exposure_reason`): a score of 0 here means "no tag", never "clean funds".
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from typing import Protocol

from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult, TagEvidence, score_address
from fundtrail.store.lake import Store
from fundtrail.tags.currencies import InvalidAddress, lookup_key


class TagEvidenceSource(Protocol):
    """Merged tags held in memory by a long-lived reader (a workspace's `TagRows`), which answers
    `tag_evidence` without the catalog: `evidence_of(text)` is one text's categorised tags of every
    currency, in `tags.lookup.lookup_batch`'s order. Recognised by that method (an isinstance check
    against a runtime protocol costs more than the lookup)."""

    def evidence_of(self, address: str) -> list[TagEvidence]: ...


def tag_evidence(store: Store, texts: Sequence[str], currencies: Sequence[Sequence[str] | None], *,
                 tagged: Container[str] | None = None) -> list[list[TagEvidence]]:
    """Per address text: its merged direct tags with a category, of the given currencies (None: any).
    `tagged`: every tagged address (`tags.lookup.tagged_addresses`), when the caller holds it: texts
    not in it are answered without a catalog visit; a `TagEvidenceSource` answers every text."""
    from fundtrail.tags.lookup import has_tags, is_tagged, lookup_batch

    evidence_of = _evidence_source(tagged)
    if evidence_of is not None:
        return [[t for t in evidence_of(text.strip()) if wanted is None or t.currency in wanted]
                for text, wanted in zip(texts, currencies)]
    out: list[list[TagEvidence]] = [[] for _ in texts]
    if not texts or (tagged is not None and not any(is_tagged(tagged, t) for t in texts)):
        return out
    with store.connect(read_only=True) as con:
        if not has_tags(con):
            return out
        rows = lookup_batch(con, [t.strip() for t in texts]).to_pylist()
    for r in rows:
        q = int(r["query"])
        wanted = currencies[q]
        if not r.get("category") or (wanted is not None and r.get("currency") not in wanted):
            continue
        first = (r.get("sources") or [{}])[0] or {}
        out[q].append(TagEvidence(r["category"], r.get("label") or "", first.get("source") or first.get("origin"),
                                  r.get("confidence"), None, r.get("currency")))
    return out


def text_tags(store: Store, texts: Sequence[str], active: Sequence[bool], own: str, *,
              tagged: Container[str] | None = None) -> list[list[TagEvidence]]:
    """Tags found by each address's text, of any currency, for an assessor of a chain whose own
    currency is `own`: for an address with activity on the chain, only the other currencies' (its
    own come from the chain's tag map, with cluster inheritance). The same string on another
    currency is the same key (a `1...` address listed under BCH, an EVM address under BSC), so
    those tags count too, each naming its currency.

    With `tagged` a mapping of key -> currencies (`tags.lookup.tagged_addresses`), only texts that
    can have such tags are looked up: an active address whose tags are all of `own` (most tagged
    ones on a chain with its own labels) is answered without the catalog; when `tagged` is also a
    `TagEvidenceSource`, no text is looked up in the catalog."""
    need = [i for i, (t, act) in enumerate(zip(texts, active)) if _may_have(tagged, t, act, own)]
    out: list[list[TagEvidence]] = [[] for _ in texts]
    if not need:
        return out
    found = tag_evidence(store, [texts[i] for i in need], [None] * len(need),
                         tagged=tagged if _evidence_source(tagged) is not None else None)
    for i, tags in zip(need, found):
        out[i] = [t for t in tags if not (active[i] and t.currency == own)]
    return out


def _evidence_source(tagged: object) -> Callable[[str], list[TagEvidence]] | None:
    """`tagged.evidence_of` when `tagged` is a `TagEvidenceSource`, else None."""
    found = getattr(tagged, "evidence_of", None)
    return found if callable(found) else None


def _may_have(tagged: Container[str] | None, text: str, active: bool, own: str) -> bool:
    """Whether `text_tags` can find a tag for `text` (False only when `tagged` says it cannot)."""
    if tagged is None:
        return True
    try:
        key = lookup_key(text)
    except InvalidAddress:  # as `tags.lookup.is_tagged`
        return False
    if not isinstance(tagged, Mapping) or not active:
        return key in tagged
    currencies = tagged.get(key)
    return currencies is not None and any(c != own for c in currencies)


def score_from_tags(store: Store, profile: Profile, texts: Sequence[str],
                    currencies: Sequence[Sequence[str] | None], reasons: Sequence[str],
                    chains: Sequence[str | None] | None = None) -> list[RiskResult]:
    """Score each address from its tags; `reasons[i]` says why exposure was not computed."""
    evidence = tag_evidence(store, texts, currencies)
    out = []
    for i, text in enumerate(texts):
        res = score_address(profile, text.strip(), evidence[i], None)
        wanted = currencies[i]
        found = sorted({t.currency for t in evidence[i] if t.currency})
        res.currency = (found[0] if len(found) == 1 else wanted[0] if wanted and len(wanted) == 1 else None)
        res.chain = chains[i] if chains else None
        res.exposure_computed, res.exposure_reason = False, reasons[i]
        if wanted is not None and len(wanted) > 1:
            res.notes.append(f"tags of {_currencies(wanted)} counted (the address's form is valid for each)"
                             + (f"; found under {', '.join(found)}" if found else ""))
        out.append(res)
    return out


def _currencies(codes: Sequence[str]) -> str:
    shown = list(codes[:4])
    return ", ".join(shown) + (f" and {len(codes) - 4} more" if len(codes) > 4 else "")
