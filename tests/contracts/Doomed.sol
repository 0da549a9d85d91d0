// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Doomed: a contract that can self-destruct, sending its whole balance away.
/// @notice Since Cancun (EIP-6780) SELFDESTRUCT only deletes the contract when it runs in the
///         transaction that created it; otherwise it just sends the balance to the beneficiary.
///         That balance movement is what the tests need.
contract Doomed {
    address public immutable owner;

    constructor() payable {
        owner = msg.sender;
    }

    receive() external payable {}

    function destroy(address payable beneficiary) external {
        require(msg.sender == owner, "Doomed: not owner");
        selfdestruct(beneficiary);
    }
}
