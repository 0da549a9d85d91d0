"""A case as FollowTheMoney entities (JSON lines), the format OCCRP's Aleph imports.

Each line is `{"id", "schema", "properties": {name: [values]}}` with FollowTheMoney's schema and
property names: a `CryptoWallet` (publicKey, currency, blockchain, holder) for every address of
the case's seeds, of its saved traces' endpoints and of the payers of the payments below; a
`Payment` (payer, beneficiary, amount as an exact decimal string, currency, date,
transactionNumber) for each seed payment and for each traced edge into an endpoint (its amount
the traced amount under the trace's policy); a `Company` (a service one operator runs), `Person`
(a user or victim) or `Organization` (anything else, e.g. a ransomware group) for each actor the
tags name, the wallets' `holder`. FollowTheMoney declares a payment's payer and beneficiary as
legal entities; here they are the wallets (whose holders are often unknown), which Aleph shows
as links between wallets. Ids are SHA-1 of a namespace and a key, so they are the same in every
export (wallets and actors across cases too, so collections merge them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

from fundtrail.tags.taxonomy import CATEGORIES

_PEOPLE = ("user", "victim")


def entity_id(*key: object) -> str:
    """The deterministic id of an entity of this key."""
    return hashlib.sha1(":".join(("fundtrail", *map(str, key))).encode()).hexdigest()


def decimal_amount(base_units: int, decimals: int) -> str:
    """An amount in base units as an exact decimal string of the currency (satoshi -> BTC)."""
    text = format(Decimal(int(base_units)).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _date(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(int(value), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, str) and value:
        return value.rstrip("Z")[:19]
    return None


def actor_schema(category: str | None) -> str:
    """Company for a service one operator runs, Person for a user or victim, else Organization."""
    if category in _PEOPLE:
        return "Person"
    cat = CATEGORIES.get(category or "")
    return "Company" if cat is not None and cat.service else "Organization"


class _Entities:
    """Entities by id, properties merged (each value once, in order)."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}

    def add(self, eid: str, schema: str, **props: Any) -> str:
        ent = self.by_id.setdefault(eid, {"id": eid, "schema": schema, "properties": {}})
        for name, value in props.items():
            for v in value if isinstance(value, list) else [value]:
                if v is not None and v != "" and str(v) not in ent["properties"].setdefault(name, []):
                    ent["properties"][name].append(str(v))
        return eid

    def lines(self) -> list[dict[str, Any]]:
        """Actors first, then wallets, then payments; each group by id (a stable order)."""
        rank = {"Company": 0, "Organization": 0, "Person": 0, "CryptoWallet": 1, "Payment": 2}
        return sorted(self.by_id.values(), key=lambda e: (rank.get(e["schema"], 3), e["id"]))


def ftm_entities(case: dict[str, Any], *, currencies: dict[str, tuple[str, int]], txs: dict[str, dict[str, Any]],
                 tags: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The entities of a case document (`CaseDetail` JSON with full saved traces). `currencies`
    chain -> (currency code, decimals); `txs` txid -> {"chain", "time", "inputs": [address...],
    "outputs": [{"n", "address", "value"}...]} for the seed transactions; `tags` address -> tags
    ({"label", "category", "actor"}) naming the holders."""
    out = _Entities()

    def wallet(chain: str, address: str | None) -> str | None:
        if not address:
            return None
        code = currencies.get(chain, (chain.upper(), 8))[0]
        holders = [actor(t) for t in tags.get(address, [])]
        return out.add(entity_id("wallet", chain, address), "CryptoWallet", publicKey=address, currency=code,
                       blockchain=chain, holder=holders)

    def actor(tag: dict[str, Any]) -> str:
        key = str(tag.get("actor") or tag.get("label") or "unknown")
        schema = actor_schema(tag.get("category"))
        cat = CATEGORIES.get(tag.get("category") or "")
        return out.add(entity_id("actor", key.lower()), schema, name=tag.get("label") or key,
                       description=cat.label if cat is not None else None)

    def payment(key: tuple[object, ...], chain: str, payers: list[str | None], payee: str | None, amount: int,
                txid: str, when: Any, summary: str) -> None:
        payer_ids = [w for w in (wallet(chain, a) for a in dict.fromkeys(payers)) if w]
        payee_id = wallet(chain, payee)
        if not payer_ids or payee_id is None:
            return  # a payment needs both sides; the wallet itself is still there
        code, decimals = currencies.get(chain, (chain.upper(), 8))
        out.add(entity_id("payment", *key), "Payment", payer=payer_ids, beneficiary=payee_id,
                amount=decimal_amount(amount, decimals), currency=code, date=_date(when), transactionNumber=txid,
                summary=summary)

    for seed in case.get("seeds") or []:
        chain, text = seed["chain"], seed["text"]
        txid, _, vout = text.partition(":")
        tx = txs.get(txid)
        if tx is None:  # an address seed
            wallet(chain, text)
            continue
        for o in tx["outputs"]:
            if vout and str(o["n"]) != vout:
                continue
            payment(("seed", chain, txid, o["n"]), chain, tx["inputs"], o.get("address"), int(o["value"]), txid,
                    tx.get("time"), f"seed {seed['id']} of case {case['id']}" + (f": {seed['note']}"
                                                                                 if seed.get("note") else ""))
    for trace in case.get("traces") or []:
        result = trace.get("result") or {}
        chain = str(result.get("chain") or trace.get("state", {}).get("chain"))
        graph = result.get("graph") or {}
        nodes = {n["id"]: n for n in graph.get("nodes") or []}
        into: dict[str, list[str | None]] = {}
        for e in graph.get("edges") or []:
            if e.get("to"):
                into.setdefault(e["to"], []).append(e.get("address"))
        ends = {o for e in result.get("endpoints") or [] for o in e.get("outputs") or []}
        for e in result.get("endpoints") or []:
            wallet(chain, e.get("address"))
        for e in graph.get("edges") or []:
            if e.get("output") not in ends:
                continue
            txid = str(e["output"]).rpartition(":")[0]
            payers = into.get(e["from"]) or txs.get(txid, {}).get("inputs") or []
            payment(("trace", trace["id"], e["output"]), chain, payers, e.get("address"), int(e.get("amount_sat") or 0),
                    txid, nodes.get(e["from"], {}).get("time"),
                    f"{trace.get('policy') or ''} trace {trace['id']} of case {case['id']}: traced amount reaching "
                    f"this endpoint (the output holds {e.get('value_sat')} base units)")
    return out.lines()


def ftm_bytes(entities: list[dict[str, Any]]) -> bytes:
    """JSON lines, one entity per line, sorted keys."""
    return "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in entities).encode()
