"""Conflicting tags: two different single-operator services claimed for one address or cluster.

Who a tag names is its *entity key*: the actor id when the tag has one, else its label reduced to
the name (lower case, no punctuation, no domain suffix, no wallet words or numbers), so that
"Binance 14", "binance.com" and actor `binance` agree. Two keys agree when one is a prefix of the
other ("huobi" / "huobireserve"); two tags agree when any of their names (actor, labels) agree.
Only categories run by one operator count (exchange, mixing service, market, gambling, miner,
bridge ...; `taxonomy.is_service`): an address can be both
ransomware and sanctioned, but not both Binance and Kraken. A cluster whose members carry two
different such entities is flagged as a possible false merge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from fundtrail.tags.taxonomy import is_service

_SUFFIX = re.compile(r"\.(com|io|net|org|co|info|exchange|us|eu|uk|de|fr|jp|kr|me|cc|to|li|ch|pro|ai)\b")
_PARENS = re.compile(r"\([^)]*\)")
_WORDS = re.compile(r"[a-z0-9]+")
_NOISE = frozenset({"hot", "cold", "warm", "wallet", "wallets", "reserve", "reserves", "deposit",
                    "deposits", "withdrawal", "address", "addresses", "exchange", "pool", "btc", "eth",
                    "erc20", "usdt", "trx", "bch", "ltc", "main", "old", "new", "ag",
                    "ltd", "inc", "llc", "gmbh", "token", "contract"})
_MIN_PREFIX = 4


@lru_cache(maxsize=1 << 16)
def entity_key(actor: str | None, label: str) -> str:
    """Who a tag names: its actor id, else its label reduced to the name.

    Labels read "Entity: detail", "Name (SYMBOL)", "Name, Category": the part before the colon or
    comma and outside the parentheses names the entity.
    """
    if actor:
        return actor.strip().lower()
    text = _PARENS.sub(" ", re.split(r"[:,]", label.lower(), maxsplit=1)[0])
    text = _SUFFIX.sub(" ", text)
    words = [w for w in _WORDS.findall(text) if w not in _NOISE and not w.isdigit()]
    return "".join(words) or label.strip().lower()


def same_entity(a: str, b: str) -> bool:
    """Whether two entity keys name the same entity (equal, or one a prefix of the other)."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= _MIN_PREFIX and long_.startswith(short)


def names_of(tag: dict) -> set[str]:
    """Every key a (merged) tag can be known by: its actor (with the actor's name and aliases, when
    the caller added them as `actor_names`) and each of its labels."""
    names = {entity_key(None, label) for label in (tag.get("labels") or [tag["label"]])}
    if tag.get("actor"):
        names.add(entity_key(tag["actor"], ""))
    names.update(entity_key(None, n) for n in tag.get("actor_names") or ())
    return names


def _agree(a: set[str], b: set[str]) -> bool:
    return any(same_entity(x, y) for x in a for y in b)


def service_groups(tags: Iterable[dict]) -> list[list[dict]]:
    """Service tags grouped by entity (tags whose names agree), largest group first."""
    groups: list[tuple[set[str], list[dict]]] = []
    for tag in tags:
        if not is_service(tag.get("category")):
            continue
        names = names_of(tag)
        for group_names, group in groups:
            if _agree(group_names, names):
                group.append(tag)
                group_names |= names
                break
        else:
            groups.append((names, [tag]))
    result = [g for _, g in groups]
    result.sort(key=lambda g: -len(g))
    return result


def describe(group: list[dict]) -> str:
    """'exchange Binance (actor binance)' for the first tag of a group."""
    t = group[0]
    who = f" (actor {t['actor']})" if t.get("actor") else ""
    return f"{t['category']} {t['label']!r}{who}"


def find_conflict(tags: list[dict]) -> dict | None:
    """The conflict among tags of one subject, or None: entities that disagree, with their tags."""
    groups = service_groups(tags)
    if len(groups) < 2:
        return None
    return {
        "reason": "different services claimed: " + " vs ".join(describe(g) for g in groups),
        "entities": [{"entity": g[0]["entity"], "category": g[0]["category"], "label": g[0]["label"],
                      "actor": g[0].get("actor"), "tags": g} for g in groups],
    }
