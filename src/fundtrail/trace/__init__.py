"""Fund tracing: the graph index (memory-mapped adjacency), taint policies, forward/backward traces, paths.

Every trace states its policy, limits, and where and why it stopped (DESIGN.md section 3); policies
are interchangeable behind one interface and measured against the simulator's answer keys.
"""
