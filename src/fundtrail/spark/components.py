"""Connected components by large-star / small-star (Kiveris et al., "Connected Components in
MapReduce and Beyond", SoCC 2014), in DataFrame operations only (no GraphFrames jar).

Edges are pairs (v, u) of node ids. Large-star connects every larger neighbour of a node to the
node's smallest neighbourhood member; small-star connects a node and its smaller neighbours to the
smallest of them. Both keep the components, and alternating them converges in O(log^2 n) rounds to
a forest of stars, each centred on its component's smallest id: the cluster id the single-machine
union-find gives (`UnionFind.labels`: the smallest address id of the set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: A bound on the rounds (the algorithm needs about log2(n)^2 in the worst case; real graphs few).
MAX_ROUNDS = 200


def _large_star(e: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    both = e.select("v", "u").unionByName(e.select(F.col("u").alias("v"), F.col("v").alias("u")))
    mins = both.groupBy("v").agg(F.min("u").alias("m"))
    mins = mins.select("v", F.least("v", "m").alias("m"))
    out = both.where(F.col("u") > F.col("v")).join(mins, "v").select(F.col("u").alias("v"), F.col("m").alias("u"))
    return out.distinct()


def _small_star(e: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    # orient every edge from its larger to its smaller end
    d = e.select(F.greatest("v", "u").alias("v"), F.least("v", "u").alias("u")).distinct()
    mins = d.groupBy("v").agg(F.min("u").alias("m"))
    out = d.join(mins, "v").where(F.col("u") != F.col("m")).select(F.col("u").alias("v"), F.col("m").alias("u"))
    out = out.unionByName(mins.select("v", F.col("m").alias("u")))
    return out.distinct()


def _is_star_forest(e: DataFrame) -> bool:
    """Every node has one edge, to a centre that has none (one Spark job)."""
    from pyspark.sql import functions as F

    per = e.groupBy("v").agg(F.count("*").alias("c"), F.min("u").alias("u"))
    centres = per.select(F.col("v").alias("u"), F.lit(True).alias("has_parent"))
    bad = per.join(centres, "u", "left").where((F.col("c") > 1) | F.col("has_parent").isNotNull())
    return bad.limit(1).count() == 0


def components(edges: DataFrame) -> tuple[DataFrame, int]:
    """(v, root) for every node on an edge, root = the smallest id of its component (the root's own
    row is left out); and the number of rounds taken. `edges` has columns a and b."""
    from pyspark.sql import functions as F

    e = (edges.where(F.col("a") != F.col("b"))
         .select(F.greatest("a", "b").alias("v"), F.least("a", "b").alias("u")).distinct())
    e = e.localCheckpoint(eager=True)
    for rounds in range(1, MAX_ROUNDS + 1):
        e = _small_star(_large_star(e)).localCheckpoint(eager=True)
        if _is_star_forest(e):
            return e.select("v", F.col("u").alias("root")), rounds
    raise RuntimeError(f"large-star/small-star did not converge in {MAX_ROUNDS} rounds")
