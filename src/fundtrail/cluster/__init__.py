"""Address clustering: CoinJoin detection, change heuristics, union-find over common inputs, with evidence.

Heuristics are named values that return evidence (transaction, rule, confidence, source), never bare
booleans; every cluster link can be explained by a chain of evidence transactions (DESIGN.md section 3).
"""
