"""Choosing the block source of a bundle (`--blocks-dir`, `--rpc`, else what the store recorded) and
the node source (`getblock HASH 0`, batched).

A recorded source is the text `blocks-dir PATH` that ingest writes in `batches.source` and
`ingest_runs.source`. A relative PATH was relative to the directory ingest ran in; it is tried
against the current directory, then against the store's parent directory. A chain ingested from a
node or from raw files has no directory to reread: the error says to give one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fundtrail.cases.bundle_blocks import BlockRef, BlockSource, DirSource, RawBlock, checked, missing_block
from fundtrail.chains.bitcoin.params import Network
from fundtrail.errors import DataError, UsageError
from fundtrail.ingest.bitcoin.rpcclient import RpcClient, RpcError
from fundtrail.store import Store

_RPC_BATCH = 16
_BLOCKS_DIR = "blocks-dir "


class RpcSource:
    """A Bitcoin node's JSON-RPC: `getblock HASH 0` gives the block's bytes as hex."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.description = f"the node at {client.url}"

    def fetch(self, wanted: list[BlockRef]) -> Iterator[RawBlock]:
        for at in range(0, len(wanted), _RPC_BATCH):
            part = wanted[at:at + _RPC_BATCH]
            try:
                answers = self.client.batch([("getblock", [r.hash[::-1].hex(), 0]) for r in part])
            except RpcError as exc:
                first = part[0] if len(part) == 1 else None
                if first is not None and exc.rpc_code == -5:
                    raise missing_block(first, self.description) from None
                answers = [self._one(r) for r in part]  # find which block the node lacks
            for ref, text in zip(part, answers, strict=True):
                yield checked(ref, _hex(text, ref, self.description), f"{self.description}, getblock "
                              f"{ref.hash[::-1].hex()}")

    def _one(self, ref: BlockRef) -> object:
        try:
            return self.client.call("getblock", ref.hash[::-1].hex(), 0)
        except RpcError as exc:
            if exc.rpc_code == -5:
                raise missing_block(ref, self.description) from None
            raise


def _hex(text: object, ref: BlockRef, where: str) -> bytes:
    try:
        if not isinstance(text, str):
            raise ValueError
        return bytes.fromhex(text)
    except ValueError:
        raise DataError(f"{where}: getblock {ref.hash[::-1].hex()} answered no block hex for {ref.name()}") from None


def recorded_dirs(store: Store, chain: str, refs: list[BlockRef]) -> tuple[list[Path], list[str]]:
    """(blocks directories that still exist, every source text recorded) for `refs` of `chain`:
    the batches that stored those blocks, then the chain's latest ingest run."""
    hashes = [r.hash for r in refs]
    with store.connect(read_only=True) as con:
        texts = [r[0] for r in con.execute(
            "SELECT DISTINCT b.source FROM block_index i JOIN batches b ON b.chain = i.chain AND "
            "b.batch_id = i.batch_id WHERE i.chain = ? AND list_contains(?, i.hash) AND b.source IS NOT NULL "
            "ORDER BY 1", [chain, hashes]).fetchall()]
        last = con.execute("SELECT source FROM ingest_runs WHERE chain = ? ORDER BY run_id DESC LIMIT 1",
                           [chain]).fetchone()
    if last is not None and last[0] not in texts:
        texts.append(last[0])
    dirs: list[Path] = []
    for text in texts:
        if not text.startswith(_BLOCKS_DIR):
            continue
        raw = Path(text[len(_BLOCKS_DIR):])
        tries = [raw] if raw.is_absolute() else [Path.cwd() / raw, store.root.parent / raw]
        hit = next((p.resolve() for p in tries if p.is_dir()), None)
        if hit is not None and hit not in dirs:
            dirs.append(hit)
    return dirs, texts


def choose_source(store: Store, chain: str, network: Network, refs: list[BlockRef], *,
                  blocks_dir: Path | None, rpc: RpcClient | None) -> BlockSource:
    """The source to read `refs` from (module docstring); a UsageError naming what was recorded
    when there is none."""
    if blocks_dir is not None:
        if not Path(blocks_dir).is_dir():
            raise UsageError(f"--blocks-dir {blocks_dir} does not exist or is not a directory", field="blocks_dir")
        return DirSource([Path(blocks_dir)], network)
    if rpc is not None:
        return RpcSource(rpc)
    dirs, texts = recorded_dirs(store, chain, refs)
    if dirs:
        return DirSource(dirs, network)
    said = "; ".join(texts) if texts else "no source recorded"
    raise UsageError(f"no block source for chain {chain}: the store keeps no raw transactions and its "
                     f"recorded ingest source ({said}) is not a blocks directory that exists here; give "
                     "--blocks-dir DIR (Bitcoin Core's blocks/) or --rpc URL", field="blocks_dir")

