"""Calm pages for every error: a clear sentence, a way forward, never a stack trace."""

from __future__ import annotations

import logging
import secrets

from flask import Flask, has_request_context, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


# Pages of staff, who have no reminder link to start again from.
STAFF_PATHS = ("/staff", "/agent", "/admin", "/finance")


def _page(kind: str, status: int, reference: str = "") -> tuple[str, int]:
    if has_request_context() and request_ctx.url_adapter is None:
        # No URL can be built for this request (a Host header that is not one of
        # TRUSTED_HOSTS, or not a host at all): the page of links would fail in turn.
        return _bare_page(), status
    staff = has_request_context() and request.path.startswith(STAFF_PATHS)
    page = render_template(
        "errors.html", kind=kind, status=status, staff=staff, reference=reference
    )
    return page, status


def _bare_page() -> str:
    """The error page with no link and no template: for a request no URL is built for."""
    heading, advice = _("We could not process that request"), _("Please go back and try again.")
    return (
        f"<!doctype html><title>{escape(_('Sorry'))}</title>"
        f"<h1>{escape(heading)}</h1><p>{escape(advice)}</p>"
    )


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(CSRFError)
    def expired_form(_error: CSRFError) -> tuple[str, int]:
        return _page("expired_form", 400)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        kind = {404: "not_found", 405: "not_found", 410: "not_found", 413: "too_large"}.get(
            status, "bad_request"
        )
        return _page(kind, status)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[str, int]:
        # The traceback goes to the log, never to the page; the page shows a reference
        # that finds the entry, so support can help the person who saw it. The entry
        # names the endpoint, not the path: a path can carry a link's token.
        reference = secrets.token_hex(6)
        endpoint = request.endpoint if has_request_context() else None
        log.error(
            "unhandled %s in %s, reference %s",
            type(error).__name__,
            endpoint or "-",
            reference,
            exc_info=error,
        )
        return _page("server_error", 500, reference)
