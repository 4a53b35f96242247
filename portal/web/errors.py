"""Calm pages for every error: a clear sentence, a way forward, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, has_request_context, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


# Pages of staff, who have no reminder link to start again from.
STAFF_PATHS = ("/staff", "/agent", "/admin", "/finance")


def _page(kind: str, status: int) -> tuple[str, int]:
    staff = has_request_context() and request.path.startswith(STAFF_PATHS)
    return render_template("errors.html", kind=kind, status=status, staff=staff), status


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
        # Logged with its type only: a message could carry personal data.
        log.error("unhandled %s", type(error).__name__, exc_info=app.debug)
        return _page("server_error", 500)
