"""The spent-output record that undo data and `getblock` verbosity 3 carry for each input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Prevout:
    """The output an input spends: value and script."""

    value: int  # satoshi
    script: bytes  # scriptPubKey
