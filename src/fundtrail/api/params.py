"""Path and query parameters shared by several routes: the store chain of `{chain}`, paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from fundtrail.api.state import api_state

ChainName = Annotated[str, Path(description="A chain of the store (`btc`, `btc-regtest`, `eth`, `anvil`, ...)",
                                max_length=64)]
Limit = Annotated[int, Query(description="Page size (1..1000).")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page (opaque).",
                                     max_length=4096)]


def stored_chain(request: Request, chain: ChainName) -> str:
    """Dependency: `{chain}` must name a chain of the store (404 `not_found`, field `chain`)."""
    return api_state(request).known_chain(chain)


StoredChain = Annotated[str, Depends(stored_chain)]
