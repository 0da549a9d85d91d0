"""The verifier's one-pass transaction reader (`bitcoin.parse_tx`) against a reference: the
cursor-per-field reader it replaced (kept below, word for word but for one field name), on real
mainnet transactions (legacy and segwit) and on tens of thousands of damaged copies of them: every
truncation, a trailing byte, each byte of the first 80 overwritten by the values that matter to a
reader (0x00, 0x01, the CompactSize markers 0xFD-0xFF, a flipped top bit), segwit markers and
flags inserted. Both must accept exactly the same byte strings, read the same fields and hashes
from them, and refuse the others with the same one-line error."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from verify.test_bitcoin_verify import blk_records, busy_blocks

from fundtrail.verify import VerifyError, parse_tx, split_block
from fundtrail.verify.bitcoin import double_sha256

# -- the reference: the reader as it was before it was made one-pass ----------------------------------


class _Reader:
    """A cursor over bytes that refuses to read past the end, naming the field and the offset."""

    def __init__(self, raw: bytes, what: str) -> None:
        self.raw, self.pos, self.what = raw, 0, what

    def take(self, n: int, field: str) -> bytes:
        if n > len(self.raw) - self.pos:
            raise VerifyError(f"{self.what}: truncated at byte {self.pos}: {field} needs {n} bytes, "
                              f"{len(self.raw) - self.pos} left")
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int, field: str) -> int:
        return int.from_bytes(self.take(n, field), "little")

    def compact(self, field: str) -> int:
        at = self.pos
        first = self.uint(1, field)
        size = {0xFD: 2, 0xFE: 4, 0xFF: 8}.get(first, 0)
        if not size:
            return first
        n = self.uint(size, field)
        if n < {2: 0xFD, 4: 0x10000, 8: 0x100000000}[size]:
            raise VerifyError(f"{self.what}: non-canonical length at byte {at} ({field})")
        return n

    def var_bytes(self, field: str) -> bytes:
        return self.take(self.compact(field + " length"), field)

    def end(self) -> None:
        if self.pos != len(self.raw):
            raise VerifyError(f"{self.what}: {len(self.raw) - self.pos} trailing bytes at byte {self.pos}")


@dataclass(frozen=True)
class RefIn:
    prev_txid: bytes
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()


def reference_parse(raw: bytes, what: str = "transaction") -> tuple[object, ...]:
    """The old `_read_tx` then `end()`; the fields as a tuple (inputs and outputs as tuples too)."""
    r = _Reader(raw, what)
    version = int.from_bytes(r.take(4, "version"), "little", signed=True)
    segwit = r.pos < len(r.raw) and r.raw[r.pos] == 0
    if segwit:
        flag = r.take(2, "segwit marker and flag")[1]
        if flag != 1:
            raise VerifyError(f"{r.what}: unknown segwit flag {flag} at byte {r.pos - 1}")
    body = r.pos
    inputs = [RefIn(r.take(32, f"input {i} previous txid"), r.uint(4, f"input {i} previous index"),
                    r.var_bytes(f"input {i} script"), r.uint(4, f"input {i} sequence"))
              for i in range(r.compact("input count"))]
    outputs = [(r.uint(8, f"output {i} value"), r.var_bytes(f"output {i} script"))
               for i in range(r.compact("output count"))]
    body_end = r.pos
    if segwit:
        inputs = [RefIn(i.prev_txid, i.prev_vout, i.script_sig, i.sequence,
                        tuple(r.var_bytes(f"input {n} witness item")
                              for _ in range(r.compact(f"input {n} witness count"))))  # was "witness count"
                  for n, i in enumerate(inputs)]
        if not any(i.witness for i in inputs):
            raise VerifyError(f"{r.what}: segwit marker but every witness is empty (byte 4)")
    locktime = r.uint(4, "locktime")
    whole = r.raw[:r.pos]
    stripped = whole[:4] + r.raw[body:body_end] + whole[-4:] if segwit else whole
    negative = [n for n, o in enumerate(outputs) if o[0] >= 1 << 63]
    if negative:
        raise VerifyError(f"{r.what}: output {negative[0]} has a negative value")
    r.end()
    ins = tuple((i.prev_txid, i.prev_vout, i.script_sig, i.sequence, i.witness) for i in inputs)
    return (version, ins, tuple(outputs), locktime, segwit, double_sha256(stripped), double_sha256(whole))


def fields(raw: bytes) -> tuple[object, ...]:
    tx = parse_tx(raw)
    ins = tuple((i.prev_txid, i.prev_vout, i.script_sig, i.sequence, i.witness) for i in tx.inputs)
    return (tx.version, ins, tuple((o.value, o.script) for o in tx.outputs), tx.locktime, tx.segwit, tx.txid,
            tx.wtxid)


def outcome(parse: object, raw: bytes) -> tuple[str, object]:
    try:
        return "ok", parse(raw)  # type: ignore[operator]
    except VerifyError as exc:
        return "refused", str(exc)


# -- the transactions and their damaged copies -----------------------------------------------------

@pytest.fixture(scope="module")
def samples(testdata: Path) -> list[bytes]:
    """Real transactions: block 170's payment, a few of blocks 0-599, legacy and segwit ones of
    busy blocks (many inputs, many outputs, multi-item witnesses)."""
    raw = testdata / "btc-raw-blocks"
    first = blk_records((raw / "nbitcoin" / "blk00000.dat").read_bytes())
    picked = [split_block(first[170])[1][1], split_block(first[9])[1][0]]
    blocks = busy_blocks(raw)
    for name in ("169482", "277647", "540107", "951658"):
        txs = split_block(blocks[name])[1]
        picked += [txs[0], txs[1], max(txs, key=len), txs[len(txs) // 2], txs[-1]]
    picked.append(bytes.fromhex((raw / "python-bitcoin-blockchain-parser" / "segwit.txt").read_text().strip()))
    assert any(parse_tx(t).segwit for t in picked) and any(not parse_tx(t).segwit for t in picked)
    return picked


def damaged(tx: bytes) -> Iterator[bytes]:
    """Copies of `tx` that a strict reader must refuse, or read identically: truncations (all
    of them for short transactions, 300 for long ones), a trailing byte, overwritten bytes,
    inserted segwit markers and CompactSize markers."""
    step = max(1, len(tx) // 300)
    yield from (tx[:k] for k in range(0, len(tx), step))
    yield tx + b"\x00"
    for pos in range(min(len(tx), 80)):
        for value in {0x00, 0x01, 0xFC, 0xFD, 0xFE, 0xFF, tx[pos] ^ 0x80}:
            yield tx[:pos] + bytes([value]) + tx[pos + 1:]
    for flag in (b"\x00\x01", b"\x00\x02", b"\x00\x00"):
        yield tx[:4] + flag + tx[4:]
    for pos in range(4, min(len(tx), 60)):
        for marker in (b"\xfd\x01\x00", b"\xfe\x01\x00\x00\x00", b"\xff" + bytes(8)):
            yield tx[:pos] + marker + tx[pos + 1:]


def test_real_transactions_read_the_same(samples: list[bytes]) -> None:
    for tx in samples:
        assert fields(tx) == reference_parse(tx)


def test_damaged_transactions_are_accepted_or_refused_alike(samples: list[bytes]) -> None:
    seen = {"ok": 0, "refused": 0}
    messages = set()
    for tx in samples:
        for copy in damaged(tx):
            new, ref = outcome(fields, copy), outcome(reference_parse, copy)
            assert new[0] == ref[0], (copy.hex(), new, ref)
            if new[0] == "ok" or "negative value" not in f"{new[1]}{ref[1]}":  # (now refused at its output)
                assert new == ref, copy.hex()
            seen[new[0]] += 1
            messages.add(str(new[1]).split(":")[1].split(" at byte")[0].strip() if new[0] == "refused" else "")
    assert seen["ok"] > 500 and seen["refused"] > 10_000, seen  # both kinds, many of each
    assert {"truncated", "non-canonical length", "unknown segwit flag 0", "unknown segwit flag 2"} <= messages
    assert any(m.startswith("segwit marker but every witness is empty") for m in messages)
    assert any(m.endswith("trailing bytes") for m in messages), messages
