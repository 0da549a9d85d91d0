"""The trace page's form: the options of `fundtrail trace` as GET parameters, read back as typed.

The form is a GET form (a trace changes nothing), so a trace is a link: other pages prefill it
with `?chain=&seed=`, and the result page's URL is the trace itself. Every value stays text until
`request()` turns it into a `TraceRequest`, so a bad number is an error next to its field (the
form is shown again with what the user typed), never a bare validation page.

Parameters: `chain`, `seed` (one per line; may repeat), `direction`, `policy`, `hops`,
`min_value`, `since`, `until`, `stop_at` (repeated, category ids), `stops=1` (the form was sent:
the checked `stop_at` boxes are exactly the stops, none meaning none; without it the default
custodial services apply), `compare=1` (poison, haircut and FIFO side by side), `max_txs`,
`max_seconds` and `asset` (account chains).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from pydantic import Field, ValidationError
from starlette.datastructures import QueryParams

from fundtrail.errors import UsageError
from fundtrail.workspace import Model, TraceRequest
from fundtrail.workspace.tracing import DEFAULT_STOP_CATEGORIES

#: Policies the form offers, and the three compared side by side.
POLICIES = ("haircut", "fifo", "poison")
COMPARED = ("poison", "haircut", "fifo")
DIRECTIONS = ("forward", "backward")
#: Service categories (one operator controls the addresses) a trace may stop at: the taxonomy's
#: single-operator entities (tests/web check this list against `fundtrail.tags.taxonomy`).
SERVICE_CATEGORIES = ("exchange", "wallet_service", "payment_processor", "atm", "mixing_service", "market",
                      "gambling", "miner", "mining_service", "defi_bridge", "shop", "hosting", "vpn")
#: A `TraceRequest` field -> the form field its errors are shown next to.
FORM_FIELD = {"seeds": "seed", "stop_addresses": "stop_at"}
MAX_SEED_LINES = 1000


class TraceForm(Model):
    """What the user typed into the trace form (text, as typed), and whether it was sent."""

    chain: str = ""
    seed: str = ""
    direction: str = "forward"
    policy: str = "haircut"
    hops: str = ""
    min_value: str = ""
    since: str = ""
    until: str = ""
    stop_at: list[str] = Field(default_factory=lambda: list(DEFAULT_STOP_CATEGORIES))
    sent: bool = False
    compare: bool = False
    max_txs: str = ""
    max_seconds: str = ""
    asset: str = ""

    @property
    def seeds(self) -> list[str]:
        """The seeds, one per non-empty line."""
        return [line.strip() for line in self.seed.splitlines() if line.strip()]

    @property
    def wanted(self) -> bool:
        """Whether a trace was asked for (seeds given, or the form sent empty: an error)."""
        return bool(self.seeds) or self.sent

    def request(self, policy: str | None = None) -> TraceRequest:
        """The service request of this form (with `policy` instead of the form's); UsageError on
        the form field at fault."""
        seeds = self.seeds
        if len(seeds) > MAX_SEED_LINES:
            raise UsageError(f"{len(seeds):,} seeds; at most {MAX_SEED_LINES:,} per trace", field="seed")
        values: dict[str, object] = {
            "seeds": seeds, "direction": self.direction, "policy": policy or self.policy,
            "hops": _integer(self.hops, "hops"), "min_value": self.min_value.strip() or None,
            "since": self.since.strip() or None, "until": self.until.strip() or None,
            "stop_at": list(self.stop_at), "chain": self.chain or None, "asset": self.asset.strip() or None}
        if self.max_txs.strip():
            values["max_txs"] = _integer(self.max_txs, "max_txs")
        if self.max_seconds.strip():
            values["max_seconds"] = _number(self.max_seconds, "max_seconds")
        try:
            return TraceRequest.model_validate(values)
        except ValidationError as exc:  # a value of the wrong type the checks above let through
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first.get("loc") else "seed"
            raise UsageError(f"{field}: {first['msg']}", field=FORM_FIELD.get(field, field)) from None

    def query(self, *, policy: str | None = None, compare: bool | None = None) -> str:
        """This trace as a URL query (what `/trace?` and the graph's `trace=` take)."""
        pairs: list[tuple[str, str]] = [("chain", self.chain)] if self.chain else []
        pairs += [("seed", s) for s in self.seeds]
        pairs += [("direction", self.direction), ("policy", policy or self.policy)]
        for name in ("hops", "min_value", "since", "until", "max_txs", "max_seconds", "asset"):
            value = str(getattr(self, name)).strip()
            if value:
                pairs.append((name, value))
        pairs += [("stop_at", c) for c in self.stop_at] + [("stops", "1")]
        if self.compare if compare is None else compare:
            pairs.append(("compare", "1"))
        return urlencode(pairs)


def form_of(params: QueryParams | Mapping[str, str], chains: Sequence[str]) -> TraceForm:
    """The form as the query gave it; the chain defaults to the store's only one."""
    multi = params.multi_items() if isinstance(params, QueryParams) else list(params.items())

    def one(name: str, default: str = "") -> str:
        found = [v for k, v in multi if k == name]
        return found[-1] if found else default

    seeds = "\n".join(v for k, v in multi if k == "seed")
    sent = one("stops") == "1"
    stop_at = [v for k, v in multi if k == "stop_at"] if sent else list(DEFAULT_STOP_CATEGORIES)
    chain = one("chain") or (chains[0] if len(chains) == 1 else "")
    return TraceForm(chain=chain, seed=seeds, direction=one("direction", "forward"), policy=one("policy", "haircut"),
                     hops=one("hops"), min_value=one("min_value"), since=one("since"), until=one("until"),
                     stop_at=list(dict.fromkeys(stop_at)), sent=sent, compare=one("compare") in {"1", "on", "true"},
                     max_txs=one("max_txs"), max_seconds=one("max_seconds"), asset=one("asset"))


def _integer(text: str, field: str) -> int | None:
    value = text.strip()
    if not value:
        return None
    try:
        return int(value.replace(",", "").replace("_", ""))
    except ValueError:
        raise UsageError(f"{field} {text.strip()!r} is not a whole number", field=field) from None


def _number(text: str, field: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise UsageError(f"{field} {text.strip()!r} is not a number", field=field) from None
