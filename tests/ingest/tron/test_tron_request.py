"""`IngestTronRequest` refuses what cannot run, naming the field, before any store is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from fundtrail.errors import UsageError
from fundtrail.ingest.tron.jobs import tron_chain
from fundtrail.ingest.tron.transport import TronHttpTransport
from fundtrail.workspace.job_models import IngestTronRequest


@pytest.mark.parametrize("fields,field", [
    ({}, "rpc"),
    ({"rpc": "http://127.0.0.1:8090", "replay": Path("r")}, "rpc"),
    ({"replay": Path("r"), "solidity": "http://127.0.0.1:8091"}, "solidity"),
    ({"replay": Path("r"), "record": Path("o")}, "record"),
    ({"replay": Path("r"), "follow": True}, "follow"),
    ({"rpc": "http://127.0.0.1:8090", "follow": True, "to_block": 5}, "follow"),
    ({"rpc": "http://127.0.0.1:8090", "from_block": 9, "to_block": 5}, "to_block"),
    ({"rpc": "http://127.0.0.1:8090", "batch_blocks": 0}, "batch_blocks"),
    ({"rpc": "http://127.0.0.1:8090", "concurrency": 65}, "concurrency"),
    ({"rpc": "http://127.0.0.1:8090", "rate_limit": 0}, "rate_limit"),
    ({"rpc": "http://127.0.0.1:8090", "chain": "Bad Name"}, "chain"),
])
def test_bad_requests_name_the_field(fields: dict, field: str) -> None:
    with pytest.raises(UsageError) as err:
        IngestTronRequest(**fields)
    assert err.value.field == field


def test_unknown_network_and_bad_url() -> None:
    with pytest.raises(UsageError, match="unknown TRON chain 'eth'") as err:
        tron_chain("eth")
    assert err.value.field == "chain"
    assert tron_chain("tron").chain_id == 0x2B6653DC  # mainnet genesis blockID ends 2b6653dc
    with pytest.raises(UsageError, match="bad java-tron URL"):
        TronHttpTransport("ftp://node:8090")
    assert TronHttpTransport("http://user:secret@127.0.0.1:8090/x?key=abc").url == "http://127.0.0.1:8090/x?***"
