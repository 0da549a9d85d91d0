"""Who may do what, and the record of what they did.

This package owns the roles and their permissions (`roles`), the users, their web passwords, API
tokens and web sessions kept in the catalog (`users`, `passwords`, `tokens`, `sessions`; only slow
salted hashes of passwords and secrets are stored, `hashing`; `stamp` tells running servers what
changed) and the hash-chained, append-only audit log in the store directory (`audit`, `audit_verify`)
that lets a court check who looked up what and when (docs/security.md). It sits beside `cases`
and `watch`, below the service layer (`fundtrail.workspace.access` is its only door).
"""
