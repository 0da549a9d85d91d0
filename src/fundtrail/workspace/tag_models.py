"""Request and result models of the tag operations (`TagOps`).

A tag is a merged claim (one per subject, currency, address, category and entity) listing every
source that makes it. Results are what `fundtrail tags ... --json` prints (a JSON document, or for
`search`, `lookup`, `conflicts` and `actors` one JSON line per item of the result's list); the REST
API returns the same (`GET /api/v1/tags?address=` / `?q=`, `POST /api/v1/tags`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from fundtrail.errors import DataError, FundtrailError, UsageError
from fundtrail.workspace.cluster_models import ActorInfo, Conflict, ConflictEntity, TagSource
from fundtrail.workspace.core import Model

__all__ = ["ActorInfo", "Conflict", "ConflictEntity", "TagSource"]


class Tag(Model):
    """A merged tag of an address (`tags search --json`, one per line): `kind` direct."""

    address: str
    tag_key: str
    subject: str | None = None
    currency: str | None = None
    category: str | None = None
    entity: str | None = None
    label: str
    labels: list[str] | None = None
    confidence: str | None = None
    confidence_level: int
    actor: str | None = None
    visibility: str | None = None
    sources: list[TagSource] = Field(default_factory=list)
    kind: Literal["direct", "inherited"] = "direct"
    category_label: str | None = None


class ShownTag(Tag):
    """A tag of `tags show`, with its actor's record and the names the actor goes by."""

    actor_info: ActorInfo | None = None
    actor_names: list[str] = Field(default_factory=list)


class TagShowResult(Model):
    """Every tag of one address (`tags show --json`): `key` is the lookup key (the address in the
    tags' normal form), `validation` how far its form was checked (checksum, format, unrecognised)."""

    address: str
    key: str
    tags: list[ShownTag]
    conflict: Conflict | None
    validation: str


class TagSearchResult(Model):
    """Tags whose label, actor, category, source or creator contains `q`, or whose address is `q`."""

    q: str
    limit: int
    tags: list[Tag]


class LookupTag(Model):
    """A tag found for a row of a batch lookup: `line` and `address` as given, `normalised_address`
    as stored."""

    record: Literal["tag"] = "tag"
    line: int
    address: str
    normalised_address: str
    kind: Literal["direct"] = "direct"
    tag_key: str
    subject: str | None = None
    currency: str | None = None
    category: str | None = None
    entity: str | None = None
    label: str
    labels: list[str] | None = None
    confidence: str | None = None
    confidence_level: int
    actor: str | None = None
    visibility: str | None = None
    sources: list[TagSource] = Field(default_factory=list)


class LookupRowError(Model):
    """A row that is not an address: where (`file`, `line`), what and why."""

    record: Literal["error"] = "error"
    file: str
    line: int
    address: str
    error: str


class TagLookupRequest(Model):
    """Tags of many addresses at once: `addresses` (up to 100,000), or `file` (a list or CSV sheet
    on this machine, `column` naming its address column; read by the CLI's process, never by the API)."""

    addresses: list[str] | None = None
    file: Path | None = None
    column: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TagLookupRequest:
        if (self.addresses is None) == (self.file is None):
            raise ValueError("give either addresses or file")
        return self


class TagLookupResult(Model):
    """The tags of every distinct valid address (`tags`), the malformed rows (`errors`), and the
    counts: `total` rows read, `addresses` distinct valid ones, `duplicates`, `tagged` addresses."""

    source: str
    tags: list[LookupTag]
    errors: list[LookupRowError]
    total: int
    addresses: int
    duplicates: int
    tagged: int

    def failure(self) -> FundtrailError | None:
        """The error to report after the good rows' tags when some rows were malformed."""
        if not self.errors:
            return None
        return DataError(f"{len(self.errors)} of {self.total} rows of {self.source} are not valid addresses "
                         "(listed above); the others were looked up", field="addresses")


class TagAddRequest(Model):
    """An analyst's own tag. `currency` defaults from the address form; `confidence` is an id of the
    scale or a documented alias; `creator` defaults to the workspace's user, `date` (YYYY-MM-DD) to
    today; `visibility` shared or private (then usually with `case`)."""

    address: str
    label: str
    category: str
    currency: str | None = None
    confidence: str = "forensic"
    source: str | None = None
    actor: str | None = None
    creator: str | None = None
    date: str | None = None
    visibility: str = "shared"
    case: str | None = None


class TagAddResult(Model):
    """The tag as stored; `added` false when the same claim was already there (nothing changed)."""

    added: bool
    import_id: int
    currency: str
    address: str
    category: str | None
    label: str
    confidence: str
    confidence_level: int
    confidence_given: str
    visibility: str

    def confidence_mapped(self) -> bool:
        """Whether the confidence given was an alias (read as another id: worth telling the user)."""
        return self.confidence_given.strip().lower().replace("-", "_").replace(" ", "_") != self.confidence


class TagImportRequest(Model):
    """Label files or directories to import (`tags import`); `mapping` holds CSV `FIELD=COLUMN`
    pairs, `label`/`category`/`confidence`/`source`/`creator` fixed CSV values."""

    paths: list[Path]
    format: str = "auto"
    currency: str | None = None
    mapping: list[str] = Field(default_factory=list)
    label: str | None = None
    category: str | None = None
    confidence: str | None = None
    source: str | None = None
    creator: str | None = None


class ImportedFile(Model):
    """What happened to one file: status imported | updated | unchanged | skipped | failed."""

    path: str
    format: str | None
    status: str
    tags: int
    invalid: int
    warnings: int
    duplicates: int
    actors: int
    import_id: int | None
    diff: dict[str, Any] | None
    reason: str | None
    problems: list[str]
    #: problems found beyond the first 1,000 of a file (counted in `invalid`/`warnings`, not listed)
    problems_omitted: int = 0
    usage: bool = Field(default=False, exclude=True)


class ImportSummary(Model):
    """Counts over the files of one import."""

    files: int
    imported: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    tags: int
    invalid: int
    warnings: int
    duplicates: int
    actors: int


class TagImportResult(Model):
    """The report of an import (`tags import --json`)."""

    summary: ImportSummary
    files: list[ImportedFile]

    def failure(self) -> FundtrailError | None:
        """The error to report after the report when some files failed (a UsageError when only the
        options did not fit the files, a DataError otherwise); the other files are committed."""
        s = self.summary
        if not s.failed:
            return None
        good = s.files - s.failed - s.skipped
        usage = all(f.usage for f in self.files if f.status == "failed")
        return (UsageError if usage else DataError)(
            f"{s.failed} of {s.files} file(s) could not be imported (problems listed above); the other "
            f"{good} are imported and committed")


class TagExportRequest(Model):
    """Tags to export as a GraphSense TagPack: the analysts' shared tags, or `everything`;
    `include_private` adds private ones; `creator` selects one creator."""

    format: str = "tagpack"
    everything: bool = False
    include_private: bool = False
    creator: str | None = None
    title: str | None = None


class TagExportResult(Model):
    """The exported document (`text`, YAML) and how many tags it holds."""

    format: str
    count: int
    text: str


class TagConflict(Model):
    """An address whose tags of one currency claim two different services."""

    currency: str
    address: str
    reason: str
    entities: list[ConflictEntity]


class TagConflictsResult(Model):
    """Addresses with conflicting service claims (`tags conflicts --json`: one per line)."""

    conflicts: list[TagConflict]


class ActorRow(Model):
    """A known actor: id, name, website, jurisdictions, categories, and how many tags name it."""

    id: str
    label: str
    uri: str | None
    jurisdictions: list[str] | None
    categories: list[str] | None
    tags: int


class ActorsResult(Model):
    """Known actors, most tagged first (`tags actors --json`: one per line)."""

    actors: list[ActorRow]
