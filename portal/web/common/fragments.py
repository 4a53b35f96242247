"""htmx on every blueprint: one URL answers a whole page or, for htmx, only the part it
swaps; and leaving the page is a whole-page move even from an htmx request."""

from __future__ import annotations

from flask import Response, make_response, redirect
from werkzeug.wrappers import Response as WerkzeugResponse

from portal.web.extensions import htmx

# A page that answers htmx with a fragment differs by that header (and by who asks).
VARY = "HX-Request, Cookie"


def wants_fragment() -> bool:
    """An htmx request, but not a history restore (which needs the whole page)."""
    return bool(htmx) and not htmx.history_restore_request


def respond(html: str, status: int = 200) -> Response:
    """``html`` as a response that caches apart from its fragment or whole-page twin."""
    response = make_response(html, status)
    response.headers["Vary"] = VARY
    return response


def leave_page(url: str, code: int = 303) -> WerkzeugResponse:
    """Go to ``url`` as a whole page: a plain redirect, or for an htmx request (a live
    preview, a filter) an ``HX-Redirect``, so a sign-in page or a session-ended page is
    never swapped into a corner of the page the person was on."""
    if htmx:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=code)
