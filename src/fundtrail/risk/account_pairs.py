"""The (address, asset) pair index of the account exposure index, built within a memory budget.

Every (address, asset) pair that moves value is one row of the exposure index, in the order of its
key `address * n_assets + asset_idx` (by address id, then asset; `asset_idx` ranks the event's asset
among the distinct `ev_asset` values). One `np.unique` over the 2 x events keys would hold ~40
bytes per event at once (full Ethereum: ~10 billion events), so the keys are taken in passes over
consecutive key ranges, each a scan of the events a chunk at a time:

- a scan collects the distinct keys of its range; when they outgrow a pass's share of the budget
  the range's end is moved down to keep half of them, so a pass holds about that many keys however
  the pairs are spread over the address ids (a pass ends where its keys fit, not at a fixed id);
- the same scan numbers the events of the range before, now complete: the key's rank in the
  range's keys plus the number of pairs before the range, the index the whole-array `np.unique`
  gives. The rank is a binary search among the keys of the key's address, whose start a table per
  address id of the range gives (one cache miss per event instead of a search over all the keys:
  `np.searchsorted` made this stage several times slower than the passes themselves).

Without a limit it is one range and one chunk (two scans: collect, then number). Per-event and
per-pair arrays go through the stage's `Spill`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np

from fundtrail.store.spill import Spill, plain
from fundtrail.trace.graph_build import copy_chunked

#: Bytes of temporaries per event of a chunk (its two keys collected, sorted, deduplicated).
EVENT_ROW_BYTES = 64
#: Bytes per key a pass holds (collected, merged and sorted; the previous range's and its table).
KEY_ROW_BYTES = 96
_END = np.iinfo(np.int64).max


@dataclass
class PairIndex:
    """The pairs in key order and, per event, the sender's and receiver's pair (-1: none)."""

    pair_key: np.ndarray
    assets: np.ndarray  # the distinct ev_asset values, sorted (-1 = the native asset)
    send_pair: np.ndarray
    recv_pair: np.ndarray
    passes: int  # key ranges (each one more scan of the events)


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: `np.unique` by a sort (numpy's SIMD sort of int64 is several
    times faster than the hash table `np.unique` uses)."""
    s = np.sort(values)
    if s.shape[0] < 2:
        return s
    keep = np.empty(s.shape[0], np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def asset_values(ev_asset: np.ndarray, rows: int) -> np.ndarray:
    """The distinct `ev_asset` values, sorted (as `np.unique` of the whole column), a chunk at a time."""
    found = np.zeros(0, np.int64)
    for lo in range(0, ev_asset.shape[0], rows):
        found = distinct(np.concatenate([found, np.asarray(ev_asset[lo:lo + rows], np.int64)]))
    return found


@nb.njit(cache=True, nogil=True)
def _scan(ev_from, ev_to, ev_asset, assets, lo, hi, send_pair, recv_pair, keys, first, alo, start, end, offset,
          c_start, c_end, collected):
    """Events lo:hi, both sides: a key in [start, end) (a complete range, `keys` sorted) numbers its
    side's pair `offset` + its rank in `keys`, found between first[a - alo] and first[a - alo + 1]
    (the keys of its address a) or, without `first`, in all of them; a key in [c_start, c_end) is
    appended to `collected`. Returns how many were."""
    n_assets = max(assets.shape[0], 1)
    m = 0
    for e in range(lo, hi):
        idx = np.searchsorted(assets, ev_asset[e])
        for side in range(2):
            addr = ev_from[e] if side == 0 else ev_to[e]
            if addr < 0:
                continue
            key = addr * n_assets + idx
            if start <= key < end:
                if first.shape[0]:
                    b, t = first[addr - alo], first[addr - alo + 1]
                else:
                    b, t = 0, keys.shape[0]
                while t - b > 1:
                    mid = (b + t) >> 1
                    if keys[mid] <= key:
                        b = mid
                    else:
                        t = mid
                if side == 0:
                    send_pair[e] = offset + b
                else:
                    recv_pair[e] = offset + b
            if c_start <= key < c_end:
                collected[m] = key
                m += 1
    return m


class _Range:
    """A key range [lo, end): while collected, its distinct keys so far, `end` moved down to keep at
    most `cap` of them (half of them when cut); once complete, the table to number its events by."""

    def __init__(self, lo: int, cap: int) -> None:
        self.lo, self.end, self.cap = lo, _END, cap
        self.keys = np.zeros(0, np.int64)
        self.first, self.alo = np.zeros(0, np.int64), 0
        self._pending: list[np.ndarray] = []
        self._n = 0

    def add(self, keys: np.ndarray) -> None:
        got = distinct(keys)
        self._pending.append(got)
        self._n += got.shape[0]
        if self._n > self.cap:
            self.merge()

    def merge(self) -> None:
        if self._pending:
            keys = distinct(np.concatenate([self.keys, *self._pending]))
            self._pending, self._n = [], 0
            if keys.shape[0] > self.cap:
                keep = max(1, self.cap // 2)
                self.end = int(keys[keep])
                keys = keys[:keep]
            self.keys = keys

    def complete(self, n_assets: int) -> None:
        """Make the table of where each address's keys start (unless the range's address ids are
        far sparser than its keys: then a binary search over all of them)."""
        self.merge()
        if self.keys.shape[0]:
            self.alo = int(self.keys[0]) // n_assets
            span = int(self.keys[-1]) // n_assets - self.alo + 1
            if span <= 2 * self.keys.shape[0]:
                self.first = np.searchsorted(self.keys, (self.alo + np.arange(span + 1, dtype=np.int64)) * n_assets)


def pair_index(ev_from: np.ndarray, ev_to: np.ndarray, ev_asset: np.ndarray, sp: Spill,
               pair_key_path: Path | None) -> PairIndex:
    """The pair index of the events (module docstring); `pair_key` spilled in place at `pair_key_path`."""
    n = int(ev_from.shape[0])
    rows = sp.rows(EVENT_ROW_BYTES)
    cap = sp.rows(KEY_ROW_BYTES, share=4)
    assets = asset_values(ev_asset, rows)
    n_assets = max(int(assets.shape[0]), 1)
    send_pair = sp.array("send_pair", n, np.int64, -1)
    recv_pair = sp.array("recv_pair", n, np.int64, -1)
    parts: list[np.ndarray] = []  # the keys of each range, in order
    done = 0  # pairs in the ranges before the one numbered
    idle = _Range(0, cap)
    idle.end = 0  # the empty range: nothing to number, or to collect
    prev, cur = idle, _Range(0, cap)  # numbered by this scan (complete), collected by it
    collected = np.empty(2 * min(rows, n), np.int64)
    args = plain(ev_from), plain(ev_to), plain(ev_asset), assets
    pairs = plain(send_pair), plain(recv_pair)
    while prev is not idle or cur is not idle:
        for lo in range(0, n, rows):
            got = _scan(*args, lo, min(lo + rows, n), *pairs, prev.keys, prev.first, prev.alo, prev.lo, prev.end,
                        done, cur.lo, cur.end, collected)
            if cur is not idle:
                cur.add(collected[:got])
        done += int(prev.keys.shape[0])
        if cur is not idle:
            cur.complete(n_assets)
            part = sp.array("pair_keys", cur.keys.shape[0], np.int64)
            part[:] = cur.keys
            parts.append(part)
        prev, cur = cur, (_Range(cur.end, cap) if cur is not idle and cur.end != _END else idle)
    pair_key = sp.array("pair_key", done, np.int64, path=pair_key_path)
    at = 0
    for part in parts:
        copy_chunked(pair_key[at:], part, rows)
        at += part.shape[0]
        sp.release(part)
    return PairIndex(pair_key, assets, send_pair, recv_pair, len(parts))
