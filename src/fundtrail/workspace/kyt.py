"""Service operations: KYT transfer registration (domain: `fundtrail.watch.kyt`; docs/watch.md, "KYT").

`kyt_assess` works out what a transfer is and how risky its counterparty is (read-only: the warm
indexes of a server's reader answer it); `kyt_register` writes the registration and the alerts
the watch rules raise on it in one catalog transaction. A server assesses on its warm reader and
hands the assessment to a short-lived writer (`kyt_register(req, assessment=...)`), so a writer
never loads indexes; the CLI and Python callers just call `kyt_register(req)`.
"""

from __future__ import annotations

import re
from typing import Any

from fundtrail.cases import store as case_store
from fundtrail.errors import FundtrailError, NotFoundError, UsageError
from fundtrail.model.times import parse_time
from fundtrail.trace.attribution import chain_currency
from fundtrail.trace.seeds import address_id
from fundtrail.watch import kyt as kyt_domain
from fundtrail.watch.items import VISIBLE, now
from fundtrail.workspace.case_models import iso
from fundtrail.workspace.kyt_models import (KytAlert, KytAssessment, KytFlow, KytParty, KytTransferRequest,
                                            KytTransferResult)
from fundtrail.workspace import kyt_account
from fundtrail.workspace.lookup_models import TransactionDetail
from fundtrail.workspace.risk import RiskOps, RisksRequest
from fundtrail.workspace.tags import TagOps
from fundtrail.workspace.transactions import TransactionOps

__all__ = ["KytOps"]

_OUTPUT = re.compile(r"([0-9a-fA-F]{64}):([0-9]{1,6})")
MAX_REF_CHARS = 200


def _check(req: KytTransferRequest) -> tuple[str, int | None]:
    """(txid, vout or None) of a well-formed request; a UsageError naming the field otherwise."""
    ref = req.customer_ref
    if not ref.strip() or len(ref) > MAX_REF_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in ref):
        raise UsageError(f"customer_ref must be 1 to {MAX_REF_CHARS} characters on one line", field="customer_ref")
    if (req.output is None) == (req.address is None):
        raise UsageError("give the transfer's output (TXID:VOUT) or the address it paid, not both or neither",
                         field="output")
    txid = req.txid.strip().lower() if req.txid is not None else None
    vout = None
    if req.output is not None:
        m = _OUTPUT.fullmatch(req.output.strip())
        if m is None:
            raise UsageError(f"output {req.output[:80]!r} is not TXID:VOUT (64 hex digits, a colon, the output "
                             "index)", field="output")
        if txid is not None and txid != m.group(1).lower():
            raise UsageError("output is not an output of txid (they name different transactions)", field="output")
        txid, vout = m.group(1).lower(), int(m.group(2))
    if txid is None:
        raise UsageError("txid is required (or give the output as TXID:VOUT)", field="txid")
    if req.address is not None and not req.address.strip():
        raise UsageError("address is empty", field="address")
    return txid, vout


class KytOps(TransactionOps, TagOps, RiskOps):
    """KYT: register a customer's transfer, score its counterparty, raise alerts by the watch rules."""

    def kyt_assess(self, req: KytTransferRequest) -> KytAssessment:
        """The transfer's transaction, named outputs, counterparties with their risk, and the facts
        the rules read; nothing is written. The transaction must be in the store (NotFoundError on
        `txid`: register it once the block is ingested)."""
        txid, vout = _check(req)
        detail = self.transaction(txid, chain=req.chain)
        if detail.family == "account":
            return self._assess_account(req, detail)
        if vout is not None:
            named = [o for o in detail.outputs if o.n == vout]
            if not named:
                raise NotFoundError(f"transaction {txid} has no output {vout} (it has {len(detail.outputs)})",
                                    field="output")
        else:
            want = (req.address or "").strip()
            named = [o for o in detail.outputs if o.address == want] or \
                [o for o in detail.outputs if o.address is not None and o.address.lower() == want.lower()]
            if not named:
                raise UsageError(f"transaction {txid} pays no output to address {want[:90]}", field="address")
        ins = [KytFlow(outpoint=i.prevout, value=i.value or 0, address=i.address)
               for i in detail.inputs if i.prevout is not None and not i.unresolved]
        outs = [KytFlow(outpoint=f"{txid}:{o.n}", value=o.value, address=o.address) for o in named]
        mine = {o.address for o in outs if o.address}
        funders = list(dict.fromkeys(i.address for i in ins if i.address and i.address not in mine))
        counterparties = funders if req.direction == "received" else list(dict.fromkeys(mine))
        notes: list[str] = []
        if detail.coinbase:
            notes.append("coinbase: newly mined coins (no paying side)")
        unresolved = sum(1 for i in detail.inputs if i.unresolved)
        if unresolved:
            notes.append(f"{unresolved} of {len(detail.inputs)} inputs spend outputs the store does not hold: "
                         "their addresses are unknown and not scored")
        reports = self.risks(RisksRequest(targets=counterparties, chain=detail.chain)).reports if counterparties else []
        if not counterparties:
            notes.append("no counterparty address to score")
        top = max(reports, key=lambda r: r.score, default=None)
        return KytAssessment(
            request=req, chain=detail.chain, txid=txid, height=detail.height, block_hash=detail.block_hash,
            time=detail.time, outputs=[o.outpoint for o in outs], amount=str(sum(o.value for o in outs)),
            unit=chain_currency(detail.chain), counterparties=counterparties,
            score=top.score if top else None, severity=top.severity if top else None, risk=reports,
            inputs=ins, named=outs, parties=self._parties(detail.chain, [f.address for f in ins + outs]), notes=notes)

    def _assess_account(self, req: KytTransferRequest, detail: TransactionDetail) -> KytAssessment:
        """`kyt_assess` on an account chain (workspace.kyt_account)."""
        ins, outs, notes = kyt_account.flows(req, detail)
        me = {f.address for f in (outs if req.direction == "received" else ins)}
        others = [f.address for f in (ins if req.direction == "received" else outs)]
        counterparties = list(dict.fromkeys(a for a in others if a and a not in me))
        reports = self.risks(RisksRequest(targets=counterparties, chain=detail.chain)).reports if counterparties else []
        if not counterparties:
            notes.append("no counterparty address to score")
        top = max(reports, key=lambda r: r.score, default=None)
        first = outs[0].asset
        currency = chain_currency(detail.chain)

        def tags_of(text: str) -> list[dict[str, Any]]:
            return [t.model_dump() for t in self.tags_show(text, currency=currency).tags]

        return KytAssessment(
            request=req, chain=detail.chain, txid=detail.txid, height=detail.height, block_hash=detail.block_hash,
            time=detail.time, outputs=[o.outpoint for o in outs],
            amount=str(sum(o.value for o in outs if o.asset == first)), unit=outs[0].unit or str(first),
            counterparties=counterparties, score=top.score if top else None, severity=top.severity if top else None,
            risk=reports, inputs=ins, named=outs,
            parties=kyt_account.parties(tags_of, [f.address for f in ins + outs]), notes=notes)

    def kyt_register(self, req: KytTransferRequest, *, assessment: KytAssessment | None = None) -> KytTransferResult:
        """Register the transfer (idempotent: the same registration returns the first one, `created`
        false) and, in the same transaction, the alerts the chain's watch items raise on it.
        `assessment`: `kyt_assess(req)` made on another (warm) workspace of the same store."""
        self.require_writable("registering a KYT transfer")
        user = case_store.check_user(self.actor.user, field="as")
        a = assessment if assessment is not None else self.kyt_assess(req)
        if a.request != req:
            raise UsageError("the assessment given is of another request", field="assessment")
        tid = kyt_domain.transfer_id(a.chain, a.txid, req.output and req.output.strip().lower(),
                                     req.address and req.address.strip(), req.direction, req.customer_ref)
        transfer = kyt_domain.Transfer(
            transfer_id=tid, chain=a.chain, txid=a.txid, height=a.height, block_hash=a.block_hash,
            time=parse_time(a.time, "time") if a.time else None, direction=req.direction,
            customer_ref=req.customer_ref,
            inputs=[_flow(f) for f in a.inputs], named=[_flow(f) for f in a.named],
            parties={p.address: kyt_domain.Party(p.address, p.cluster, p.tags) for p in a.parties})
        with self.store.connect() as con:
            con.execute("BEGIN")
            try:
                stored = kyt_domain.find(con, tid)
                if stored is None:
                    found = kyt_domain.evaluate(con, transfer)
                    alerts = _alert_rows(con, [(i, new) for i, _item, new in found])
                    at = now()
                    doc = {**a.model_dump(mode="json", include={
                        "chain", "txid", "height", "block_hash", "time", "outputs", "amount", "unit",
                        "counterparties", "score", "severity", "risk", "notes"}),
                        "transfer_id": tid, "output": req.output, "address": req.address, "direction": req.direction,
                        "customer_ref": req.customer_ref, "registered_at": iso(at), "registered_by": user,
                        "alerts": alerts}
                    kyt_domain.record(con, transfer, output=req.output, address=req.address, user=user,
                                      registered_at=at, score=a.score, result=doc)
                else:
                    doc = stored["result"]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            seen = _visible_items(con, user, [x["item_id"] for x in doc["alerts"]])
        mine = [KytAlert(**x) for x in doc["alerts"] if x["item_id"] in seen]
        return KytTransferResult(**{**doc, "alerts": mine, "alerts_hidden": len(doc["alerts"]) - len(mine),
                                    "created": stored is None})

    def _parties(self, chain: str, addresses: list[str | None]) -> list[KytParty]:
        """Each distinct address with its cluster and tags (direct, then inherited), as trace sees them."""
        graph = self.graph_index(chain)
        tagmap = self.tag_map(chain, "utxo")
        out = []
        for text in dict.fromkeys(a for a in addresses if a):
            try:
                aid = address_id(graph, text)
            except FundtrailError:
                out.append(KytParty(address=text, cluster=None, tags=[]))
                continue
            tags = [{k: t.get(k) for k in ("category", "label", "source", "inherited_from") if t.get(k) is not None}
                    for t in tagmap.tags_of(aid)]
            out.append(KytParty(address=text, cluster=tagmap.cluster_of(aid), tags=tags))
        return out


def _flow(f: KytFlow) -> kyt_domain.Flow:
    if f.asset is None:
        return kyt_domain.Flow(f.outpoint, f.value, f.address)
    return kyt_domain.Flow(f.outpoint, f.value, f.address, f.asset, f.unit or f.asset, f.decimals)


def _alert_rows(con: Any, found: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    out = []
    for alert_id, new in found:
        row = con.execute("SELECT item_id, rule, severity, title FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
        out.append({"id": alert_id, "item_id": row[0], "rule": row[1], "severity": row[2], "title": row[3], "new": new})
    return out


def _visible_items(con: Any, user: str, item_ids: list[str]) -> set[str]:
    if not item_ids:
        return set()
    rows = con.execute(f"SELECT w.item_id FROM watch_items w WHERE list_contains(?, w.item_id) AND {VISIBLE}",
                       [item_ids, user, user]).fetchall()
    return {r[0] for r in rows}

