"""Evidence records of the clustering heuristics and the literature each rule comes from.

A heuristic's verdict on one transaction is explained by `Evidence` items: which rule fired, how
confident it is, the publication the rule comes from, and the facts of the transaction it looked at.
Reports for a court cite `source`; `details` holds only on-chain facts (counts, values, ids), so the
inference and the facts it rests on stay apart (DESIGN.md section 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Literature behind each rule, cited in evidence and in docs/heuristics.md.
SOURCES: dict[str, str] = {
    "generic": "Kalodner et al. 2020, 'BlockSci: Design and applications of a blockchain analysis "
               "platform' (USENIX Security); Goldfeder et al. 2018, 'When the cookie meets the "
               "blockchain' (PETS)",
    "wasabi1": "ZeroLink (nopara73 & TDevD 2017); Stockinger et al. 2022, 'Pinpointing and measuring "
               "Wasabi and Samourai CoinJoins in the Bitcoin ecosystem'; Svenda et al. 2025 (PETS), "
               "Dumplings detector",
    "wasabi2": "WabiSabi (Ficsor et al. 2021) and Wasabi 2.0 standard denominations; Schnoering & "
               "Vazirgiannis 2023, 'Heuristics for detecting CoinJoin transactions on the Bitcoin "
               "blockchain'; Svenda et al. 2025 (PETS), Dumplings detector",
    "whirlpool_tx0": "Samourai Whirlpool documentation (tx0: premix, pool fee, OP_RETURN, change); "
                     "Stockinger et al. 2022",
    "whirlpool_mix": "Samourai Whirlpool documentation (5-in/5-out mixes at 0.001/0.01/0.05/0.5 BTC); "
                     "Stockinger et al. 2022 (Samourai CoinJoin detection heuristic)",
    "joinmarket": "JoinMarket documentation; Möser & Böhme 2017, 'Anonymous alone? Measuring "
                  "Bitcoin's second-generation anonymization techniques' (EuroS&PW)",
    "address_reuse": "Meiklejohn et al. 2013, 'A fistful of bitcoins' (IMC) (one-time change); "
                     "Androulaki et al. 2013, 'Evaluating user privacy in Bitcoin' (FC) (self-change)",
    "script_type": "Möser & Narayanan 2022, 'Resurrecting address clustering in Bitcoin' (FC); "
                   "Kappos et al. 2022, 'How to peel a million' (USENIX Security)",
    "optimal_change": "Nick 2015, 'Data-driven de-anonymization in Bitcoin' (ETH Zürich MSc thesis); "
                      "Möser & Narayanan 2022",
    "round_payment": "Androulaki et al. 2013; Ermilov et al. 2017, 'Automatic Bitcoin address "
                     "clustering' (ICMLA); Möser & Narayanan 2022",
    "fingerprint": "Möser & Narayanan 2022 (wallet fingerprints: version, locktime, sequence)",
    "peel_chain": "Meiklejohn et al. 2013; Kappos et al. 2022, 'How to peel a million'",
    "change_consensus": "fundtrail: noisy-or of the agreeing change rules, discounted by rival votes "
                        "(docs/heuristics.md)",
    "deposit_reuse": "Victor 2020, 'Address clustering heuristics for Ethereum' (FC)",
    "delegation": "java-tron Stake 2.0 resource delegation (DelegateResourceContract): one account pays the "
                  "energy or bandwidth of another; opt-in, energy-rental markets delegate to strangers "
                  "(docs/heuristics.md)",
}


@dataclass(frozen=True)
class Evidence:
    """Why a heuristic decided what it did about one transaction.

    `rule` is the heuristic's name (a key of `SOURCES`), `confidence` in [0, 1], `tx_id` the
    transaction, `details` the observed facts (JSON-serialisable values only).
    """

    rule: str
    confidence: float
    tx_id: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The publication(s) the rule comes from."""
        return SOURCES.get(self.rule, "")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (for `--json` output and evidence bundles)."""
        return {"rule": self.rule, "confidence": round(float(self.confidence), 4),
                "tx_id": int(self.tx_id), "source": self.source, "details": self.details}
