"""java-tron system contracts (a transaction's `raw_data.contract[0]`) decoded into what they move.

A TRON transaction is one typed contract, not a call with value: TRX moves only through a few types
(TransferContract, the call value of TriggerSmartContract/CreateSmartContract, ParticipateAssetIssue),
TRC-10 through TransferAssetContract and the token call value, witness rewards through
WithdrawBalance (its amount is in the execution result). Everything else (staking, resource
delegation, votes, account and witness administration) moves no value but is evidence: who pays
energy for whom, who votes for whom, who created which account. Those become typed events.

Field names are java-tron's HTTP JSON (`visible=false`: addresses `41…` hex, bytes as hex); a field
that must be there and is not, or has the wrong type, is a `DataError` naming block, transaction and
field. A contract type this table does not know is kept (its transaction row) and reported, never
fatal: a new protocol version must not stop an ingest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fundtrail.chains.ethereum.keccak import keccak256
from fundtrail.chains.tron.address import node_address, to_base58
from fundtrail.errors import DataError

#: protocol.Transaction.Contract.ContractType (Tron.proto): name -> code (stored as transactions.tx_type).
CONTRACT_TYPES: dict[str, int] = {
    "AccountCreateContract": 0, "TransferContract": 1, "TransferAssetContract": 2,
    "VoteAssetContract": 3, "VoteWitnessContract": 4, "WitnessCreateContract": 5,
    "AssetIssueContract": 6, "WitnessUpdateContract": 8, "ParticipateAssetIssueContract": 9,
    "AccountUpdateContract": 10, "FreezeBalanceContract": 11, "UnfreezeBalanceContract": 12,
    "WithdrawBalanceContract": 13, "UnfreezeAssetContract": 14, "UpdateAssetContract": 15,
    "ProposalCreateContract": 16, "ProposalApproveContract": 17, "ProposalDeleteContract": 18,
    "SetAccountIdContract": 19, "CustomContract": 20, "CreateSmartContract": 30,
    "TriggerSmartContract": 31, "GetContract": 32, "UpdateSettingContract": 33,
    "ExchangeCreateContract": 41, "ExchangeInjectContract": 42, "ExchangeWithdrawContract": 43,
    "ExchangeTransactionContract": 44, "UpdateEnergyLimitContract": 45,
    "AccountPermissionUpdateContract": 46, "ClearABIContract": 48, "UpdateBrokerageContract": 49,
    "ShieldedTransferContract": 51, "MarketSellAssetContract": 52, "MarketCancelOrderContract": 53,
    "FreezeBalanceV2Contract": 54, "UnfreezeBalanceV2Contract": 55,
    "WithdrawExpireUnfreezeContract": 56, "DelegateResourceContract": 57,
    "UnDelegateResourceContract": 58, "CancelAllUnfreezeV2Contract": 59,
}

# type -> (event kind, field naming the counterparty, field with the amount, detail fields).
# Amounts are sun, except votes (vote_witness: TRON Power units) and TRC-10 quantities.
_EVENTS: dict[str, tuple[str, str | None, str | None, tuple[str, ...]]] = {
    "AccountCreateContract": ("account_create", "account_address", None, ("type",)),
    "VoteAssetContract": ("vote_asset", None, "count", ("support",)),
    "WitnessCreateContract": ("witness_create", None, None, ("url",)),
    "AssetIssueContract": ("asset_issue", None, "total_supply", ("name", "abbr", "precision")),
    "WitnessUpdateContract": ("witness_update", None, None, ("update_url",)),
    "ParticipateAssetIssueContract": ("participate_asset_issue", "to_address", "amount", ("asset_name",)),
    "AccountUpdateContract": ("account_update", None, None, ("account_name",)),
    "FreezeBalanceContract": ("freeze_balance", "receiver_address", "frozen_balance", ("frozen_duration",)),
    "UnfreezeBalanceContract": ("unfreeze_balance", "receiver_address", None, ()),
    "UnfreezeAssetContract": ("unfreeze_asset", None, None, ()),
    "UpdateAssetContract": ("update_asset", None, None, ("url", "new_limit", "new_public_limit")),
    "ProposalCreateContract": ("proposal_create", None, None, ()),
    "ProposalApproveContract": ("proposal_approve", None, None, ("proposal_id", "is_add_approval")),
    "ProposalDeleteContract": ("proposal_delete", None, None, ("proposal_id",)),
    "SetAccountIdContract": ("set_account_id", None, None, ("account_id",)),
    "CustomContract": ("custom", None, None, ()),
    "GetContract": ("get_contract", "contract_address", None, ()),
    "UpdateSettingContract": ("update_setting", "contract_address", None, ("consume_user_resource_percent",)),
    "ExchangeCreateContract": ("exchange_create", None, None,
                               ("first_token_id", "first_token_balance", "second_token_id", "second_token_balance")),
    "ExchangeInjectContract": ("exchange_inject", None, "quant", ("exchange_id", "token_id")),
    "ExchangeWithdrawContract": ("exchange_withdraw", None, "quant", ("exchange_id", "token_id")),
    "ExchangeTransactionContract": ("exchange_transaction", None, "quant", ("exchange_id", "token_id", "expected")),
    "UpdateEnergyLimitContract": ("update_energy_limit", "contract_address", None, ("origin_energy_limit",)),
    "AccountPermissionUpdateContract": ("account_permission_update", None, None, ()),
    "ClearABIContract": ("clear_abi", "contract_address", None, ()),
    "UpdateBrokerageContract": ("update_brokerage", None, None, ("brokerage",)),
    "ShieldedTransferContract": ("shielded_transfer", "transparent_to_address", "from_amount", ("to_amount",)),
    "MarketSellAssetContract": ("market_sell_asset", None, "sell_token_quantity",
                                ("sell_token_id", "buy_token_id", "buy_token_quantity")),
    "MarketCancelOrderContract": ("market_cancel_order", None, None, ("order_id",)),
    "FreezeBalanceV2Contract": ("freeze_balance_v2", None, "frozen_balance", ()),
    "UnfreezeBalanceV2Contract": ("unfreeze_balance_v2", None, "unfreeze_balance", ()),
    "WithdrawExpireUnfreezeContract": ("withdraw_expire_unfreeze", None, None, ()),
    "DelegateResourceContract": ("delegate_resource", "receiver_address", "balance", ("lock", "lock_period")),
    "UnDelegateResourceContract": ("undelegate_resource", "receiver_address", "balance", ()),
    "CancelAllUnfreezeV2Contract": ("cancel_all_unfreeze_v2", None, None, ()),
}
#: contracts whose `resource` field (BANDWIDTH when omitted: protobuf drops enum defaults) is kept
_RESOURCE_TYPES = frozenset({"FreezeBalanceContract", "UnfreezeBalanceContract", "FreezeBalanceV2Contract",
                             "UnfreezeBalanceV2Contract", "DelegateResourceContract",
                             "UnDelegateResourceContract"})
#: the amount these report is only in the execution result (TransactionInfo)
_INFO_AMOUNT = {"UnfreezeBalanceContract": "unfreeze_amount",
                "WithdrawExpireUnfreezeContract": "withdraw_expire_amount"}
_TEXT_FIELDS = frozenset({"url", "update_url", "name", "abbr", "account_name", "account_id", "asset_name"})
#: the event kinds, for docs and readers
EVENT_KINDS = tuple(sorted({k for k, *_ in _EVENTS.values()} | {"vote_witness", "unknown"}))


@dataclass
class Decoded:
    """What one transaction's contract does: parties, TRX value, TRC-10 value, typed events."""

    type_name: str
    type_code: int | None
    owner: bytes | None
    to: bytes | None = None
    value: int = 0  # sun moved owner -> `to` (or the created contract) by the transaction itself
    asset: str | None = None  # TRC-10 asset key (id, or the name before ids existed)
    asset_amount: int = 0  # of `asset`, owner -> `to`
    input: bytes | None = None
    reward: int = 0  # WithdrawBalance: witness/vote reward paid to the owner
    creates: bool = False  # CreateSmartContract: value goes to the created contract
    events: list[dict] = field(default_factory=list)


def integer(obj: dict, key: str, where: str, *, default: int | None = 0, required: bool = False) -> int | None:
    """A non-negative JSON integer field (`default` when absent; DataError when required or bad).
    Protobuf JSON leaves zeros out, so most fields are optional with 0 as their value."""
    value = obj.get(key)
    if value is None:
        if required:
            raise DataError(f"{where}: field {key} is missing")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"{where}: field {key} is {value!r}, expected a non-negative integer")
    return value


def hex_field(obj: dict, key: str, where: str) -> bytes | None:
    """A bytes field given as hex (None when absent)."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, str) and len(value) % 2 == 0:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise DataError(f"{where}: field {key} is {shown}, expected hex bytes")


def text_field(value: object) -> str:
    """A protobuf bytes field that holds text (hex with visible=false, plain with visible=true)."""
    if not isinstance(value, str):
        return str(value)
    if len(value) % 2 == 0 and value and all(c in "0123456789abcdefABCDEF" for c in value):
        raw = bytes.fromhex(value)
        if all(32 <= b < 127 for b in raw):
            return raw.decode("ascii")
    return value


def asset_address(key: str) -> bytes:
    """The 20-byte key a TRC-10 asset is stored under (its `asset_id` in transfers): the numeric
    id as a big-endian integer (asset 1002000 -> 0x00…0f4a10: far below any real account hash), or
    for the name-keyed assets of 2018 (before ids) the last 20 bytes of keccak256("trc10:" + name)."""
    if key.isdigit() and len(key) <= 18:
        return int(key).to_bytes(20, "big")
    return keccak256(b"trc10:" + key.encode("utf-8"))[12:]


def _address(obj: dict, key: str, where: str, *, required: bool = False) -> bytes | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise DataError(f"{where}: field {key} is missing")
        return None
    return node_address(value, f"{where}, field {key}")


def _resource(obj: dict) -> str:
    value = obj.get("resource", "BANDWIDTH")
    return str(value).lower() if isinstance(value, str) else "bandwidth"


def _detail(type_name: str, obj: dict, keys: tuple[str, ...]) -> dict:
    out: dict[str, object] = {"contract": type_name}
    for k in keys:
        if k in obj and isinstance(obj[k], (int, str, bool)):
            out[k] = text_field(obj[k]) if k in _TEXT_FIELDS else obj[k]
    return out


def _event(kind: str, to: bytes | None, amount: int | None, *, asset: str | None = None,
           resource: str | None = None, detail: dict | None = None) -> dict:
    return {"kind": kind, "to_address": to, "asset": asset, "amount": amount, "resource": resource,
            "detail": detail}


def decode_contract(contract: object, info: dict, where: str, *, genesis: bool = False) -> Decoded:
    """Decode `raw_data.contract[0]` of a transaction whose execution result is `info` ({} if none).

    `genesis`: block 0, whose allocations name a text as their sender: it becomes None (minted)."""
    if not isinstance(contract, dict):
        raise DataError(f"{where}: field raw_data.contract[0] is {type(contract).__name__}, expected an object")
    name = contract.get("type")
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: field raw_data.contract[0].type is missing")
    param = contract.get("parameter")
    value = param.get("value") if isinstance(param, dict) else None
    if not isinstance(value, dict):
        raise DataError(f"{where}: field raw_data.contract[0].parameter.value is missing")
    here = f"{where} ({name})"
    code = CONTRACT_TYPES.get(name)
    if code is None:
        owner = value.get("owner_address")
        try:
            who = node_address(owner, here) if owner is not None else None
        except DataError:
            who = None
        return Decoded(name, None, who, events=[_event("unknown", None, None, detail={"contract": name})])
    try:
        owner = _address(value, "owner_address", here, required=name != "ShieldedTransferContract")
    except DataError:
        if not genesis:
            raise
        owner = None
    d = Decoded(name, code, owner)
    if name == "TransferContract":
        d.to = _address(value, "to_address", here, required=True)
        d.value = integer(value, "amount", here, required=True) or 0
    elif name == "TransferAssetContract":
        d.to = _address(value, "to_address", here, required=True)
        d.asset = _asset_key(value, "asset_name", here)
        d.asset_amount = integer(value, "amount", here, required=True) or 0
    elif name == "TriggerSmartContract":
        d.to = _address(value, "contract_address", here, required=True)
        d.value = integer(value, "call_value", here) or 0
        d.input = hex_field(value, "data", here)
        _call_token(d, value, here)
    elif name == "CreateSmartContract":
        new = value.get("new_contract")
        if not isinstance(new, dict):
            raise DataError(f"{here}: field new_contract is missing")
        d.creates = True
        d.value = integer(new, "call_value", here) or 0
        d.input = hex_field(new, "bytecode", here)
        _call_token(d, value, here)
    elif name == "WithdrawBalanceContract":
        d.reward = integer(info, "withdraw_amount", here) or 0
    elif name == "VoteWitnessContract":
        votes = value.get("votes") or []
        if not isinstance(votes, list):
            raise DataError(f"{here}: field votes is {type(votes).__name__}, expected a list")
        for i, v in enumerate(votes):
            if not isinstance(v, dict):
                raise DataError(f"{here}: field votes[{i}] is not an object")
            d.events.append(_event("vote_witness", _address(v, "vote_address", here, required=True),
                                   integer(v, "vote_count", here), detail={"contract": name, "unit": "votes"}))
    else:
        d.events.append(_standard_event(name, value, info, here))
        if name == "ParticipateAssetIssueContract":  # TRX paid to the issuer for the asset
            d.to = _address(value, "to_address", here, required=True)
            d.value = integer(value, "amount", here) or 0
    if d.to is None and d.events and d.events[0]["to_address"] is not None:
        d.to = d.events[0]["to_address"]
    return d


def _asset_key(obj: dict, key: str, where: str) -> str:
    value = obj.get(key)
    if value is None or value == "":
        raise DataError(f"{where}: field {key} is missing")
    return text_field(value)


def _call_token(d: Decoded, value: dict, where: str) -> None:
    amount = integer(value, "call_token_value", where) or 0
    token = value.get("token_id")
    if amount and token is not None:
        if isinstance(token, bool) or not isinstance(token, (int, str)):
            raise DataError(f"{where}: field token_id is {token!r}, expected a TRC-10 id")
        d.asset, d.asset_amount = str(token), amount


def _standard_event(name: str, value: dict, info: dict, where: str) -> dict:
    kind, to_key, amount_key, detail_keys = _EVENTS[name]
    to = _address(value, to_key, where) if to_key else None
    amount = integer(value, amount_key, where) if amount_key else None
    if name in _INFO_AMOUNT:
        amount = integer(info, _INFO_AMOUNT[name], where)
    detail = _detail(name, value, detail_keys)
    asset = None
    if name == "ParticipateAssetIssueContract":
        asset = _asset_key(value, "asset_name", where)
    elif name == "CancelAllUnfreezeV2Contract":
        cancelled = info.get("cancel_unfreezeV2_amount") or []
        pairs = cancelled if isinstance(cancelled, list) else [cancelled]
        total = 0
        for p in pairs:
            if isinstance(p, dict):  # [{"key": "ENERGY", "value": n}] or {"ENERGY": n}
                items = [(p["key"], p.get("value", 0))] if "key" in p else list(p.items())
                for k, n in items:
                    if isinstance(n, int) and not isinstance(n, bool):
                        detail[str(k).lower()] = n
                        total += n
        amount = total
    elif name == "AssetIssueContract" and isinstance(info.get("assetIssueID"), str):
        detail["asset_id"] = info["assetIssueID"]
    elif name == "AccountPermissionUpdateContract":
        detail["keys"] = sorted(_permission_keys(value, where))
    elif name == "ShieldedTransferContract":
        sender = _address(value, "transparent_from_address", where)
        detail["transparent_from"] = to_base58(sender) if sender is not None else None
    resource = _resource(value) if name in _RESOURCE_TYPES else None
    return _event(kind, to, amount, asset=asset, resource=resource, detail=detail)


def _permission_keys(value: dict, where: str) -> set[str]:
    """The key addresses an AccountPermissionUpdate gives control to (evidence of common control)."""
    found: set[str] = set()
    perms = [value.get("owner"), value.get("witness"), *(value.get("actives") or [])]
    for perm in perms:
        if isinstance(perm, dict):
            for key in perm.get("keys") or []:
                if isinstance(key, dict) and key.get("address"):
                    found.add(to_base58(node_address(key["address"], f"{where}, permission key")))
    return found
