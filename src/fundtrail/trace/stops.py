"""Where traces stop: address ids of services (exchanges and other custodians) with their labels.

A stop list comes from attribution (tags of the chosen categories) or from a plain file an
investigator brings (one address per line, optionally `address,label`); both resolve to address
ids of the graph once, so the per-output check during a trace is a dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.store.lake import Store
from fundtrail.tags.taxonomy import CATEGORIES, resolve_category
from fundtrail.trace.engine import StopRule
from fundtrail.trace.graph import GraphIndex
from fundtrail.trace.report import Describe
from fundtrail.trace.seeds import address_id

#: Default stop categories: custodial services where funds can be frozen or a production order served.
DEFAULT_STOP_CATEGORIES = ("exchange", "wallet_service", "payment_processor", "atm")


def stop_categories(text: str) -> list[str]:
    """Category ids of a `--stop-at` list ("exchange,mixer"): aliases resolved through the tag
    taxonomy; an unknown word is a UsageError (a typo must not silently trace through a service)."""
    out: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        cat = resolve_category(word)
        if cat is None:
            raise UsageError(f"stop_at: unknown category {word!r} (known: {', '.join(CATEGORIES)})",
                             field="stop_at")
        if cat not in out:
            out.append(cat)
    return out


class StopList:
    """Labels of stop addresses by address id; callable as a `StopRule`."""

    def __init__(self, labels: dict[int, str] | None = None) -> None:
        self.labels: dict[int, str] = dict(labels or {})

    def __call__(self, address: int) -> str | None:
        return self.labels.get(address)

    def __len__(self) -> int:
        return len(self.labels)

    def add_addresses(self, graph: GraphIndex, pairs: Iterable[tuple[str, str]]) -> int:
        """Add (address string, label) pairs that the chain knows; returns how many were added."""
        added = 0
        for text, label in pairs:
            try:
                self.labels[address_id(graph, text)] = label
                added += 1
            except NotFoundError:
                continue  # a service address with no activity in this store cannot be reached
        return added

    @classmethod
    def from_file(cls, graph: GraphIndex, path: Path) -> StopList:
        """Read `address[,label]` lines ('#' comments) for a UTXO chain's graph."""
        return cls(cls.read_pairs(path, lambda text: address_id(graph, text)))

    @staticmethod
    def read_pairs(path: Path, resolve: Callable[[str], int]) -> dict[int, str]:
        """address id -> label from a stop file; `resolve` parses an address for the chain.

        A malformed address is a DataError naming file:line; a valid address without activity in
        the store is skipped (a trace cannot reach it).
        """
        labels: dict[int, str] = {}
        for text, label, where in read_stop_file(path):
            try:
                labels[resolve(text)] = label
            except UsageError as exc:
                raise DataError(f"{where}: {exc.message}") from None
            except NotFoundError:
                continue
        return labels


def read_stop_file(path: Path) -> list[tuple[str, str, str]]:
    """(address, label, "file:line") of each `address[,label]` line of a stop file ('#' comments;
    no label: "listed service"); the addresses are checked by whoever resolves them."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read stop file {path}: {exc.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        text, _, label = line.partition(",")
        out.append((text.strip(), label.strip() or "listed service", f"{path}:{n}"))
    return out


def as_rule(stops: StopList | None) -> StopRule | None:
    """The stop rule of a list (None when empty: nothing stops a trace but the limits)."""
    return stops if stops else None


def stops_from_tags(store: Store, graph: GraphIndex, categories: list[str], *,
                    progress: Callable[[str], None] | None = None) -> StopRule | None:
    """The stop rule of attribution tags of `categories` on the graph's chain, direct or inherited
    through the address's cluster (`fundtrail.trace.attribution`); None without tags."""
    from fundtrail.trace.attribution import TagMap

    return TagMap.load(store, graph, progress=progress).stop_rule(categories)


def attribution_for(store: Store, graph: GraphIndex, categories: list[str], *,
                    progress: Callable[[str], None] | None = None) -> tuple[StopRule | None, Describe | None]:
    """(stop rule, describer) from one load of the chain's tags and clustering: what `stops_from_tags`
    and `describer` give, for a trace that needs both, without loading the clustering twice."""
    from fundtrail.trace.attribution import TagMap, describe_with

    tagmap = TagMap.load(store, graph, progress=progress)
    return tagmap.stop_rule(categories), describe_with(tagmap)


def combine(*rules: StopRule | None) -> StopRule | None:
    """One stop rule from several (the first label wins); None when all are None."""
    active = [r for r in rules if r is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def rule(address: int) -> str | None:
        for r in active:
            got = r(address)
            if got is not None:
                return got
        return None

    return rule


def describer(store: Store, graph: GraphIndex, *,
              progress: Callable[[str], None] | None = None) -> Describe | None:
    """A function describing an address id with its cluster and tags, or None without attribution."""
    from fundtrail.trace.attribution import TagMap, describe_with

    return describe_with(TagMap.load(store, graph, progress=progress))
