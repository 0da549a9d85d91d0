"""Contract types decoded by hand-checked expectations (field names as java-tron's HTTP JSON gives
them, `visible=false`)."""

from __future__ import annotations

import pytest

from fundtrail.chains.tron.address import to_base58
from fundtrail.chains.tron.contracts import CONTRACT_TYPES, EVENT_KINDS, asset_address, decode_contract, text_field
from fundtrail.errors import DataError

A, B, C = "41" + "aa" * 20, "41" + "bb" * 20, "41" + "cc" * 20
RA, RB, RC = bytes.fromhex("aa" * 20), bytes.fromhex("bb" * 20), bytes.fromhex("cc" * 20)


def _c(name: str, **value: object) -> dict:
    return {"type": name, "parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{name}"}}


def test_delegation_names_payer_and_receiver():
    d = decode_contract(_c("DelegateResourceContract", owner_address=A, receiver_address=B, balance=5_000_000,
                           resource="ENERGY", lock=True, lock_period=86400), {}, "w")
    assert (d.owner, d.to, d.value, d.type_code) == (RA, RB, 0, 57)
    (e,) = d.events
    assert (e["kind"], e["to_address"], e["amount"], e["resource"]) == ("delegate_resource", RB, 5_000_000, "energy")
    assert e["detail"] == {"contract": "DelegateResourceContract", "lock": True, "lock_period": 86400}
    # BANDWIDTH is protobuf's default: java-tron leaves it out
    (e,) = decode_contract(_c("UnDelegateResourceContract", owner_address=A, receiver_address=B, balance=1), {},
                           "w").events
    assert (e["kind"], e["resource"]) == ("undelegate_resource", "bandwidth")


def test_stake_1_freeze_for_another_account_and_unfreeze_amount_from_the_result():
    (e,) = decode_contract(_c("FreezeBalanceContract", owner_address=A, receiver_address=C, frozen_balance=7,
                              frozen_duration=3, resource="TRON_POWER"), {}, "w").events
    assert (e["kind"], e["to_address"], e["amount"], e["resource"]) == ("freeze_balance", RC, 7, "tron_power")
    (e,) = decode_contract(_c("UnfreezeBalanceContract", owner_address=A), {"unfreeze_amount": 9}, "w").events
    assert (e["kind"], e["amount"], e["to_address"]) == ("unfreeze_balance", 9, None)
    cancelled = [{"key": "ENERGY", "value": 4}, {"key": "BANDWIDTH", "value": 6}]
    (e,) = decode_contract(_c("CancelAllUnfreezeV2Contract", owner_address=A),
                           {"cancel_unfreezeV2_amount": cancelled}, "w").events
    assert (e["amount"], e["detail"]["energy"], e["detail"]["bandwidth"]) == (10, 4, 6)


def test_value_carrying_contracts():
    d = decode_contract(_c("TriggerSmartContract", owner_address=A, contract_address=B, call_value=3,
                           call_token_value=8, token_id=1002000, data="a9059cbb"), {}, "w")
    assert (d.to, d.value, d.asset, d.asset_amount, d.input) == (RB, 3, "1002000", 8, bytes.fromhex("a9059cbb"))
    d = decode_contract(_c("TransferAssetContract", owner_address=A, to_address=B, asset_name="31303032303030",
                           amount=4), {}, "w")
    assert (d.asset, d.asset_amount, d.value, d.type_code) == ("1002000", 4, 0, 2)
    d = decode_contract(_c("WithdrawBalanceContract", owner_address=A), {"withdraw_amount": 12}, "w")
    assert (d.reward, d.events) == (12, [])
    d = decode_contract(_c("CreateSmartContract", owner_address=A, new_contract={"call_value": 2, "bytecode": "6080"}),
                        {}, "w")
    assert (d.creates, d.value, d.input) == (True, 2, bytes.fromhex("6080"))
    d = decode_contract(_c("ParticipateAssetIssueContract", owner_address=A, to_address=B, asset_name="31303030303031",
                           amount=100), {}, "w")
    assert (d.to, d.value, d.events[0]["asset"], d.events[0]["kind"]) == (RB, 100, "1000001", "participate_asset_issue")


def test_votes_and_permissions():
    votes = [{"vote_address": B, "vote_count": 3}, {"vote_address": C, "vote_count": 1}]
    d = decode_contract(_c("VoteWitnessContract", owner_address=A, votes=votes), {}, "w")
    assert [(e["to_address"], e["amount"]) for e in d.events] == [(RB, 3), (RC, 1)]
    d = decode_contract(_c("AccountPermissionUpdateContract", owner_address=A,
                           owner={"keys": [{"address": B, "weight": 1}]},
                           actives=[{"keys": [{"address": C, "weight": 1}]}]), {}, "w")
    assert d.events[0]["detail"]["keys"] == sorted([to_base58(RB), to_base58(RC)])  # codec: test_address.py


def test_asset_keys():
    assert asset_address("1002000") == bytes(17) + (1002000).to_bytes(3, "big")
    assert len(asset_address("BitTorrent")) == 20 and asset_address("BitTorrent") != asset_address("BitTorrenT")
    assert text_field("31303032303030") == "1002000" and text_field("1002000") == "1002000"


def test_tables_are_consistent():
    assert len(set(CONTRACT_TYPES.values())) == len(CONTRACT_TYPES)
    wanted = {"delegate_resource", "undelegate_resource", "vote_witness", "freeze_balance_v2", "unknown"}
    assert wanted <= set(EVENT_KINDS)


@pytest.mark.parametrize(("contract", "message"), [
    ("nope", "w: field raw_data.contract[0] is str, expected an object"),
    ({"parameter": {"value": {}}}, "w: field raw_data.contract[0].type is missing"),
    ({"type": "TransferContract"}, "w: field raw_data.contract[0].parameter.value is missing"),
    (_c("TransferContract", to_address=B, amount=1), "w (TransferContract): field owner_address is missing"),
    (_c("VoteWitnessContract", owner_address=A, votes={"x": 1}), "field votes is dict, expected a list"),
    (_c("TriggerSmartContract", owner_address=A, contract_address=B, data="xyz"), "field data is 'xyz', expected hex"),
    (_c("CreateSmartContract", owner_address=A), "field new_contract is missing"),
])
def test_malformed_contracts(contract, message):
    with pytest.raises(DataError) as exc:
        decode_contract(contract, {}, "w")
    assert message in exc.value.message
