// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title TestMulti: a minimal ERC-1155 (mint by owner, safeTransferFrom, safeBatchTransferFrom).
/// @notice Emits the standard TransferSingle and TransferBatch events. It skips the receiver
///         hooks (onERC1155Received): the tests only send to externally owned accounts.
contract TestMulti {
    address public owner;
    mapping(uint256 => mapping(address => uint256)) public balanceOf;

    event TransferSingle(
        address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value
    );
    event TransferBatch(
        address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values
    );

    constructor() {
        owner = msg.sender;
    }

    function mint(address to, uint256 id, uint256 value) external {
        require(msg.sender == owner, "TestMulti: not owner");
        balanceOf[id][to] += value;
        emit TransferSingle(msg.sender, address(0), to, id, value);
    }

    function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes calldata) external {
        require(msg.sender == from, "TestMulti: not allowed");
        _move(from, to, id, value);
        emit TransferSingle(msg.sender, from, to, id, value);
    }

    function safeBatchTransferFrom(
        address from, address to, uint256[] calldata ids, uint256[] calldata values, bytes calldata
    ) external {
        require(msg.sender == from, "TestMulti: not allowed");
        require(ids.length == values.length, "TestMulti: length mismatch");
        for (uint256 i = 0; i < ids.length; i++) {
            _move(from, to, ids[i], values[i]);
        }
        emit TransferBatch(msg.sender, from, to, ids, values);
    }

    function _move(address from, address to, uint256 id, uint256 value) private {
        require(to != address(0), "TestMulti: zero address");
        require(balanceOf[id][from] >= value, "TestMulti: balance");
        balanceOf[id][from] -= value;
        balanceOf[id][to] += value;
    }
}
