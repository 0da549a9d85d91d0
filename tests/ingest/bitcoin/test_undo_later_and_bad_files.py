"""Issue 12 item 11, on real mainnet data: undo data given for a block already stored is used (its
unresolved inputs get values, addresses and fees, as if it had been given at the first ingest), and
a corrupt file in a `--raw` list does not stop the other files: every good block is stored and the
run ends with exit 3 naming each bad file and byte offset.

The undo file is decoded here independently (bcoin's flat format: int64 value + varint script per
non-coinbase input) and the block by embit, so values are checked against bytes.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from embit import compact
from embit.transaction import Transaction

from fundtrail.cli.main import main
from fundtrail.store import Store
from fundtrail.store.bitcoin_export import iter_transactions
from fundtrail.store.status import status

COIN = 100_000_000


@pytest.fixture(scope="module")
def btc(testdata: Path) -> Path:
    return testdata / "btc-raw-blocks"


def embit_txs(raw: bytes) -> list[Transaction]:
    stream = io.BytesIO(raw)
    stream.read(80)
    return [Transaction.read_from(stream) for _ in range(compact.read_from(stream))]


def flat_undo(data: bytes) -> list[int]:
    """Values of bcoin's flat undo entries, in input order."""
    values, pos = [], 0
    while pos < len(data):
        values.append(int.from_bytes(data[pos:pos + 8], "little", signed=True))
        n = data[pos + 8]
        pos += 9
        if n >= 0xFD:
            width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[n]
            n = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        pos += n
    return values


def cli(*args: str) -> tuple[int, str, str]:
    res = subprocess.run([sys.executable, "-m", "fundtrail.cli.main", *args], capture_output=True,
                         text=True, timeout=300)
    return res.returncode, res.stdout, res.stderr


def resolved_by(root: Path) -> dict[int, int]:
    with Store(root).query() as con:
        return dict(con.execute("SELECT resolved_by, count(*) FROM btc_inputs GROUP BY 1").fetchall())


def test_undo_file_for_a_stored_block_resolves_its_inputs(tmp_path: Path, btc: Path) -> None:
    raw, undo = btc / "bcoin" / "block300025.raw", btc / "bcoin" / "block300025-undo.raw"
    txs = embit_txs(raw.read_bytes())
    values = flat_undo(undo.read_bytes())
    in_block = {tx.txid().hex() for tx in txs}
    outside = sum(1 for tx in txs[1:] for i in tx.vin if i.txid.hex() not in in_block)
    later = tmp_path / "later"
    code, _, err = cli("--store", str(later), "ingest", "bitcoin", "--raw", str(raw))
    assert code == 0, err
    assert status(Store(later))["chains"][0]["unresolved_inputs"] == outside > 0
    # before the fix: "1 blocks were already stored (skipped)" and every input stayed unresolved
    code, out, err = cli("--store", str(later), "ingest", "bitcoin", "--raw", str(raw),
                         "--undo-file", str(undo), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["blocks"], report["skipped_known"], report["undo_resolved"]) == (0, 1, outside)
    assert status(Store(later))["chains"][0]["unresolved_inputs"] == 0
    exported = list(iter_transactions(Store(later), "btc"))
    flat = [i for t in exported[1:] for i in t["inputs"]]
    assert [i["value"] for i in flat] == values  # every input, in order, has the undo file's value
    fees = [t["fee"] for t in exported[1:]]
    assert all(f is not None and f >= 0 for f in fees)
    assert sum(fees) == sum(o.value for o in txs[0].vout) - 25 * COIN  # the miner's claim
    # the same store as giving the undo file at the first ingest (addresses rendered, not ids)
    once = tmp_path / "once"
    assert cli("--store", str(once), "ingest", "bitcoin", "--raw", str(raw), "--undo-file", str(undo))[0] == 0
    assert exported == list(iter_transactions(Store(once), "btc"))
    assert resolved_by(later) == resolved_by(once) == {1: len(values) - outside, 2: outside}
    # given again: said to be of no use, nothing changes
    code, out, _ = cli("--store", str(later), "ingest", "bitcoin", "--raw", str(raw), "--undo-file", str(undo))
    assert code == 0 and "already stored with every input resolved; nothing to do" in out
    assert list(iter_transactions(Store(later), "btc")) == exported


def test_undo_file_of_another_block_changes_nothing(tmp_path: Path, btc: Path) -> None:
    store = tmp_path / "s"
    block = btc / "bcoin" / "block482683.raw"
    assert cli("--store", str(store), "ingest", "bitcoin", "--raw", str(block))[0] == 0
    before = list(iter_transactions(Store(store), "btc"))
    undo = btc / "bcoin" / "block300025-undo.raw"
    code, _, err = cli("--store", str(store), "ingest", "bitcoin", "--raw", str(block), "--undo-file", str(undo))
    assert code == 3 and err.count("\n") == 1 and "block300025-undo.raw" in err and "another block" in err
    assert list(iter_transactions(Store(store), "btc")) == before


def _last_record_offset(data: bytes) -> int:
    """Byte offset of the last blk record (magic + length + block) of a stream."""
    pos = last = 0
    while pos + 8 <= len(data):
        last = pos
        pos += 8 + int.from_bytes(data[pos + 4:pos + 8], "little")
    return last


def test_a_corrupt_raw_file_does_not_stop_the_others(tmp_path: Path, btc: Path, capsys) -> None:
    good_a, good_b = btc / "bitcoinj" / "block169482.dat", btc / "bitcoinj" / "block227836.dat"
    cut_block = tmp_path / "cut-227835.dat"
    cut_block.write_bytes((btc / "bitcoinj" / "block227835.dat").read_bytes()[:5000])
    stream = (btc / "bitcoinj" / "first-100k-blocks.dat").read_bytes()[:-100]  # last record cut
    cut_stream = tmp_path / "cut-stream.dat"
    cut_stream.write_bytes(stream)
    store = tmp_path / "s"
    code = main(["--store", str(store), "ingest", "bitcoin", "--raw", str(good_a), str(cut_block),
                 str(cut_stream), str(good_b)])
    out, err = capsys.readouterr()
    assert code == 3 and err.count("\n") == 1 and "2 bad block file(s)" in err
    # the report of what was stored comes first, with one line per file not ingested
    assert "not ingested: " + str(cut_block) in out
    off = _last_record_offset(stream)
    assert f"{cut_stream}: damaged bytes {off}-{len(stream)} ({len(stream) - off} bytes) skipped: truncated " \
        f"block record (length field" in out and f"at byte offset {off}; nothing readable after it" in out
    stored = {t["txid"] for t in iter_transactions(Store(store), "btc")}
    for block in (good_a, good_b):  # the good files after the bad ones are stored too
        assert {tx.txid().hex() for tx in embit_txs(block.read_bytes())} <= stored
    st = status(Store(store))["chains"][0]
    assert st["blocks"] == 438 + 2 and st["coverage"]["ranges"][0] == [0, 437]
    assert Store(store).runs()[0]["status"] == "failed"
