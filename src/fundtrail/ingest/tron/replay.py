"""Recorded java-tron answers: replay them instead of a node, and write them during a live run.

The format is the EVM replay's (`fundtrail.chains.ethereum.recording`): a directory with one file
per request, `web3_response.<key>.json`, the key being the method then its parameters joined by
"_". For java-tron the method is the HTTP path with "/" as "." and the parameters are the JSON
body's values in order (`visible` left out):

- `web3_response.wallet.getblockbynum_<n>.json`: block n as `/wallet/getblockbynum` answers it;
- `web3_response.wallet.gettransactioninfobyblocknum_<n>.json`: its transaction infos (a list);
- `web3_response.wallet.getnowblock_.json` (optional): the head block;
- `web3_response.wallet.triggerconstantcontract_<owner>_<contract>_<selector>_<parameter>.json`
  (optional): a token's `name()`, `symbol()`, `decimals()`; without it the token has no metadata.

A recording of a solidity endpoint uses `walletsolidity.` instead of `wallet.` for the block
files. A live run writes blocks one file each even when it fetched them 100 at a time with
`getblockbylimitnext`, so a recording always replays the same way. A file may hold an
`{"Error": ...}` answer: it is replayed as the node's error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fundtrail.chains.ethereum.recording import PREFIX, SUFFIX, file_name, key_of, request_key
from fundtrail.errors import SourceError
from fundtrail.ingest.rpchttp import loads_bounded
from fundtrail.ingest.tron.transport import check_answer, describe

BLOCK = "getblockbynum"
INFOS = "gettransactioninfobyblocknum"


def tron_key(path: str, body: dict[str, Any]) -> str:
    """The recording key of one call: `/wallet/getblockbynum {"num": 5}` -> `wallet.getblockbynum_5`."""
    method = path.strip("/").replace("/", ".")
    return request_key(method, [v for k, v in body.items() if k != "visible"])


class TronReplayTransport:
    """Answers java-tron calls from the recordings in `directory` (a missing one: SourceError)."""

    def __init__(self, directory: Path, *, max_response_mb: int = 512, max_json_depth: int = 2500) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise SourceError(f"no recorded responses: {self.directory} is not a directory")
        self.max_bytes, self.max_json_depth = max_response_mb << 20, max_json_depth
        self.url = f"replay:{self.directory}"
        self.served: list[str] = []  # keys answered, in order (tests look)
        keys = [k for k in (key_of(p.name) for p in self.directory.glob(f"{PREFIX}*{SUFFIX}")) if k]
        self._keys = frozenset(keys)
        #: a recording of a solidity endpoint: its blocks are solidified (final)
        self.solidified = (not self._numbers(f"wallet.{BLOCK}_")
                           and bool(self._numbers(f"walletsolidity.{BLOCK}_")))

    def __str__(self) -> str:
        return self.url

    def _numbers(self, prefix: str) -> list[int]:
        found = set()
        for key in self._keys:
            if key.startswith(prefix) and key[len(prefix):].isdigit():
                found.add(int(key[len(prefix):]))
        return sorted(found)

    def recorded_blocks(self) -> list[int]:
        """Numbers of the blocks recorded, sorted: the recording's natural range."""
        return self._numbers(f"{'walletsolidity' if self.solidified else 'wallet'}.{BLOCK}_")

    def has(self, path: str, body: dict[str, Any]) -> bool:
        """Whether the call was recorded (optional calls are skipped when it was not)."""
        return tron_key(path, body) in self._keys

    def post(self, path: str, body: dict[str, Any]) -> Any:
        key = tron_key(path, body)
        where = f"{self.url}: {describe(path, body)}"
        if key not in self._keys:
            raise SourceError(f"{where}: not recorded", hint=f"expected file {file_name(key)}")
        file = self.directory / file_name(key)
        try:
            size = file.stat().st_size
            if size > self.max_bytes:
                raise SourceError(f"{where}: recorded response {file.name} is {size:,} bytes, over "
                                  f"max_rpc_response_mb = {self.max_bytes >> 20}")
            value = loads_bounded(file.read_bytes(), self.max_json_depth, f"{where}: {file.name}")
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise SourceError(f"{where}: recorded response {file.name} is unreadable: {err}") from None
        self.served.append(key)
        return check_answer(value, where, path)


class Recorder:
    """Writes answers of a live run in the replay format; each file atomically (a kill -9 leaves
    no half file), so a recording is always replayable as far as it goes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SourceError(f"cannot create the recording directory {self.directory}: {err}") from None

    def write(self, path: str, body: dict[str, Any], answer: Any) -> None:
        """Record `answer` as the response of `path` with `body`."""
        final = self.directory / file_name(tron_key(path, body))
        tmp = final.with_name(f".tmp-{os.getpid()}-{final.name}")
        try:
            tmp.write_text(json.dumps(answer, separators=(",", ":")))
            os.replace(tmp, final)
        except OSError as err:
            raise SourceError(f"cannot write the recording {final}: {err}") from None
