"""Service operations on cases: attachments, proposed tags, saved graph layouts, exports (JSON,
CSV, FollowTheMoney, TagPack) (domain: `fundtrail.cases`).

The access rule is the case's: members and the owner add, viewers read, non-members get the
unknown-case error, a closed case refuses additions. An attachment's body is kept by its SHA-256
and checked whenever it is read (`case_attachment`): evidence that changed on disk is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fundtrail.cases import attachments as case_attachments
from fundtrail.cases import exports, exports_ftm, exports_tagpack, ids
from fundtrail.cases import files as case_files
from fundtrail.cases import store as case_store
from fundtrail.errors import NotFoundError, TooLargeError, UsageError
from fundtrail.trace.attribution import chain_currency
from fundtrail.workspace.tags import add_tag
from fundtrail.workspace.case_models import AttachmentRecord, CaseDetail, CaseExportResult, iso
from fundtrail.workspace.cases import CaseOps
from fundtrail.workspace.tag_models import TagAddRequest, TagAddResult

__all__ = ["ATTACHMENT_MAX_MB", "CaseFilesOps"]

#: The size limit of one attachment unless the settings say otherwise (`case_attachment_max_mb`).
ATTACHMENT_MAX_MB = 64


class CaseFilesOps(CaseOps):
    """Cases: attachments, proposed tags, saved graph layouts, exports (module docstring)."""

    def case_attach(self, case: str, name: str, data: bytes, *, media_type: str | None = None,
                    note: str | None = None) -> AttachmentRecord:
        """Keep a file with an open case (owners and members): its body under the store by its
        SHA-256, then its record. UsageError on `name` (a path separator, control characters),
        `file` (over the size limit, `case_attachment_max_mb`), `media_type`, `note`."""
        ids.check_case_id(case)
        clean = case_attachments.check_name(name)
        kind = case_attachments.check_media_type(media_type)
        remark = ids.text(note, "note", required=False)
        if not isinstance(data, (bytes, bytearray)):
            raise UsageError("file must be the file's bytes", field="file")
        limit = int(getattr(self.settings, "case_attachment_max_mb", ATTACHMENT_MAX_MB)) << 20
        if len(data) > limit:
            raise TooLargeError(f"file {clean} holds {len(data):,} bytes; an attachment may hold at most "
                                f"{limit:,} (setting case_attachment_max_mb)", field="file")
        self.require_writable("adding an attachment")
        aid = case_attachments.add(self.store, case, self._case_user(), name=clean, data=bytes(data),
                                   media_type=kind, note=remark)
        return self.case_attachment(case, aid)[0]

    def case_attachment(self, case: str, attachment_id: str) -> tuple[AttachmentRecord, Path]:
        """(record, path of the body) of an attachment, its body re-hashed: DataError (field
        `attachment`) when it no longer matches the recorded SHA-256 or is missing."""
        row, path = case_attachments.get(self.store, case, attachment_id, self._case_user(),
                                         read_only=not self.writable)
        return AttachmentRecord(**{**row, "added_at": iso(row["added_at"])}), path

    def case_tag(self, case: str, req: TagAddRequest) -> TagAddResult:
        """Propose a tag in an open case (owners and members): stored as `tags_add` stores it,
        with its `case` set to this case (creator the acting user unless given); it is listed in
        `CaseDetail.tags` and exported as a TagPack. Errors as `tags_add` (field named)."""
        ids.check_case_id(case)
        self.require_writable("proposing a tag")
        user = self._case_user()
        case_store.check_writable(case_store.get_case(self.store, case, user, read_only=False), "proposing a tag")
        return add_tag(self.store, req, creator=req.creator or user, case=case)

    def case_layout_add(self, case: str, graph_id: str) -> CaseDetail:
        """Keep one of the acting user's saved graphs (`graph_save`) in an open case; another
        user's graph reads as not found (field `graph`)."""
        self.require_writable("adding a graph layout")
        case_files.add_layout(self.store, case, self._case_user(), graph_id)
        return self.case_get(case)

    def case_export(self, case: str, fmt: Literal["json", "csv", "ftm", "tagpack"], out: Path) -> CaseExportResult:
        """Write the case to `out` (atomically): `json` every table in one document, `csv` a zip
        of one CSV per table (formula-guarded), `ftm` FollowTheMoney entities (JSON lines),
        `tagpack` the proposed tags as a GraphSense TagPack. Members and viewers alike."""
        kind = exports.check_format(fmt)
        doc = self._case_document(case)
        files, records = 1, exports.record_count(doc)
        if kind == "json":
            size, sha = exports.write_atomic(out, lambda: exports.json_bytes(doc))
        elif kind == "csv":
            tables = exports.csv_files(doc)
            files = len(tables)
            size, sha = exports.write_atomic(out, lambda: exports.zip_bytes(tables))
        elif kind == "tagpack":
            records = len(doc["tags"])
            size, sha = exports.write_atomic(out, lambda: exports_tagpack.tagpack_text(doc, doc["tags"]).encode())
        else:
            entities = self._ftm(doc)
            records = len(entities)
            size, sha = exports.write_atomic(out, lambda: exports_ftm.ftm_bytes(entities))
        return CaseExportResult(case_id=doc["id"], path=str(out), format=kind, files=files,  # type: ignore[arg-type]
                                records=records, bytes=size, sha256=sha)

    # -- helpers -------------------------------------------------------------------------------
    def _case_document(self, case: str) -> dict[str, Any]:
        """The case as JSON with every saved trace whole (request, state, result)."""
        detail = self.case_get(case)
        doc = detail.model_dump(mode="json")
        doc["traces"] = [self.case_saved_trace(case, t.id).model_dump(mode="json") for t in detail.traces]
        return doc

    def _ftm(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """The FollowTheMoney entities of a case document, with what the store tells of its seeds."""
        chains = {s["chain"] for s in doc["seeds"]} | {str(t["result"].get("chain")) for t in doc["traces"]}
        currencies = {c: (chain_currency(c), 8 if self._family(c) == "utxo" else 18) for c in chains}
        wanted = {(s["chain"], s["text"].split(":")[0]) for s in doc["seeds"] if ":" in s["text"]
                  or len(s["text"]) == 64}
        wanted |= {(str(t["result"].get("chain")), o.split(":")[0]) for t in doc["traces"]
                   for sd in t["result"].get("seeds") or [] for o in sd.get("outputs") or []}
        txs: dict[str, dict[str, Any]] = {}
        for chain, txid in sorted(wanted):
            try:
                tx = self.transaction(txid, chain=chain)
            except NotFoundError:
                continue
            txs[txid] = {"chain": chain, "time": tx.time, "inputs": [i.address for i in tx.inputs],
                         "outputs": [{"n": o.n, "address": o.address, "value": o.value} for o in tx.outputs]}
        tags: dict[str, list[dict[str, Any]]] = {}
        for t in doc["tags"]:
            tags.setdefault(t["address"], []).append(t)
        for trace in doc["traces"]:
            for e in trace["result"].get("endpoints") or []:
                for tag in e.get("tags") or []:
                    if tag not in tags.setdefault(e["address"], []):
                        tags[e["address"]].append(tag)
        return exports_ftm.ftm_entities(doc, currencies=currencies, txs=txs, tags=tags)

    def _family(self, chain: str) -> str:
        try:
            return self.chain(chain, what="a case export").family
        except NotFoundError:
            return "utxo"
