"""Which chain (if any) answers for each address or transaction given to `risk` and `screen`.

Customer lists mix currencies, and a store may hold tags without the chain they describe. So every
input is classified by its form first, before any index is loaded (a typo is rejected at once):

- a txid (64 hex digits) belongs to the store's UTXO or TRON chain, an `0x` + 64 hex hash to its
  account chain (the only one that fits, or `--chain`); with none stored it is not found (exit 6);
- an address is matched to the stored chain whose currency its form is valid for
  (`tags.currencies.address_currencies`: a `1...` address fits BTC, an `0x` address every EVM
  chain; a `T…` or `41…` address, and an `0x` one too, a TRON chain, where it is scored and shown
  as `T…`). One match: scored there, with exposure. Several (an EVM address in a store holding eth
  and bsc): a usage error asking for `--chain`. None: scored from the tags of every currency the
  form is valid for (an EVM address: every EVM chain's tags), with `exposure_computed: false` and
  the reason;
- `--chain C` names the chain: addresses must be valid for it; if C is a known chain that is not
  stored, its addresses are scored from C's tags alone, saying so.

Text of no recognised form is a usage error unless a stored tag is keyed by exactly that text
(tag sources list addresses of chains whose form is not checked here); then it is scored from
those tags. Assessors (graph, tags, exposure) are built only for the chains some input needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fundtrail.errors import FundtrailError, NotFoundError, UsageError
from fundtrail.chains.resolve import account_text, parse_account_address
from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.model.chains import ACCOUNT_CHAINS, BITCOIN_CHAINS
from fundtrail.risk.account_assess import AccountAssessor, is_account_tx_hash
from fundtrail.risk.assess import Assessor, Screened, Step, no_step
from fundtrail.risk.profile import Profile
from fundtrail.risk.score import RiskResult
from fundtrail.risk.tagsonly import score_from_tags
from fundtrail.store.lake import Store
from fundtrail.store.select import select_chain
from fundtrail.tags.currencies import EVM_ORDER, InvalidAddress, UnrecognisedAddress, address_currencies
from fundtrail.trace.attribution import chain_currency

_TXID = re.compile(r"^[0-9a-fA-F]{64}$")
_TRON_HEX = re.compile(r"^41[0-9a-fA-F]{40}$")  # java-tron's hex form of a TRON address


@dataclass(frozen=True)
class Target:
    """One classified input: where it is scored (`chain`, None = from tags alone) and, for tags
    alone, the currencies whose tags count (None: any) and why exposure is not computed."""

    text: str
    kind: str  # "address" or "transaction"
    chain: str | None
    currencies: tuple[str, ...] | None = None
    reason: str | None = None


class RiskService:
    """`risk` and `screen` over one store and profile: classify inputs, then score them in batches."""

    def __init__(self, store: Store, profile: Profile, chain: str | None = None, step: Step = no_step, *,
                 assessor_of: Callable[[str], Assessor | AccountAssessor] | None = None) -> None:
        """`assessor_of`: where assessors come from (a workspace's cache); default: built here."""
        self.store, self.profile, self.step = store, profile, step
        self._assessor_of = assessor_of
        self.stored = {c["chain"]: c["family"] for c in store.chains()}
        self.chain, self.family = chain, None
        if chain is not None:
            if chain in self.stored:
                self.family = self.stored[chain]
            elif chain in BITCOIN_CHAINS.values():
                self.family = "utxo"
            elif chain in ACCOUNT_CHAINS:
                self.family = "account"
            else:
                select_chain(store, chain)  # not stored and not a chain fundtrail knows: NotFoundError
        self._assessors: dict[str, Assessor | AccountAssessor] = {}
        self._currencies: dict[str, str] = {}

    # -- classification (no index is touched) ----------------------------------------------------
    def classify(self, text: str) -> Target:
        """Where `text` is scored; UsageError (malformed, ambiguous) or NotFoundError (no chain)."""
        t = text.strip()
        if not t:
            raise UsageError("empty address")
        if _TXID.match(t):
            return Target(t, "transaction", self._tx_chain(t, "utxo"))
        if is_account_tx_hash(t):
            return Target(t, "transaction", self._tx_chain(t, "account"))
        try:
            forms = ("TRX",) if _TRON_HEX.match(t) else address_currencies(t)
        except InvalidAddress as exc:
            if isinstance(exc, UnrecognisedAddress) and self._keyed_tags(t):
                return Target(t, "address", None, None, "the address's form names no chain")
            raise UsageError(f"{t!r}: {exc}") from None
        if self.chain is not None:
            return self._on_named_chain(t, forms)
        matches = [c for c, fam in self.stored.items() if self._fits(c, fam, forms)]
        if len(matches) == 1:
            return Target(self._shown(t, matches[0]), "address", matches[0])
        if matches:
            raise UsageError(f"{t} could be an address of {' or '.join(matches)}: choose one with `chain`")
        stored = ", ".join(self.stored) or "none"
        what = "EVM" if forms == EVM_ORDER else "/".join(forms[:3])
        shown = self._shown(t, "tron") if forms == ("TRX",) else t
        return Target(shown, "address", None, forms, f"the store holds no {what} chain (stored: {stored})")

    @staticmethod
    def _shown(t: str, chain: str) -> str:
        """A TRON address as its tags are keyed and its results show it (`T…`, whichever form was
        typed: `T…`, `41…` or `0x…`); any other address as typed."""
        if not is_tron_chain(chain):
            return t
        return account_text(parse_account_address(t, chain=chain), chain=chain)

    def _fits(self, chain: str, family: str, forms: tuple[str, ...]) -> bool:
        if family == "account":
            if is_tron_chain(chain):  # T… and 41…, and the TVM's 0x… form of the same 20 bytes
                return forms == ("TRX",) or forms == EVM_ORDER
            return forms == EVM_ORDER
        currency = self._currencies.get(chain)
        if currency is None:  # once per chain: asked for every input of a screening
            currency = self._currencies[chain] = chain_currency(chain)
        return currency in forms

    def _on_named_chain(self, t: str, forms: tuple[str, ...]) -> Target:
        chain = self.chain or ""
        if not self._fits(chain, self.family or "", forms):
            raise UsageError(f"{t} is not a {chain} address (its form is that of "
                             f"{'an EVM chain' if forms == EVM_ORDER else ', '.join(forms[:3])})")
        t = self._shown(t, chain)
        if chain in self.stored:
            return Target(t, "address", chain)
        return Target(t, "address", None, (chain_currency(chain),),
                      f"chain {chain} is not in the store (stored: {', '.join(self.stored) or 'none'})")

    def _tx_chain(self, t: str, family: str) -> str:
        """The chain of a txid: bare hex fits UTXO and TRON chains, 0x-hex every account chain."""
        if self.chain is not None:
            if self.family != family and not (family == "utxo" and is_tron_chain(self.chain)):
                raise UsageError(f"{t} is not a transaction id of {self.chain}")
            if self.chain not in self.stored:
                raise NotFoundError(f"transaction {t} cannot be looked up: chain {self.chain} is not in the store")
            return self.chain
        pool = [c for c, fam in self.stored.items()
                if fam == family or (family == "utxo" and fam == "account" and is_tron_chain(c))]
        if not pool:
            kind = "UTXO (Bitcoin-family)" if family == "utxo" else "account (EVM)"
            raise NotFoundError(f"transaction {t} cannot be looked up: the store holds no {kind} chain "
                                f"(stored: {', '.join(self.stored) or 'none'})")
        if len(pool) > 1:
            raise UsageError(f"transaction {t} could be on {' or '.join(pool)}: choose one with `chain`")
        return pool[0]

    def _keyed_tags(self, t: str) -> bool:
        from fundtrail.tags.lookup import has_tags, tags_of

        with self.store.connect(read_only=True) as con:
            return has_tags(con) and bool(tags_of(con, t))

    # -- scoring -----------------------------------------------------------------------------------
    def assessor(self, chain: str) -> Assessor | AccountAssessor:
        """The assessor of a stored chain, built on first use."""
        if chain not in self._assessors and self._assessor_of is not None:
            self._assessors[chain] = self._assessor_of(chain)
        if chain not in self._assessors:
            cls = AccountAssessor if self.stored[chain] == "account" else Assessor
            self._assessors[chain] = cls(self.store, chain, self.profile, self.step)
        return self._assessors[chain]

    def score(self, targets: list[Target], *, exposure: bool = True) -> list[RiskResult | FundtrailError]:
        """Results in input order; a transaction that is not found gives its error in its place.
        `exposure` False: addresses' results without their exposure breakdown (`Assessor.addresses`)."""
        out: list[RiskResult | FundtrailError | None] = [None] * len(targets)
        tags_only = [i for i, t in enumerate(targets) if t.chain is None]
        for i, res in zip(tags_only, score_from_tags(
                self.store, self.profile, [targets[i].text for i in tags_only],
                [targets[i].currencies for i in tags_only], [targets[i].reason or "" for i in tags_only],
                [self.chain if self.chain not in self.stored else None for _ in tags_only])):
            out[i] = res
        for chain in dict.fromkeys(t.chain for t in targets if t.chain is not None):
            assessor = self.assessor(chain)
            addr = [i for i, t in enumerate(targets) if t.chain == chain and t.kind == "address"]
            texts = [targets[i].text for i in addr]
            scored = ([] if not addr else assessor.addresses(texts, exposure=exposure)
                      if isinstance(assessor, Assessor) else assessor.addresses(texts))
            for i, res in zip(addr, scored):
                out[i] = res
            for i, t in enumerate(targets):
                if t.chain == chain and t.kind == "transaction":
                    try:
                        out[i] = assessor.transaction(t.text)
                    except FundtrailError as exc:
                        out[i] = exc
        assert all(r is not None for r in out)
        return out  # type: ignore[return-value]

    def screen(self, inputs: list[str]) -> list[Screened]:
        """Score many inputs; an input that cannot be scored gets its own one-line error."""
        rows: list[Screened] = []
        targets, where = [], []
        for text in inputs:
            t = text.strip()
            kind = "transaction" if _TXID.match(t) or is_account_tx_hash(t) else "address"
            try:
                targets.append(self.classify(t))
                where.append(len(rows))
            except FundtrailError as exc:
                rows.append(Screened(t, kind, None, exc.one_line()))
                continue
            rows.append(Screened(t, kind, None))
        for pos, res in zip(where, self.score(targets, exposure=False)):  # a row shows no exposure
            if isinstance(res, FundtrailError):
                rows[pos].error = res.one_line()
            else:
                rows[pos].result = res
        return rows
