"""What tracing needs from attribution and clustering: stop labels and endpoint descriptions.

The one place where trace meets `tags` and `cluster` (both a layer below). Until they hold data for
a chain, traces stop only at their limits and unspent outputs, and endpoints carry no tags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fundtrail.trace.graph import GraphIndex


def service_labels(store: Any, graph: GraphIndex, categories: list[str]) -> dict[int, str]:
    """address id -> label for tagged addresses of `categories` that the graph knows."""
    return {}


def describer(store: Any, graph: GraphIndex) -> Callable[[int], dict[str, Any]] | None:
    """address id -> {"cluster", "tags"}; None when nothing is attributed."""
    return None
