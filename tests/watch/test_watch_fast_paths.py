"""The evaluator's fast paths give what the general code they stand in for gives (narrow unit
tests: each fast path against the function it replaces, on real or exhaustive inputs).

- `services.fingerprint_of` (address fingerprints without rendering the canonical text) against
  `chains.resolve.parse_utxo_address`, on the real mainnet ransomware addresses of ../shared/data
  (P2PKH, P2SH, P2WPKH, P2WSH) and on malformed text;
- `frontier.encode_state` (formatted directly) against the json.dumps form it replaced;
- `frontier.grid_amount_text` against `exact_amount(Haircut().amount(state))`;
- `batch.member` / `with_keys` against `np.isin` / `np.union1d`.
"""

from __future__ import annotations

import csv
import json
import os
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fundtrail.chains.resolve import parse_utxo_address
from fundtrail.errors import UsageError
from fundtrail.trace.policies import Haircut
from fundtrail.watch.batch import member, sorted_keys, with_keys
from fundtrail.watch.frontier import decode_state, encode_state, exact_amount, grid_amount_text
from fundtrail.watch.services import fingerprint_of

DATA = Path(os.environ.get("FUNDTRAIL_TESTDATA") or Path(__file__).resolve().parents[2].parent / "shared" / "data")
RECEIPTS = DATA / "ransomware" / "showing-the-receipts" / "addresses.csv"


@pytest.mark.skipif(not RECEIPTS.is_file(), reason="no ../shared/data")
def test_fingerprints_equal_the_resolvers_on_real_addresses() -> None:
    with open(RECEIPTS, newline="") as fh:
        addresses = [r["address"] for r in csv.DictReader(fh)]
    kinds = {a[:1] if not a.startswith("bc1") else a[:4] + str(len(a) > 50) for a in addresses}
    assert {"1", "3", "bc1qFalse", "bc1qTrue"} <= kinds and len(addresses) > 900  # every common form
    for a in addresses:
        parsed = parse_utxo_address(a, "mainnet")
        assert fingerprint_of(a, "mainnet") == (parsed.fp1, parsed.fp2), a
        assert fingerprint_of(f"  {a}\n", "mainnet") == (parsed.fp1, parsed.fp2)  # as the resolver strips
    for bad in ("", "   ", "1BoatSLRHtKNngkdXEeobR76b53LETtpyX", addresses[0][:-1] + "x", "bcrt1qexample"):
        with pytest.raises(UsageError):
            parse_utxo_address(bad, "mainnet")
        with pytest.raises(UsageError):
            fingerprint_of(bad, "mainnet")


def _reference_state(state: Any, spent: int | None, spent_tx: str | None) -> str:
    if isinstance(state, Fraction):
        taint: Any = {"frac": f"{state.numerator}/{state.denominator}"}
    elif isinstance(state, int):
        taint = {"int": str(state)}
    else:
        taint = {"segs": [[int(s), int(e)] for s, e in state]}
    return json.dumps({"taint": taint, "spent": spent, "spent_tx": spent_tx}, separators=(",", ":"))


def test_encoded_states_are_the_json_form() -> None:
    rng = random.Random(5)
    states: list[Any] = [0, 1, 1 << 200, Fraction(3, 7), Fraction(10**40 + 1, 3**50), (), ((0, 5),),
                         ((1, 2), (7, 100_000_000_000))]
    states += [rng.getrandbits(rng.randint(1, 190)) for _ in range(200)]
    states += [Fraction(rng.getrandbits(90), rng.getrandbits(60) + 1) for _ in range(200)]
    for state in states:
        for spent, tx in ((None, None), (0, None), (812_345, "ab" * 32)):
            text = encode_state(state, spent=spent, spent_tx=tx)
            assert text == _reference_state(state, spent, tx)
            back, got_spent = decode_state(text)
            assert got_spent == spent and (back == state or back == tuple(state))


def test_grid_amount_text_is_the_exact_amount() -> None:
    pol, rng = Haircut(), random.Random(7)
    states = [1, 2, 3, 1 << 127, 1 << 128, 3 << 128, (5 << 140), (7 << 128) + 1, (1 << 129) - 1]
    states += [rng.getrandbits(rng.randint(1, 200)) << rng.randint(0, 150) or 1 for _ in range(5000)]
    for s in states:
        assert grid_amount_text(s) == exact_amount(pol.amount(s)), s


def test_member_and_with_keys_are_isin_and_union() -> None:
    rng = np.random.default_rng(3)
    for dtype, hi in ((np.int64, 5_000), (np.uint64, 2**64 - 1)):
        keys = rng.integers(0, hi, 3_000, dtype=dtype, endpoint=True)
        values = np.concatenate([rng.integers(0, hi, 4_000, dtype=dtype, endpoint=True), keys[:500]])
        sk = sorted_keys(keys)
        assert np.array_equal(member(values, sk), np.isin(values, keys))
        more = np.concatenate([rng.integers(0, hi, 50, dtype=dtype, endpoint=True), keys[:5]])
        assert np.array_equal(with_keys(sk, more), np.union1d(keys, more))
    empty = np.zeros(0, np.int64)
    assert not member(np.array([1, 2], np.int64), empty).any() and member(empty, sorted_keys(empty)).size == 0
    assert np.array_equal(with_keys(empty, np.array([4, 2, 4], np.int64)), [2, 4])


def _reference_service(attr: Any, address: int, categories: list[str]) -> dict[str, Any] | None:
    """`Attribution.service` as it was: the first tag of the categories in `tags_of`, in order."""
    for t in attr.tags_of(address):
        if t.get("category") in categories:
            via = "cluster" if t.get("inherited_from") else "tag"
            member_of = {"tagged_member": t["inherited_from"]} if via == "cluster" else {}
            return {"label": t["label"], "category": t["category"], "address": attr.text(address, t), "via": via,
                    "tag_source": t.get("source"), **member_of}
    return None


def test_service_of_untagged_cluster_members_is_the_general_lookup(world: dict[str, Any], tmp_path: Path) -> None:
    """An untagged address takes its cluster's first tag of the categories (looked up once per
    cluster): the same answer as walking its tags, for every address of a clustered store."""
    import shutil

    from fundtrail.cli.main import main
    from fundtrail.store import Store
    from fundtrail.trace.stops import DEFAULT_STOP_CATEGORIES
    from fundtrail.watch.services import Attribution

    store = tmp_path / "store"
    shutil.copytree(world["store"], store)
    assert main(["-q", "--store", str(store), "cluster", "run"]) == 0
    attr = Attribution(Store.open(store), "btc-regtest")
    vias: dict[str, int] = {}
    for cats in (["exchange"], list(DEFAULT_STOP_CATEGORIES), ["no-such-category"]):
        for aid in range(attr.boundary):
            got = attr.service(aid, cats)
            assert got == _reference_service(attr, aid, cats), (aid, cats)
            if got is not None:
                vias[got["via"]] = vias.get(got["via"], 0) + 1
    assert vias.get("cluster", 0) > 0 and vias.get("tag", 0) > 0  # both ways were exercised
