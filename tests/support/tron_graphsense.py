"""java-tron HTTP answers rebuilt from the rows GraphSense stored of TRON mainnet (../shared/data/tron).

GraphSense reads TRON through its Ethereum-style JSON-RPC plus the gRPC transaction infos, so its rows
keep parties, TRX values, calldata, logs and internal traces, but not everything java-tron's HTTP API
answers. What is rebuilt and how is said per field below; a test using these must check every field
it did not rebuild against GraphSense's own rows, and not rely on the ones invented here:
- TRC-10 transfers (transaction_type 2): GraphSense keeps parties only (value 0, no asset id), so
  the asset is rebuilt as id "1002000" and the amount as 1 (placeholders: only parties are checked);
- fees: GraphSense's block-50000011 rows have none (`fee` null), so infos carry no `fee`;
- WithdrawBalance (13): GraphSense shows the witness as the receiver and the reward as the value;
  rebuilt as owner_address + `withdraw_amount` in the info, which is how java-tron answers it.
"""

from __future__ import annotations

import base64
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from fundtrail.chains.tron.contracts import CONTRACT_TYPES

TYPE_NAMES = {code: name for name, code in CONTRACT_TYPES.items()}
TRC10_PLACEHOLDER = "1002000"


def data_dir() -> Path:
    """../shared/data/tron next to the project (or $FUNDTRAIL_TESTDATA/tron)."""
    env = os.environ.get("FUNDTRAIL_TESTDATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return base / "tron"


def jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def _x(h: str | None) -> str:
    """0x-hex -> bare hex."""
    return (h or "")[2:] if (h or "").startswith("0x") else (h or "")


def _a41(h: str | None) -> str | None:
    return None if h is None else "41" + _x(h)


def block_50000011() -> tuple[dict, list[dict], dict[str, list[dict]]]:
    """(getblockbynum answer, gettransactioninfobyblocknum answer, GraphSense's rows by file)."""
    d = data_dir() / "graphsense-lib" / "block-50000011"
    rows = {n: jsonl(d / f"{n}.jsonl") for n in ("blocks", "transactions", "logs", "traces")}
    blk = rows["blocks"][0]
    logs_by_tx: dict[str, list[dict]] = defaultdict(list)
    for lg in sorted(rows["logs"], key=lambda r: r["log_index"]):
        logs_by_tx[lg["tx_hash"]].append(lg)
    traces_by_tx: dict[str, list[dict]] = defaultdict(list)
    for tr in sorted(rows["traces"], key=lambda r: r["trace_index"]):
        traces_by_tx[tr["tx_hash"]].append(tr)
    txs, infos = [], []
    for r in sorted(rows["transactions"], key=lambda r: r["transaction_index"]):
        txs.append(_tx(r))
        infos.append(_info(r, blk, logs_by_tx[r["tx_hash"]], traces_by_tx[r["tx_hash"]]))
    block = {"blockID": _x(blk["block_hash"]),
             "block_header": {"raw_data": {"number": blk["block_id"], "timestamp": blk["timestamp"] * 1000,
                                           "parentHash": _x(blk["parent_hash"]),
                                           "witness_address": _a41(blk["miner"]),
                                           "txTrieRoot": _x(blk["transactions_root"]), "version": 27}},
             "transactions": txs}
    return block, infos, rows


def _tx(r: dict) -> dict:
    name = TYPE_NAMES[r["transaction_type"]]
    owner, to = _a41(r["from_address"]), _a41(r["to_address"])
    if name == "TransferContract":
        value = {"owner_address": owner, "to_address": to, "amount": r["value"]}
    elif name == "TransferAssetContract":
        value = {"owner_address": owner, "to_address": to, "amount": 1,
                 "asset_name": TRC10_PLACEHOLDER.encode().hex()}
    elif name == "TriggerSmartContract":
        value = {"owner_address": owner, "contract_address": to, "data": _x(r["input"])}
        if r["value"]:
            value["call_value"] = r["value"]
    elif name == "WithdrawBalanceContract":
        value = {"owner_address": to}
    elif name == "AccountCreateContract":
        value = {"owner_address": owner, "account_address": to}
    else:
        raise AssertionError(f"no rebuild for {name}")
    return {"ret": [{"contractRet": "SUCCESS" if r["receipt_status"] == 1 else "REVERT"}],
            "txID": _x(r["tx_hash"]),
            "raw_data": {"contract": [{"parameter": {"value": value,
                                                     "type_url": f"type.googleapis.com/protocol.{name}"},
                                       "type": name}],
                         "timestamp": r["block_timestamp"] * 1000}}


def _info(r: dict, blk: dict, logs: list[dict], traces: list[dict]) -> dict:
    info: dict[str, Any] = {"id": _x(r["tx_hash"]), "blockNumber": blk["block_id"],
                            "blockTimeStamp": blk["timestamp"] * 1000, "contractResult": [""],
                            "receipt": {"energy_usage_total": r["receipt_gas_used"]} if r["receipt_gas_used"] else {}}
    if r["transaction_type"] == 13:
        info["withdraw_amount"] = r["value"]
    if logs:
        info["log"] = [{"address": _x(lg["address"]), "topics": [_x(t) for t in lg["topics"]],
                        "data": _x(lg["data"])} for lg in logs]
    if traces:
        info["internal_transactions"] = [
            {"hash": "00" * 32, "caller_address": _a41(t["caller_address"]),
             "transferTo_address": _a41(t["transferto_address"]),
             "callValueInfo": [{"callValue": t["call_value"]} if t["call_value"] else {}],
             "note": t["note"].encode().hex(), **({"rejected": True} if t["rejected"] else {})}
            for t in traces]
    return info


def b64hex(value: str | None) -> str | None:
    """GraphSense's base64 byte fields -> hex."""
    return None if value is None else base64.b64decode(value).hex()
