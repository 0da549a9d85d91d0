"""The controlled vocabulary of attribution: categories and the ordered confidence scale.

Category ids are the concept ids of the GraphSense taxonomy (derived from the INTERPOL Darknet and
Cryptocurrencies Working Group taxonomy), so TagPacks round-trip without translation. Each category
is either an *entity* (what the address holder is: exchange, miner ...) or an *abuse* (what it was
used for: ransomware, scam, sanction ...). Words other sources use (Etherscan label slugs,
CryptoScamDB categories, "mixer", "hacker") are aliases resolved by `resolve_category`.

The confidence scale is GraphSense's: an ordered list from proven ownership (100) down to unknown (5).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Category:
    """One concept: id, human label, entity or abuse, and whether one controller runs it."""

    id: str
    label: str
    kind: str  # "entity" or "abuse"
    service: bool = False  # a single operator controls its addresses: two on one address conflict


_CATEGORIES = (
    # entities: services run by one operator (conflict when two different ones share an address)
    Category("exchange", "Exchange (centralised, CEX)", "entity", True),
    Category("wallet_service", "Custodial wallet service", "entity", True),
    Category("mixing_service", "Mixing service (tumbler)", "entity", True),
    Category("market", "Market (incl. darknet markets)", "entity", True),
    Category("gambling", "Gambling service", "entity", True),
    Category("miner", "Miner / mining pool", "entity", True),
    Category("mining_service", "Mining as a service", "entity", True),
    Category("payment_processor", "Payment processor", "entity", True),
    Category("atm", "Cryptoasset ATM", "entity", True),
    Category("defi_bridge", "Bridge", "entity", True),
    Category("shop", "Shop", "entity", True),
    Category("hosting", "Hosting provider", "entity", True),
    Category("vpn", "VPN provider", "entity", True),
    # entities without that single-operator meaning
    Category("defi", "DeFi protocol", "entity"),
    Category("defi_dex", "Decentralised exchange (DEX)", "entity"),
    Category("defi_lending", "Lending protocol", "entity"),
    Category("defi_derivative", "Derivatives protocol", "entity"),
    Category("coinjoin", "CoinJoin participant", "entity"),
    Category("ico_wallet", "ICO wallet", "entity"),
    Category("escrow_wallet", "Escrow wallet", "entity"),
    Category("cold_wallet", "Cold wallet", "entity"),
    Category("hot_wallet", "Hot wallet", "entity"),
    Category("faucet", "Faucet", "entity"),
    Category("donation", "Donation address", "entity"),
    Category("organization", "Organisation", "entity"),
    Category("service", "Service (unspecified)", "entity"),
    Category("user", "User / individual", "entity"),
    Category("perpetrator", "Perpetrator", "entity"),
    Category("victim", "Victim", "entity"),
    Category("black_list", "Blocked by a token issuer (e.g. USDT blacklist)", "entity"),
    Category("collectible", "Collectible (NFT)", "entity"),
    # abuses
    Category("sanction", "Sanctioned entity (sanction list)", "abuse"),
    Category("ransomware", "Ransomware", "abuse"),
    Category("scam", "Scam", "abuse"),
    Category("phishing", "Phishing", "abuse"),
    Category("service_hack", "Hacker / service hack (stolen funds)", "abuse"),
    Category("ponzi_scheme", "Ponzi scheme", "abuse"),
    Category("pyramid_scheme", "Pyramid scheme", "abuse"),
    Category("investment_fraud", "Investment fraud", "abuse"),
    Category("extortion", "Extortion", "abuse"),
    Category("sextortion", "Sextortion", "abuse"),
    Category("malware", "Malware", "abuse"),
    Category("money_laundering", "Money laundering", "abuse"),
    Category("payment_card_fraud", "Payment card fraud", "abuse"),
    Category("extremism", "Violent extremism", "abuse"),
    Category("terrorism", "Terrorism financing", "abuse"),
    Category("child_sexual_abuse", "Child sexual abuse material", "abuse"),
    Category("abuse", "Abuse (unspecified)", "abuse"),
)
CATEGORIES: dict[str, Category] = {c.id: c for c in _CATEGORIES}

#: Words of other sources (lower case, '-' and ' ' read as '_') -> category id.
ALIASES: dict[str, str] = {
    "mixer": "mixing_service", "mixing": "mixing_service", "tumbler": "mixing_service",
    "tornado": "mixing_service", "tornado_cash": "mixing_service", "ethereum_mixer": "mixing_service",
    "typhoon_cash": "mixing_service", "privacy": "mixing_service",
    "darknet_market": "market", "darknet": "market", "dark_market": "market",
    "sanctioned": "sanction", "sanctions": "sanction", "sanctioned_entity": "sanction",
    "ofac_sanctions_lists": "sanction", "ofac": "sanction",
    "hacker": "service_hack", "hack": "service_hack", "hacked": "service_hack", "heist": "service_hack",
    "exploit": "service_hack", "exploiter": "service_hack", "phish_hack": "phishing",
    "scamming": "scam", "fraud": "scam", "fake_phishing": "phishing", "something_fishy": "scam",
    "mining": "miner", "mining_pool": "miner", "pool": "miner",
    "bridge": "defi_bridge", "cross_chain": "defi_bridge",
    "dex": "defi_dex", "loans": "defi_lending", "lending": "defi_lending", "derivatives": "defi_derivative",
    "cex": "exchange", "hot_wallet": "hot_wallet", "cold_wallet": "cold_wallet",
    "ico_wallets": "ico_wallet", "token_sale": "ico_wallet", "escrow": "escrow_wallet",
    "wallet": "wallet_service", "gaming": "gambling", "casino": "gambling",
    "blocked": "black_list", "blacklist": "black_list", "blacklisted": "black_list",
    "payments": "payment_processor", "fiat_gateway": "payment_processor",
    "charity": "donation", "donate": "donation", "collectibles": "collectible",
    "ponzi": "ponzi_scheme", "pyramid": "pyramid_scheme",
}

_NAMES_OF_EXCHANGES = (
    "binance", "binance_deposit", "bitfinex", "bithumb", "bitmart", "bitmex", "bitstamp", "bittrex",
    "coinbase", "crypto_com", "deribit", "ftx", "gate_io", "gemini", "hitbtc", "hotbit", "huobi",
    "kraken", "kucoin", "okx", "okex", "poloniex", "upbit", "korbit", "coinone", "bitpie", "latoken",
    "liquid", "paribu", "remitano", "tidex", "topbtc", "yunbi", "zb_com", "abcc", "allbit",
    "ascendex", "bgogo", "cobinhood", "coinbit", "coinhako", "coinlist", "coinmetro", "coinsquare",
    "coss_io", "crex24", "digifinex", "hoo_com", "idex", "kryptono", "lcx_ag", "maskex", "nexo",
    "quadrigacx", "resfinex", "trade_io", "wirex", "changenow", "shapeshift", "bitcoin_suisse",
    "blockfi", "celsius_network", "otc", "swipe_io", "unagii_com", "gbx", "oobit",
)
#: Explorer slugs naming one exchange read as category exchange (the slug stays in the label).
EXCHANGE_SLUGS = frozenset(_NAMES_OF_EXCHANGES)


def _slug(word: str) -> str:
    return word.strip().lower().replace("-", "_").replace(" ", "_").replace(".", "_")


@lru_cache(maxsize=4096)
def resolve_category(word: str | None) -> str | None:
    """Category id for a category word of any source; None if it is not in the vocabulary."""
    if word is None:
        return None
    slug = _slug(str(word))
    if not slug:
        return None
    if slug in CATEGORIES:
        return slug
    if slug in ALIASES:
        return ALIASES[slug]
    if slug in EXCHANGE_SLUGS:
        return "exchange"
    return None


def is_service(category: str | None) -> bool:
    """Whether addresses of this category are controlled by one operator (conflicts count)."""
    cat = CATEGORIES.get(category or "")
    return bool(cat and cat.service)


@dataclass(frozen=True, slots=True)
class Confidence:
    """One level of the ordered confidence scale."""

    id: str
    level: int
    label: str
    meaning: str


_CONFIDENCE = (
    Confidence("override", 100, "Manual cluster tag",
               "the analyst knows the tag holds for the whole cluster and overrides other tags"),
    Confidence("ownership", 100, "Proven address ownership",
               "the creator controls the private key of the address (e.g. signed message)"),
    Confidence("ledger_immanent", 100, "Ledger immanent",
               "follows from the ledger itself (e.g. a token issuer's on-chain blacklist event)"),
    Confidence("manual_transaction", 90, "Trusted transaction",
               "the creator sent funds to or from the service and observed the address"),
    Confidence("service_api", 70, "Service API",
               "retrieved from a known, trusted service provider's API (e.g. a VASP API)"),
    Confidence("authority_data", 60, "Authority data",
               "published by a public authority (e.g. OFAC SDN list, court documents)"),
    Confidence("trusted_provider", 50, "Trusted data provider",
               "from a trusted third party (curated blocklists, spam traps)"),
    Confidence("service_data", 50, "Service data",
               "from the service itself (e.g. proof-of-reserves lists, files from an exchange)"),
    Confidence("forensic", 50, "Forensic report",
               "from reasonably trusted reports (academic papers, forensic analyses)"),
    Confidence("untrusted_transaction", 40, "Untrusted transaction",
               "a third party reports a transaction between known services"),
    Confidence("web_crawl", 20, "Web crawl",
               "crawled from the web or other data dumps (explorer labels, crowd reports)"),
    Confidence("heuristic", 10, "Heuristic",
               "produced by a method whose reliability is hard to quantify; best effort"),
    Confidence("unknown", 5, "Unknown", "source and reliability unknown; use with care"),
)
CONFIDENCE: dict[str, Confidence] = {c.id: c for c in _CONFIDENCE}
#: Words other sources use for a confidence -> its id (docs/attribution.md lists them). `tags add`
#: accepts them too and prints the mapping ("high -> forensic (level 50)").
CONFIDENCE_ALIASES = {"proven": "ownership", "authority": "authority_data", "web": "web_crawl",
                      "service": "service_data", "high": "forensic", "medium": "web_crawl",
                      "low": "heuristic"}


@lru_cache(maxsize=256)
def resolve_confidence(word: str | None) -> str | None:
    """Confidence id for a word (id or alias); None if unknown. Missing confidence means unknown."""
    if word is None or str(word).strip() == "":
        return "unknown"
    slug = _slug(str(word))
    if slug in CONFIDENCE:
        return slug
    return CONFIDENCE_ALIASES.get(slug)


def confidence_level(conf: str) -> int:
    """Numeric level of a confidence id (higher is stronger)."""
    return CONFIDENCE[conf].level
