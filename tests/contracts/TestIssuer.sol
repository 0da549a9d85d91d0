// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title TestIssuer: a stablecoin with both issuers' freeze functions, for fundtrail's freeze tests.
/// @notice 6 decimals like USDT and USDC. Tether-style: addBlackList / removeBlackList /
///         destroyBlackFunds emit AddedBlackList(address), RemovedBlackList(address) and
///         DestroyedBlackFunds(address, uint256) with the address in the data (as Tether's
///         TetherToken does, on Ethereum and TRON; destroying burns the balance without a Transfer
///         event, as Tether's does). Circle-style: blacklist / unBlacklist emit Blacklisted(address
///         indexed) and UnBlacklisted(address indexed) (as Circle's FiatToken does). A blacklisted
///         account can neither send nor receive. `emitRaw` emits any log (topics and data as given):
///         the tests use it for malformed freeze events.
contract TestIssuer {
    string public name;
    string public symbol;
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => bool) public isBlackListed;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event AddedBlackList(address _user);
    event RemovedBlackList(address _user);
    event DestroyedBlackFunds(address _blackListedUser, uint256 _balance);
    event Blacklisted(address indexed _account);
    event UnBlacklisted(address indexed _account);

    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
        owner = msg.sender;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "TestIssuer: not owner");
        _;
    }

    function mint(address to, uint256 value) external onlyOwner {
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!isBlackListed[msg.sender] && !isBlackListed[to], "TestIssuer: blacklisted");
        require(balanceOf[msg.sender] >= value, "TestIssuer: balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }

    // -- Tether-style ----------------------------------------------------------------------------
    function addBlackList(address user) external onlyOwner {
        isBlackListed[user] = true;
        emit AddedBlackList(user);
    }

    function removeBlackList(address user) external onlyOwner {
        isBlackListed[user] = false;
        emit RemovedBlackList(user);
    }

    function destroyBlackFunds(address user) external onlyOwner {
        require(isBlackListed[user], "TestIssuer: not blacklisted");
        uint256 dirty = balanceOf[user];
        balanceOf[user] = 0;
        totalSupply -= dirty;
        emit DestroyedBlackFunds(user, dirty);
    }

    // -- Circle-style ----------------------------------------------------------------------------
    function blacklist(address account) external onlyOwner {
        isBlackListed[account] = true;
        emit Blacklisted(account);
    }

    function unBlacklist(address account) external onlyOwner {
        isBlackListed[account] = false;
        emit UnBlacklisted(account);
    }

    // -- any log, as given -----------------------------------------------------------------------
    function emitRaw(bytes32[] calldata topics, bytes calldata data) external {
        bytes memory d = data;
        uint256 n = topics.length;
        require(n <= 4, "TestIssuer: at most 4 topics");
        assembly {
            let p := add(d, 32)
            let len := mload(d)
            switch n
            case 0 { log0(p, len) }
            case 1 { log1(p, len, calldataload(topics.offset)) }
            case 2 { log2(p, len, calldataload(topics.offset), calldataload(add(topics.offset, 32))) }
            case 3 {
                log3(p, len, calldataload(topics.offset), calldataload(add(topics.offset, 32)),
                     calldataload(add(topics.offset, 64)))
            }
            default {
                log4(p, len, calldataload(topics.offset), calldataload(add(topics.offset, 32)),
                     calldataload(add(topics.offset, 64)), calldataload(add(topics.offset, 96)))
            }
        }
    }
}
