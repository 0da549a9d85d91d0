"""Ethereum and EVM chains: JSON-RPC shapes decoded into rows, token events, traces, EIP-55 addresses."""
