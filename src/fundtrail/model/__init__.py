"""Domain types shared by every layer: chain identities and the naming of chains in the store."""
