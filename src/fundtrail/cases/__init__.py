"""Cases: the case file an investigation keeps in the catalog (issue 16).

A case has a title, agency, case number and status (open, closed, archived), members with
per-case roles (owner, member, viewer), seeds with the facts reported about them, notes and
findings typed fact or inference. Only members see a case: for anyone else it does not exist
(the same NotFoundError as an unknown id), so case ids reveal nothing. The service layer
(`workspace/cases.py`) exposes this package to the CLI, the API and the web workbench.
"""
