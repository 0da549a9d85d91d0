"""The EVM side of the scenario simulator: an economy with an exchange deposit pattern, a
stablecoin with freezing, a Tornado-shaped pool, a constant-product DEX, a bridge and a laundering
case, played on a real anvil node, recorded as JSON-RPC responses, with ground truth and taint
answers for the account model (see docs/simulator-evm.md)."""
