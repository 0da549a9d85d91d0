// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface ISimBridgeToken {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title SimBridge: the source-chain side of a lock-and-mint bridge.
/// @notice Locking ETH or a token emits Locked naming the destination chain id and the
///         recipient there (32 bytes, wide enough for non-EVM addresses); relayers off-chain would
///         mint on the other side. Nothing is ever released here in the simulation.
contract SimBridge {
    uint256 public nonce;

    event Locked(address indexed sender, address indexed token, uint256 amount,
                 uint256 indexed destChainId, bytes32 destAddress, uint256 nonce);

    function lock(uint256 destChainId, bytes32 destAddress) external payable {
        require(msg.value > 0, "SimBridge: nothing");
        emit Locked(msg.sender, address(0), msg.value, destChainId, destAddress, nonce);
        nonce += 1;
    }

    function lockToken(address token, uint256 amount, uint256 destChainId, bytes32 destAddress) external {
        require(amount > 0, "SimBridge: nothing");
        require(ISimBridgeToken(token).transferFrom(msg.sender, address(this), amount), "SimBridge: pull");
        emit Locked(msg.sender, token, amount, destChainId, destAddress, nonce);
        nonce += 1;
    }
}
