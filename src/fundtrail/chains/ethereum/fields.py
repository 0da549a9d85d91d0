"""Typed access to the fields of one JSON-RPC object, with errors naming the object and field.

Node answers are untrusted input: every read says which block, transaction, log or trace and which
field was missing or malformed, in one line.
"""

from __future__ import annotations

import builtins
from typing import Any

from fundtrail.chains.ethereum.hexutil import address, hex_to_bytes, hex_to_int
from fundtrail.errors import DataError


class JsonFields:
    """Reads one JSON object's fields; errors name `where` (block, tx or log) and the field."""

    __slots__ = ("obj", "where")

    def __init__(self, obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        self.obj = obj
        self.where = where

    def _get(self, key: str, required: bool) -> Any:
        value = self.obj.get(key)
        if value is None and required:
            raise DataError(f"{self.where}: field {key} is missing")
        return value

    def _fail(self, key: str, err: DataError) -> DataError:
        return DataError(f"{self.where}: field {key}: {err.message}")

    def int(self, key: str, required: bool = False) -> int | None:
        value = self._get(key, required)
        try:
            return hex_to_int(value)
        except DataError as err:
            raise self._fail(key, err) from None

    def data(self, key: str, required: bool = False, size: builtins.int | None = None) -> bytes | None:
        value = self._get(key, required)
        if value is None:
            return None
        try:
            raw = hex_to_bytes(value)
        except DataError as err:
            raise self._fail(key, err) from None
        if size is not None and len(raw) != size:
            raise DataError(f"{self.where}: field {key} must be {size} bytes, got {len(raw)}")
        return raw

    def hash(self, key: str, required: bool = False) -> bytes | None:
        return self.data(key, required, 32)

    def address(self, key: str, required: bool = False) -> bytes | None:
        value = self._get(key, required)
        try:
            return address(value)
        except DataError as err:
            raise self._fail(key, err) from None

    def hashes(self, key: str) -> list[bytes]:
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise DataError(f"{self.where}: field {key} must be a list")
        out = []
        for i, item in enumerate(value):
            try:
                raw = hex_to_bytes(item)
            except DataError as err:
                raise self._fail(f"{key}[{i}]", err) from None
            if len(raw) != 32:
                raise DataError(f"{self.where}: field {key}[{i}] must be 32 bytes, got {len(raw)}")
            out.append(raw)
        return out
