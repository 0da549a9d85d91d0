"""RLP (Recursive Length Prefix), the serialization Ethereum hashes, read strictly and written.

An item is a byte string or a list of items (Yellow Paper appendix B). The first byte says which:
  0x00-0x7f  a single byte, itself;
  0x80-0xb7  a string of 0-55 bytes follows;       0xb8-0xbf  a length of 1-8 bytes, then the string;
  0xc0-0xf7  a list whose items take 0-55 bytes;    0xf8-0xff  a length of 1-8 bytes, then the items.
Decoding is strict, as Ethereum clients are: an encoding that is not the shortest possible (a single
byte below 0x80 written as a string, a long form for a short length, a length with leading zeros)
is refused, so each item has exactly one encoding and a hash commits to one reading of it.
Integers are big-endian byte strings without leading zeros (0 is the empty string).
"""

from __future__ import annotations

from typing import TypeAlias

from .bitcoin import VerifyError

Item: TypeAlias = "bytes | list[Item]"
# Headers, transactions, receipts and trie nodes nest lists 4 deep at most; a deeper input is
# refused rather than allowed to exhaust Python's recursion limit.
MAX_DEPTH = 32


def _read_length(raw: bytes, at: int, size: int, limit: int, what: str) -> int:
    """The `size`-byte length at `at` (long forms); leading zeros and short lengths are refused."""
    if at + size > limit:
        raise VerifyError(f"{what}: truncated at byte {at}: a {size}-byte length does not fit")
    if raw[at] == 0:
        raise VerifyError(f"{what}: non-canonical RLP at byte {at - 1}: length with a leading zero")
    n = int.from_bytes(raw[at:at + size], "big")
    if n < 56:
        raise VerifyError(f"{what}: non-canonical RLP at byte {at - 1}: long form for length {n}")
    return n


def _item(raw: bytes, at: int, limit: int, what: str, depth: int = 0) -> tuple[Item, int]:
    """The item starting at `at`, ending by `limit` (its enclosing list's end), and the offset
    just after it."""
    if depth > MAX_DEPTH:
        raise VerifyError(f"{what}: lists nested more than {MAX_DEPTH} deep at byte {at}")
    if at >= limit:
        raise VerifyError(f"{what}: truncated at byte {at}: an RLP item is missing")
    first = raw[at]
    if first < 0x80:
        return raw[at:at + 1], at + 1
    if first < 0xC0:
        if first <= 0xB7:
            start, n = at + 1, first - 0x80
        else:
            start, n = at + 1 + first - 0xB7, _read_length(raw, at + 1, first - 0xB7, limit, what)
        end = start + n
        if end > limit:
            raise VerifyError(f"{what}: truncated at byte {at}: string of {n} bytes, "
                              f"{max(limit - start, 0)} left")
        if n == 1 and raw[start] < 0x80:
            raise VerifyError(f"{what}: non-canonical RLP at byte {at}: byte {raw[start]:#04x} "
                              "written as a string")
        return raw[start:end], end
    if first <= 0xF7:
        start, n = at + 1, first - 0xC0
    else:
        start, n = at + 1 + first - 0xF7, _read_length(raw, at + 1, first - 0xF7, limit, what)
    end = start + n
    if end > limit:
        raise VerifyError(f"{what}: truncated at byte {at}: list of {n} bytes, "
                          f"{max(limit - start, 0)} left")
    items: list[Item] = []
    pos = start
    while pos < end:
        item, pos = _item(raw, pos, end, what, depth + 1)
        items.append(item)
    return items, end


def decode(raw: bytes, what: str = "RLP") -> Item:
    """Exactly one item filling `raw`; anything malformed, non-canonical or trailing is an error
    naming `what` and the byte offset."""
    raw = bytes(raw)
    item, end = _item(raw, 0, len(raw), what)
    if end != len(raw):
        raise VerifyError(f"{what}: {len(raw) - end} trailing bytes at byte {end}")
    return item


def int_bytes(n: int) -> bytes:
    """A non-negative integer as RLP holds it: big-endian, no leading zero bytes (0 is empty)."""
    if n < 0:
        raise VerifyError(f"RLP cannot encode a negative integer: {n}")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def encode(item: Item | int) -> bytes:
    """The RLP of `item`; an int is written as `int_bytes`."""
    if isinstance(item, int):
        item = int_bytes(item)
    if isinstance(item, (bytes, bytearray)):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _prefix(len(data), 0x80) + data
    payload = b"".join(encode(x) for x in item)
    return _prefix(len(payload), 0xC0) + payload


def _prefix(n: int, offset: int) -> bytes:
    if n < 56:
        return bytes([offset + n])
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


# -- reading decoded items as fields -------------------------------------------------------------

def as_list(item: Item, what: str) -> list[Item]:
    """`item` when it is a list, else an error naming `what`."""
    if not isinstance(item, list):
        raise VerifyError(f"{what}: expected an RLP list, found a string")
    return item


def as_bytes(item: Item, what: str, size: int | None = None) -> bytes:
    """`item` when it is a string (of exactly `size` bytes if given), else an error naming `what`."""
    if not isinstance(item, bytes):
        raise VerifyError(f"{what}: expected an RLP string, found a list")
    if size is not None and len(item) != size:
        raise VerifyError(f"{what}: {len(item)} bytes, expected {size}")
    return item


def as_int(item: Item, what: str) -> int:
    """`item` read as a non-negative integer; leading zero bytes are refused (not canonical)."""
    data = as_bytes(item, what)
    if data[:1] == b"\x00":
        raise VerifyError(f"{what}: integer with a leading zero byte (not canonical)")
    return int.from_bytes(data, "big")
