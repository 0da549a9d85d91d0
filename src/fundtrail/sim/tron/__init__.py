"""The TRON side of the scenario simulator: an economy of exchanges, users, an OTC desk, Tether's
USDT-TRC20 and an energy-rental service, a laundering case with energy-delegated mules, an OTC peel
and an issuer freeze, written as java-tron HTTP answers (the replay format) with ground truth and
taint answers (docs/simulator-tron.md)."""
