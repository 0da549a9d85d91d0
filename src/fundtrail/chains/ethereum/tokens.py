"""Token movements decoded from event logs: ERC-20, ERC-721, ERC-1155 and WETH-style wrapping.

ERC-20 and ERC-721 share the `Transfer(address,address,uint256)` signature; only the number of
indexed topics tells them apart (3 for ERC-20, the amount in data; 4 for ERC-721, the token id in the
last topic). Anyone can emit any event, so a log that does not have the shape its signature implies
(wrong topic count, an address topic with dirty high bytes, truncated or inconsistent ABI data) is
not a token movement: it yields nothing and a debug message, never an exception, because one odd
contract must not stop the ingest of a block.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from fundtrail.chains.ethereum.keccak import keccak256

_logger = logging.getLogger(__name__)

TRANSFER = keccak256(b"Transfer(address,address,uint256)")
TRANSFER_SINGLE = keccak256(b"TransferSingle(address,address,address,uint256,uint256)")
TRANSFER_BATCH = keccak256(b"TransferBatch(address,address,address,uint256[],uint256[])")
DEPOSIT = keccak256(b"Deposit(address,uint256)")
WITHDRAWAL = keccak256(b"Withdrawal(address,uint256)")

_ZERO12 = bytes(12)


class _Malformed(Exception):
    """The log carries a known signature but not the shape that signature implies."""


def _topic_address(topic: object) -> bytes:
    if not isinstance(topic, bytes) or len(topic) != 32:
        raise _Malformed("topic is not 32 bytes")
    if topic[:12] != _ZERO12:
        raise _Malformed("address topic has non-zero high bytes")
    return topic[12:]


def _topic_uint(topic: object) -> int:
    if not isinstance(topic, bytes) or len(topic) != 32:
        raise _Malformed("topic is not 32 bytes")
    return int.from_bytes(topic, "big")


def _word(data: bytes, index: int) -> int:
    end = 32 * (index + 1)
    if len(data) < end:
        raise _Malformed(f"data has {len(data)} bytes, word {index} needs {end}")
    return int.from_bytes(data[end - 32:end], "big")


def _uint_array(data: bytes, offset: int) -> list[int]:
    """An ABI-encoded dynamic uint256[] whose head word at `offset` points to its length."""
    if offset % 32 or offset + 32 > len(data):
        raise _Malformed(f"array offset {offset} outside {len(data)} bytes of data")
    start = offset // 32
    count = _word(data, start)
    if offset + 32 + 32 * count > len(data):  # checked before building anything of that size
        raise _Malformed(f"array of {count} items does not fit {len(data)} bytes of data")
    return [_word(data, start + 1 + i) for i in range(count)]


def _move(lg: dict, kind: str, from_address: bytes | None, to_address: bytes | None, amount: int,
          token_id: int | None = None, batch_index: int | None = None) -> dict:
    return {
        "kind": kind,
        "token": lg["address"],
        "from_address": from_address,
        "to_address": to_address,
        "amount": amount,
        "token_id": token_id,
        "log_index": lg["log_index"],
        "batch_index": batch_index,
        "transaction_hash": lg.get("transaction_hash"),
        "block_number": lg.get("block_number"),
    }


def _transfer(lg: dict, topics: list, data: bytes) -> list[dict]:
    if len(topics) == 3:  # ERC-20: Transfer(address indexed, address indexed, uint256)
        # only the first word is the amount; a few tokens append more, ethereum-etl drops those
        return [_move(lg, "erc20", _topic_address(topics[1]), _topic_address(topics[2]), _word(data, 0))]
    if len(topics) == 4:  # ERC-721: all three parameters indexed
        return [_move(lg, "erc721", _topic_address(topics[1]), _topic_address(topics[2]), 1,
                      token_id=_topic_uint(topics[3]))]
    raise _Malformed(f"Transfer with {len(topics)} topics is neither ERC-20 (3) nor ERC-721 (4)")


def _erc1155_parties(topics: list) -> tuple[bytes, bytes]:
    if len(topics) != 4:
        raise _Malformed(f"ERC-1155 event with {len(topics)} topics, expected 4")
    _topic_address(topics[1])  # the operator: checked for shape, not a party to the movement
    return _topic_address(topics[2]), _topic_address(topics[3])


def _transfer_single(lg: dict, topics: list, data: bytes) -> list[dict]:
    sender, receiver = _erc1155_parties(topics)
    return [_move(lg, "erc1155", sender, receiver, _word(data, 1), token_id=_word(data, 0))]


def _transfer_batch(lg: dict, topics: list, data: bytes) -> list[dict]:
    sender, receiver = _erc1155_parties(topics)
    ids = _uint_array(data, _word(data, 0))
    values = _uint_array(data, _word(data, 1))
    if len(ids) != len(values):
        raise _Malformed(f"TransferBatch with {len(ids)} ids but {len(values)} values")
    return [_move(lg, "erc1155", sender, receiver, value, token_id=token_id, batch_index=i)
            for i, (token_id, value) in enumerate(zip(ids, values))]


def _deposit(lg: dict, topics: list, data: bytes) -> list[dict]:
    if len(topics) != 2:
        raise _Malformed(f"Deposit with {len(topics)} topics, WETH-style has 2")
    return [_move(lg, "weth_deposit", None, _topic_address(topics[1]), _word(data, 0))]


def _withdrawal(lg: dict, topics: list, data: bytes) -> list[dict]:
    if len(topics) != 2:
        raise _Malformed(f"Withdrawal with {len(topics)} topics, WETH-style has 2")
    return [_move(lg, "weth_withdrawal", _topic_address(topics[1]), None, _word(data, 0))]


_HANDLERS: dict[bytes, Callable[[dict, list, bytes], list[dict]]] = {
    TRANSFER: _transfer,
    TRANSFER_SINGLE: _transfer_single,
    TRANSFER_BATCH: _transfer_batch,
    DEPOSIT: _deposit,
    WITHDRAWAL: _withdrawal,
}
_WRAPPING = frozenset({DEPOSIT, WITHDRAWAL})


def token_moves(log_row: dict, *, wrapped_native: Collection[bytes] | None = None) -> list[dict]:
    """The token movements one decoded log row records (usually none or one).

    `Deposit(address indexed, uint256)` and `Withdrawal(address indexed, uint256)` are also emitted
    by many contracts that are not wrapped-native tokens (staking, vaults); pass the chain's
    wrapped-native contract addresses as `wrapped_native` to count only theirs. Without it, every
    log of that shape counts as a mint or burn of the emitting contract's token.
    """
    topics = log_row.get("topics") or []
    if not topics:
        return []
    handler = _HANDLERS.get(topics[0])
    if handler is None:
        return []
    if wrapped_native is not None and topics[0] in _WRAPPING and log_row.get("address") not in wrapped_native:
        return []
    data = log_row.get("data") or b""
    try:
        return handler(log_row, topics, data)
    except _Malformed as why:
        tx = log_row.get("transaction_hash")
        _logger.debug("no token move from log %s of tx %s (contract %s): %s", log_row.get("log_index"),
                  "0x" + tx.hex() if isinstance(tx, bytes) else tx,
                  "0x" + log_row["address"].hex() if isinstance(log_row.get("address"), bytes) else None,
                  why)
        return []
