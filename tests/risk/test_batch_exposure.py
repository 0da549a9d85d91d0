"""The batched exposure paths equal the per-row ones they replace, bit for bit: rows made in one
vectorised pass (`AddressExposure.rows`) equal `row(i)`, and many clusters summed in one pass
(`segments`) equal each cluster's `total()`; `text_tags` skips only texts that cannot have a tag."""

from __future__ import annotations

import numpy as np

from fundtrail.risk.exposure import AddressExposure
from fundtrail.risk.tagsonly import _may_have

CATS = ("sanction", "scam", "exchange")


def _exposure(n: int, seed: int) -> AddressExposure:
    rng = np.random.default_rng(seed)

    def amounts() -> np.ndarray:
        arr = rng.random((n, len(CATS))) * rng.choice([0.0, 0.4, 1.0, 1e3, 1e9], size=(n, len(CATS)))
        return arr.astype(np.float64)

    received = rng.integers(0, 10**12, n) * (rng.random(n) > 0.2)  # some 0: share 0, not a division
    sent = rng.integers(0, 10**12, n)
    return AddressExposure(CATS, received, sent, amounts(), amounts(), amounts(), amounts())


def test_rows_equal_row_for_big_and_small_batches() -> None:
    for n in (1, 5, 16, 17, 500):
        exp = _exposure(n, n)
        assert list(exp.rows()) == [exp.row(i) for i in range(n)]


def test_segments_equal_totals_of_their_rows() -> None:
    exp = _exposure(1000, 7)
    bounds = np.array([0, 2, 3, 40, 41, 300, 1000])
    starts, ends = bounds[:-1], bounds[1:]
    summed = list(exp.segments(starts, ends).rows())
    for (lo, hi), got in zip(zip(starts, ends), summed):
        part = AddressExposure(CATS, exp.received[lo:hi], exp.sent[lo:hi], exp.direct_in[lo:hi],
                               exp.direct_out[lo:hi], exp.indirect_in[lo:hi], exp.indirect_out[lo:hi])
        assert got == part.total().row(0)


def test_text_tags_skip_only_keys_tagged_in_the_chains_own_currency() -> None:
    tagged = {"bcrt1own": frozenset({"BTC-REGTEST"}), "bcrt1both": frozenset({"BTC-REGTEST", "BCH"}),
              "bcrt1none": frozenset({None})}
    assert not _may_have(tagged, "bcrt1own", True, "BTC-REGTEST")  # from the chain's tag map
    assert _may_have(tagged, "bcrt1own", False, "BTC-REGTEST")  # no activity: every currency's tags
    assert _may_have(tagged, "bcrt1both", True, "BTC-REGTEST")
    assert _may_have(tagged, "bcrt1none", True, "BTC-REGTEST")  # a tag without a currency counts
    assert not _may_have(tagged, "bcrt1untagged", False, "BTC-REGTEST")
    assert _may_have(None, "bcrt1untagged", True, "BTC-REGTEST")  # no set held: ask the catalog
    assert _may_have(frozenset({"bcrt1own"}), "bcrt1own", True, "BTC-REGTEST")  # keys only: as before
