"""Service operations: one transaction in detail.

A Bitcoin-family txid is 64 hex digits; an account-chain transaction hash is `0x` and 64 hex digits,
except on TRON, whose txids are 64 hex digits without `0x` (either form accepted there).
Without a chain, each stored chain whose txids have that form is asked (by binary search in its cached
index); the first that holds the transaction answers. UTXO detail comes mostly from the graph index
(outputs, values, addresses, spenders), so a transaction with thousands of outputs costs no query
per output; account-chain detail lists every transfer row of the transaction.
"""

from __future__ import annotations

import re

from fundtrail.chains.tron.address import is_tron_chain
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.store.txhash import parse_tx_hash
from fundtrail.workspace import lookup_account, lookup_utxo
from fundtrail.workspace.core import ChainRef
from fundtrail.workspace.lookup_base import LookupBase
from fundtrail.workspace.lookup_models import SpentBy, TransactionDetail, TxInput, TxOutput, TxTag, TxTransfer

__all__ = ["SpentBy", "TransactionDetail", "TransactionOps", "TxInput", "TxOutput", "TxTag", "TxTransfer",
           "txid_family"]

_UTXO_TXID = re.compile(r"[0-9a-fA-F]{64}")
_ACCOUNT_TXID = re.compile(r"0[xX][0-9a-fA-F]{64}")


def txid_family(text: str, *, field: str = "txid") -> str:
    """'utxo' for a 64-hex-digit txid, 'account' for 0x + 64 hex digits; UsageError otherwise."""
    raw = text.strip() if isinstance(text, str) else ""
    if _UTXO_TXID.fullmatch(raw):
        return "utxo"
    if _ACCOUNT_TXID.fullmatch(raw):
        return "account"
    shown = raw if len(raw) <= 80 else raw[:77] + "..."
    raise UsageError(f"{field} {shown!r} is not a transaction id (64 hex digits, or 0x and 64 hex digits "
                     "on account chains)", field=field)


class TransactionOps(LookupBase):
    """Transaction detail."""

    def _txid_chains(self, txid: str, chain: str | None, *, field: str = "txid") -> list[ChainRef]:
        """The chains a txid may be on: the named one (its form checked), else every stored chain
        whose transaction ids have the txid's form (64 hex digits: UTXO and TRON chains; 0x and 64
        hex digits: account chains)."""
        family = txid_family(txid, field=field)
        raw = txid.strip()
        if chain is not None:
            ref = self.chain(chain)
            tron = ref.family == "account" and is_tron_chain(ref.name, self.network(ref.name))
            if ref.family != family and not tron:
                want = "64 hex digits" if ref.family == "utxo" else "0x and 64 hex digits"
                raise UsageError(f"{field} {raw!r} is not a transaction id of {chain} ({want})", field=field)
            return [ref]
        return [ChainRef(name=c, family=fam)  # type: ignore[arg-type]
                for c, (fam, net) in sorted(self.networks().items())
                if fam == family or (family == "utxo" and fam == "account" and is_tron_chain(c, net))]

    def find_transaction(self, txid: str, chain: str | None, *, field: str = "txid") -> tuple[ChainRef, int]:
        """(chain, tx id) of a transaction; NotFoundError naming `field` when no chain holds it."""
        refs = self._txid_chains(txid, chain, field=field)
        raw = txid.strip()
        for ref in refs:
            if ref.family == "utxo":
                tx = self.graph_index(ref.name).find_tx(bytes.fromhex(raw)[::-1])
            else:
                tx = self.account_graph(ref.name).find_tx(parse_tx_hash(raw, chain=ref.name, field=field))
            if tx >= 0:
                return ref, tx
        where = " or ".join(r.name for r in refs) or f"any {txid_family(txid, field=field)} chain"
        raise NotFoundError(f"transaction {raw} is not in the store's {where} chain", field=field)

    def transaction(self, txid: str, *, chain: str | None = None) -> TransactionDetail:
        """Everything about one transaction (see `TransactionDetail`)."""
        ref, tx = self.find_transaction(txid, chain)
        tags = self.tag_map(ref.name, ref.family).direct
        if ref.family == "utxo":
            doc = lookup_utxo.transaction(self.store, self.graph_index(ref.name), self.network(ref.name),
                                          ref.name, tx, tags)
        else:
            tokens = self.cached(("lookup-tokens", ref.name), lambda: lookup_account.tokens(self.store, ref.name),
                                 chain=ref.name)
            doc = lookup_account.transaction(self.store, self.account_graph(ref.name), ref.name, tx, tokens, tags)
        return TransactionDetail(chain=ref.name, family=ref.family, **doc)
