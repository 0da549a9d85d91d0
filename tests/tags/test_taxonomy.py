"""The controlled vocabulary: aliases of other sources, the ordered confidence scale, entity keys."""

from __future__ import annotations

from fundtrail.tags.conflicts import entity_key, find_conflict, same_entity
from fundtrail.tags.taxonomy import CONFIDENCE, is_service, resolve_category, resolve_confidence


def test_words_of_other_sources_resolve_to_graphsense_concepts() -> None:
    assert resolve_category("Mixing Service") == "mixing_service"
    assert resolve_category("tornado-cash") == "mixing_service"
    assert resolve_category("ofac-sanctions-lists") == "sanction"
    assert resolve_category("Phishing") == "phishing"  # CryptoScamDB's capitalised categories
    assert resolve_category("darknet market") == "market"
    assert resolve_category("hacker") == "service_hack"
    assert resolve_category("kraken") == "exchange"  # an Etherscan slug naming an exchange
    assert resolve_category("sushiswap") is None and resolve_category("") is None


def test_confidence_scale_is_ordered_from_ownership_to_unknown() -> None:
    levels = [c.level for c in CONFIDENCE.values()]
    assert levels == sorted(levels, reverse=True)
    assert CONFIDENCE["ownership"].level == 100 and CONFIDENCE["unknown"].level == 5
    assert CONFIDENCE["authority_data"].level > CONFIDENCE["web_crawl"].level
    assert resolve_confidence(None) == "unknown" and resolve_confidence("nonsense") is None


def test_entity_keys_agree_across_spellings_and_disagree_across_services() -> None:
    assert entity_key(None, "Binance 14") == entity_key(None, "binance.com") == entity_key("binance", "x")
    assert same_entity(entity_key(None, "huobi reserve wallets BTC"), "huobi")
    assert not same_entity("binance", "kraken") and not same_entity("okx", "okxpool")  # short keys: exact only
    assert is_service("exchange") and not is_service("ransomware") and not is_service(None)


def test_conflict_needs_two_service_entities() -> None:
    ex = {"category": "exchange", "label": "Binance 1", "actor": None, "entity": "binance"}
    same = {"category": "exchange", "label": "binance.com", "actor": None, "entity": "binance"}
    abuse = {"category": "sanction", "label": "OFAC", "actor": None, "entity": "ofac"}
    other = {"category": "mixing_service", "label": "Tornado", "actor": "tornado", "entity": "tornado"}
    assert find_conflict([ex, same, abuse]) is None
    conflict = find_conflict([ex, same, other])
    assert conflict is not None and [e["entity"] for e in conflict["entities"]] == ["binance", "tornado"]
