"""KYT registration on account chains (EVM, TRON): the transfers of a transaction to or from the
customer's address, their counterparties and the facts the watch rules read (docs/watch.md, "KYT").

There are no outputs on an account chain: the registration names the customer's `address`; the
transaction's successful value transfers to it (received) or from it (sent), fees left out, are
the ones registered. Each is a flow with its asset, so the rules raise one alert per (item,
transaction, asset), with the key the account ingest's rules use.
"""

from __future__ import annotations

from typing import Any

from fundtrail.chains.resolve import account_text, parse_account_address
from fundtrail.errors import UsageError
from fundtrail.workspace.kyt_models import KytFlow, KytParty, KytTransferRequest
from fundtrail.workspace.lookup_models import TransactionDetail


def canonical(chain: str, text: str | None, field: str = "address") -> str | None:
    """An account address in the chain's canonical text (EIP-55, or `T…` on TRON)."""
    if text is None:
        return None
    return account_text(parse_account_address(text.strip(), chain=chain, field=field), chain=chain)


def flows(req: KytTransferRequest, detail: TransactionDetail) -> tuple[list[KytFlow], list[KytFlow], list[str]]:
    """(paying sides, receiving sides, notes) of the transfers the registration names."""
    if req.output is not None:
        raise UsageError("an account chain has no outputs: give the address the transfer paid (received) or "
                         "was paid from (sent)", field="output")
    me = canonical(detail.chain, req.address)
    ins: list[KytFlow] = []
    outs: list[KytFlow] = []
    for n, t in enumerate(detail.transfers):
        if not t.success or t.kind == "fee" or t.token_id is not None:
            continue
        src, dst = canonical(detail.chain, t.from_address), canonical(detail.chain, t.to_address)
        side = dst if req.direction == "received" else src
        if side != me or src == dst:
            continue
        asset = "native" if t.contract is None else canonical(detail.chain, t.contract) or t.contract
        unit = t.symbol or (t.asset if t.contract is None else "")
        common: dict[str, Any] = {"outpoint": f"{detail.txid}/{n}", "value": int(t.amount), "asset": asset,
                                  "unit": unit, "decimals": t.decimals}
        ins.append(KytFlow(address=src, **common))
        outs.append(KytFlow(address=dst, **common))
    if not outs:
        way = "to" if req.direction == "received" else "from"
        raise UsageError(f"transaction {detail.txid} moves no value {way} address {me}", field="address")
    notes = []
    assets = list(dict.fromkeys(f.asset for f in outs))
    if len(assets) > 1:
        notes.append(f"the transfer moves {len(assets)} assets; amount and unit are those of the first "
                     f"({assets[0]}); the flows list each")
    return ins, outs, notes


def parties(tags_of: Any, addresses: list[str | None]) -> list[KytParty]:
    """Each distinct address with its direct tags (account chains attribute by direct tags)."""
    out = []
    for text in dict.fromkeys(a for a in addresses if a):
        tags = [{k: t.get(k) for k in ("category", "label", "source") if t.get(k) is not None} for t in tags_of(text)]
        out.append(KytParty(address=text, cluster=None, tags=tags))
    return out
