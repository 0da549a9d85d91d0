// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title SimStable: the simulator's stablecoin, shaped like USDT/USDC.
/// @notice 6 decimals. The issuer mints and can freeze an address (as Tether's addBlackList
///         and Circle's blacklist do): a frozen address can neither send nor receive.
contract SimStable {
    string public constant name = "Simulated USD";
    string public constant symbol = "sUSD";
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    address public immutable issuer;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => bool) public frozen;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event AddressFrozen(address indexed account);
    event AddressUnfrozen(address indexed account);

    constructor() {
        issuer = msg.sender;
    }

    modifier onlyIssuer() {
        require(msg.sender == issuer, "SimStable: not issuer");
        _;
    }

    function mint(address to, uint256 value) external onlyIssuer {
        require(!frozen[to], "SimStable: frozen");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function freeze(address account) external onlyIssuer {
        frozen[account] = true;
        emit AddressFrozen(account);
    }

    function unfreeze(address account) external onlyIssuer {
        frozen[account] = false;
        emit AddressUnfrozen(account);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        require(allowed >= value, "SimStable: allowance");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(!frozen[from] && !frozen[to], "SimStable: frozen");
        require(balanceOf[from] >= value, "SimStable: balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
