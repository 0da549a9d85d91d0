// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title Reverter: failed calls, at the top level and inside a transaction that succeeds.
contract Reverter {
    /// Always reverts with a reason: the transaction is mined with status 0, no value moves.
    function fail() external payable {
        revert("Reverter: always fails");
    }

    /// Calls this contract's `fail` with `inner` wei; the inner call reverts (its value
    /// returns to this contract) but the outer call catches it and succeeds. msg.value
    /// stays in this contract. Returns whether the inner call succeeded (always false).
    function tryFail(uint256 inner) external payable returns (bool) {
        require(inner <= address(this).balance, "Reverter: inner > balance");
        try this.fail{value: inner}() {
            return true;
        } catch {
            return false;
        }
    }

    /// Same through a low-level call whose false return is ignored: sends `inner` wei to
    /// `target` (a contract that reverts) and succeeds anyway.
    function callAndIgnore(address target, uint256 inner) external payable returns (bool ok) {
        (ok, ) = target.call{value: inner}(abi.encodeWithSelector(Reverter.fail.selector));
    }
}
