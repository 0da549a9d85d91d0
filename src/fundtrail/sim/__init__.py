"""Scenario simulator: synthetic economies with laundering typologies and their ground truth.

Owns the economy engine (`economy`, `actors`, `wallet`, `events`), the laundering typologies
(`typologies`), the scenarios (`scenario.simulate`), the streaming blk-file output (`chainout`), the
ground-truth files (`truth`) and the taint answer-key oracle (`oracle`). See docs/simulator.md.
"""
