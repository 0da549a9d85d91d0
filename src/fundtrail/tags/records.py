"""What importers produce: raw tag records with their line, actors, and problems found on the way.

Readers of each source format only parse; `validate.py` applies the taxonomy and address rules once
for every format, so all sources are held to the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RawTag:
    """One claim as read from a source file, before validation."""

    line: int
    address: str
    currency: str | None
    label: str | None
    category: str | None = None  # entity concept (exchange, miner ...) or any word of the source
    abuse: str | None = None  # abuse concept (ransomware, scam ...)
    concepts: tuple[str, ...] = ()
    confidence: str | None = None
    source: str | None = None
    creator: str | None = None
    lastmod: str | None = None
    actor: str | None = None
    is_cluster_definer: bool | None = None
    context: str | None = None  # JSON text
    subject: str = "address"  # address or cluster
    visibility: str = "shared"
    case_id: str | None = None


@dataclass(slots=True)
class Actor:
    """A named real-world entity tags can refer to (an exchange, a ransomware group)."""

    id: str
    label: str
    uri: str | None = None
    categories: tuple[str, ...] = ()
    jurisdictions: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    context: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong at one line of one file. Severity `invalid` means the record was not stored."""

    path: str
    line: int
    message: str
    severity: str = "invalid"  # invalid (not stored) or warning (stored, with the issue noted)

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        message = " ".join(self.message.split()) if "\n" in self.message else self.message  # one line
        return f"{where}: {self.severity}: {message}"


@dataclass(slots=True)
class ParsedFile:
    """A source file read by one reader: its records, actors and problems."""

    format: str
    tags: list[RawTag] = field(default_factory=list)
    actors: list[Actor] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one label file (the settings of the same names, docs/cli.md "Resource limits")."""

    max_yaml_nodes: int = 1_000_000
    max_csv_field_kb: int = 1024
    max_json_depth: int = 2_500
