// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Forwarder: moves ETH on with low-level calls (internal value transfers).
/// @notice The contract keeps nothing: every wei it receives in a call is sent on.
contract Forwarder {
    /// Send all of msg.value to `to` (one internal transfer).
    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "Forwarder: call failed");
    }

    /// Send `toA` wei to `a` and the rest of msg.value to `b` (two internal transfers).
    function split(address payable a, address payable b, uint256 toA) external payable {
        require(toA <= msg.value, "Forwarder: toA > value");
        (bool okA, ) = a.call{value: toA}("");
        require(okA, "Forwarder: call a failed");
        (bool okB, ) = b.call{value: msg.value - toA}("");
        require(okB, "Forwarder: call b failed");
    }

    /// Forward msg.value through another Forwarder to `to` (nested internal transfers:
    /// this contract -> next, then next -> to, one call level deeper).
    function forwardVia(Forwarder next, address payable to) external payable {
        next.forward{value: msg.value}(to);
    }
}
