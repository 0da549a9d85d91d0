"""Who may do what, and the record of what they did.

This package owns the roles and their permissions (`roles`), the users and API tokens kept in
the catalog (`users`, `tokens`; only slow salted hashes of token secrets are stored, `hashing`)
and the hash-chained, append-only audit log in the store directory (`audit`, `audit_verify`)
that lets a court check who looked up what and when (docs/security.md). It sits beside `cases`
and `watch`, below the service layer (`fundtrail.workspace.access` is its only door).
"""
