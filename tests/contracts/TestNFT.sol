// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title TestNFT: a minimal ERC-721 (mint by owner, transferFrom, approvals).
/// @notice Its Transfer event has three indexed arguments (from, to, tokenId): four topics,
///         which is how ingest tells it from an ERC-20 Transfer (three topics).
contract TestNFT {
    string public name = "Test NFT";
    string public symbol = "TNFT";
    address public owner;

    mapping(uint256 => address) public ownerOf;
    mapping(address => uint256) public balanceOf;
    mapping(uint256 => address) public getApproved;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);

    constructor() {
        owner = msg.sender;
    }

    function mint(address to, uint256 tokenId) external {
        require(msg.sender == owner, "TestNFT: not owner");
        require(to != address(0), "TestNFT: zero address");
        require(ownerOf[tokenId] == address(0), "TestNFT: minted");
        ownerOf[tokenId] = to;
        balanceOf[to] += 1;
        emit Transfer(address(0), to, tokenId);
    }

    function approve(address approved, uint256 tokenId) external {
        require(msg.sender == ownerOf[tokenId], "TestNFT: not token owner");
        getApproved[tokenId] = approved;
        emit Approval(msg.sender, approved, tokenId);
    }

    function transferFrom(address from, address to, uint256 tokenId) external {
        require(ownerOf[tokenId] == from, "TestNFT: wrong from");
        require(to != address(0), "TestNFT: zero address");
        require(msg.sender == from || msg.sender == getApproved[tokenId], "TestNFT: not allowed");
        delete getApproved[tokenId];
        ownerOf[tokenId] = to;
        balanceOf[from] -= 1;
        balanceOf[to] += 1;
        emit Transfer(from, to, tokenId);
    }
}
