"""Extensions created unbound, once; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from flask import make_response, redirect
from flask_htmx import HTMX
from werkzeug.wrappers import Response

htmx = HTMX()


def leave_page(url: str, code: int = 303) -> Response:
    """Go to ``url`` as a whole page: a plain redirect, or for an htmx request (a live
    preview, a filter) an ``HX-Redirect``, so a sign-in page or a session-ended page is
    never swapped into a corner of the page the person was on."""
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=code)
