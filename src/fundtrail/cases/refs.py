"""Finding references: what on chain (or in the case) a finding points at.

A reference is `tx:<txid>`, `output:<txid>:<vout>` or `trace:<T-id>`. The evidence bundle proves
the transactions a fact refers to and its verifier reports a fact *verified* only when every
reference is proven, so references are checked when the finding is recorded: their shape here,
their existence (in the store, on the case's chains; the trace in the case) by the service layer.
"""

from __future__ import annotations

import re

from fundtrail.errors import UsageError

MAX_REFS = 100
_TXID = r"(?:0[xX])?[0-9a-fA-F]{64}"
_TX = re.compile(rf"tx:({_TXID})")
_OUTPUT = re.compile(rf"output:({_TXID}):(\d{{1,9}})")
_TRACE = re.compile(r"trace:(T-[0-9a-f]{8})")


def bad_ref(ref: object, why: str) -> UsageError:
    """The one-line error naming a bad reference (field `refs`)."""
    return UsageError(f"refs: {str(ref)[:160]!r} {why}", field="refs")


def parse(refs: object) -> list[tuple[str, str]]:
    """(kind, value) of each reference, in order and without repeats: kind `tx` (value the txid),
    `output` (`TXID:VOUT`) or `trace` (the id); a UsageError on `refs` naming the first bad one."""
    if refs is None:
        return []
    if not isinstance(refs, (list, tuple)):
        raise UsageError("refs must be a list of tx:TXID, output:TXID:VOUT or trace:T-ID", field="refs")
    if len(refs) > MAX_REFS:
        raise UsageError(f"refs holds {len(refs)} references; at most {MAX_REFS}", field="refs")
    out: list[tuple[str, str]] = []
    for ref in refs:
        text = ref.strip() if isinstance(ref, str) else ""
        if (m := _TX.fullmatch(text)) is not None:
            item = ("tx", m.group(1))
        elif (m := _OUTPUT.fullmatch(text)) is not None:
            item = ("output", f"{m.group(1)}:{int(m.group(2))}")
        elif (m := _TRACE.fullmatch(text)) is not None:
            item = ("trace", m.group(1))
        else:
            raise bad_ref(ref, "is not tx:TXID, output:TXID:VOUT or trace:T-ID")
        if item not in out:
            out.append(item)
    return out


def text(kind: str, value: str) -> str:
    """The stored form of a reference."""
    return f"{kind}:{value}"
