"""Scenario simulator: synthetic economies with laundering typologies and their ground truth.

Owns the economy engine (`economy`, `actors`, `wallet`, `events`), the laundering typologies
(`typologies`), CoinJoins (`coinjoin` for participants and coordinators; `wasabi`, `whirlpool`,
`joinmarket` for the protocols' shapes), the crime cases (`cases`), the scenarios
(`scenario.simulate`), the streaming blk-file output (`chainout`), the ground-truth files
(`truth`), the taint answer-key oracle (`oracle`) and the training exercises (`exercises`,
`exercise_coinjoin`, `exercise_check`). The EVM simulator lives in `sim.evm`. See
docs/simulator.md.
"""
