// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title SimBatcher: batched ETH payouts, as exchanges send withdrawals in one transaction.
/// @notice The caller sends the sum of `values`; each recipient gets its value by an internal call
///         (the pattern of the Disperse contract and of exchanges' batch withdrawals).
contract SimBatcher {
    function disperseEther(address payable[] calldata recipients, uint256[] calldata values) external payable {
        require(recipients.length == values.length, "SimBatcher: lengths");
        uint256 total = 0;
        for (uint256 i = 0; i < recipients.length; i++) {
            total += values[i];
            (bool ok, ) = recipients[i].call{value: values[i]}("");
            require(ok, "SimBatcher: payment");
        }
        require(total == msg.value, "SimBatcher: value");
    }
}
