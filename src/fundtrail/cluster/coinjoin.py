"""CoinJoin detection: which transactions are collaborative, by which protocol, how sure.

`detect(view)` returns, per transaction of a `TxView`, the protocol code (0 = not a CoinJoin) and a
confidence in [0, 1]; the clustering engine skips multi-input links of transactions with
`protocol != 0 and confidence >= floor`, because the inputs of a CoinJoin belong to many people.
`explain(view, i)` gives the evidence behind one verdict.

Each protocol is a named rule over the shape its software publishes (docs/heuristics.md has each
rule, its false-positive modes and its sources). The rules are checked from the most specific to
the most generic: Wasabi 2.x, Wasabi 1.x, Whirlpool mix, Whirlpool tx0, JoinMarket, generic
equal-value outputs. Unresolved inputs (value, script unknown) never veto a rule; they only remove
the input-side checks, with a lower confidence.

One numba kernel computes a fixed feature vector per transaction (`F_*` positions) and classifies
it; `explain` reads the same features, so the explanation is the verdict's own arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from fundtrail.cluster.heuristics_evidence import Evidence
from fundtrail.cluster.txview import TxView
from fundtrail.errors import UsageError

NONE, GENERIC, WASABI1, WASABI2, WHIRLPOOL_TX0, WHIRLPOOL_MIX, JOINMARKET = range(7)
#: Protocol codes (permanent, stored) and names (the simulator's truth/coinjoins.csv names).
PROTOCOL_NAMES: dict[int, str] = {
    NONE: "none", GENERIC: "generic", WASABI1: "wasabi1", WASABI2: "wasabi2",
    WHIRLPOOL_TX0: "whirlpool_tx0", WHIRLPOOL_MIX: "whirlpool_mix", JOINMARKET: "joinmarket",
}

COIN = 100_000_000
#: Whirlpool pool denominations (sat): 0.001, 0.01, 0.05, 0.5 BTC.
WHIRLPOOL_POOLS = np.array([100_000, 1_000_000, 5_000_000, 50_000_000], np.int64)
#: Most a premix output (or a premix input of a mix) exceeds its pool: the miner-fee allowance.
WHIRLPOOL_PREMIX_CAP = 110_000
WASABI1_BASE = 10_000_000  # ZeroLink's ~0.1 BTC base denomination
WASABI1_TOLERANCE = 2_000_000
DUST = 2_730  # BlockSci excludes 546/2730-sat equal outputs (dust, protocol markers)


def wasabi2_denominations() -> np.ndarray:
    """Wasabi 2.x standard output denominations (sat), ascending.

    Powers of 2 and of 3, twice the powers of 3, and the 1-2-5 series of powers of 10, from 5,000
    sat to 1,343.75 BTC (the wallet's published minimum and maximum).
    """
    lo, hi = 5_000, 134_375_000_000
    out: set[int] = set()
    for base, mult in ((2, 1), (3, 1), (3, 2), (10, 1), (10, 2), (10, 5)):
        v = mult
        while v <= hi:
            if v >= lo:
                out.add(v)
            v *= base
    return np.array(sorted(out), np.int64)


WASABI2_DENOMS = wasabi2_denominations()

# Feature vector positions (one int64 row per transaction).
(F_NIN, F_NOUT, F_NOPRET, F_MODE_N, F_MODE_V, F_NREPEAT, F_NUNIQUE, F_NDENOM, F_OUT_WPKH,
 F_OUT_SEGWIT1, F_IN_KNOWN, F_IN_WPKH, F_IN_SEGWIT1, F_IN_DISTINCT, F_OUT_DESC, F_IN_DESC,
 F_MAX_OTHER, F_IN_MIN, F_IN_MAX, F_IN_EQ_MODE, F_IN_PREMIX, F_OUT_TYPES, F_POOL, F_FEE_LIKE,
 F_COINBASE, F_FEE) = range(26)
N_FEATURES = 26
FEATURE_NAMES = (
    "inputs", "outputs", "op_return_outputs", "equal_outputs", "equal_value", "repeated_values",
    "unique_value_outputs", "standard_denomination_outputs", "outputs_all_p2wpkh",
    "outputs_all_p2wpkh_or_p2tr", "inputs_known", "inputs_all_p2wpkh", "inputs_all_p2wpkh_or_p2tr",
    "distinct_input_addresses", "outputs_sorted_descending", "inputs_sorted_descending",
    "largest_other_output", "smallest_input", "largest_input", "inputs_equal_to_pool",
    "inputs_in_premix_range", "output_script_types", "pool_denomination", "pool_fee_like_outputs",
    "coinbase", "fee",
)


@nb.njit(cache=True)
def _features(i, is_coinbase, in_ptr, in_address, in_value, in_script, out_ptr, out_value,
              out_script, denoms, pools, premix_cap):  # pragma: no cover - numba
    f = np.zeros(N_FEATURES, np.int64)
    f[F_COINBASE] = 1 if is_coinbase[i] else 0
    a, b = in_ptr[i], in_ptr[i + 1]
    c, d = out_ptr[i], out_ptr[i + 1]
    f[F_NIN] = b - a
    vals = np.empty(d - c, np.int64)
    n = 0
    types = np.zeros(16, np.int64)
    wpkh = 1
    seg1 = 1
    desc = 1
    prev = np.int64(-1)
    for k in range(c, d):
        st = out_script[k]
        if st == 8:  # OP_RETURN carries no coin
            f[F_NOPRET] += 1
            continue
        v = out_value[k]
        vals[n] = v
        n += 1
        types[st & 15] = 1
        if st != 4:
            wpkh = 0
        if st != 4 and st != 6:
            seg1 = 0
        if prev >= 0 and v > prev:
            desc = 0
        prev = v
    f[F_NOUT] = n
    f[F_OUT_WPKH] = wpkh if n > 0 else 0
    f[F_OUT_SEGWIT1] = seg1 if n > 0 else 0
    f[F_OUT_DESC] = desc if n > 1 else 0
    f[F_OUT_TYPES] = types.sum()
    s = np.sort(vals[:n])
    run = 0
    for k in range(n):
        run = run + 1 if k > 0 and s[k] == s[k - 1] else 1
        last = k == n - 1 or s[k + 1] != s[k]
        if last:
            if run >= 2:
                f[F_NREPEAT] += 1
            else:
                f[F_NUNIQUE] += 1
            # ties: the larger value wins (equal outputs are the big ones in every protocol)
            if run >= f[F_MODE_N]:
                f[F_MODE_N] = run
                f[F_MODE_V] = s[k]
        j = np.searchsorted(denoms, s[k])
        if j < denoms.shape[0] and denoms[j] == s[k]:
            f[F_NDENOM] += 1
    if f[F_MODE_N] == 1:  # all values unique: a lone premix (tx0) is the output just above a pool
        for k in range(n):
            for p in pools:
                if p < s[k] <= p + min(premix_cap, p // 2):
                    f[F_MODE_V] = s[k]
    mode_v = f[F_MODE_V]
    for k in range(n):
        if s[k] != mode_v and s[k] > f[F_MAX_OTHER]:
            f[F_MAX_OTHER] = s[k]
    f[F_POOL] = 0
    for p in pools:
        if mode_v >= p and mode_v <= p + min(premix_cap, p // 2):
            f[F_POOL] = p
    if f[F_POOL] > 0:
        for k in range(n):
            if s[k] != mode_v and s[k] <= f[F_POOL] // 20 + 1:
                f[F_FEE_LIKE] += 1
    known = 1
    iw = 1
    is1 = 1
    idesc = 1
    imin = np.int64(-1)
    imax = np.int64(-1)
    prev = np.int64(-1)
    addrs = np.empty(b - a, np.int64)
    unknown_addr = 0
    for k in range(a, b):
        v = in_value[k]
        st = in_script[k]
        if v < 0 or st == 0:
            known = 0
        else:
            if st != 4:
                iw = 0
            if st != 4 and st != 6:
                is1 = 0
        if v >= 0:
            if imin < 0 or v < imin:
                imin = v
            imax = max(imax, v)
            if prev >= 0 and v > prev:
                idesc = 0
            prev = v
            if v == mode_v:
                f[F_IN_EQ_MODE] += 1
            if f[F_POOL] > 0 and v >= f[F_POOL] and v <= f[F_POOL] + premix_cap:
                f[F_IN_PREMIX] += 1
        addrs[k - a] = in_address[k]
        if in_address[k] < 0:
            unknown_addr += 1
    f[F_IN_KNOWN] = known if b > a else 0
    f[F_FEE] = -1
    if known and b > a:
        f[F_FEE] = in_value[a:b].sum() - out_value[c:d].sum()
    f[F_IN_WPKH] = iw if known and b > a else 0
    f[F_IN_SEGWIT1] = is1 if known and b > a else 0
    f[F_IN_DESC] = idesc if known and b - a > 1 else 0
    f[F_IN_MIN] = imin
    f[F_IN_MAX] = imax
    sa = np.sort(addrs)
    distinct = 0
    for k in range(sa.shape[0]):
        if sa[k] >= 0 and (k == 0 or sa[k] != sa[k - 1]):
            distinct += 1
    f[F_IN_DISTINCT] = distinct + unknown_addr  # an unresolved input may be anyone's
    return f


@nb.njit(cache=True)
def _classify(f):  # pragma: no cover - numba
    """(protocol, confidence) of one feature vector; the rules of docs/heuristics.md."""
    nin, nout, m, v = f[F_NIN], f[F_NOUT], f[F_MODE_N], f[F_MODE_V]
    known = f[F_IN_KNOWN] == 1
    if f[F_COINBASE] == 1 or nout < 2 or nin < 1:
        return NONE, 0.0
    # Wasabi 2.x (WabiSabi): many inputs, outputs nearly all standard denominations, segwit v0/v1
    if (nin >= 10 and nout >= 10 and m >= 2 and f[F_OUT_SEGWIT1] == 1
            and (not known or f[F_IN_SEGWIT1] == 1) and f[F_NOPRET] == 0
            and 10 * f[F_NDENOM] >= 8 * nout and f[F_IN_DISTINCT] >= max(5, nin // 2)):
        conf = 0.95 if nin >= 20 else 0.8
        if f[F_OUT_DESC] == 1:
            conf += 0.04  # the coordinator orders outputs by value, descending
        else:
            conf -= 0.1
        if nin >= 50:
            conf = min(conf + 0.02, 0.99)
        return WASABI2, conf
    # Wasabi 1.x (ZeroLink): >= 10 equal outputs near 0.1 BTC, bech32 only, coordinator fee
    if (m >= 10 and abs(v - WASABI1_BASE) <= WASABI1_TOLERANCE and nin >= m
            and f[F_IN_DISTINCT] >= m and f[F_OUT_WPKH] == 1 and (not known or f[F_IN_WPKH] == 1)):
        conf = 0.97 if f[F_NUNIQUE] >= 2 else 0.85  # coordinator fee + a change output
        return WASABI1, conf if known else conf - 0.02
    # Whirlpool mix: 5 (up to 10) inputs, as many outputs, all at one pool denomination
    pool = f[F_POOL]
    if (pool > 0 and v == pool and m == nout and nin == nout and 5 <= nout <= 10
            and f[F_OUT_WPKH] == 1 and f[F_NOPRET] == 0):
        if not known:
            return WHIRLPOOL_MIX, 0.95
        if f[F_IN_PREMIX] == nin:
            return WHIRLPOOL_MIX, 0.99 if f[F_IN_EQ_MODE] >= 1 else 0.97
    # Whirlpool tx0: premix outputs a little above a pool, the pool fee, OP_RETURN, change
    if (pool > 0 and v > pool and f[F_NOPRET] == 1 and nout >= m + 1
            and nout - m <= 3 and f[F_OUT_WPKH] == 1):
        fee = f[F_FEE_LIKE] >= 1
        if m >= 2:
            return WHIRLPOOL_TX0, 0.95 if fee else 0.85
        if fee:
            return WHIRLPOOL_TX0, 0.75
    # JoinMarket: n >= 3 equal outputs plus at most n change outputs, one repeated value
    if (m >= 3 and v > DUST and f[F_NREPEAT] == 1 and m <= nout <= 2 * m and nin >= m
            and f[F_IN_DISTINCT] >= m and f[F_NOPRET] == 0):
        # a participant takes back its equal output and its change, plus at most the fees the
        # taker pays (the miner fee, counted up to 0.01 BTC, and the makers' fees, allowed up to
        # 1 % of v per maker)
        bound = v + f[F_MAX_OTHER] + min(max(f[F_FEE], 0), 1_000_000) + (v * (m - 1)) // 100 + 10_000
        fits = not known or f[F_IN_MAX] <= bound
        if fits:
            conf = 0.9 if f[F_OUT_TYPES] == 1 else 0.75
            # unresolved inputs: neither the participants' distinct coins nor the input bound checked
            return JOINMARKET, conf if known else conf - 0.3
    # generic equal-value CoinJoin (BlockSci): most common value paid (outputs + 1) / 2 times
    part = (nout + 1) // 2
    if (nin >= 2 and nout >= 3 and m == part and part <= nin and part <= f[F_IN_DISTINCT]
            and v > DUST and f[F_NOPRET] == 0):
        if m >= 5:
            return GENERIC, 0.75
        if m >= 3:
            return GENERIC, 0.6
        return GENERIC, 0.3  # two equal outputs: a payment to two people looks the same
    return NONE, 0.0


@nb.njit(cache=True)
def _detect(is_coinbase, in_ptr, in_address, in_value, in_script, out_ptr, out_value, out_script,
            denoms, pools, premix_cap):  # pragma: no cover - numba
    t = is_coinbase.shape[0]
    proto = np.zeros(t, np.uint8)
    conf = np.zeros(t, np.float32)
    for i in range(t):
        f = _features(i, is_coinbase, in_ptr, in_address, in_value, in_script, out_ptr,
                      out_value, out_script, denoms, pools, premix_cap)
        p, c = _classify(f)
        proto[i] = p
        conf[i] = c
    return proto, conf


@dataclass(frozen=True)
class CoinJoinResult:
    """Per transaction of the view: `protocol` (uint8 code) and `confidence` (float32)."""

    protocol: np.ndarray
    confidence: np.ndarray


def _args(view: TxView) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                 np.ndarray]:
    return (np.ascontiguousarray(view.is_coinbase, np.bool_), view.in_ptr.astype(np.int64),
            view.in_address.astype(np.int64), view.in_value.astype(np.int64),
            view.in_script.astype(np.int64), view.out_ptr.astype(np.int64),
            view.out_value.astype(np.int64), view.out_script.astype(np.int64))


def detect(view: TxView) -> CoinJoinResult:
    """Classify every transaction of `view`: protocol code (0 none) and confidence."""
    if len(view) == 0:
        return CoinJoinResult(np.zeros(0, np.uint8), np.zeros(0, np.float32))
    proto, conf = _detect(*_args(view), WASABI2_DENOMS, WHIRLPOOL_POOLS, WHIRLPOOL_PREMIX_CAP)
    return CoinJoinResult(proto, conf)


def checked_row(view: TxView, i: int) -> int:
    """`i` as a row of the view, or a one-line UsageError (numba kernels do not bounds-check)."""
    if not 0 <= int(i) < len(view):
        raise UsageError(f"transaction index {i} is outside the view (0..{len(view) - 1})")
    return int(i)


def features(view: TxView, i: int) -> dict[str, int]:
    """The named features the rules read for transaction `i` of the view (for review and tests)."""
    i = checked_row(view, i)
    f = _features(i, *_args(view), WASABI2_DENOMS, WHIRLPOOL_POOLS, WHIRLPOOL_PREMIX_CAP)
    return {name: int(x) for name, x in zip(FEATURE_NAMES, f)}


def explain(view: TxView, i: int) -> list[Evidence]:
    """Evidence for the CoinJoin verdict on transaction `i` of the view (empty: not a CoinJoin)."""
    i = checked_row(view, i)
    f = _features(i, *_args(view), WASABI2_DENOMS, WHIRLPOOL_POOLS, WHIRLPOOL_PREMIX_CAP)
    proto, conf = _classify(f)
    if proto == NONE:
        return []
    named = {name: int(x) for name, x in zip(FEATURE_NAMES, f)}
    keep = ("inputs", "outputs", "equal_outputs", "equal_value", "op_return_outputs",
            "inputs_known", "distinct_input_addresses")
    details = {k: named[k] for k in keep}
    if proto == WASABI2:
        details.update({k: named[k] for k in ("standard_denomination_outputs",
                                              "outputs_sorted_descending")})
    elif proto in (WHIRLPOOL_MIX, WHIRLPOOL_TX0):
        details.update({k: named[k] for k in ("pool_denomination", "inputs_in_premix_range",
                                              "pool_fee_like_outputs")})
    elif proto in (WASABI1, JOINMARKET):
        details.update({k: named[k] for k in ("unique_value_outputs", "output_script_types")})
    return [Evidence(PROTOCOL_NAMES[int(proto)], float(conf), int(view.tx_id[i]), details)]
