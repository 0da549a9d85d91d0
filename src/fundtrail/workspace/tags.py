"""Service operations on attribution tags: show, batch lookup, search, an analyst's own tag, import
(a job), export, conflicts, actors.

Reads go through the merged-tag table (`tags.lookup`): one index probe per address, one join per
batch, so there is nothing worth caching per chain; reads never write. Addresses users type are
checked by their form first, so a typo is an error naming the field, never "no tags". Adding and
importing need a writable workspace; an analyst's tag records the workspace's user as its creator
unless another is named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fundtrail.errors import TooLargeError, UsageError
from fundtrail.store import Store
from fundtrail.tags.currencies import check_currency
from fundtrail.tags import export, importer, lookup
from fundtrail.tags.addresslist import AddressList, address_list_of, read_address_list
from fundtrail.tags.analyst import analyst_row
from fundtrail.tags.csvsources import ColumnMapping
from fundtrail.tags.tagstore import add_analyst_tag
from fundtrail.watch.reattribute import reattribute_all
from fundtrail.workspace.core import Progress, WorkspaceBase, check_limit, no_progress
from fundtrail.workspace.tag_models import (
    ActorRow,
    ActorsResult,
    ImportedFile,
    ImportSummary,
    LookupRowError,
    LookupTag,
    TagAddRequest,
    TagAddResult,
    TagConflict,
    TagConflictsResult,
    TagExportRequest,
    TagExportResult,
    TagImportRequest,
    TagImportResult,
    TagLookupRequest,
    TagLookupResult,
    TagSearchResult,
    TagShowResult,
)

#: Addresses one batch lookup takes (more is a TooLargeError, HTTP 413).
MAX_LOOKUP = 100_000
_STATUSES = ("imported", "updated", "unchanged", "skipped", "failed")


def add_tag(store: Store, req: TagAddRequest, *, creator: str, case: str | None) -> TagAddResult:
    """Store an analyst's tag `req` by `creator` (in `case`, if any): what `tags_add` and
    `case_tag` both do once they have checked who may."""
    row = analyst_row(address=req.address, label=req.label, category=req.category, creator=creator,
                      currency=req.currency, confidence=req.confidence, source=req.source, actor=req.actor,
                      date=req.date, visibility=req.visibility, case=case)
    with store.connect() as con:
        import_id, added = add_analyst_tag(con, row)
    if added:  # watch rules run again on the new attribution (docs/watch.md)
        reattribute_all(store, {"kind": "analyst tag", "import_ids": [import_id]})
    return TagAddResult(added=added, import_id=import_id, currency=row["currency"], address=row["address"],
                        category=row["category"], label=row["label"], confidence=row["confidence"],
                        confidence_level=row["confidence_level"], confidence_given=req.confidence,
                        visibility=row["visibility"])


class TagOps(WorkspaceBase):
    """Attribution tags: who is behind an address, with every source."""

    # -- reads ------------------------------------------------------------------------------
    def tags_show(self, address: str, *, currency: str | None = None) -> TagShowResult:
        """Every tag of one address (any currency, or only `currency`), with sources, actors and
        the conflict if two different services are claimed. A malformed `currency` is a typo, not
        "no tags of that currency": a UsageError naming it."""
        if currency and currency.strip():
            check_currency(currency)
        with self.store.connect(read_only=True) as con:
            result = lookup.show_checked(con, address, currency=currency)
        return TagShowResult.model_validate(result)

    def tags_lookup(self, req: TagLookupRequest) -> TagLookupResult:
        """Tags of many addresses in one join; malformed rows are listed in `errors`, not raised."""
        if req.addresses is not None:
            if len(req.addresses) > MAX_LOOKUP:
                raise TooLargeError(f"addresses holds {len(req.addresses):,} entries; at most {MAX_LOOKUP:,} "
                                    "per lookup", field="addresses")
            rows: AddressList = address_list_of(req.addresses)
        else:
            assert req.file is not None  # the request's validator ensures one source
            rows = read_address_list(req.file, req.column, max_field_kb=self.settings.max_csv_field_kb)
        with self.store.connect(read_only=True) as con:
            tags = lookup.lookup_list(con, rows)
        return TagLookupResult(
            source=rows.path, tags=[LookupTag.model_validate(t) for t in tags],
            errors=[LookupRowError.model_validate(b.as_dict()) for b in rows.bad], total=rows.total,
            addresses=len(rows.rows), duplicates=rows.duplicates,
            tagged=len({t["normalised_address"] for t in tags}))

    def tags_search(self, q: str, *, limit: int = 50) -> TagSearchResult:
        """Tags whose label, actor, category, source or creator contains `q` (any case), or whose
        address is `q`; at most `limit` (1..1000) distinct tags."""
        check_limit(limit)
        if not q.strip():
            raise UsageError("q is empty: give text to search for", field="q")
        with self.store.connect(read_only=True) as con:
            found = lookup.search(con, q, limit)
        return TagSearchResult.model_validate({"q": q, "limit": limit, "tags": found})

    def tags_export(self, req: TagExportRequest) -> TagExportResult:
        """The selected tags as a GraphSense TagPack (YAML text)."""
        if req.format != "tagpack":
            raise UsageError(f"format {req.format!r} is not supported; use tagpack", field="format")
        with self.store.connect(read_only=True) as con:
            text, n = export.export_tagpack(con, everything=req.everything, include_private=req.include_private,
                                            creator=req.creator, title=req.title)
        return TagExportResult(format=req.format, count=n, text=text)

    def tags_conflicts(self, *, limit: int | None = None) -> TagConflictsResult:
        """Addresses whose tags of one currency claim two different services."""
        if limit is not None:
            check_limit(limit, maximum=1_000_000)
        with self.store.connect(read_only=True) as con:
            found = lookup.conflicts(con, limit)
        return TagConflictsResult(conflicts=[TagConflict.model_validate(c) for c in found])

    def actors(self, text: str | None = None, *, limit: int = 100) -> ActorsResult:
        """Known actors whose id or name contains `text` (all without), most tagged first."""
        check_limit(limit, maximum=100_000)
        with self.store.connect(read_only=True) as con:
            rows = lookup.actors(con, text, limit)
        return ActorsResult(actors=[ActorRow.model_validate(r) for r in rows])

    # -- writes -----------------------------------------------------------------------------
    def tags_add(self, req: TagAddRequest) -> TagAddResult:
        """Store an analyst's own tag; anything it cannot store as given is refused (nothing stored)."""
        self.require_writable("adding a tag")
        return add_tag(self.store, req, creator=req.creator or self.actor.user, case=req.case)

    def tags_import(self, req: TagImportRequest, progress: Progress = no_progress,
                    on_file: Callable[[ImportedFile], None] | None = None) -> TagImportResult:
        """Import label files (a job): `progress("file", i, n)` after each file is committed, and
        `on_file` with its report (problems included) for interfaces that show them as they come.
        Files that failed are in the result; `failure()` says what to report for them."""
        self.require_writable("a tag import")
        columns = ColumnMapping.parse(req.mapping, {"label": req.label, "category": req.category,
                                                    "confidence": req.confidence, "source": req.source,
                                                    "creator": req.creator})

        def each(i: int, n: int, report: importer.FileReport) -> None:
            if on_file is not None:
                on_file(_imported(report))
            progress("file", i, n)

        s = self.settings
        reports = importer.import_paths(self.store, list(req.paths), req.format, currency=req.currency,
                                        mapping=columns, progress=each, max_yaml_nodes=s.max_yaml_nodes,
                                        max_csv_field_kb=s.max_csv_field_kb, max_json_depth=s.max_json_depth)
        changed = [r.import_id for r in reports if r.status in ("imported", "updated") and r.import_id is not None]
        if changed:  # watch rules run again on the new attribution (docs/watch.md)
            reattribute_all(self.store, {"kind": "tag import", "import_ids": changed})
        counts: dict[str, Any] = {st: sum(1 for r in reports if r.status == st) for st in _STATUSES}
        summary = ImportSummary(files=len(reports), **counts, tags=sum(r.tags for r in reports),
                                invalid=sum(r.invalid for r in reports), warnings=sum(r.warnings for r in reports),
                                duplicates=sum(r.duplicates for r in reports), actors=sum(r.actors for r in reports))
        return TagImportResult(summary=summary, files=[_imported(r) for r in reports])


def _imported(report: importer.FileReport) -> ImportedFile:
    return ImportedFile.model_validate({**report.as_dict(), "usage": report.usage})
