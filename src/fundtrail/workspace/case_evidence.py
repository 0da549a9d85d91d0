"""Service operations on cases: evidence bundles (domain: `fundtrail.cases.bundle`, format
docs/bundle.md).

Any member of a case may bundle it, viewers included (a bundle reads the case), open or closed;
for anyone else the case does not exist. The raw blocks come from `blocks_dir`, a node at `rpc`
(credentials in its URL or `rpc_cookie`), else the blocks directory the chain was ingested from;
an account chain's blocks and receipts from the Ethereum node at `rpc`, else the node its ingest
read from (format 1.1, only on chains whose blocks fundtrail verifies fully).
The bundle is recorded in the case (`case_bundles`) once it is on disk, with who made it.
"""

from __future__ import annotations

import hashlib
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from fundtrail.cases import bundle as case_bundle
from fundtrail.cases import store as case_store
from fundtrail.cases import traces as case_traces
from fundtrail.cases.bundle_why import why_many
from fundtrail.cases.ids import check_case_id
from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.ingest.bitcoin.rpcclient import RpcClient
from fundtrail.workspace.case_evidence_models import BundleList, BundleResult
from fundtrail.workspace.case_models import CaseBundleRecord, iso
from fundtrail.workspace.cases import CaseOps
from fundtrail.workspace.clusters import ClusterOps
from fundtrail.workspace.core import Progress, no_progress

__all__ = ["BundleList", "BundleResult", "CaseEvidenceOps", "bundle_hash_of"]

_HASH = re.compile(r"[0-9a-f]{64}")


def bundle_hash_of(path: Path) -> str:
    """The bundle hash of a bundle file: the SHA-256 of its `SHA256SUMS` member (docs/bundle.md);
    NotFoundError (field `bundle`) for no such file, DataError for a file that is not a bundle."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"bundle {path} is not a file", field="bundle")
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read("SHA256SUMS")
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(f"bundle {path} is not an evidence bundle (a ZIP with SHA256SUMS): {exc}",
                        field="bundle") from None
    return hashlib.sha256(data).hexdigest()


#: CaseDetail fields that are not the case's state: the reader's role and the bundles made of it
_NOT_STATE = ("role", "bundles")


class CaseEvidenceOps(CaseOps, ClusterOps):
    """Cases: evidence bundles (docs/bundle.md)."""

    def case_bundle(self, case: str, out: Path | None = None, *, blocks_dir: Path | None = None,
                    rpc: str | None = None, rpc_cookie: Path | None = None, by_hash: bool = False,
                    progress: Progress = no_progress) -> BundleResult:
        """Write the case's evidence bundle to `out` (atomically) and record it in the case; with
        `by_hash`, `out` is a directory and the bundle is written there as `<bundle hash>.zip`;
        without `out`, it is kept in the store (`case_bundle_file` finds it again by its hash)."""
        t0 = time.perf_counter()
        check_case_id(case)
        self.require_writable("recording an evidence bundle")
        user = self._case_user()
        detail = self.case_get(case)  # NotFoundError for a non-member, as for no case
        if out is None:
            out, by_hash = self._kept_dir(case), True
            out.mkdir(parents=True, exist_ok=True)
        doc: dict[str, Any] = {k: v for k, v in detail.model_dump(mode="json").items() if k not in _NOT_STATE}
        with self.store.connect(read_only=True) as con:
            rows = case_traces.list_traces(con, case)
        traces = [{"id": r["trace_id"], "created_at": iso(r["created_at"]), "created_by": r["created_by"],
                   "seed": r["seed"], "policy": r["policy"], "request": r["request"], "state": r["state"],
                   "result": r["result"]} for r in rows]
        client = RpcClient(rpc, cookie_file=rpc_cookie) if rpc else None
        when = case_store.now()
        inp = case_bundle.BundleInput(
            case=doc, traces=traces, chains=dict(self.networks()), graph=lambda c: self.graph_index(c),
            why=self._why_many,
            created_by=user, created_at=when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        try:
            made = case_bundle.write(self.store, inp, Path(out), blocks_dir=blocks_dir, rpc=client, rpc_url=rpc,
                                     by_hash=by_hash, progress=progress)
        finally:
            if client is not None:
                client.close()
        with self.store.connect() as con:
            con.execute("INSERT OR REPLACE INTO case_bundles (case_id, bundle_hash, created_at, created_by, path, "
                        "bytes, transactions) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [case, made.bundle_hash, when, user, str(made.path.resolve()), made.bytes,
                         sum(made.transactions.values())])
        return BundleResult(case_id=case, path=str(made.path), bundle_hash=made.bundle_hash, bytes=made.bytes,
                            transactions=sum(made.transactions.values()), chains=made.transactions,
                            tags=made.counts["tags"], cluster_links=made.counts["cluster_links"],
                            findings=made.counts["findings"], seconds=round(time.perf_counter() - t0, 3),
                            warnings=made.warnings)

    def _why_many(self, chain: str, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """`cluster why` of many pairs: batched on UTXO chains, one call each on account chains."""
        if self.networks().get(chain, ("account", ""))[0] == "utxo":
            return why_many(self.store, chain, pairs)
        return {(a, b): self.cluster_why(a, b, chain=chain).model_dump(mode="json", by_alias=True)
                for a, b in pairs}

    def _kept_dir(self, case: str) -> Path:
        return self.store.root / "cases" / case / "bundles"

    def case_bundle_file(self, case: str, bundle_hash: str) -> Path:
        """The file of a bundle the case recorded and the store keeps (`case_bundle` without
        `out`), checked to still have its hash: UsageError on `bundle` for a malformed hash,
        NotFoundError for one the case did not record or whose file is not kept here, DataError
        when the kept file no longer has that hash (changed or damaged)."""
        if not isinstance(bundle_hash, str) or not _HASH.fullmatch(bundle_hash):
            raise UsageError(f"bundle {str(bundle_hash)[:80]!r} is not a bundle hash (64 lowercase hex digits)",
                             field="bundle")
        if bundle_hash not in {b.bundle_hash for b in self.case_bundles(case).bundles}:
            raise NotFoundError(f"bundle {bundle_hash} is not a bundle of case {case}", field="bundle")
        path = self._kept_dir(case) / f"{bundle_hash}.zip"
        if not path.is_file():
            raise NotFoundError(f"bundle {bundle_hash} of case {case} is not kept in this store (it was written "
                                "elsewhere, e.g. by `fundtrail case bundle -o FILE`)", field="bundle")
        try:
            same = bundle_hash_of(path) == bundle_hash
        except DataError:
            same = False
        if not same:
            raise DataError(f"the kept file of bundle {bundle_hash} no longer has that hash: it was changed or "
                            "damaged", field="bundle")
        return path

    def case_bundles(self, case: str) -> BundleList:
        """The evidence bundles made of the case, oldest first (any member may list them)."""
        check_case_id(case)
        detail = case_store.case_detail(self.store, case, self._case_user(), read_only=not self.writable)
        return BundleList(case_id=case, bundles=[CaseBundleRecord(**{**b, "created_at": iso(b["created_at"])})
                                                 for b in detail["bundles"]])
