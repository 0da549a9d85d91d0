"""The service layer: the one door through which the CLI, the REST API and the web workbench reach
fundtrail's capabilities.

`Workspace` is opened once on a store (read-only unless asked to write, never migrating on a read),
caches loaded indexes, tag maps and assessors per chain and store state, and offers typed request
and result models (pydantic) for every capability: status, search, addresses, transactions,
clusters, tags, trace, paths, risk, screening, exposure, the long jobs (ingest, tag import, cluster
run, index refresh) with progress callbacks, and users, tokens and the audit log. Interfaces turn
their input into a request model, make one call, and render the result (docs/python-api.md).
"""

from __future__ import annotations

from fundtrail.workspace.access import AccessOps
from fundtrail.workspace.addresses import AddressOps
from fundtrail.workspace.clusters import ClusterOps
from fundtrail.workspace.core import (Actor, ChainRef, Model, Page, Progress, WorkspaceBase, check_limit,
                                      decode_cursor, encode_cursor, no_progress)
from fundtrail.workspace.jobs import JobOps
from fundtrail.workspace.risk import RiskOps
from fundtrail.workspace.search import SearchOps
from fundtrail.workspace.status import StatusOps
from fundtrail.workspace.tags import TagOps
from fundtrail.workspace.tracing import TraceOps
from fundtrail.workspace.transactions import TransactionOps

__all__ = ["Actor", "ChainRef", "Model", "Page", "Progress", "Workspace", "check_limit", "decode_cursor",
           "encode_cursor", "no_progress"]


class Workspace(StatusOps, SearchOps, AddressOps, TransactionOps, ClusterOps, TagOps, TraceOps, RiskOps,
                JobOps, AccessOps, WorkspaceBase):
    """fundtrail's capabilities on one store; open with `Workspace.open(settings, ...)`."""
