"""The watch evaluator for an ingest run: the `ingest.hooks.HookFactory` the service layer installs.

UTXO chains (Bitcoin family) get `watch.evaluate.WatchEvaluator`, account chains (EVM, TRON)
`watch.account.AccountWatchEvaluator`; both implement `ingest.hooks.BatchHook`.
"""

from __future__ import annotations

from fundtrail.errors import FundtrailError
from fundtrail.ingest.hooks import BatchHook
from fundtrail.model.chains import bitcoin_network_of
from fundtrail.store import Store


def evaluator_factory(store: Store, chain: str) -> BatchHook | None:
    """The watch evaluator of `chain` (its family told by its name: Bitcoin networks are UTXO)."""
    try:
        bitcoin_network_of(chain)
    except FundtrailError:
        from fundtrail.watch.account import AccountWatchEvaluator

        return AccountWatchEvaluator(store, chain)
    from fundtrail.watch.evaluate import WatchEvaluator

    return WatchEvaluator(store, chain)
