"""Security headers on every response, CSRF on every POST, and safe session cookies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

View = TypeVar("View", bound=Callable[..., object])


def csrf_exempt(view: View) -> View:
    """``csrf.exempt`` with its type: Flask-WTF's is unannotated, and returns the view
    it marks as it was given."""
    csrf.exempt(view)
    return view


# No inline script or style anywhere: htmx is configured through a meta tag, with its
# indicator styles off (they would be injected inline) and eval off.
DIRECTIVES: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "frame-src": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
    "base-uri": ("'none'",),
    "object-src": ("'none'",),
}


def content_security_policy(extra: Mapping[str, Iterable[str]] | None = None) -> str:
    """The policy, with ``extra`` sources added to some directives (a page that embeds a
    payment provider allows exactly that provider, and only on that page)."""
    extra = extra or {}
    parts = []
    for directive, sources in DIRECTIVES.items():
        added = tuple(dict.fromkeys(extra.get(directive, ())))
        if added and sources == ("'none'",):
            sources = ()
        parts.append(" ".join((directive, *sources, *added)))
    return "; ".join(parts)


CONTENT_SECURITY_POLICY = content_security_policy()


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.endpoint and not request.endpoint.startswith("static"):
        # Debt pages are private: never cached by the browser or anything between.
        headers["Cache-Control"] = "no-store"
    return response


# The largest body a request may carry. Every form here is a few fields and nothing is
# uploaded; the longest text (a help request, 2,000 characters) is about 18 KiB encoded,
# and this leaves room for a pasted text far past it to get the form's own answer.
# Werkzeug answers 413 from the Content-Length before reading a byte, and stops a body
# sent without one at the limit.
BODY_LIMIT = 256 * 1024
# Stripe's events, the one body we do not write ourselves: a PaymentIntent, charge,
# refund or dispute event is a few kilobytes; 1 MiB leaves room for any event type.
WEBHOOK_BODY_LIMIT = 1024 * 1024


def allow_body(limit: int) -> None:
    """Let this request's body be up to ``limit`` bytes (called before it is read)."""
    request.max_content_length = limit


def init_app(app: Flask) -> None:
    """CSRF protection (htmx sends the token in a header), headers, cookie flags, and
    the body limit."""
    # Flask's defaults are no limit and 500 kB of form fields: both come down to ours.
    app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or BODY_LIMIT
    app.config["MAX_FORM_MEMORY_SIZE"] = min(
        app.config.get("MAX_FORM_MEMORY_SIZE") or BODY_LIMIT, BODY_LIMIT
    )
    app.config.setdefault("WTF_CSRF_HEADERS", ["X-CSRFToken"])
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # bound to the session instead
    csrf.init_app(app)
    app.after_request(_headers)
