// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title SimPool: a fixed-denomination ETH pool with the on-chain shape of a Tornado Cash instance.
/// @notice One contract per denomination, as Tornado deploys one instance per amount. A deposit
///         pays exactly the denomination with a commitment keccak256(nullifier, secret); a
///         withdrawal, usually sent by a relayer who pays the gas, pays the denomination minus
///         the relayer's fee to any recipient and the fee to the relayer. The events have
///         Tornado's signatures. Unlike Tornado there is no zk proof: the withdrawal reveals the
///         note (nullifier, secret) in its calldata, which links it to its deposit for anyone
///         who reads calldata; the simulator's analyses must use the transfer shape only.
contract SimPool {
    uint256 public immutable denomination;
    uint32 public nextIndex;
    mapping(bytes32 => bool) public commitments;
    mapping(bytes32 => bool) public nullifierHashes;

    event Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp);
    event Withdrawal(address to, bytes32 nullifierHash, address indexed relayer, uint256 fee);

    constructor(uint256 denomination_) {
        require(denomination_ > 0, "SimPool: denomination");
        denomination = denomination_;
    }

    function deposit(bytes32 commitment) external payable {
        require(msg.value == denomination, "SimPool: wrong amount");
        require(!commitments[commitment], "SimPool: commitment known");
        commitments[commitment] = true;
        emit Deposit(commitment, nextIndex, block.timestamp);
        nextIndex += 1;
    }

    function withdraw(bytes32 nullifier, bytes32 secret, address payable recipient,
                      address payable relayer, uint256 fee) external {
        require(fee <= denomination, "SimPool: fee");
        require(commitments[keccak256(abi.encodePacked(nullifier, secret))], "SimPool: unknown note");
        bytes32 nullifierHash = keccak256(abi.encodePacked(nullifier));
        require(!nullifierHashes[nullifierHash], "SimPool: note spent");
        nullifierHashes[nullifierHash] = true;
        (bool ok, ) = recipient.call{value: denomination - fee}("");
        require(ok, "SimPool: payment");
        if (fee > 0) {
            (ok, ) = relayer.call{value: fee}("");
            require(ok, "SimPool: fee payment");
        }
        emit Withdrawal(recipient, nullifierHash, relayer, fee);
    }
}
