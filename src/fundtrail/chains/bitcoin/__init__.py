"""Bitcoin: network parameters, block and transaction encoding, scripts and addresses."""
