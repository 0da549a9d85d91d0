"""Exposure and explainable risk scoring (KYT): where an address's funds came from and went, by category.

A score is a number 0-100 plus the list of reasons (tag, source, share, hops, direction) that made
it, under a named, versioned rule profile (YAML); see docs/risk.md.
"""
