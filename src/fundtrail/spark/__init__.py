"""Apache Spark jobs over the same Parquet lake (the optional `spark` extra; docs/spark.md).

Each job reads a chain's committed lake files and writes its result where and as the
single-machine path writes it: `resolve` (late input links), `cluster` (a full clustering run),
`stats` (per-address and per-cluster totals), `exposure` (the whole-chain exposure index).
PySpark is imported only inside the jobs, so this package imports without it;
`session.require_pyspark` says which extra to install.
"""
