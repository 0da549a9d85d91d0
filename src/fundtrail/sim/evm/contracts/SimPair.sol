// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

interface ISimToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title SimPair: a constant-product market between ETH and one token (Uniswap v2's formula).
/// @notice Output = in * 997 * reserveOut / (reserveIn * 1000 + in * 997): the 0.3 % fee stays in
///         the pool. token0 is the token, token1 is ETH (held natively here, where Uniswap v2
///         holds WETH and its router wraps). Emits Uniswap v2's Swap and Sync events. Liquidity
///         comes from its provider only; no LP token is minted.
contract SimPair {
    address public immutable token0;
    address public immutable provider;
    uint112 private reserve0;
    uint112 private reserve1;

    event Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out,
               uint256 amount1Out, address indexed to);
    event Sync(uint112 reserve0, uint112 reserve1);

    constructor(address token) {
        token0 = token;
        provider = msg.sender;
    }

    function getReserves() external view returns (uint112, uint112, uint32) {
        return (reserve0, reserve1, 0);
    }

    function addLiquidity(uint256 tokenAmount) external payable {
        require(msg.sender == provider, "SimPair: not provider");
        require(ISimToken(token0).transferFrom(msg.sender, address(this), tokenAmount), "SimPair: pull");
        _sync(reserve0 + tokenAmount, reserve1 + msg.value);
    }

    function quote(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 withFee = amountIn * 997;
        return withFee * reserveOut / (reserveIn * 1000 + withFee);
    }

    function swapETHForTokens(uint256 minOut, address to) external payable returns (uint256 out) {
        out = quote(msg.value, reserve1, reserve0);
        require(out >= minOut && out > 0, "SimPair: slippage");
        require(ISimToken(token0).transfer(to, out), "SimPair: pay");
        emit Swap(msg.sender, 0, msg.value, out, 0, to);
        _sync(reserve0 - out, reserve1 + msg.value);
    }

    function swapTokensForETH(uint256 amountIn, uint256 minOut, address payable to) external returns (uint256 out) {
        out = quote(amountIn, reserve0, reserve1);
        require(out >= minOut && out > 0, "SimPair: slippage");
        require(ISimToken(token0).transferFrom(msg.sender, address(this), amountIn), "SimPair: pull");
        (bool ok, ) = to.call{value: out}("");
        require(ok, "SimPair: pay");
        emit Swap(msg.sender, amountIn, 0, 0, out, to);
        _sync(reserve0 + amountIn, reserve1 - out);
    }

    function _sync(uint256 r0, uint256 r1) private {
        require(r0 <= type(uint112).max && r1 <= type(uint112).max, "SimPair: overflow");
        reserve0 = uint112(r0);
        reserve1 = uint112(r1);
        emit Sync(reserve0, reserve1);
    }
}
