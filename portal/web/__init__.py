"""The web layer: every Flask blueprint, view, form, htmx helper and the words pages use.

Views parse, check access, call one service of a capability package, and render. Nothing
here queries the database or decides a rule; the import contracts in ``pyproject.toml``
prove it (``make test`` runs them).
"""
