"""Input no page of ours sends, refused before any view reads it: a NUL character in the
path, the query string or a form. PostgreSQL cannot hold one in text (a search for it was
a 500 there, and nothing on SQLite), and no keyboard types one; so it is a 400 for every
field at once, rather than a check in each."""

from __future__ import annotations

from flask import Flask, abort, request

NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def refuse_nul() -> None:
    """Abort with 400 when the path, a query or a form key or value holds a NUL."""
    if NUL in request.path:
        abort(400)
    sources = [request.args]
    if request.mimetype in FORM_TYPES:  # a JSON body (the webhook) is left to its view
        sources.append(request.form)
    for source in sources:
        for key, value in source.items(multi=True):
            if NUL in key or NUL in value:
                abort(400)


def init_app(app: Flask) -> None:
    """Check every request, before the views (and their queries) see it."""
    app.before_request(refuse_nul)
