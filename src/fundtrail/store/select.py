"""Which stored chain a command works on: the one rule every interface uses.

A chain named by the user must be in the store (else `NotFoundError`, exit 6, listing what is
stored); with no name, the store's only chain of the wanted family is taken, and several or none
is a `UsageError` (exit 2) asking for `--chain`.
"""

from __future__ import annotations

from fundtrail.errors import NotFoundError, UsageError
from fundtrail.model.chains import check_chain_name
from fundtrail.store.lake import Store


def select_chain(store: Store, chain: str | None, *, family: str | None = None,
                 what: str = "this command") -> tuple[str, str]:
    """(chain, family) to work on. `family` ('utxo' or 'account') restricts the choice."""
    if chain is not None:
        check_chain_name(chain)
    chains = store.chains()
    stored = ", ".join(c["chain"] for c in chains) or "none"
    if chain is not None:
        found = [c for c in chains if c["chain"] == chain]
        if not found:
            raise NotFoundError(f"chain {chain} is not in the store {store.root} (stored: {stored})")
        if family is not None and found[0]["family"] != family:
            kind = "Bitcoin-family (UTXO)" if family == "utxo" else "account"
            raise UsageError(f"{what} works on {kind} chains; {chain} is a{'n' if family == 'utxo' else ''} "
                             f"{found[0]['family']} chain")
        return chain, found[0]["family"]
    pool = [c for c in chains if family is None or c["family"] == family]
    if len(pool) == 1:
        return pool[0]["chain"], pool[0]["family"]
    kind = {"utxo": "UTXO chain", "account": "account chain"}.get(family or "", "chain")
    if not pool:
        raise UsageError(f"the store {store.root} holds no {kind} (stored: {stored}); ingest one first "
                         "or pass --chain")
    raise UsageError(f"the store holds several {kind}s ({', '.join(c['chain'] for c in pool)}); "
                     "choose one with --chain")
