"""fundtrail: open-source blockchain intelligence for anti-money-laundering investigations.

Packages are named after the pipeline's domain nouns (see docs/architecture.md); imports point one
way, from `model`/`chains` through `store`, `ingest` to the interfaces (`cli`).
"""

__version__ = "0.1.0"
