"""The change-output heuristics, one numba kernel each, over a `TxView`.

Each rule answers, for the transactions it is asked about (`idx`, indices into the view), which
output it believes is the change (a global output index of the view, -1 for no opinion) and how
confident it is. A rule abstains whenever its premise cannot be checked (unresolved inputs, a
single output, a coinbase, a spender outside the view); abstaining is never a vote. The rules and
their false-positive modes are in docs/heuristics.md; `change.consensus` combines them.

Only outputs that can hold coins count: an output with an address and not OP_RETURN.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from fundtrail.cluster.txview import TxView

#: Confidence of a lone vote of each rule (from the published precision of each rule family).
CONF_SELF_CHANGE = 0.9
CONF_ONE_TIME = 0.7
CONF_SCRIPT_TYPE = 0.7
CONF_OPTIMAL = 0.7
CONF_ROUND = 0.6
CONF_FINGERPRINT = 0.55  # a match shows the same wallet software, which strangers share too
CONF_PEEL_FORWARD = 0.75  # the larger output is spent by the next peel step
CONF_PEEL_BACK = 0.6  # only: the coin came from a peel step (a user may now pay most of it away)
CONF_PEEL_BOTH = 0.85
#: A payment amount is "round" when it is a whole multiple of this many satoshi (0.0001 BTC).
ROUND_UNIT = 10_000
#: In a peel step the remainder is at least this many times the slice paid out.
PEEL_RATIO = 3
OP_RETURN = 8


@nb.njit(cache=True, inline="always")
def _coin(out_address, out_script, k):  # pragma: no cover - numba
    return out_address[k] >= 0 and out_script[k] != OP_RETURN


@nb.njit(cache=True)
def _n_coins(out_address, out_script, c, d):  # pragma: no cover - numba
    n = 0
    for k in range(c, d):
        if _coin(out_address, out_script, k):
            n += 1
    return n


@nb.njit(cache=True)
def address_reuse(idx, tx_id, is_coinbase, in_ptr, in_address, out_ptr, out_address, out_script,
                  out_first):  # pragma: no cover - numba
    """Self-change (an output back to an input address) or the only fresh output (one-time change)."""
    cand = np.full(idx.shape[0], -1, np.int64)
    conf = np.zeros(idx.shape[0], np.float32)
    for r in range(idx.shape[0]):
        i = idx[r]
        c, d = out_ptr[i], out_ptr[i + 1]
        if is_coinbase[i] or _n_coins(out_address, out_script, c, d) < 2:
            continue
        self_n, self_k, fresh_n, fresh_k, old_n = 0, -1, 0, -1, 0
        for k in range(c, d):
            if not _coin(out_address, out_script, k):
                continue
            for j in range(in_ptr[i], in_ptr[i + 1]):
                if in_address[j] == out_address[k]:
                    self_n += 1
                    self_k = k
                    break
            if out_first[k] == tx_id[i]:
                fresh_n += 1
                fresh_k = k
            elif 0 <= out_first[k] < tx_id[i]:
                old_n += 1
        n = _n_coins(out_address, out_script, c, d)
        if self_n == 1:
            cand[r], conf[r] = self_k, CONF_SELF_CHANGE
        elif self_n == 0 and fresh_n == 1 and old_n == n - 1:
            cand[r], conf[r] = fresh_k, CONF_ONE_TIME
    return cand, conf


@nb.njit(cache=True)
def script_type(idx, is_coinbase, in_ptr, in_script, out_ptr, out_address, out_script
                ):  # pragma: no cover - numba
    """The only output whose script type equals the (single, known) script type of all inputs."""
    cand = np.full(idx.shape[0], -1, np.int64)
    conf = np.zeros(idx.shape[0], np.float32)
    for r in range(idx.shape[0]):
        i = idx[r]
        a, b = in_ptr[i], in_ptr[i + 1]
        c, d = out_ptr[i], out_ptr[i + 1]
        if is_coinbase[i] or b == a or _n_coins(out_address, out_script, c, d) < 2:
            continue
        st = in_script[a]
        same = st != 0
        for j in range(a, b):
            if in_script[j] != st:
                same = False
        if not same:
            continue
        match_n, match_k = 0, -1
        for k in range(c, d):
            if _coin(out_address, out_script, k) and out_script[k] == st:
                match_n += 1
                match_k = k
        if match_n == 1:
            cand[r], conf[r] = match_k, CONF_SCRIPT_TYPE
    return cand, conf


@nb.njit(cache=True)
def optimal_change(idx, is_coinbase, in_ptr, in_value, out_ptr, out_address, out_script, out_value
                   ):  # pragma: no cover - numba
    """The only output smaller than every input (else the wallet would have spent fewer inputs)."""
    cand = np.full(idx.shape[0], -1, np.int64)
    conf = np.zeros(idx.shape[0], np.float32)
    for r in range(idx.shape[0]):
        i = idx[r]
        a, b = in_ptr[i], in_ptr[i + 1]
        c, d = out_ptr[i], out_ptr[i + 1]
        if is_coinbase[i] or b - a < 2 or _n_coins(out_address, out_script, c, d) < 2:
            continue
        lo = in_value[a]
        for j in range(a, b):
            if in_value[j] < 0:
                lo = -1
                break
            lo = min(lo, in_value[j])
        if lo < 0:
            continue
        small_n, small_k = 0, -1
        for k in range(c, d):
            if _coin(out_address, out_script, k) and out_value[k] < lo:
                small_n += 1
                small_k = k
        if small_n == 1:
            cand[r], conf[r] = small_k, CONF_OPTIMAL
    return cand, conf


@nb.njit(cache=True)
def round_payment(idx, is_coinbase, out_ptr, out_address, out_script, out_value
                  ):  # pragma: no cover - numba
    """The only non-round output when the others are round amounts (payments are typed round)."""
    cand = np.full(idx.shape[0], -1, np.int64)
    conf = np.zeros(idx.shape[0], np.float32)
    for r in range(idx.shape[0]):
        i = idx[r]
        c, d = out_ptr[i], out_ptr[i + 1]
        n = _n_coins(out_address, out_script, c, d)
        if is_coinbase[i] or n < 2:
            continue
        odd_n, odd_k = 0, -1
        for k in range(c, d):
            if _coin(out_address, out_script, k) and (out_value[k] <= 0 or out_value[k] % ROUND_UNIT):
                odd_n += 1
                odd_k = k
        if odd_n == 1:
            cand[r], conf[r] = odd_k, CONF_ROUND
    return cand, conf


@nb.njit(cache=True)
def _fingerprint(i, version, locktime, in_ptr, in_sequence):  # pragma: no cover - numba
    seq = 0  # 0: all final, 1: 0xfffffffe (locktime enabled), 2: BIP125 replaceable
    for j in range(in_ptr[i], in_ptr[i + 1]):
        s = in_sequence[j]
        if s < 0xFFFFFFFE:
            seq = 2
        elif s == 0xFFFFFFFE and seq < 1:
            seq = 1
    return version[i] * 8 + (4 if locktime[i] > 0 else 0) + seq


@nb.njit(cache=True)
def fingerprint(idx, tx_id, is_coinbase, version, locktime, in_ptr, in_sequence, out_ptr,
                out_address, out_script, out_spent_by):  # pragma: no cover - numba
    """The only output spent by a transaction with the same wallet fingerprint as this one."""
    cand = np.full(idx.shape[0], -1, np.int64)
    conf = np.zeros(idx.shape[0], np.float32)
    t = tx_id.shape[0]
    for r in range(idx.shape[0]):
        i = idx[r]
        c, d = out_ptr[i], out_ptr[i + 1]
        if is_coinbase[i] or _n_coins(out_address, out_script, c, d) < 2:
            continue
        mine = _fingerprint(i, version, locktime, in_ptr, in_sequence)
        match_n, match_k, other_n = 0, -1, 0
        for k in range(c, d):
            s = out_spent_by[k]
            if not _coin(out_address, out_script, k) or s < 0:
                continue
            j = np.searchsorted(tx_id, s)
            if j >= t or tx_id[j] != s:
                continue  # spent outside the view: no fingerprint to compare
            if _fingerprint(j, version, locktime, in_ptr, in_sequence) == mine:
                match_n += 1
                match_k = k
            else:
                other_n += 1
        if match_n == 1 and other_n >= 1:
            cand[r], conf[r] = match_k, CONF_FINGERPRINT
    return cand, conf


@nb.njit(cache=True)
def _peel_shape(i, in_ptr, out_ptr, out_address, out_script, out_value):  # pragma: no cover
    """The larger output if tx i is a peel step (1 input, 2 coin outputs, lopsided), else -1."""
    if in_ptr[i + 1] - in_ptr[i] != 1:
        return -1
    c, d = out_ptr[i], out_ptr[i + 1]
    big, small, n = -1, -1, 0
    for k in range(c, d):
        if not _coin(out_address, out_script, k):
            continue
        n += 1
        if big < 0 or out_value[k] > out_value[big]:
            small = big
            big = k
        else:
            small = k
    if n != 2 or out_value[big] < PEEL_RATIO * out_value[small]:
        return -1
    return big


@nb.njit(cache=True)
def peel_chain(idx, tx_id, is_coinbase, in_ptr, in_prev_output, out_ptr, out_id, out_address,
               out_script, out_value, out_spent_by):  # pragma: no cover - numba
    """In a chain of 1-in/2-out steps the larger output continues: it is the change."""
    cand = np.full(idx.shape[0], -1, np.int64)
    conf = np.zeros(idx.shape[0], np.float32)
    t = tx_id.shape[0]
    for r in range(idx.shape[0]):
        i = idx[r]
        if is_coinbase[i]:
            continue
        big = _peel_shape(i, in_ptr, out_ptr, out_address, out_script, out_value)
        if big < 0:
            continue
        back = False
        prev = in_prev_output[in_ptr[i]]
        if prev >= 0:
            k = np.searchsorted(out_id, prev)
            if k < out_id.shape[0] and out_id[k] == prev:
                p = np.searchsorted(out_ptr, k, side="right") - 1
                back = not is_coinbase[p] and _peel_shape(
                    p, in_ptr, out_ptr, out_address, out_script, out_value) == k
        fwd = False
        s = out_spent_by[big]
        if s >= 0:
            j = np.searchsorted(tx_id, s)
            if j < t and tx_id[j] == s:
                fwd = _peel_shape(j, in_ptr, out_ptr, out_address, out_script, out_value) >= 0
        if back and fwd:
            cand[r], conf[r] = big, CONF_PEEL_BOTH
        elif fwd:
            cand[r], conf[r] = big, CONF_PEEL_FORWARD
        elif back:
            cand[r], conf[r] = big, CONF_PEEL_BACK
    return cand, conf


def run_all(view: TxView, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every rule on the transactions `idx`: candidates and confidences, shape (rules, len(idx)).

    Row order is `change.HEURISTIC_NAMES`: address_reuse, script_type, optimal_change,
    round_payment, fingerprint, peel_chain.
    """
    v = view
    idx = np.ascontiguousarray(idx, np.int64)
    i64 = np.int64
    tx_id, cb = v.tx_id.astype(i64), np.ascontiguousarray(v.is_coinbase, np.bool_)
    in_ptr, out_ptr = v.in_ptr.astype(i64), v.out_ptr.astype(i64)
    oa, os_, ov = v.out_address.astype(i64), v.out_script.astype(i64), v.out_value.astype(i64)
    results = (
        address_reuse(idx, tx_id, cb, in_ptr, v.in_address.astype(i64), out_ptr, oa, os_,
                      v.out_addr_first_tx.astype(i64)),
        script_type(idx, cb, in_ptr, v.in_script.astype(i64), out_ptr, oa, os_),
        optimal_change(idx, cb, in_ptr, v.in_value.astype(i64), out_ptr, oa, os_, ov),
        round_payment(idx, cb, out_ptr, oa, os_, ov),
        fingerprint(idx, tx_id, cb, v.version.astype(i64), v.locktime.astype(i64), in_ptr,
                    v.in_sequence.astype(i64), out_ptr, oa, os_, v.out_spent_by.astype(i64)),
        peel_chain(idx, tx_id, cb, in_ptr, v.in_prev_output.astype(i64), out_ptr,
                   v.out_id.astype(i64), oa, os_, ov, v.out_spent_by.astype(i64)),
    )
    cand = np.stack([r[0] for r in results])
    conf = np.stack([r[1] for r in results])
    return cand, conf
