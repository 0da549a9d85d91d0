"""Ground truth beside the simulated chain, streamed to files as the chain is made.

Formats (documented in docs/simulator.md):

- ``truth/actors.csv``: actor, category, role_in_case ('' or the case name)
- ``truth/addresses.csv``: address, actor, category, script_kind, role (one row per address,
  written when the address is first handed out)
- ``truth/transactions.csv``: txid, height, actor, category, pattern, typology, case
- ``truth/coinjoins.csv``: txid, height, protocol, n_inputs, n_outputs, participants (one row per
  CoinJoin transaction: wasabi1, wasabi2, whirlpool_tx0, whirlpool_mix, joinmarket)
- ``truth/cases/<case>.txgraph.jsonl``: one transaction of the case subgraph per line,
  ``{"txid", "time", "height", "inputs": [{"txid", "vout", "value"}], "outputs": [{"value",
  "address"}]}``, in chain order
- ``truth/cases/<case>.json``: seeds, cash-out points, and (via `sim.oracle`) the amounts that
  reached each cash-out point under each taint policy
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from fundtrail.chains.bitcoin import writer as w

if TYPE_CHECKING:
    from fundtrail.sim.actors import Actor
    from fundtrail.sim.wallet import Address


class TruthWriter:
    """Open CSV/JSONL writers under `root/truth`; rows go to disk as they happen."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "truth"
        (self.dir / "cases").mkdir(parents=True, exist_ok=True)
        self._files: list[TextIO] = []
        self._addr = self._csv("addresses.csv", ["address", "actor", "category", "script_kind", "role"])
        self._txs = self._csv("transactions.csv",
                              ["txid", "height", "actor", "category", "pattern", "typology", "case"])
        self._cj = self._csv("coinjoins.csv", ["txid", "height", "protocol", "n_inputs",
                                               "n_outputs", "participants"])
        self._graphs: dict[str, TextIO] = {}
        self.counts = {"addresses": 0, "transactions": 0, "typology_transactions": 0,
                       "coinjoins": 0}

    def _csv(self, name: str, header: list[str]) -> Any:
        fh = open(self.dir / name, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._files.append(fh)
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(header)
        return out

    def address(self, addr: Address) -> None:
        """Record who controls a newly handed-out address."""
        a = addr.owner
        self._addr.writerow([addr.text, a.name, a.category, addr.kind, addr.role])
        self.counts["addresses"] += 1

    def tx(self, txid: bytes, height: int, actor: Actor, pattern: str, typology: str,
           case: str) -> None:
        """Record who made a transaction, what ordinary behaviour it is, and its typology."""
        self._txs.writerow([w.display_hex(txid), height, actor.name, actor.category, pattern,
                            typology, case])
        self.counts["transactions"] += 1
        if typology:
            self.counts["typology_transactions"] += 1

    def coinjoin(self, txid: bytes, height: int, protocol: str, n_inputs: int, n_outputs: int,
                 participants: int) -> None:
        """Record a CoinJoin: its protocol and shape (participants = distinct input owners)."""
        self._cj.writerow([w.display_hex(txid), height, protocol, n_inputs, n_outputs,
                           participants])
        self.counts["coinjoins"] += 1

    def case_tx(self, case: str, row: dict[str, Any]) -> None:
        """Append one transaction to the case's subgraph file."""
        fh = self._graphs.get(case)
        if fh is None:
            fh = open(self.dir / "cases" / f"{case}.txgraph.jsonl", "w", encoding="utf-8")  # noqa: SIM115
            self._graphs[case] = fh
            self._files.append(fh)
        fh.write(json.dumps(row, separators=(",", ":")) + "\n")

    def actors(self, actors: list[Actor]) -> None:
        """Write actors.csv (the actor list is fixed at the start of a run)."""
        with open(self.dir / "actors.csv", "w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh, lineterminator="\n")
            out.writerow(["actor", "category", "case"])
            for a in actors:
                out.writerow([a.name, a.category, a.case or ""])

    def close(self) -> None:
        """Close every open file (the case files are closed before the oracle reads them)."""
        for fh in self._files:
            fh.close()
        self._files.clear()

    def write_json(self, rel: str, data: Any) -> Path:
        """Write a JSON file under truth/ with stable formatting (sorted keys, 1-space indent)."""
        p = self.dir / rel
        p.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return p
