"""Risk rule profiles: named, versioned YAML files that say which tags and exposures raise a score.

Two rule kinds:

- `tag`: the address (or its cluster, by inheritance) carries a tag of one of `categories`;
  the rule's `score` is a number.
- `exposure`: a share of the address's funds came from (`incoming`), went to (`outgoing`) or either
  (`any`) addresses of `categories`; `score` is `{base, per_share, indirect_factor}` and gives
  `(base + per_share * share) * (1 if direct else indirect_factor)`, capped at 100, when
  `share >= min_share` (share of the address's total received or sent value).

A third kind, `freeze` (account chains): the address is frozen now by a stablecoin issuer (the
known issuer's last action on it blacklisted it or destroyed its funds; `risk.freezes`); `score` is
a number and `issuers` (optional) adds contracts to those `model.issuers` knows, per chain:
`{anvil: ["0x…"], tron: ["T…"]}` (a new stablecoin, a test chain's token). No categories.

The score of an address is the highest rule score; every rule that matched is a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fundtrail.errors import ConfigError

SEVERITIES = ("low", "medium", "high", "severe")
KINDS = ("tag", "exposure", "freeze")
DIRECTIONS = ("incoming", "outgoing", "any")


@dataclass(frozen=True)
class Rule:
    """One rule of a profile (see the module docstring)."""

    id: str
    kind: str
    categories: tuple[str, ...]
    severity: str
    explain: str
    score: float = 0.0
    base: float = 0.0
    per_share: float = 0.0
    indirect_factor: float = 1.0
    direction: str = "any"
    min_share: float = 0.0
    issuers: tuple[tuple[str, bytes], ...] = ()  # freeze rules: (chain, 20-byte contract) added

    def exposure_score(self, share: float, direct: bool) -> float:
        """Score of an exposure rule for a share of value, direct or indirect."""
        raw = (self.base + self.per_share * share) * (1.0 if direct else self.indirect_factor)
        return round(min(100.0, max(0.0, raw)), 2)


@dataclass(frozen=True)
class Profile:
    """A named, versioned set of rules plus the categories the exposure index tracks."""

    name: str
    version: int
    description: str
    exposure_categories: tuple[str, ...]
    rules: tuple[Rule, ...]
    source: str

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def load_profile(path: Path | str | None = None) -> Profile:
    """The profile in `path` (YAML), or the shipped default; ConfigError names file and field."""
    if path is None:
        text = resources.files("fundtrail.risk").joinpath("profiles/default.yaml").read_text()
        where = "default profile"
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read risk profile {path}: {exc.strerror}") from None
        where = str(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return _parse(doc, where)


def _need(doc: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise ConfigError(f"{where}: missing field '{key}'")
    value = doc[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: field '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _parse(doc: Any, where: str) -> Profile:
    from fundtrail.tags.taxonomy import resolve_category

    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: a risk profile is a mapping with profile, version and rules")

    def cats(values: Any, field: str) -> tuple[str, ...]:
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{field}: must be a non-empty list of categories")
        out = []
        for v in values:
            cat = resolve_category(str(v))
            if cat is None:
                raise ConfigError(f"{field}: unknown category {v!r} (see docs/attribution.md)")
            out.append(cat)
        return tuple(out)

    name = _need(doc, "profile", str, where)
    version = _need(doc, "version", int, where)
    exp_cats = cats(doc.get("exposure_categories"), f"{where}: exposure_categories")
    rules, seen = [], set()
    for i, r in enumerate(_need(doc, "rules", list, where)):
        at = f"{where}: rules[{i}]"
        if not isinstance(r, dict):
            raise ConfigError(f"{at}: a rule is a mapping")
        rid = _need(r, "id", str, at)
        if rid in seen:
            raise ConfigError(f"{at}: duplicate rule id {rid!r}")
        seen.add(rid)
        kind = _need(r, "kind", str, at)
        severity = r.get("severity", "medium")
        if severity not in SEVERITIES:
            raise ConfigError(f"{at}: severity must be one of {', '.join(SEVERITIES)}")
        if kind not in KINDS:
            raise ConfigError(f"{at}: kind must be 'tag', 'exposure' or 'freeze', not {kind!r}")
        common = {"id": rid, "kind": kind, "severity": severity, "explain": str(r.get("explain", rid)),
                  "categories": () if kind == "freeze" else cats(r.get("categories"), f"{at}.categories")}
        if kind == "freeze":
            score = _need(r, "score", (int, float), at)
            rules.append(Rule(score=float(score), issuers=_issuers(r.get("issuers"), f"{at}.issuers"), **common))
        elif kind == "tag":
            score = _need(r, "score", (int, float), at)
            rules.append(Rule(score=float(score), **common))
        elif kind == "exposure":
            missing = [c for c in common["categories"] if c not in exp_cats]
            if missing:
                raise ConfigError(f"{at}: category {missing[0]!r} is not in exposure_categories")
            sc = _need(r, "score", dict, at)
            direction = r.get("direction", "any")
            if direction not in DIRECTIONS:
                raise ConfigError(f"{at}: direction must be one of {', '.join(DIRECTIONS)}")
            try:
                rules.append(Rule(base=float(sc.get("base", 0)), per_share=float(sc.get("per_share", 0)),
                                  indirect_factor=float(sc.get("indirect_factor", 1)), direction=direction,
                                  min_share=float(r.get("min_share", 0)), **common))
            except (TypeError, ValueError):
                raise ConfigError(f"{at}.score: base, per_share and indirect_factor must be numbers") from None
    return Profile(name, version, str(doc.get("description", "")).strip(), exp_cats, tuple(rules), where)


def _contract(text: Any, where: str) -> bytes:
    """20 bytes of a contract address in a profile: `0x` + 40 hex digits, TRON's `41` + 40 hex
    digits, or TRON's `T…` (Base58Check); ConfigError naming the field otherwise."""
    from fundtrail.chains.bitcoin.address import base58check_decode
    from fundtrail.errors import UsageError

    t = str(text).strip()
    try:
        if t[:2] in ("0x", "0X") and len(t) == 42:
            return bytes.fromhex(t[2:])
        if t[:2] == "41" and len(t) == 42:
            return bytes.fromhex(t[2:])
        if t[:1] == "T":
            payload = base58check_decode(t)
            if len(payload) == 21 and payload[0] == 0x41:
                return payload[1:]
    except (ValueError, UsageError):
        pass
    raise ConfigError(f"{where}: {t!r} is not a contract address (0x… or 41… with 40 hex digits, or T…)")


def _issuers(doc: Any, where: str) -> tuple[tuple[str, bytes], ...]:
    """A freeze rule's added issuer contracts: {chain: [address, ...]} -> ((chain, bytes), ...)."""
    if doc is None:
        return ()
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: must map chain names to lists of contract addresses")
    out = []
    for chain, addrs in doc.items():
        if not isinstance(addrs, list):
            raise ConfigError(f"{where}.{chain}: must be a list of contract addresses")
        out += [(str(chain), _contract(a, f"{where}.{chain}[{i}]")) for i, a in enumerate(addrs)]
    return tuple(out)
