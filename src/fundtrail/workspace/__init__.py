"""The service layer: the one door through which the CLI, the REST API and the web workbench reach
fundtrail's capabilities.

`Workspace` is opened once on a store (read-only unless asked to write, never migrating on a read),
caches loaded indexes, tag maps and assessors per chain and store state, and offers typed request
and result models (pydantic) for every capability: status, search, addresses, transactions,
clusters, tags, trace, paths, risk, screening, exposure, the workbench's graph (one hop at a
time, traces drawn, saved canvases), the long jobs (ingest, tag import, cluster
run, index refresh) with progress callbacks, users, tokens and the audit log, and cases. Interfaces
turn their input into a request model, make one call, and render the result (docs/python-api.md).

Every public request and result model is importable from here (`from fundtrail.workspace import
Workspace, TraceRequest`); `RESULT_MODELS` lists the models public `Workspace` methods return, whose
JSON schemas are kept as golden files (tests/golden).
"""

from __future__ import annotations

from fundtrail.workspace.access import (AccessOps, AuditEntry, AuditPage, AuditProblem, AuditRecord,
                                        AuditVerifyResult, SessionCreated, TokenCreateResult, TokenRecord,
                                        TokensListResult, UserRecord, UsersListResult)
from fundtrail.workspace.addresses import AddressOps
from fundtrail.workspace.case_models import (AttachmentRecord, CaseBundleRecord, CaseDetail, CaseExportResult,
                                             CaseList, CaseMember, CaseRecord, CaseTagRecord, FindingRecord,
                                             LayoutRecord, NoteRecord, SavedTrace, SavedTraceSummary, SeedRecord,
                                             TraceRerun)
from fundtrail.workspace.case_evidence import CaseEvidenceOps
from fundtrail.workspace.case_evidence_models import BundleList, BundleResult
from fundtrail.workspace.case_files import CaseFilesOps
from fundtrail.workspace.case_report_models import LetterFile, LettersResult, ReportResult
from fundtrail.workspace.case_reports import CaseReportOps
from fundtrail.workspace.cases import CaseOps
from fundtrail.workspace.cluster_models import (ActorInfo, ClusterMember, ClusterMembersPage, ClusterOverrideRequest,
                                                ClusterOverrideResult, ClusterOverridesResult, ClusterResult,
                                                ClusterRun, ClusterRunRequest, ClusterRunResult, ClusterRunsResult,
                                                ClusterTag, ClusterWhyResult, Conflict, ConflictEntity, Suspect,
                                                TagSource, WhyStep)
from fundtrail.workspace.clusters import ClusterOps
from fundtrail.workspace.delivery import DeliveryOps
from fundtrail.workspace.delivery_models import (DeadLetter, DeadLetterList, DeliveryOutcome, DeliveryResult,
                                                 ReplayResult, WebhookCreated, WebhookList, WebhookRecord,
                                                 WebhookRemoved)
from fundtrail.workspace.core import (Actor, ChainRef, Model, Page, Progress, WorkspaceBase, check_limit,
                                      decode_cursor, encode_cursor, no_progress)
from fundtrail.workspace.graph_models import (GraphEdge, GraphNode, GraphPage, GraphSaveRequest, GraphTag,
                                              SavedGraph, SavedGraphDocument, SavedGraphList, TraceEndpoint,
                                              TraceGraph, TraceService)
from fundtrail.workspace.graph_store import GraphStoreOps
from fundtrail.workspace.graph_view import GraphViewOps
from fundtrail.workspace.job_models import (AppliedMigration, BitcoinIngestResult, EthereumIngestResult,
                                            ExportResult, ExportTransactionsRequest, ExportTransfersRequest,
                                            Finding, FsckResult, IngestBitcoinRequest, IngestEthereumRequest,
                                            IngestIncomplete, IngestResult, IngestTronRequest, MigrateResult,
                                            TronIngestResult)
from fundtrail.workspace.jobs import JobOps
from fundtrail.workspace.kyt import KytOps
from fundtrail.workspace.kyt_models import (KytAlert, KytAssessment, KytFlow, KytParty, KytTransferRequest,
                                            KytTransferResult)
from fundtrail.workspace.lookup_models import (AddressSummary, AddressTag, AddressTransfer, AddressTx, AddressTxPage,
                                               AssetTotals, SearchHit, SearchResult, SeenAt, SpentBy,
                                               TransactionDetail, TxInput, TxOutput, TxTag, TxTransfer)
from fundtrail.workspace.risk import (ExposureRequest, ExposureResult, RiskOps, RiskReport, RiskReports, RiskRequest,
                                      RisksRequest, ScreenRequest, ScreenResult, ScreenRow)
from fundtrail.workspace.search import SearchOps
from fundtrail.workspace.status import (AccountChainStatus, ChainStatus, Coverage, IngestRun, StatusOps, StatusResult,
                                        TagCounts, UtxoChainStatus)
from fundtrail.workspace.tag_models import (ActorRow, ActorsResult, ImportedFile, ImportSummary, LookupRowError,
                                            LookupTag, ShownTag, Tag, TagAddRequest, TagAddResult, TagConflict,
                                            TagConflictsResult, TagExportRequest, TagExportResult, TagImportRequest,
                                            TagImportResult, TagLookupRequest, TagLookupResult, TagSearchResult,
                                            TagShowResult)
from fundtrail.workspace.tags import TagOps
from fundtrail.workspace.trace_models import (GraphBuildResult, PathsRequest, PathsResult, SeedInput, StopAddress,
                                              TraceRequest, TraceResult)
from fundtrail.workspace.tracing import TraceOps
from fundtrail.workspace.transactions import TransactionOps
from fundtrail.workspace.watch_models import (AlertCount, AlertDelivery, AlertPage, AlertRecord, WatchAddResult,
                                              WatchItem, WatchListResult)
from fundtrail.workspace.watching import WatchOps
from fundtrail.workspace.freezes import FreezeOps
from fundtrail.workspace.job_tron import IngestTronOps
from fundtrail.workspace.spark_jobs import SparkOps
from fundtrail.workspace.spark_models import SparkJobResult, SparkRequest
from fundtrail.workspace.freeze_models import FreezeRow, FreezesRequest, FreezesResult
from fundtrail.workspace.verification import BundleVerification, TraceVerification, VerificationOps

__all__ = [
    "RESULT_MODELS",
    "AccountChainStatus",
    "Actor",
    "ActorInfo",
    "ActorRow",
    "ActorsResult",
    "AddressSummary",
    "AddressTag",
    "AddressTransfer",
    "AddressTx",
    "AddressTxPage",
    "AlertCount",
    "AlertDelivery",
    "AlertPage",
    "AlertRecord",
    "AppliedMigration",
    "AssetTotals",
    "AttachmentRecord",
    "AuditEntry",
    "AuditPage",
    "AuditProblem",
    "AuditRecord",
    "AuditVerifyResult",
    "BitcoinIngestResult",
    "BundleList",
    "BundleResult",
    "BundleVerification",
    "CaseBundleRecord",
    "CaseDetail",
    "CaseExportResult",
    "CaseList",
    "CaseMember",
    "CaseRecord",
    "CaseTagRecord",
    "ChainRef",
    "ChainStatus",
    "ClusterMember",
    "ClusterMembersPage",
    "ClusterOverrideRequest",
    "ClusterOverrideResult",
    "ClusterOverridesResult",
    "ClusterResult",
    "ClusterRun",
    "ClusterRunRequest",
    "ClusterRunResult",
    "ClusterRunsResult",
    "ClusterTag",
    "ClusterWhyResult",
    "Conflict",
    "ConflictEntity",
    "Coverage",
    "DeadLetter",
    "DeadLetterList",
    "DeliveryOutcome",
    "DeliveryResult",
    "EthereumIngestResult",
    "ExportResult",
    "ExportTransactionsRequest",
    "ExportTransfersRequest",
    "ExposureRequest",
    "ExposureResult",
    "Finding",
    "FindingRecord",
    "FreezeOps",
    "FreezeRow",
    "FreezesRequest",
    "FreezesResult",
    "FsckResult",
    "GraphBuildResult",
    "GraphEdge",
    "GraphNode",
    "GraphPage",
    "GraphSaveRequest",
    "GraphTag",
    "ImportSummary",
    "ImportedFile",
    "IngestBitcoinRequest",
    "IngestEthereumRequest",
    "IngestIncomplete",
    "IngestResult",
    "IngestRun",
    "IngestTronRequest",
    "KytAlert",
    "KytAssessment",
    "KytFlow",
    "KytParty",
    "KytTransferRequest",
    "KytTransferResult",
    "LayoutRecord",
    "LetterFile",
    "LettersResult",
    "LookupRowError",
    "LookupTag",
    "MigrateResult",
    "Model",
    "NoteRecord",
    "Page",
    "PathsRequest",
    "PathsResult",
    "Progress",
    "ReplayResult",
    "ReportResult",
    "RiskReport",
    "RiskReports",
    "RiskRequest",
    "RisksRequest",
    "SavedGraph",
    "SavedGraphDocument",
    "SavedGraphList",
    "SavedTrace",
    "SavedTraceSummary",
    "ScreenRequest",
    "ScreenResult",
    "ScreenRow",
    "SearchHit",
    "SearchResult",
    "SeedInput",
    "SeedRecord",
    "SeenAt",
    "SessionCreated",
    "ShownTag",
    "SparkJobResult",
    "SparkRequest",
    "SpentBy",
    "StatusResult",
    "StopAddress",
    "Suspect",
    "Tag",
    "TagAddRequest",
    "TagAddResult",
    "TagConflict",
    "TagConflictsResult",
    "TagCounts",
    "TagExportRequest",
    "TagExportResult",
    "TagImportRequest",
    "TagImportResult",
    "TagLookupRequest",
    "TagLookupResult",
    "TagSearchResult",
    "TagShowResult",
    "TagSource",
    "TokenCreateResult",
    "TokenRecord",
    "TokensListResult",
    "TraceEndpoint",
    "TraceGraph",
    "TraceRequest",
    "TraceRerun",
    "TraceResult",
    "TraceService",
    "TraceVerification",
    "TransactionDetail",
    "TronIngestResult",
    "TxInput",
    "TxOutput",
    "TxTag",
    "TxTransfer",
    "UserRecord",
    "UsersListResult",
    "UtxoChainStatus",
    "WatchAddResult",
    "WatchItem",
    "WatchListResult",
    "WebhookCreated",
    "WebhookList",
    "WebhookRecord",
    "WebhookRemoved",
    "WhyStep",
    "Workspace",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
    "no_progress",
]


class Workspace(SparkOps, KytOps, WatchOps, DeliveryOps, CaseFilesOps, CaseEvidenceOps, CaseReportOps,
                VerificationOps, CaseOps, StatusOps, SearchOps, GraphViewOps, GraphStoreOps, AddressOps,
                TransactionOps, ClusterOps, TagOps, TraceOps, RiskOps, IngestTronOps, JobOps, AccessOps, FreezeOps,
                WorkspaceBase):
    """fundtrail's capabilities on one store; open with `Workspace.open(settings, ...)`."""


#: Every model a public `Workspace` method returns, by capability (their JSON schemas are the golden
#: files of tests/golden and the REST API's). The two list results `ClusterOverridesResult` and
#: `ClusterRunsResult` are pydantic root models, not `Model`s: their items (`ClusterOverrideResult`,
#: `ClusterRun`) are listed instead. `Actor` (`authenticate`) and `ChainRef` (`chain`, `chains`) are
#: the workspace's own plumbing, not results.
RESULT_MODELS: tuple[type[Model], ...] = (
    # status, search, addresses, transactions
    StatusResult, SearchResult, AddressSummary, AddressTxPage, TransactionDetail,
    # clusters
    ClusterResult, ClusterMembersPage, ClusterWhyResult, ClusterRunResult, ClusterOverrideResult, ClusterRun,
    # tags
    TagShowResult, TagLookupResult, TagSearchResult, TagExportResult, TagConflictsResult, ActorsResult,
    TagAddResult, TagImportResult,
    # trace, paths, graph build
    TraceResult, PathsResult, GraphBuildResult,
    # the workbench graph and saved graphs
    GraphPage, TraceGraph, SavedGraph, SavedGraphList, SavedGraphDocument,
    # risk, screening, exposure
    RiskReport, RiskReports, ScreenResult, ExposureResult,
    # jobs
    BitcoinIngestResult, EthereumIngestResult, TronIngestResult, ExportResult, FsckResult, MigrateResult,
    # users, tokens, audit log
    UserRecord, UsersListResult, SessionCreated, TokenCreateResult, TokenRecord, TokensListResult, AuditRecord,
    AuditPage, AuditVerifyResult,
    # cases
    CaseRecord, CaseList, CaseDetail, SeedRecord, NoteRecord, FindingRecord, SavedTrace, TraceRerun,
    AttachmentRecord, CaseTagRecord, LayoutRecord, CaseBundleRecord, CaseExportResult,
    # evidence bundles and their verification
    BundleResult, BundleList, BundleVerification,
    # reports and letters
    ReportResult, LettersResult,
    # monitoring: watch items, alerts, webhooks, delivery
    WatchAddResult, WatchListResult, WatchItem, AlertPage, AlertRecord, AlertCount, WebhookCreated, WebhookList,
    WebhookRemoved, DeliveryResult, DeadLetterList, ReplayResult, KytTransferResult, KytAssessment,
    # stablecoin freezes
    FreezesResult,
    # Spark jobs
    SparkJobResult,
)
