"""Service operations: cases (domain: `fundtrail.cases`).

Every call acts as the workspace's actor: only cases they are a member of exist for them (a
non-member gets the same NotFoundError as an unknown id), owners and members write, viewers
read. A seed is checked against the store the way `search` reads it (an address, `TXID:VOUT`
or txid the store holds) and kept in canonical form with its chain. A saved trace keeps its
request, result and the store state it was computed on; a rerun recomputes it on today's store
and names what changed. A finding's references (`tx:`, `output:`, `trace:`) are checked to exist
when it is recorded. Attachments, proposed tags, layouts and exports: `case_files.py`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fundtrail.cases import ids
from fundtrail.cases import refs as case_refs
from fundtrail.cases import store as case_store
from fundtrail.cases import traces as case_traces
from fundtrail.errors import NotFoundError, UsageError
from fundtrail.workspace.case_models import (AttachmentRecord, CaseBundleRecord, CaseDetail, CaseList, CaseMember,
                                             CaseRecord, CaseTagRecord, FindingRecord, LayoutRecord, NoteRecord,
                                             SavedTrace, SavedTraceSummary, SeedRecord, TraceRerun, iso)
from fundtrail.workspace.core import Progress, no_progress
from fundtrail.workspace.search import SearchOps
from fundtrail.workspace.trace_models import TraceRequest
from fundtrail.workspace.tracing import TraceOps

__all__ = ["CaseOps"]

_SEED_KINDS = ("output", "transaction", "address")
_DETAIL_LISTS = ("members", "seeds", "notes", "findings", "traces", "attachments", "layouts", "bundles", "tags")
#: A saved trace keeps its whole graph (a drawn one stops at 5,000 edges): the bundle proves every edge.
SAVED_EDGES = 1 << 40


def _record(row: dict[str, Any]) -> CaseRecord:
    return CaseRecord(**{**row, "created_at": iso(row["created_at"]), "closed_at": iso(row["closed_at"])})


def _saved(row: dict[str, Any]) -> dict[str, Any]:
    count, reached = case_traces.summary(row["result"])
    return {"id": row["trace_id"], "case_id": row["case_id"], "created_at": iso(row["created_at"]),
            "created_by": row["created_by"], "seed": row["seed"], "policy": row["policy"],
            "rerun_of": row["rerun_of"], "state": row["state"], "endpoints": count, "amount_reached": reached}


def _seed_text(req: TraceRequest) -> str:
    return ", ".join(s if isinstance(s, str) else s.text for s in req.seeds)[:2000]


class CaseOps(SearchOps, TraceOps):
    """Cases of the acting user (module docstring)."""

    def case_new(self, title: str, *, agency: str | None = None, number: str | None = None) -> CaseRecord:
        """Open a case with the acting user as its owner (a writable workspace)."""
        fields = (ids.line(title, "title"), ids.line(agency, "agency", required=False),
                  ids.line(number, "number", required=False))
        self.require_writable("opening a case")
        return _record(case_store.create_case(self.store, title=fields[0] or "", agency=fields[1],
                                              number=fields[2], by=self._case_user()))

    def case_list(self) -> CaseList:
        """The cases the acting user is a member of, newest first."""
        rows = case_store.list_cases(self.store, self._case_user(), read_only=not self.writable)
        return CaseList(cases=[_record(r) for r in rows])

    def case_get(self, case: str) -> CaseDetail:
        """The case with its members, seeds, notes, findings, saved traces, attachments, proposed
        tags, layouts and bundles; NotFoundError (field `case`) for an unknown case and for one the
        acting user is not a member of, alike."""
        row = case_store.case_detail(self.store, case, self._case_user(), read_only=not self.writable)
        cid = row["id"]
        head = _record({k: v for k, v in row.items() if k not in _DETAIL_LISTS})
        return CaseDetail(
            **head.model_dump(),
            members=[CaseMember(**{**m, "added_at": iso(m["added_at"])}) for m in row["members"]],
            seeds=[SeedRecord(**{**s, "case_id": cid, "added_at": iso(s["added_at"])}) for s in row["seeds"]],
            notes=[NoteRecord(**{**n, "case_id": cid, "created_at": iso(n["created_at"])}) for n in row["notes"]],
            findings=[FindingRecord(**{**f, "case_id": cid, "created_at": iso(f["created_at"])})
                      for f in row["findings"]],
            traces=[SavedTraceSummary(**_saved(t)) for t in row["traces"]],
            attachments=[AttachmentRecord(**{**a, "added_at": iso(a["added_at"])}) for a in row["attachments"]],
            tags=[CaseTagRecord(**{**t, "created": iso(t["created"])}) for t in row["tags"]],
            layouts=[LayoutRecord(**{**x, "added_at": iso(x["added_at"])}) for x in row["layouts"]],
            bundles=[CaseBundleRecord(**{**b, "created_at": iso(b["created_at"])}) for b in row["bundles"]])

    def case_add_seed(self, case: str, seed: str, *, note: str | None = None, chain: str | None = None,
                      facts: dict[str, Any] | None = None) -> SeedRecord:
        """Add a seed (an address, `TXID:VOUT` or txid the store holds, as for `trace`) with a
        note and the facts reported about it; NotFoundError on `seed` when the store has no such
        thing (on `chain`, when given)."""
        ids.check_case_id(case)
        note_text = ids.text(note, "note", required=False)
        if facts is not None and not isinstance(facts, dict):
            raise UsageError("facts must be a JSON object", field="facts")
        self.require_writable("adding a seed")
        user = self._case_user()
        case_store.get_case(self.store, case, user, read_only=False)  # an unknown case first, not a seed error
        text, chain_name = self._resolve_seed(seed, chain)
        sid = case_store.add_seed(self.store, case, user, text=text, chain=chain_name, note=note_text,
                                  facts=facts or {})
        return next(s for s in self.case_get(case).seeds if s.id == sid)

    def case_note(self, case: str, text: str) -> NoteRecord:
        """Add a note by the acting user to an open case."""
        ids.check_case_id(case)
        body = ids.text(text, "text") or ""
        self.require_writable("adding a note")
        nid = case_store.add_note(self.store, case, self._case_user(), text=body)
        return next(n for n in self.case_get(case).notes if n.id == nid)

    def case_finding(self, case: str, kind: Literal["fact", "inference"], text: str, *, basis: str | None = None,
                     confidence: float | None = None, source: str | None = None,
                     refs: list[str] | None = None) -> FindingRecord:
        """Add a finding: a `fact` needs its basis (what on chain shows it) and has no
        confidence; an `inference` needs its basis and a confidence from 0 to 1. `refs` name what
        it points at (`tx:<txid>`, `output:<txid>:<vout>` on the case's chains, `trace:<T-id>` of
        the case), each checked to exist (UsageError on `refs` naming the bad one)."""
        ids.check_case_id(case)
        if kind not in ("fact", "inference"):
            raise UsageError(f"kind {kind!r} is not a finding kind (fact or inference)", field="kind")
        body = ids.text(text, "text") or ""
        why = ids.text(basis, "basis", required=False)
        if why is None:
            raise UsageError(f"basis is empty: a{'n' if kind == 'inference' else ''} {kind} needs its basis",
                             field="basis")
        if kind == "fact" and confidence is not None:
            raise UsageError("confidence is for inferences; a fact has none", field="confidence")
        if kind == "inference" and confidence is None:
            raise UsageError("confidence is missing: an inference needs one from 0 to 1", field="confidence")
        level = ids.confidence(confidence) if confidence is not None else None
        origin = ids.text(source, "source", required=False)
        parsed = case_refs.parse(refs)
        self.require_writable("adding a finding")
        checked = self._check_refs(case, parsed) if parsed else []
        fid = case_store.add_finding(self.store, case, self._case_user(), kind=kind, text=body, basis=why,
                                     confidence=level, source=origin, refs=checked)
        return next(f for f in self.case_get(case).findings if f.id == fid)

    def case_close(self, case: str) -> CaseRecord:
        """Close an open case (its owner only): it then refuses new seeds, notes and findings."""
        ids.check_case_id(case)
        self.require_writable("closing a case")
        case_store.close_case(self.store, case, self._case_user())
        return _record(case_store.get_case(self.store, case, self._case_user(), read_only=False))

    def case_set_member(self, case: str, user: str, *, role: str = "member") -> CaseDetail:
        """Add `user` to the case as `role` (member or viewer), or change their role (the owner only)."""
        ids.check_case_id(case)
        self.require_writable("managing case members")
        case_store.set_member(self.store, case, self._case_user(), member=user, role=role)
        return self.case_get(case)

    def case_trace(self, case: str, request: TraceRequest, progress: Progress = no_progress, *,
                   rerun_of: str | None = None) -> SavedTrace:
        """Run `request` as `trace` does and save it in an open case (owners and members) with
        the store state it was computed on; the saved trace."""
        ids.check_case_id(case)
        self.require_writable("saving a trace")
        user = self._case_user()
        row = case_store.get_case(self.store, case, user, read_only=False)
        case_store.check_writable(row, "saving a trace")  # refuse before the (long) trace runs
        result = self.trace(request, progress, max_edges=SAVED_EDGES)
        doc = result.document()
        state = case_traces.store_state(self.store, result.chain, policy=request.policy, read_only=False)
        tid = case_traces.save_trace(self.store, case, user, seed=_seed_text(request), policy=request.policy,
                                     request=request.model_dump(mode="json"), result=doc, state=state,
                                     rerun_of=rerun_of)
        return self.case_saved_trace(case, tid)

    def case_saved_trace(self, case: str, trace_id: str) -> SavedTrace:
        """A saved trace of a case with its request and result; NotFoundError (field `case`)
        for a non-member as for an unknown case, (field `trace`) for an unknown trace."""
        row = case_traces.get_trace(self.store, case, trace_id, self._case_user(), read_only=not self.writable)
        return SavedTrace(**_saved(row), request=row["request"], result=row["result"])

    def case_rerun(self, case: str, trace_id: str, progress: Progress = no_progress, *,
                   save: bool = False) -> TraceRerun:
        """Recompute a saved trace on today's store and name what changed (state and result);
        the saved trace stays as it was; with `save` the rerun is saved as a new trace."""
        saved = case_traces.get_trace(self.store, case, trace_id, self._case_user(), read_only=not self.writable)
        request = TraceRequest(**saved["request"])
        if save:
            new = self.case_trace(case, request, progress, rerun_of=trace_id)
            state, doc, saved_as = new.state, new.result, new.id
        else:
            result = self.trace(request, progress, max_edges=SAVED_EDGES)
            doc = result.document()
            state = case_traces.store_state(self.store, result.chain, policy=request.policy,
                                            read_only=not self.writable)
            saved_as = None
        doc = json.loads(json.dumps(doc))
        s_changes = case_traces.state_changes(saved["state"], state)
        r_changes = case_traces.result_changes(saved["result"], doc)
        return TraceRerun(case_id=case, trace_id=trace_id, changed=bool(s_changes or r_changes),
                          state_changes=s_changes, result_changes=r_changes, saved_as=saved_as, state=state,
                          result=doc)

    # -- helpers -------------------------------------------------------------------------------
    def _case_user(self) -> str:
        return case_store.check_user(self.actor.user, field="as")

    def _check_refs(self, case: str, parsed: list[tuple[str, str]]) -> list[str]:
        """The references in canonical form, each found: a transaction or output on one of the
        case's chains (its seeds' and saved traces'; any chain of the store while it has none),
        a trace saved in the case. The case's access is checked first (a non-member learns nothing)."""
        detail = self.case_get(case)
        chains = {s.chain for s in detail.seeds} | {str(t.state.get("chain")) for t in detail.traces}
        traces = {t.id for t in detail.traces}
        out: list[str] = []
        for kind, value in parsed:
            ref = case_refs.text(kind, value)
            if kind == "trace":
                if value not in traces:
                    raise case_refs.bad_ref(ref, f"is not a saved trace of case {case}")
                out.append(ref)
                continue
            want = "transaction" if kind == "tx" else "output"
            hits = [h for h in self.search(value, limit=50).hits
                    if h.kind == want and h.chain is not None and (not chains or h.chain in chains)]
            if not hits:
                where = f" on the case's chain{'s' if len(chains) > 1 else ''} {', '.join(sorted(chains))}" \
                    if chains else ""
                raise case_refs.bad_ref(ref, f"is no {want} in the store{where}")
            out.append(case_refs.text(kind, hits[0].text))
        return list(dict.fromkeys(out))

    def _resolve_seed(self, seed: str, chain: str | None) -> tuple[str, str]:
        """(canonical text, chain) of a seed the store holds; NotFoundError on `seed` otherwise."""
        if not isinstance(seed, str) or not seed.strip():
            raise UsageError("seed is empty: give an address, TXID:VOUT or txid", field="seed")
        if chain is not None:
            chain = self.chain(chain, what="a case seed").name
        try:
            hits = self.search(seed, limit=50).hits
        except UsageError as exc:
            raise UsageError(exc.message.replace("q ", "seed ", 1), field="seed") from None
        for kind in _SEED_KINDS:
            for hit in hits:
                if hit.kind == kind and hit.chain is not None and chain in (None, hit.chain):
                    return hit.text, hit.chain
        where = f" on chain {chain}" if chain else ""
        raise NotFoundError(f"seed {seed.strip()[:120]!r} is no address, output or transaction in the store{where}",
                            field="seed")
