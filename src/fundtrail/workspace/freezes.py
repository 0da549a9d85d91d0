"""Stablecoin freezes as facts: `Workspace.freezes` lists the issuers' actions of an account chain.

Ingest decodes Tether's and Circle's freeze events into the `freezes` table (`chains.ethereum.freezes`);
this lists them newest first, filtered by token and address, each marked with whether its contract
is a known issuer's (`model.issuers`, plus the contracts the risk profile's `freeze` rules add) and
whether it is the contract's last action on the address (`frozen_now` when that froze it). A freeze
emitted by an unknown contract is listed, never hidden: it is still a fact of the chain, only not
one about a stablecoin's funds.
"""

from __future__ import annotations

import datetime as dt

from fundtrail.chains.resolve import account_text, parse_account_address
from fundtrail.errors import FundtrailError, UsageError
from fundtrail.store.txhash import tx_hash_text
from fundtrail.model.issuers import Issuer, issuer_of, issuers_on
from fundtrail.risk.profile import Profile, load_profile
from fundtrail.trace.account_report import Unit, format_units, token_units
from fundtrail.trace.freezes import FreezeFact, count_freezes, latest_actions, read_freezes
from fundtrail.workspace.core import Page, WorkspaceBase, check_limit, decode_cursor, encode_cursor
from fundtrail.workspace.freeze_models import FreezeRow, FreezesRequest, FreezesResult

_CURSOR_KEYS = ("block", "log")


def show_address(raw: bytes, chain: str) -> str:
    """An account address as the chain writes it: Base58Check `T…` on TRON, EIP-55 elsewhere."""
    return account_text(raw, chain=chain)


def parse_address(text: str, chain: str, *, field: str) -> bytes:
    """20 bytes of a typed address (`T…`/`41…`/`0x…` on TRON); UsageError naming `field`."""
    try:
        return parse_account_address(text, field=field, chain=chain)
    except UsageError as exc:
        if exc.message.startswith(field):
            raise
        raise UsageError(f"{field}: {exc.message}", hint=exc.hint, field=field) from None


def _time(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FreezeOps(WorkspaceBase):
    """The issuers' freeze actions (module docstring)."""

    def _freeze_profile(self, path: str | None) -> Profile:
        def load() -> Profile:
            try:
                return load_profile(path)
            except FundtrailError as exc:
                exc.field = exc.field or "profile"
                raise

        return self.cached(("risk-profile", path), load)  # the key RiskOps.risk_profile uses

    def _token(self, text: str, chain: str) -> bytes:
        by_symbol = {i.symbol.lower(): i for i in issuers_on(chain)}
        known: Issuer | None = by_symbol.get(text.strip().lower())
        if known is not None:
            return known.raw
        if text.strip()[:1].isalpha() and len(text.strip()) <= 12 and chain != "tron":
            names = ", ".join(sorted(i.symbol for i in by_symbol.values())) or "none"
            raise UsageError(f"token {text.strip()!r} is not a known issuer's symbol on {chain} (known: {names}); "
                             "give the token's contract address", field="token")
        return parse_address(text, chain, field="token")

    def freezes(self, req: FreezesRequest) -> FreezesResult:
        """One page of the chain's freeze actions, newest first (FreezesRequest says which)."""
        check_limit(req.limit)
        chain = self.chain(req.chain, family="account", what="freezes").name
        token = self._token(req.token, chain) if req.token else None
        address = parse_address(req.address, chain, field="address") if req.address else None
        pos = decode_cursor(req.cursor, _CURSOR_KEYS)
        before = (int(pos["block"]), int(pos["log"])) if pos else None
        extra = {raw for r in self._freeze_profile(req.profile).rules if r.kind == "freeze"
                 for c, raw in r.issuers if c == chain}
        facts = read_freezes(self.store, chain, token=token, address=address, before=before, limit=req.limit + 1)
        more, facts = len(facts) > req.limit, facts[:req.limit]
        latest = latest_actions(self.store, chain) if facts else {}
        units = token_units(self.store, chain) if facts else {}
        rows = [self._row(f, chain, extra, latest, units) for f in facts]
        nxt = encode_cursor({"block": facts[-1].block, "log": facts[-1].log_index}) if more else None
        return FreezesResult(chain=chain, total=count_freezes(self.store, chain, token=token, address=address),
                             freezes=rows, page=Page(limit=req.limit, next_cursor=nxt))

    def _row(self, f: FreezeFact, chain: str, extra: set[bytes], latest: dict[tuple[int, int], FreezeFact],
             units: dict[int, Unit]) -> FreezeRow:
        issuer = issuer_of(chain, f.token)
        unit = units.get(f.token_id)
        decimals = unit.decimals if unit is not None else (issuer.decimals if issuer else None)
        symbol = issuer.symbol if issuer else (unit.symbol or None if unit is not None else None)
        last = latest.get((f.token_id, f.address_id))
        current = last is not None and (last.block, last.log_index) == (f.block, f.log_index)
        return FreezeRow(
            block=f.block, time=_time(f.time), tx=tx_hash_text(f.tx_hash, chain=chain), log_index=f.log_index,
            token=show_address(f.token, chain), token_symbol=symbol, issuer=issuer.issuer if issuer else None,
            issuer_known=issuer is not None or f.token in extra, address=show_address(f.address, chain),
            action=f.action, amount=str(f.amount) if f.amount is not None else None,
            amount_display=format_units(f.amount, decimals) if f.amount is not None else None,
            decimals=decimals, current=current, frozen_now=current and f.frozen)
