"""Attribution: tags with provenance, the category taxonomy, actors, and importers for real label sources.

A tag says an address (or cluster, or actor) belongs to an actor or category, with confidence, source,
creator, date and import provenance; conflicting tags are reported, never silently overwritten.
"""
